#include "governance/audit_codec.h"

#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "governance/bundle.h"
#include "governance/explain.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace warden {
namespace {

using ::testing::HasSubstr;

Authorization SampleAuthorization() {
  Authorization a;
  a.id = "az_1";
  a.org_id = "acme";
  a.department_id = "eng";
  a.agent_id = "agent_a";
  a.wallet_id = "wallet_1";
  a.chain = "base";
  a.asset = "ETH";
  a.amount = absl::Uint128Max();
  a.amount_usd = 1'234'567;
  a.price_usd = "3456.78";
  a.destination = "0xabc";
  a.memo = "line\n\"quoted\"";
  a.idempotency_key = "k";
  a.decision = Decision::kDeny;
  a.status = AuthorizationStatus::kDenied;
  a.reason = "DENY agent agent_a: ...";
  Violation v;
  v.code = "COUNT_EXCEEDED";
  v.scope = "agent/agent_a";
  v.limit = "tx";
  v.limit_count = 3;
  v.window = "rolling:1h";
  v.spent = "3";
  v.requested = "1";
  v.remaining = "0";
  v.message = "m";
  a.violations.push_back(v);
  v.limit_count.reset();
  v.limit_usd = 5'000'000;
  a.violations.push_back(v);
  a.policy_version = 7;
  a.on_expiry = ExpiredHolds::kRelease;
  a.created_at = absl::FromUnixNanos(1'777'651'200'123'456'789);
  a.hold_expires_at = a.created_at + absl::Minutes(15);
  a.settled_amount = 5;
  a.settled_usd = 1;
  a.tx_hash = "0xfeed";
  a.expired_counted = true;
  return a;
}

// Every field survives an encode/decode round trip, bit for bit.
TEST(AuditEventTest, RoundTrip) {
  AuditEvent e;
  e.type = AuditEvent::Type::kAuthorizationSettled;
  e.time = absl::FromUnixNanos(1'777'651'200'999'999'999);
  e.org_id = "acme";
  e.actor = "anonymous@ipv4:127.0.0.1:5000";
  e.authorization = SampleAuthorization();
  const std::string line = EncodeAuditEvent(e);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  absl::StatusOr<AuditEvent> back = DecodeAuditEvent(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, e);

  AuditEvent bundle;
  bundle.type = AuditEvent::Type::kBundleApplied;
  bundle.time = e.time;
  bundle.org_id = "acme";
  bundle.actor = "admin";
  bundle.policy_version = 3;
  bundle.diff = {"+ a: b", "- c: d"};
  EXPECT_EQ(*DecodeAuditEvent(EncodeAuditEvent(bundle)), bundle);

  AuditEvent frozen;
  frozen.type = AuditEvent::Type::kScopeFrozen;
  frozen.time = e.time;
  frozen.org_id = "acme";
  frozen.actor = "admin";
  frozen.scope = "agent/agent_a";
  frozen.reason = "key leaked";
  frozen.decommissioned = true;
  EXPECT_EQ(*DecodeAuditEvent(EncodeAuditEvent(frozen)), frozen);

  AuditEvent sent;
  sent.type = AuditEvent::Type::kOperationUpdated;
  sent.time = e.time;
  sent.org_id = "acme";
  sent.actor = "system";
  sent.reason = "operation op_az_1 (authorization az_1): UNKNOWN tx 0x11";
  const std::string sent_line = EncodeAuditEvent(sent);
  EXPECT_NE(sent_line.find("\"operation.updated\""), std::string::npos);
  EXPECT_EQ(*DecodeAuditEvent(sent_line), sent);
}

TEST(AuditEventTest, TraceparentIsRecordedOnlyWhenValid) {
  EXPECT_TRUE(IsValidTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
       }) {
    EXPECT_FALSE(IsValidTraceparent(bad)) << bad;
  }
  Authorization a = SampleAuthorization();
  a.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const std::string json = EncodeAuthorization(a);
  EXPECT_NE(json.find(a.traceparent), std::string::npos);
  EXPECT_EQ(*DecodeAuthorization(json), a);
  // Without one, the encoding is what it was before the field existed.
  EXPECT_EQ(EncodeAuthorization(SampleAuthorization()).find("traceparent"),
            std::string::npos);
}

