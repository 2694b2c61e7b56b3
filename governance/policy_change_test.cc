#include "governance/policy_change.h"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "governance/audit_codec.h"
#include "governance/bundle.h"
#include "governance/engine.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::string Acme() {
  std::ifstream in(std::string(WARDEN_SOURCE_DIR) +
                   "/deploy/examples/acme.yaml");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Policy Parse(const std::string& yaml) {
  absl::StatusOr<Policy> p = ParseBundle(yaml);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : Policy{};
}

// The example bundle with each (from, to) replacement made; each `from`
// must occur.
Policy Edited(
    const std::vector<std::pair<std::string, std::string>>& replacements) {
  std::string yaml = Acme();
  for (const auto& [from, to] : replacements) {
    EXPECT_NE(yaml.find(from), std::string::npos) << from;
    yaml = absl::StrReplaceAll(yaml, {{from, to}});
  }
  return Parse(yaml);
}

TEST(LooseningsTest, NoChangeIsNoLoosening) {
  EXPECT_THAT(Loosenings(Parse(Acme()), Parse(Acme())), IsEmpty());
}

// Lower caps, shorter lists, more denials, stricter tiers, a new limit, a
// removed agent: all tighten, so nothing needs approving.
TEST(LooseningsTest, TighteningIsNoLoosening) {
  const Policy tight = Edited({
      {R"({name: daily_ceiling, usd: "50000")",
       R"({name: daily_ceiling, usd: "40000")"},
      {"chains: [base, ethereum, arbitrum]", "chains: [base, ethereum]"},
      {R"(per_tx_max_usd: "200")", R"(per_tx_max_usd: "100")"},
      {R"(approval_above_usd: "150")", R"(approval_above_usd: "100")"},
      {"approvers: [user/ops_lead, second_agent]",
       "approvers: [user/ops_lead]"},
      {"  destinations_deny:\n",
       "  destinations_deny:\n    - "
       "\"0x000000000000000000000000000000000000bEEF\"\n"},
      {R"(- {name: daily_max, usd: "500", window: "rolling:24h"})",
       R"(- {name: daily_max, usd: "500", window: "rolling:24h"}
      - {name: hourly, count: 10, window: "rolling:1h"})"},
      {"on_violation: {new_address: approve, drain_all: approve}",
       "on_violation: {new_address: approve}"},
      {R"(price_usd: "3000")", R"(price_usd: "3500")"},
  });
  EXPECT_THAT(Loosenings(Parse(Acme()), tight), IsEmpty());
  // Putting the looser version back (a rollback) is a loosening.
  EXPECT_THAT(Loosenings(tight, Parse(Acme())).size(), 9u);
}

