// The org's anomaly detectors through the engine on the memory store: a
// split across three vendors' wallets escalates to approval naming the
// wallets and amounts; a volume spike and a new-destination burst notify;
// each firing is in the record (and its audit event) and a notification.
#include "governance/anomalies.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "governance/bundle.h"
#include "governance/engine.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "governance/notification.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"
#include "tests/fakes/recording_sink.h"

namespace warden {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kBundle[] = R"(
org:
  id: acme
  anomalies:
    split: {spends: 3, within: 1h, on: approve}
    volume_spike: {times: 3}
    new_destinations: {count: 2, within: 24h}
departments:
  - id: ops
    approvals: {approvers: [user/lead]}
agents:
  - id: bot
    department: ops
    rules: {per_tx_max_usd: "500"}
    wallets:
      - {id: mm, vendor: metamask, chain: base,
         address: "0x0000000000000000000000000000000000000001"}
      - {id: cb, vendor: cdp, chain: base,
         address: "0x0000000000000000000000000000000000000002"}
      - {id: pv, vendor: privy, chain: base,
         address: "0x0000000000000000000000000000000000000003"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

std::string Address(int n) {
  std::string hex = absl::StrCat(n);
  return absl::StrCat("0x", std::string(40 - hex.size(), '0'), hex);
}

class AnomaliesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(engine_.ApplyBundle(kBundle, false, "test").ok());
  }

  Authorization Spend(const std::string& wallet, int64_t dollars,
                      int to = 1000) {
    AuthorizeInput in{.agent_id = "bot",
                      .wallet_id = wallet,
                      .asset = "USDC",
                      .amount = absl::StrCat(dollars * 1'000'000),
                      .destination = Address(to),
                      .actor = "agent/bot"};
    absl::StatusOr<AuthorizeOutput> out = engine_.Authorize(in);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->authorization : Authorization{};
  }