// An x402 payment's resource round-trips; other records encode as before
// the field existed (their hash chain is unchanged).
TEST(AuditEventTest, X402ResourceOnlyWhenSet) {
  Authorization a = SampleAuthorization();
  a.x402_resource = "https://api.example.com/report?q=1";
  const std::string json = EncodeAuthorization(a);
  EXPECT_NE(
      json.find("\"x402_resource\":\"https://api.example.com/report?q=1\""),
      std::string::npos);
  EXPECT_EQ(*DecodeAuthorization(json), a);
  EXPECT_EQ(EncodeAuthorization(SampleAuthorization()).find("x402"),
            std::string::npos);
}

// Money is written as decimal strings, never as JSON numbers.
TEST(AuditEventTest, MoneyAsStrings) {
  AuditEvent e;
  e.authorization = SampleAuthorization();
  const std::string line = EncodeAuditEvent(e);
  EXPECT_THAT(line, HasSubstr("\"amount_usd\":\"1.234567\""));
  EXPECT_THAT(
      line,
      HasSubstr("\"amount\":\"340282366920938463463374607431768211455\""));
}

// Malformed lines are rejected with the field named.
// Text from outside that is not valid UTF-8 is recorded with U+FFFD, never
// refused (nothing else would record the event).
TEST(AuditEventTest, InvalidUtf8IsReplacedNotRefused) {
  AuditEvent e;
  e.type = AuditEvent::Type::kOperationUpdated;
  e.org_id = "acme";
  e.time = absl::FromUnixSeconds(1'800'000'000);
  e.reason = "node said \xff\xfe";
  const std::string body = EncodeAuditEvent(e);
  absl::StatusOr<AuditEvent> back = DecodeAuditEvent(body);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->reason, "node said \xef\xbf\xbd\xef\xbf\xbd");
}

// The encoders write JSON without building a tree; what they write is, byte
// for byte, what nlohmann's dump gives for the same object (keys sorted, no
// spaces, escapes, invalid UTF-8 replaced): parsing and dumping it again
// changes nothing. Random records, every optional field on or off, strings
// of quotes, backslashes, control bytes, non-ASCII and invalid UTF-8.
TEST(AuditEventTest, EncodingIsCanonicalJson) {
  std::mt19937_64 rng(17);
  const std::vector<std::string> pieces = {
      "a",     "Z_9",  "\"",           "\\",       "\n",
      "\x01",  "\x1f", "\x7f",         "\xc3\xa9", "\xe2\x82\xac",
      "\xff",  "\xc3", "\xed\xa0\x80", " ",        "/",
      "{}[],:"};
  auto text = [&] {
    std::string s;
    for (int n = static_cast<int>(rng() % 6); n > 0; --n) {
      s += pieces[rng() % pieces.size()];
    }
    return s;
  };
  auto flip = [&] { return rng() % 2 == 0; };
  auto canonical = [](const std::string& json) {
    return nlohmann::json::parse(json).dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  for (int i = 0; i < 3000; ++i) {
    Authorization a = SampleAuthorization();
    a.id = text();
    a.agent_id = text();
    a.memo = text();
    a.reason = text();
    a.destination = text();
    a.price_usd = text();
    a.amount = absl::MakeUint128(rng(), rng());
    a.amount_usd = static_cast<int64_t>(rng() >> 1);
    a.policy_version = static_cast<int64_t>(rng());
    a.expired_counted = flip();
    if (flip()) a.settled_amount.reset();
    a.tx_hash = text();
    a.traceparent = flip() ? text() : "";
    a.x402_resource = flip() ? text() : "";
    a.release_at = flip() ? a.created_at : absl::InfinitePast();
    a.approvals_required = flip() ? static_cast<int>(rng() % 5) : 0;
    a.approvers = {text(), text()};
    if (flip()) a.votes.push_back({text(), flip(), text(), a.created_at});
    for (Violation& v : a.violations) {
      v.message = text();
      v.pending = flip() ? text() : "";
      if (flip()) v.limit_count.reset();
      if (flip()) v.limit_usd.reset();
    }
    if (flip()) a.violations.clear();
    const std::string record = EncodeAuthorization(a);
    ASSERT_EQ(canonical(record), record);

    AuditEvent e;
    e.type = static_cast<AuditEvent::Type>(
        rng() % (static_cast<int>(AuditEvent::Type::kBundleNotApplied) + 1));
    e.time = a.created_at;
    e.org_id = text();
    e.actor = text();
    if (flip()) e.authorization = a;
    e.policy_version = static_cast<int64_t>(rng());
    e.diff = {text(), text()};
    e.scope = flip() ? text() : "";
    e.reason = text();
    e.decommissioned = flip();
    if (flip()) e.vendor_frozen = flip();
    e.vendor_restore = flip() ? text() : "";
    const std::string event = EncodeAuditEvent(e);
    ASSERT_EQ(canonical(event), event);
    absl::StatusOr<AuditEvent> back = DecodeAuditEvent(event);
    ASSERT_TRUE(back.ok()) << back.status() << "\n" << event;

    const std::string vote =
        EncodeApprovalVote({text(), flip(), text(), e.time});
    ASSERT_EQ(canonical(vote), vote);
  }
}

TEST(AuditEventTest, DecodeErrors) {
  EXPECT_THAT(DecodeAuditEvent("{").status().message(),
              HasSubstr("not a JSON object"));
  EXPECT_THAT(
      DecodeAuditEvent(R"({"type":"nope","time":"x"})").status().message(),
      HasSubstr("type: unknown value \"nope\""));
  AuditEvent e;
  e.authorization = SampleAuthorization();
  std::string line = EncodeAuditEvent(e);
  line.replace(line.find("\"amount_usd\":\"1.234567\""), 23,
               "\"amount_usd\":1.5");
  EXPECT_THAT(DecodeAuditEvent(line).status().message(),
              HasSubstr("authorization.amount_usd: must be a string"));
}

}  // namespace
}  // namespace warden