TEST(LooseningsTest, EachLooseningIsNamed) {
  struct Case {
    std::string from, to, line;
  };
  const std::vector<Case> cases = {
      {R"({name: daily_ceiling, usd: "50000")",
       R"({name: daily_ceiling, usd: "60000")",
       "org.limits.daily_ceiling: from usd 50000.00 per calendar:day to usd "
       "60000.00 per calendar:day"},
      {R"({name: daily_ceiling, usd: "50000", window: "calendar:day"})",
       R"({name: daily_ceiling, usd: "50000", window: "calendar:week"})",
       "org.limits.daily_ceiling: from usd 50000.00 per calendar:day to usd "
       "50000.00 per calendar:week"},
      {"  default: deny\n", "", "org.default: from deny to allow"},
      {"    - \"0x000000000000000000000000000000000000dEaD\"\n", "",
       "org.destinations_deny: no longer denies "
       "0x000000000000000000000000000000000000dEaD"},
      {"chains: [base, ethereum, arbitrum]",
       "chains: [base, ethereum, arbitrum, polygon]",
       "agents.procurement_bot.rules.chains: allows polygon"},
      {R"(per_tx_max_usd: "200")", R"(per_tx_max_usd: "250")",
       "agents.procurement_bot.rules.per_tx_max_usd: raised from 200.00 to "
       "250.00"},
      {R"(approval_above_usd: "150")", R"(approval_above_usd: "300")",
       "agents.procurement_bot.approvals.approval_above_usd: raised from "
       "150.00 to 300.00"},
      {"approvers: [user/ops_lead, second_agent]",
       "approvers: [user/ops_lead, second_agent, user/mallory]",
       "agents.procurement_bot.approvals.approvers: adds user/mallory"},
      {"      schedule: {days: [mon-fri], hours: \"08:00-20:00\"}\n"
       "      on_violation: {schedule: notify}\n",
       "", "agents.agent_b.rules.schedule: removed (was mon-fri 08:00-20:00)"},
      {"on_violation: {new_address: approve, drain_all: approve}",
       "on_violation: {new_address: notify, drain_all: approve}",
       "agents.invoice_bot.rules.on_violation.new_address: from approve to "
       "notify"},
      {R"(drain_all: "90%")", R"(drain_all: "95%")",
       "agents.invoice_bot.rules.drain_all: from 90% to 95%"},
      {R"(new_address: "rolling:30d")", R"(new_address: "rolling:7d")",
       "agents.invoice_bot.rules.new_address: from rolling:30d to rolling:7d"},
      {"amount: {max: \"500 USDC\"}", "amount: {max: \"5000 USDC\"}",
       "agents.agent_a.rules.contracts: allows "
       "base:0xa238dd80c259a72e81d7e4664a9801593f98d1c5 "
       "supply(address,uint256,address,uint16) where asset one of "
       "[0x833589fcd6edb6e08f4c7c32d4f71b54bda02913]; amount <= 5000 USDC; "
       "onBehalfOf one of [0x3333333333333333333333333333333333333333]"},
      {"asset: USDC, max: \"500\"}", "asset: USDC, max: \"900\"}",
       "agents.agent_a.rules.approved_spenders: allows approvals to "
       "0xa238dd80c259a72e81d7e4664a9801593f98d1c5 of USDC"},
      {"    department: marketing\n", "    department: engineering\n",
       "agents.agent_b.department: moved from marketing to engineering"},
      {R"(price_usd: "3000")", R"(price_usd: "2000")",
       "assets.ETH.price_usd: from 3000 to 2000"},
      {"hold_ttl: 15m", "hold_ttl: 5m",
       "org.hold_ttl: shortened from 15m to 5m"},
      {"      - {id: wallet_3, vendor: privy, chain: base,\n",
       "      - {id: wallet_9, vendor: local, chain: base,\n"
       "         address: \"0x9999999999999999999999999999999999999999\"}\n"
       "      - {id: wallet_3, vendor: privy, chain: base,\n",
       "wallets.wallet_9: added, for agent agent_b"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Loosenings(Parse(Acme()), Edited({{c.from, c.to}})),
                ElementsAre(c.line))
        << c.from << " -> " << c.to;
  }
}

// A live price's source may price lower than the bundle's, and an older
// price may be: another source, or a longer max_age, is a loosening; a
// shorter max_age is not.
TEST(LooseningsTest, APriceSourceChangedOrAllowedToAge) {
  const std::string fixed = R"(price_usd: "3000")";
  auto chainlink = [&](const std::string& max_age) {
    return Edited(
        {{fixed, absl::StrCat("price: {source: chainlink, chain: base, "
                              "aggregator: "
                              "\"0x71041dddad3595f9ced3dccfbe3d1f4b0a16bb70\", "
                              "max_age: ",
                              max_age, "}")}});
  };
  EXPECT_THAT(
      Loosenings(Parse(Acme()), chainlink("1h")),
      ElementsAre("assets.ETH.price: source from fixed to chainlink base "
                  "0x71041dddad3595f9ced3dccfbe3d1f4b0a16bb70"));
  EXPECT_THAT(Loosenings(chainlink("1h"), chainlink("2h")),
              ElementsAre("assets.ETH.price.max_age: from 1h to 2h"));
  EXPECT_THAT(Loosenings(chainlink("2h"), chainlink("1h")), IsEmpty());
  EXPECT_THAT(Loosenings(chainlink("1h"), Parse(Acme())), SizeIs(1));
}

