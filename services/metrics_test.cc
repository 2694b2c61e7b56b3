// The metrics exposition against the text format's rules (checked by
// tests/support/prometheus_text.h), with escaping and histograms.

#include "services/metrics.h"

#include <httplib.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/prometheus_text.h"

namespace warden {
namespace {

using ::testing::IsEmpty;

TEST(MetricsTest, RendersTheTextFormat) {
  Metrics m;
  m.CountDecision("ALLOW", "");
  m.CountDecision("ALLOW", "");
  m.CountDecision("DENY", "LIMIT_EXCEEDED");
  m.ObserveRpc("AuthorizationService.Authorize", "OK", absl::Microseconds(700));
  m.ObserveRpc("AuthorizationService.Authorize", "OK", absl::Milliseconds(30));
  m.ObserveRpc("AuthorizationService.Authorize", "OK", absl::Seconds(60));
  m.BackendCall("redis", "EVALSHA", absl::Microseconds(300), true);
  m.BackendCall("postgres", "audit", absl::Milliseconds(2), false);
  m.AuditCommit(17, absl::Milliseconds(3), true);
  m.AdapterCall("local", "send", "SUBMITTED", absl::Milliseconds(40));
  m.AddGauge("warden_frozen_scopes", "Frozen scopes.", [] {
    return std::vector<std::pair<Labels, double>>{{{{"org", "a\"b\\c\nd"}}, 2},
                                                  {{{"org", "plain"}}, 0.5}};
  });
  const std::string text = m.Render();
  const testing::PrometheusText parsed = testing::PrometheusText::Parse(text);
  EXPECT_THAT(parsed.errors, IsEmpty()) << text;

  EXPECT_EQ(parsed.Get(R"(warden_decisions_total{decision="ALLOW",code=""})"),
            2);
  EXPECT_EQ(
      parsed.Get(
          R"(warden_decisions_total{decision="DENY",code="LIMIT_EXCEEDED"})"),
      1);
  const std::string rpc =
      R"(method="AuthorizationService.Authorize",code="OK")";
  EXPECT_EQ(parsed.Get("warden_rpc_duration_seconds_bucket{" + rpc +
                       R"(,le="0.0005"})"),
            0);
  EXPECT_EQ(parsed.Get("warden_rpc_duration_seconds_bucket{" + rpc +
                       R"(,le="0.001"})"),
            1);
  EXPECT_EQ(parsed.Get("warden_rpc_duration_seconds_bucket{" + rpc +
                       R"(,le="0.05"})"),
            2);
  EXPECT_EQ(
      parsed.Get("warden_rpc_duration_seconds_bucket{" + rpc + R"(,le="10"})"),
      2);
  EXPECT_EQ(parsed.Get("warden_rpc_duration_seconds_count{" + rpc + "}"), 3);
  EXPECT_NEAR(parsed.Get("warden_rpc_duration_seconds_sum{" + rpc + "}"),
              60.0307, 1e-9);
  EXPECT_EQ(
      parsed.Get(
          R"(warden_backend_errors_total{backend="postgres",op="audit"})"),
      1);
  EXPECT_EQ(parsed.Get(R"(warden_audit_commit_records_bucket{le="20"})"), 1);
  EXPECT_EQ(parsed.Get(R"(warden_audit_commit_records_bucket{le="10"})"), 0);
  EXPECT_EQ(
      parsed.Get(
          R"(warden_adapter_calls_total{vendor="local",call="send",outcome="SUBMITTED"})"),
      1);
  EXPECT_EQ(
      parsed.Get(
          R"(warden_adapter_call_duration_seconds_bucket{vendor="local",call="send",le="0.05"})"),
      1);
  EXPECT_EQ(parsed.Get(R"(warden_frozen_scopes{org="a\"b\\c\nd"})"), 2);
  EXPECT_EQ(parsed.Get(R"(warden_frozen_scopes{org="plain"})"), 0.5);
}

// The checker itself rejects what the format forbids.
TEST(MetricsTest, CheckerRejectsBrokenExpositions) {
  for (const std::string bad : {
           "x 1\n",                                      // no TYPE
           "# TYPE x counter\nx{a=\"b} 1\n",             // unterminated
           "# TYPE x counter\nx 1",                      // no final newline
           "# TYPE x counter\n# TYPE x counter\nx 1\n",  // second TYPE
           "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} "
           "2\nh_count 2\nh_sum 1\n",  // not cumulative
           "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
           "# TYPE x counter\n# TYPE y counter\nx 1\ny 1\nx{a=\"1\"} 1\n",
       }) {
    EXPECT_THAT(testing::PrometheusText::Parse(bad).errors,
                ::testing::Not(IsEmpty()))
        << bad;
  }
}

TEST(MetricsTest, ServesMetricsOverHttp) {
  Metrics m;
  m.CountDecision("ALLOW", "");
  absl::StatusOr<std::unique_ptr<HttpListener>> server =
      StartMetricsServer(&m, "127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result r = client.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_THAT(testing::PrometheusText::Parse(r->body).errors, IsEmpty());
  EXPECT_EQ(StartMetricsServer(&m, "nonsense").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace warden
