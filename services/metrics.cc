#include "services/metrics.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace warden {
namespace {

// Seconds: from half a millisecond (a Redis round trip) to ten seconds.
const std::vector<double> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                            0.025,  0.05,  0.1,    0.25,  0.5,
                                            1,      2.5,   5,      10};
// Records per audit commit.
const std::vector<double> kBatchBounds = {1,  2,   5,   10,  20,
                                          50, 100, 200, 500, 1000};

// A label value with \, " and newline escaped, as the format requires.
std::string Escape(absl::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"}, or "" without labels.
std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out, i > 0 ? "," : "", labels[i].first, "=\"",
                    Escape(labels[i].second), "\"");
  }
  return out + "}";
}

// The labels with one more (le="..." of a histogram bucket) appended.
std::string WithLe(const std::string& rendered, const std::string& le) {
  const std::string bucket = absl::StrCat("le=\"", le, "\"");
  if (rendered.empty()) return absl::StrCat("{", bucket, "}");
  return absl::StrCat(rendered.substr(0, rendered.size() - 1), ",", bucket,
                      "}");
}

// A sample value as the format spells it.
std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrFormat("%.9g", v);
}

}  // namespace

Metrics::Metrics() {
  absl::MutexLock lock(&mu_);
  Declare("warden_decisions_total",
          "Authorize decisions, by decision and the first violation's code.",
          "counter");
  Declare("warden_rpc_duration_seconds",
          "gRPC calls by method and status code, and how long they took.",
          "histogram", kLatencyBounds);
  Declare("warden_backend_call_duration_seconds",
          "Redis and Postgres calls by operation, and how long they took.",
          "histogram", kLatencyBounds);
  Declare("warden_backend_errors_total",
          "Redis and Postgres calls that failed, by operation.", "counter");
  Declare("warden_audit_commit_records",
          "Audit records per commit (group commit).", "histogram",
          kBatchBounds);
  Declare("warden_audit_commit_duration_seconds",
          "How long each audit commit took.", "histogram", kLatencyBounds);
  Declare("warden_audit_commit_errors_total", "Audit commits that failed.",
          "counter");
  Declare("warden_adapter_calls_total",
          "Wallet adapter calls by vendor, call and outcome.", "counter");
  Declare("warden_adapter_call_duration_seconds",
          "How long wallet adapter calls took, by vendor and call.",
          "histogram", kLatencyBounds);
}

Metrics::Family& Metrics::Declare(const std::string& name,
                                  const std::string& help,
                                  const std::string& type,
                                  std::vector<double> bounds) {
  Family& f = families_[name];
  f.help = help;
  f.type = type;
  f.bounds = std::move(bounds);
  return f;
}

void Metrics::Add(const std::string& name, const Labels& labels, double by) {
  const std::string key = RenderLabels(labels);
  absl::MutexLock lock(&mu_);
  families_.at(name).series[key].value += by;
}

void Metrics::Observe(const std::string& name, const Labels& labels,
                      double value) {
  const std::string key = RenderLabels(labels);
  absl::MutexLock lock(&mu_);
  Family& f = families_.at(name);
  Series& s = f.series[key];
  if (s.buckets.empty()) s.buckets.assign(f.bounds.size(), 0);
  // Stored per bucket; Render accumulates.
  const auto at = std::lower_bound(f.bounds.begin(), f.bounds.end(), value);
  if (at != f.bounds.end()) ++s.buckets[at - f.bounds.begin()];
  s.sum += value;
  ++s.count;
}

void Metrics::CountDecision(const std::string& decision,
                            const std::string& code) {
  Add("warden_decisions_total", {{"decision", decision}, {"code", code}}, 1);
}

void Metrics::ObserveRpc(const std::string& rpc, const std::string& code,
                         absl::Duration took) {
  Observe("warden_rpc_duration_seconds", {{"method", rpc}, {"code", code}},
          absl::ToDoubleSeconds(took));
}

void Metrics::AdapterCall(absl::string_view vendor, absl::string_view call,
                          absl::string_view outcome, absl::Duration took) {
  Add("warden_adapter_calls_total",
      {{"vendor", std::string(vendor)},
       {"call", std::string(call)},
       {"outcome", std::string(outcome)}},
      1);
  Observe("warden_adapter_call_duration_seconds",
          {{"vendor", std::string(vendor)}, {"call", std::string(call)}},
          absl::ToDoubleSeconds(took));
}

void Metrics::BackendCall(absl::string_view backend, absl::string_view op,
                          absl::Duration took, bool ok) {
  const Labels labels = {{"backend", std::string(backend)},
                         {"op", std::string(op)}};
  Observe("warden_backend_call_duration_seconds", labels,
          absl::ToDoubleSeconds(took));
  if (!ok) Add("warden_backend_errors_total", labels, 1);
}

void Metrics::AuditCommit(size_t records, absl::Duration took, bool ok) {
  Observe("warden_audit_commit_records", {}, static_cast<double>(records));
  Observe("warden_audit_commit_duration_seconds", {},
          absl::ToDoubleSeconds(took));
  if (!ok) Add("warden_audit_commit_errors_total", {}, 1);
}

void Metrics::AddGauge(const std::string& name, const std::string& help,
                       GaugeReader read) {
  absl::MutexLock lock(&mu_);
  gauges_.push_back({name, {help, std::move(read)}});
}

std::string Metrics::Render() {
  // Gauges are read outside the lock: they may call backends.
  std::vector<std::pair<std::string, std::pair<std::string, GaugeReader>>>
      gauges;
  {
    absl::MutexLock lock(&mu_);
    gauges = gauges_;
  }
  std::string out;
  for (const auto& [name, gauge] : gauges) {
    absl::StrAppend(&out, "# HELP ", name, " ", gauge.first, "\n# TYPE ", name,
                    " gauge\n");
    for (const auto& [labels, value] : gauge.second()) {
      absl::StrAppend(&out, name, RenderLabels(labels), " ", Number(value),
                      "\n");
    }
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [name, f] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", f.help, "\n# TYPE ", name, " ",
                    f.type, "\n");
    for (const auto& [labels, s] : f.series) {
      if (f.type != "histogram") {
        absl::StrAppend(&out, name, labels, " ", Number(s.value), "\n");
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f.bounds.size(); ++i) {
        cumulative += s.buckets[i];
        absl::StrAppend(&out, name, "_bucket",
                        WithLe(labels, Number(f.bounds[i])), " ", cumulative,
                        "\n");
      }
      absl::StrAppend(&out, name, "_bucket", WithLe(labels, "+Inf"), " ",
                      s.count, "\n", name, "_sum", labels, " ", Number(s.sum),
                      "\n", name, "_count", labels, " ", s.count, "\n");
    }
  }
  return out;
}

namespace {
std::atomic<Metrics*> process_metrics{nullptr};
}  // namespace

void SetProcessMetrics(Metrics* metrics) { process_metrics.store(metrics); }
Metrics* ProcessMetrics() { return process_metrics.load(); }

absl::StatusOr<std::unique_ptr<HttpListener>> StartMetricsServer(
    Metrics* metrics, const std::string& listen) {
  auto server = std::make_unique<httplib::Server>();
  server->Get("/metrics",
              [metrics](const httplib::Request&, httplib::Response& res) {
                res.set_content(metrics->Render(), "text/plain; version=0.0.4");
              });
  return HttpListener::Start("metrics.listen", listen, std::move(server));
}

}  // namespace warden