namespace warden {
namespace {

// The largest record the bounds allow (every request field at its limit,
// kMaxViolations long violations, kMaxApprovers votes with long comments)
// stays within kMaxAuditRecordBytes, and anything larger is refused.
TEST(AuditEventTest, RecordsAreBounded) {
  const std::string id(64, 'i');
  Authorization a;
  a.id = a.org_id = a.department_id = a.agent_id = a.wallet_id = id;
  a.chain = a.asset = id;
  a.amount = absl::Uint128Max();
  a.amount_usd = std::numeric_limits<int64_t>::max();
  a.price_usd = std::string(40, '9');
  a.destination = std::string(128, 'd');
  a.memo = std::string(1024, '\x01');  // Escaped: six bytes each in JSON.
  a.idempotency_key = std::string(128, 'k');
  a.traceparent = std::string(55, 't');
  a.tx_hash = std::string(256, 'h');
  a.status = AuthorizationStatus::kHeld;
  a.decision = Decision::kPendingApproval;
  for (size_t i = 0; i < kMaxViolations; ++i) {
    Violation v;
    v.code = v.scope = v.limit = v.window = id;
    v.limit_usd = std::numeric_limits<int64_t>::max();
    v.spent = v.requested = v.remaining = v.pending = std::string(26, '9');
    v.message = std::string(600, 'm');
    a.violations.push_back(v);
    a.reason += std::string(600, 'r');
  }
  for (size_t i = 0; i < kMaxApprovers; ++i) {
    a.approvers.push_back(std::string(128, 'p'));
    a.votes.push_back(
        {std::string(128, 'p'), true, std::string(1024, 'c'), absl::Now()});
  }
  AuditEvent e{.type = AuditEvent::Type::kAuthorizationVoted,
               .time = absl::Now(),
               .org_id = id,
               .actor = std::string(256, 'a'),
               .authorization = a};
  absl::StatusOr<std::string> body = EncodeBoundedAuditEvent(e);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_LT(body->size(), kMaxAuditRecordBytes);
  std::cerr << "largest audit record: " << body->size() << " bytes of "
            << kMaxAuditRecordBytes << "\n";
  e.authorization->memo = std::string(kMaxAuditRecordBytes, 'x');
  EXPECT_EQ(EncodeBoundedAuditEvent(e).status().code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace warden