std::string FourEyes(int daily);

// An anomaly detector removed, less sensitive or only notifying is a
// loosening; a new or more sensitive one is not.
TEST(LooseningsTest, AnomalyDetectors) {
  const std::string org = "  default: deny\n";
  auto with = [&](const std::string& anomalies) {
    return Edited({{org, absl::StrCat(org, "  anomalies: ", anomalies, "\n")}});
  };
  const Policy on = with(
      "{split: {spends: 3, within: 1h, on: notify}, volume_spike: {times: "
      "3}, new_destinations: {count: 5}}");
  EXPECT_THAT(Loosenings(Parse(Acme()), on), IsEmpty());
  EXPECT_THAT(Loosenings(on, with("{split: {spends: 2, within: 2h, on: "
                                  "notify}, "
                                  "volume_spike: {times: 2}, "
                                  "new_destinations: {count: 4}}")),
              IsEmpty());
  EXPECT_THAT(Loosenings(on, Parse(Acme())),
              ElementsAre("org.anomalies.split: removed",
                          "org.anomalies.volume_spike: removed",
                          "org.anomalies.new_destinations: removed"));
  EXPECT_THAT(
      Loosenings(on, with("{split: {spends: 3, within: 30m, on: notify}, "
                          "volume_spike: "
                          "{times: 4}, new_destinations: {count: 5}}")),
      ElementsAre("org.anomalies.split: less sensitive",
                  "org.anomalies.volume_spike: less sensitive"));
  // Turning approve into notify is one too (an org whose agents have
  // approvers, as `on: approve` needs).
  auto small = [](const char* how) {
    return Parse(absl::StrReplaceAll(
        FourEyes(100),
        {{"  - {id: eng}\n",
          "  - {id: eng, approvals: {approvers: [user/cfo]}}\n"},
         {"    expires_after: 24h\n",
          absl::StrCat("    expires_after: 24h\n  anomalies: {split: {on: ",
                       how, "}}\n")}}));
  };
  EXPECT_THAT(Loosenings(small("approve"), small("notify")),
              ElementsAre("org.anomalies.split.on: from approve to notify"));
  EXPECT_THAT(Loosenings(small("notify"), small("approve")), IsEmpty());
}

// The four-eyes rule guards itself: dropping it, lowering its quorum or
// adding an approver is a loosening; raising the quorum is not.
TEST(LooseningsTest, ThePolicyChangeRuleItself) {
  const std::string org = "  default: deny\n";
  auto with = [&](const std::string& rule) {
    return Edited({{org, absl::StrCat(org, "  policy_changes: ", rule, "\n")}});
  };
  const Policy two =
      with("{approvals_required: 2, approvers: [user/a, user/b, user/c]}");
  EXPECT_THAT(Loosenings(Parse(Acme()), two), IsEmpty());
  EXPECT_THAT(Loosenings(two, Parse(Acme())),
              ElementsAre("org.policy_changes: removed: changes would apply "
                          "at once"));
  EXPECT_THAT(
      Loosenings(two, with("{approvals_required: 1, approvers: [user/a, "
                           "user/b, user/c]}")),
      ElementsAre("org.policy_changes.approvals_required: from 2 to 1"));
  EXPECT_THAT(Loosenings(two, with("{approvals_required: 2, approvers: "
                                   "[user/a, user/b, user/c, user/d]}")),
              ElementsAre("org.policy_changes.approvers: adds user/d"));
  EXPECT_THAT(Loosenings(two, with("{approvals_required: 3, approvers: "
                                   "[user/a, user/b, user/c]}")),
              IsEmpty());
  // More time to gather votes is a loosening too.
  EXPECT_THAT(Loosenings(two, with("{approvals_required: 2, approvers: "
                                   "[user/a, user/b, user/c], expires_after: "
                                   "7d}")),
              ElementsAre("org.policy_changes.expires_after: lengthened from "
                          "72h to 168h"));
}