  ManualClock clock_{absl::FromUnixSeconds(1'777'651'200)};
  MemoryConfigStore config_;
  MemoryBudgetStore budgets_;
  FakeAuditLog audit_;
  MemoryFreezeStore freezes_;
  RecordingSink sink_;
  Engine engine_{&config_,  &budgets_, &audit_,
                 &freezes_, &clock_,   EngineHooks{.notifications = &sink_}};
};

TEST_F(AnomaliesTest, ASplitAcrossThreeVendorsWalletsGoesToApproval) {
  // Each under the $500 per-tx cap; together $1,050 within the hour.
  EXPECT_EQ(Spend("mm", 400).decision, Decision::kAllow);
  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(Spend("cb", 300).decision, Decision::kAllow);  // Two spends.
  clock_.Advance(absl::Minutes(10));
  const Authorization third = Spend("pv", 350);
  EXPECT_EQ(third.decision, Decision::kPendingApproval) << third.reason;
  EXPECT_THAT(third.anomalies, ElementsAre("SPLIT_ACROSS_WALLETS"));
  EXPECT_THAT(third.reason,
              HasSubstr("possible split across wallets: agent bot's 3 spends "
                        "within 1h from cb (cdp) $300.00, mm (metamask) "
                        "$400.00, pv (privy) $350.00 with this one come to "
                        "$1,050.00, over the per-tx cap of $500.00"));
  EXPECT_THAT(third.approvers, ElementsAre("user/lead"));
  // In the record's audit event, and a notification of its own.
  ASSERT_TRUE(audit_.events().back().authorization.has_value());
  EXPECT_THAT(audit_.events().back().authorization->anomalies,
              ElementsAre("SPLIT_ACROSS_WALLETS"));
  EXPECT_THAT(sink_.events(),
              ElementsAre("approval.requested", "anomaly.detected"));
  // An hour on, the window is clear.
  clock_.Advance(absl::Minutes(61));
  EXPECT_THAT(Spend("pv", 100).anomalies, IsEmpty());
}

TEST_F(AnomaliesTest, ManySpendsFromOneWalletAreNoSplit) {
  for (int i = 0; i < 4; ++i) {
    const Authorization a = Spend("mm", 300);
    EXPECT_EQ(a.decision, Decision::kAllow) << a.reason;
    EXPECT_THAT(a.anomalies, IsEmpty());
  }
}

TEST_F(AnomaliesTest, AVolumeSpikeOverThreeTimesTheDailyAverageNotifies) {
  // $100 a day for 7 days (the first days, with little history, may look
  // like spikes themselves: the average counts all 7 days).
  for (int day = 0; day < 7; ++day) {
    EXPECT_EQ(Spend("mm", 100).decision, Decision::kAllow);
    clock_.Advance(absl::Hours(24));
  }
  clock_.Advance(absl::Hours(1));
  const size_t before = sink_.events().size();
  // Today: $250 is under 3x the $100 average; $250 + $100 is over.
  EXPECT_THAT(Spend("mm", 250).anomalies, IsEmpty());
  const Authorization spike = Spend("mm", 100);
  EXPECT_EQ(spike.decision, Decision::kAllow) << spike.reason;
  EXPECT_THAT(spike.anomalies, ElementsAre("VOLUME_SPIKE"));
  EXPECT_THAT(spike.reason,
              HasSubstr("volume spike: agent bot spent $350.00 in the last "
                        "24h with this one, over 3x its daily average of "
                        "$100.00"));
  const std::vector<std::string> events = sink_.events();
  EXPECT_THAT(std::vector<std::string>(events.begin() + before, events.end()),
              ElementsAre("spend.notify", "anomaly.detected"));
}

TEST_F(AnomaliesTest, AnAgentWithNoSpendBeforeHasNoAverage) {
  EXPECT_THAT(Spend("mm", 450).anomalies, IsEmpty());
  EXPECT_THAT(Spend("mm", 450).anomalies, IsEmpty());
}

TEST_F(AnomaliesTest, ABurstOfNewDestinationsNotifies) {
  EXPECT_THAT(Spend("mm", 10, 1).anomalies, IsEmpty());
  EXPECT_THAT(Spend("mm", 10, 2).anomalies, IsEmpty());
  // Paying a known destination again is not new.
  EXPECT_THAT(Spend("mm", 10, 1).anomalies, IsEmpty());
  const Authorization third = Spend("mm", 10, 3);
  EXPECT_EQ(third.decision, Decision::kAllow);
  EXPECT_THAT(third.anomalies, ElementsAre("NEW_DESTINATIONS"));
  EXPECT_THAT(third.reason,
              HasSubstr(absl::StrCat("new-destination burst: agent bot's "
                                     "payment to ",
                                     Address(3),
                                     " makes 3 new destinations within 24h, "
                                     "over 2")));
  // A day later the burst is over; destination 3 is no longer new.
  clock_.Advance(absl::Hours(25));
  // (The volume detector may see these small spends as a spike.)
  EXPECT_THAT(Spend("mm", 10, 4).anomalies, Not(Contains("NEW_DESTINATIONS")));
  EXPECT_THAT(Spend("mm", 10, 3).anomalies, Not(Contains("NEW_DESTINATIONS")));
}

// The strictest cap that bounds the agent whichever wallet it uses is the
// one a split stays under: a loose wallet cap hides nothing, a tight one
// raises no false alarm.
TEST_F(AnomaliesTest, TheSplitCapIsTheAgentsStrictest) {
  std::string loose = kBundle;
  for (const char* w : {"mm", "cb", "pv"}) {
    const std::string id = absl::StrCat("{id: ", w, ", ");
    loose.replace(
        loose.find(id), id.size(),
        absl::StrCat(id, "rules: {per_tx_max_usd: \"",
                     w == std::string("mm") ? "100" : "100000", "\"}, "));
  }
  ASSERT_TRUE(engine_.ApplyBundle(loose, false, "test").ok());
  // cb and pv may each spend $100,000 a time, the agent $500.
  EXPECT_THAT(Spend("cb", 300).anomalies, IsEmpty());
  EXPECT_THAT(Spend("pv", 100).anomalies, IsEmpty());
  // $401 in all: under the agent's $500, though over mm's own $100.
  EXPECT_THAT(Spend("mm", 1).anomalies, IsEmpty());
  EXPECT_THAT(Spend("pv", 400).anomalies, ElementsAre("SPLIT_ACROSS_WALLETS"));
}

// A spend a limit denies sets off nothing and notifies nothing.
TEST_F(AnomaliesTest, ADeniedSpendSetsOffNothing) {
  std::string limited = kBundle;
  limited.replace(limited.find("    rules: {per_tx_max_usd"), 0,
                  "    limits: [{name: daily, usd: \"1000\", window: "
                  "\"rolling:24h\"}]\n");
  ASSERT_TRUE(engine_.ApplyBundle(limited, false, "test").ok());
  EXPECT_EQ(Spend("mm", 400).decision, Decision::kAllow);
  EXPECT_EQ(Spend("cb", 400).decision, Decision::kAllow);
  const Authorization third = Spend("pv", 400);
  EXPECT_EQ(third.decision, Decision::kDeny) << third.reason;
  EXPECT_THAT(third.anomalies, IsEmpty());
  EXPECT_THAT(sink_.events(), Not(Contains("anomaly.detected")));
}

// A zero-value payment (an ERC-20 transfer of 0 by calldata) to a new
// address still makes it a new destination.
TEST(DetectTest, AZeroValuePaymentIsANewDestination) {
  absl::StatusOr<Policy> p = ParseBundle(kBundle);
  ASSERT_TRUE(p.ok()) << p.status();
  Authorization a;
  a.amount_usd = 0;
  a.destination = Address(7);
  absl::StatusOr<anomaly::Detection> d =
      anomaly::Detect(*p, p->agents.at("bot"), p->wallets.at("mm"), a,
                      absl::FromUnixSeconds(1'777'651'200),
                      [](const std::vector<UsageQuery>& q)
                          -> absl::StatusOr<std::vector<int64_t>> {
                        return std::vector<int64_t>(q.size(), 0);
                      });
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->new_destination);
}

// What the detectors read must survive a rebuild from the audit trail.
TEST(DetectTest, RetentionCoversTheLookBack) {
  absl::StatusOr<Policy> p = ParseBundle(kBundle);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GE(RecordRetention(*p), kNewDestinationLookback);
}

TEST(AnomaliesBundleTest, DefaultsAndErrors) {
  absl::StatusOr<Policy> p = ParseBundle(kBundle);
  ASSERT_TRUE(p.ok()) << p.status();
  const Anomalies& a = p->org.anomalies;
  EXPECT_EQ(a.split->on, OnViolation::kApprove);
  EXPECT_EQ(a.volume_spike->times, 3);
  EXPECT_EQ(a.volume_spike->on, OnViolation::kNotify);
  EXPECT_EQ(a.new_destinations->within, absl::Hours(24));
  auto error_of = [](const std::string& anomalies) {
    absl::StatusOr<Policy> bad = ParseBundle(
        absl::StrCat("org: {id: acme, anomalies: ", anomalies, "}\n"));
    return bad.ok() ? std::string("accepted")
                    : std::string(bad.status().message());
  };
  EXPECT_THAT(error_of("{split: {spends: 1}}"),
              HasSubstr("org.anomalies.split.spends: \"1\" must be a whole "
                        "number from 2"));
  EXPECT_THAT(error_of("{split: {within: 8d}}"),
              HasSubstr("org.anomalies.split.within: must be at most 7d"));
  EXPECT_THAT(error_of("{volume_spike: {on: deny}}"),
              HasSubstr("org.anomalies.volume_spike.on: \"deny\" must be "
                        "approve or notify"));
  EXPECT_THAT(error_of("{new_destinations: {count: 9999999999999999999}}"),
              HasSubstr("org.anomalies.new_destinations.count"));
  EXPECT_THAT(error_of("{night: {}}"), HasSubstr("org.anomalies.night"));
  EXPECT_THAT(error_of("[split]"), HasSubstr("org.anomalies: must be a"));
  EXPECT_EQ(error_of("{}"), "accepted");
  // Escalating to approval needs approvers for every agent.
  std::string unapproved = kBundle;
  unapproved.erase(
      unapproved.find("    approvals: {approvers: [user/lead]}\n"),
      std::string("    approvals: {approvers: [user/lead]}\n").size());
  absl::StatusOr<Policy> bad = ParseBundle(unapproved);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("org.anomalies.split.on: approve needs approvers for "
                        "agent bot"));
}

}  // namespace
}  // namespace warden