// A small org whose changes need two of three approvers; `daily` is its
// agent's limit in dollars.
std::string FourEyes(int daily) {
  return absl::StrCat(R"(
org:
  id: acme
  policy_changes:
    approvals_required: 2
    approvers: [user/alice, user/bob, user/carol]
    expires_after: 24h
departments:
  - {id: eng}
agents:
  - id: a
    department: eng
    limits:
      - {name: daily, usd: ")",
                      daily, R"(", window: "calendar:day"}
    wallets:
      - {id: w1, vendor: local, chain: base, address: "0xAbC"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)");
}

class FourEyesTest : public ::testing::Test {
 protected:
  FourEyesTest()
      : clock_(absl::FromUnixSeconds(1777651200)),
        engine_(&config_, &budgets_, &audit_, &freezes_, &clock_) {}

  void SetUp() override {
    absl::StatusOr<ApplyResult> first =
        engine_.ApplyBundle(FourEyes(100), false, "user/alice");
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_FALSE(first->pending.has_value()) << "nothing to approve it yet";
  }

  int64_t InForce() { return (*config_.Active("acme"))->version; }
  UsdMicros Daily() {
    return (*config_.Active("acme"))->agents.at("a").limits[0].usd;
  }

  absl::StatusOr<PolicyChangeOutcome> Approve(const std::string& id,
                                              const std::string& who) {
    return engine_.ApprovePolicyChange(
        {.org_id = "acme", .change_id = id, .approver = who, .actor = who});
  }

  ManualClock clock_;
  MemoryConfigStore config_;
  MemoryBudgetStore budgets_;
  FakeAuditLog audit_;
  MemoryFreezeStore freezes_;
  Engine engine_;
};

// A replica started with a bundle that differs from the version in force
// applies it, unless changes await approval: a restart must not supersede
// them.
TEST_F(FourEyesTest, ARestartDoesNotSupersedeWaitingChanges) {
  absl::StatusOr<ApplyResult> loose =
      engine_.ApplyBundle(FourEyes(500), false, "user/alice");
  ASSERT_TRUE(loose.ok() && loose->pending) << loose.status();
  absl::StatusOr<ApplyResult> start =
      engine_.ApplyAtStart(FourEyes(80), "wardend --bundle b.yaml");
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_FALSE(start->changed);
  EXPECT_EQ(start->held_back, 1u);
  EXPECT_EQ(InForce(), 1);
  EXPECT_EQ(engine_.ListPolicyChanges("acme", true)->size(), 1u);
  // The same file as in force changes nothing either way; with nothing
  // waiting, a differing one applies.
  EXPECT_EQ(engine_.ApplyAtStart(FourEyes(100), "start")->held_back, 0u);
  ASSERT_TRUE(Approve(loose->pending->id, "user/bob").ok());
  ASSERT_TRUE(Approve(loose->pending->id, "user/carol").ok());
  start = engine_.ApplyAtStart(FourEyes(80), "wardend --bundle b.yaml");
  ASSERT_TRUE(start.ok()) << start.status();
  EXPECT_TRUE(start->changed);
  EXPECT_EQ(Daily(), 80'000'000);
}

// A loosening waits for two approvers other than its author; the second
// approval puts it in force, audited with author and approvers; a
// tightening applies at once.
TEST_F(FourEyesTest, ALooseningTakesEffectOnlyAfterTheQuorum) {
  absl::StatusOr<ApplyResult> tight =
      engine_.ApplyBundle(FourEyes(80), false, "user/alice");
  ASSERT_TRUE(tight.ok()) << tight.status();
  EXPECT_FALSE(tight->pending.has_value());
  EXPECT_EQ(InForce(), 2);

  absl::StatusOr<ApplyResult> loose =
      engine_.ApplyBundle(FourEyes(500), false, "user/alice");
  ASSERT_TRUE(loose.ok()) << loose.status();
  ASSERT_TRUE(loose->pending.has_value());
  const std::string id = loose->pending->id;
  EXPECT_EQ(loose->version, 2);
  EXPECT_THAT(loose->loosenings,
              ElementsAre("agents.a.limits.daily: from usd 80.00 per "
                          "calendar:day to usd 500.00 per calendar:day"));
  EXPECT_EQ(InForce(), 2);
  EXPECT_EQ(Daily(), 80 * kMicrosPerUsd);
  // A dry run says what it would wait for, and changes nothing.
  absl::StatusOr<ApplyResult> dry =
      engine_.ApplyBundle(FourEyes(500), true, "user/alice");
  ASSERT_TRUE(dry.ok());
  EXPECT_FALSE(dry->pending.has_value());
  EXPECT_THAT(dry->loosenings, ::testing::SizeIs(1));

  EXPECT_EQ(Approve(id, "user/alice").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Approve(id, "user/dave").status().code(),
            absl::StatusCode::kPermissionDenied);
  absl::StatusOr<PolicyChangeOutcome> bob = Approve(id, "user/bob");
  ASSERT_TRUE(bob.ok()) << bob.status();
  EXPECT_TRUE(bob->counted);
  EXPECT_EQ(bob->change.state, PolicyChange::State::kPending);
  EXPECT_FALSE(Approve(id, "user/bob")->counted);
  EXPECT_EQ(InForce(), 2);
  absl::StatusOr<PolicyChangeOutcome> carol = Approve(id, "user/carol");
  ASSERT_TRUE(carol.ok()) << carol.status();
  EXPECT_EQ(carol->change.state, PolicyChange::State::kApplied);
  EXPECT_EQ(InForce(), 3);
  EXPECT_EQ(Daily(), 500 * kMicrosPerUsd);
  EXPECT_EQ((*config_.Active("acme"))->applied_by,
            "user/alice (approved by user/bob, user/carol)");
  EXPECT_EQ(Approve(id, "user/bob").status().code(),
            absl::StatusCode::kFailedPrecondition);

  std::vector<std::string> trail;
  for (const AuditEvent& e : audit_.events()) {
    if (e.type == AuditEvent::Type::kPolicyChange) trail.push_back(e.reason);
    if (e.type == AuditEvent::Type::kBundleApplied) {
      trail.push_back(absl::StrCat("v", e.policy_version, " by ", e.actor));
    }
  }
  ASSERT_EQ(trail.size(), 6u) << ::testing::PrintToString(trail);
  EXPECT_EQ(trail[0], "v1 by user/alice");
  EXPECT_EQ(trail[1], "v2 by user/alice");
  EXPECT_THAT(trail[2], HasSubstr(absl::StrCat("policy change ", id,
                                               " by user/alice: pending: "
                                               "requested against v2")));
  EXPECT_THAT(trail[3], HasSubstr("approved by user/bob (1 of 2)"));
  EXPECT_EQ(trail[4], "v3 by user/alice (approved by user/bob, user/carol)");
  EXPECT_THAT(trail[5], HasSubstr("applied: approved by user/carol (2 of 2); "
                                  "in force as v3"));
}

// A loosening whose author leaves too few other approvers for the quorum
// is refused at once, not left pending until it expires.
TEST_F(FourEyesTest, ALooseningThatCannotReachItsQuorumIsRefused) {
  std::string yaml = FourEyes(80);
  yaml.replace(yaml.find("approvals_required: 2"),
               std::string("approvals_required: 2").size(),
               "approvals_required: 3");
  ASSERT_TRUE(engine_.ApplyBundle(yaml, false, "user/alice").ok());
  std::string loose = FourEyes(500);
  loose.replace(loose.find("approvals_required: 2"),
                std::string("approvals_required: 2").size(),
                "approvals_required: 3");
  absl::StatusOr<ApplyResult> r =
      engine_.ApplyBundle(loose, false, "user/alice");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(),
              HasSubstr("needs 3 approvers other than its author, "
                        "user/alice, but org.policy_changes.approvers has "
                        "only 2"));
  // Anyone else may request it.
  ASSERT_TRUE(engine_.ApplyBundle(loose, false, "user/erin").ok());
}

// A newer apply supersedes a pending change; a pending change expires; a
// rejection closes it; a rollback to a looser version waits like any
// loosening.
TEST_F(FourEyesTest, SupersededExpiredRejectedAndRolledBack) {
  std::string first =
      engine_.ApplyBundle(FourEyes(500), false, "user/alice")->pending->id;
  std::string second =
      engine_.ApplyBundle(FourEyes(400), false, "user/bob")->pending->id;
  EXPECT_THAT(Approve(first, "user/bob").status().message(),
              HasSubstr("is superseded"));
  // A tightening in force supersedes the other.
  ASSERT_FALSE(engine_.ApplyBundle(FourEyes(90), false, "user/carol")->pending);
  EXPECT_EQ(InForce(), 2);
  absl::StatusOr<PolicyChangeOutcome> late = Approve(second, "user/alice");
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.status().message(), HasSubstr("superseded by v2"));

  std::string third =
      engine_.ApplyBundle(FourEyes(500), false, "user/alice")->pending->id;
  clock_.Set(clock_.Now() + absl::Hours(25));
  EXPECT_THAT(Approve(third, "user/bob").status().message(),
              HasSubstr("is expired"));
  EXPECT_THAT(*engine_.ListPolicyChanges("acme", true), IsEmpty());

  // Back to v1's $100 from v2's $90: a loosening.
  absl::StatusOr<ApplyResult> rollback =
      engine_.RollbackBundle("acme", 1, "user/carol");
  ASSERT_TRUE(rollback.ok()) << rollback.status();
  ASSERT_TRUE(rollback->pending.has_value());
  EXPECT_EQ(rollback->pending->author, "user/carol");
  absl::StatusOr<PolicyChangeOutcome> no =
      engine_.RejectPolicyChange({.org_id = "acme",
                                  .change_id = rollback->pending->id,
                                  .approver = "user/bob",
                                  .comment = "not budgeted",
                                  .actor = "user/bob"});
  ASSERT_TRUE(no.ok()) << no.status();
  EXPECT_EQ(no->change.state, PolicyChange::State::kRejected);
  EXPECT_EQ(no->change.close_reason, "rejected by user/bob: not budgeted");
  EXPECT_EQ(InForce(), 2);

  absl::StatusOr<std::vector<PolicyChange>> all =
      engine_.ListPolicyChanges("acme", false);
  ASSERT_TRUE(all.ok());
  std::vector<std::string> states;
  for (const PolicyChange& c : *all) {
    states.push_back(PolicyChangeStateName(c.state));
  }
  EXPECT_THAT(states,
              ElementsAre("rejected", "expired", "superseded", "superseded"));
  EXPECT_EQ(engine_
                .ApprovePolicyChange({.org_id = "acme",
                                      .change_id = "pc_nope",
                                      .approver = "user/bob"})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

// A config store where another replica puts the next version in force
// just before this one's Apply (once), as two replicas racing would.
class RacedConfigStore final : public ConfigStore {
 public:
  explicit RacedConfigStore(MemoryConfigStore* inner) : inner_(inner) {}
  void LoseNextApplyTo(std::string yaml) { rival_ = std::move(yaml); }

  absl::StatusOr<std::shared_ptr<const Policy>> Active(
      const std::string& org) override {
    return inner_->Active(org);
  }
  absl::StatusOr<std::shared_ptr<const Policy>> Version(
      const std::string& org, int64_t version) override {
    return inner_->Version(org, version);
  }
  absl::StatusOr<std::vector<std::string>> Orgs() override {
    return inner_->Orgs();
  }
  absl::Status Apply(std::shared_ptr<const Policy> policy) override {
    if (!rival_.empty()) {
      Policy rival = *ParseBundle(rival_);
      rival.version = policy->version;
      rival.yaml = rival_;
      rival.applied_by = "user/rival";
      rival_.clear();
      EXPECT_TRUE(inner_->Apply(std::make_shared<const Policy>(rival)).ok());
    }
    return inner_->Apply(std::move(policy));
  }
  absl::Status SaveChange(const PolicyChange& change) override {
    return inner_->SaveChange(change);
  }
  absl::StatusOr<PolicyChange> Change(const std::string& org,
                                      const std::string& id) override {
    return inner_->Change(org, id);
  }
  absl::StatusOr<std::vector<PolicyChange>> Changes(const std::string& org,
                                                    bool pending_only,
                                                    size_t max) override {
    return inner_->Changes(org, pending_only, max);
  }

 private:
  MemoryConfigStore* const inner_;
  std::string rival_;
};

// An apply that loses the race to another replica is ABORTED, and the
// trail says its bundle.applied record did not take effect.
TEST(PutInForceTest, ALostRaceIsRecordedAsNotApplied) {
  ManualClock clock(absl::FromUnixSeconds(1777651200));
  MemoryConfigStore memory;
  RacedConfigStore config(&memory);
  MemoryBudgetStore budgets;
  FakeAuditLog audit;
  MemoryFreezeStore freezes;
  Engine engine(&config, &budgets, &audit, &freezes, &clock);
  ASSERT_TRUE(engine.ApplyBundle(FourEyes(100), false, "user/alice").ok());
  config.LoseNextApplyTo(FourEyes(70));
  absl::StatusOr<ApplyResult> lost =
      engine.ApplyBundle(FourEyes(90), false, "user/alice");
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ((*memory.Active("acme"))->applied_by, "user/rival");
  std::vector<std::string> trail;
  for (const AuditEvent& e : audit.events()) {
    trail.push_back(absl::StrCat(AuditEventTypeName(e.type), " ",
                                 e.policy_version, " ", e.reason));
  }
  EXPECT_THAT(trail,
              ElementsAre("bundle.applied 1 ", "bundle.applied 2 ",
                          "bundle.not_applied 0 v2 by user/alice did not take "
                          "effect: another replica put its own v2 in force "
                          "first; the bundle.applied record of this attempt "
                          "is void"));
}

// The change as the Postgres store keeps it: JSON, and back.
TEST(PolicyChangeTest, EncodesAndDecodes) {
  PolicyChange c;
  c.id = "pc_1";
  c.org_id = "acme";
  c.yaml = "org: {id: acme}\n";
  c.base_version = 4;
  c.diff = {"~ a: 1 -> 2"};
  c.loosenings = {"a: raised"};
  c.author = "user/alice";
  c.requested_at = absl::FromUnixMicros(1777651200123456);
  c.expires_at = c.requested_at + absl::Hours(72);
  c.rule = {.approvals_required = 2,
            .approvers = {"user/bob", "user/carol"},
            .expires_after = absl::Hours(72)};
  c.approvals = {"user/bob"};
  c.state = PolicyChange::State::kRejected;
  c.closed_by = "user/carol";
  c.closed_at = c.requested_at + absl::Minutes(5);
  c.close_reason = "rejected by user/carol: no";
  c.revision = 3;
  absl::StatusOr<PolicyChange> back = DecodePolicyChange(EncodePolicyChange(c));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, c);
  EXPECT_EQ(DecodePolicyChange("{}").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodePolicyChange("[").status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace warden
