#ifndef WARDEN_TESTS_APPROVALS_APPROVAL_CASES_H_
#define WARDEN_TESTS_APPROVALS_APPROVAL_CASES_H_

// Approval tiers end to end through the Engine, on any BudgetStore: each
// test binary instantiates the suite with its store (memory, Redis).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "governance/engine.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"
#include "tests/fakes/recording_sink.h"

namespace warden::testing {

// Makes a fresh, empty, ready store for the org "acme".
using StoreFactory = std::function<std::unique_ptr<BudgetStore>()>;

// agent_a: $1,000 a day; delayed above $100, needs 2 of alice, bob or a
// second agent above $300, or once its day passes $700. Its department
// notifies above $50 and wants carol above $400. agent_c is the second agent
// of eng; agent_o is in another department.
inline constexpr const char* kApprovalBundle = R"(
org: {id: acme, hold_ttl: 10m, expired_holds: count}
departments:
  - id: eng
    approvals:
      notify_above_usd: "50"
      approval_above_usd: "400"
      approvers: [user/carol]
  - id: ops
agents:
  - id: agent_a
    department: eng
    limits: [{name: daily_max, usd: "1000", window: "rolling:24h"}]
    approvals:
      delay_above_usd: "100"
      delay: 10m
      approval_above_usd: "300"
      approvers: [user/alice, user/bob, second_agent]
      approvals_required: 2
      approval_timeout: 1h
      cumulative: {window: "rolling:24h", approval_above_usd: "700"}
    wallets:
      - {id: wallet_1, vendor: metamask, chain: base, address: "0x01"}
      - {id: wallet_2, vendor: cdp, chain: ethereum, address: "0x02"}
  - id: agent_c
    department: eng
    wallets: [{id: wallet_c, vendor: local, chain: base, address: "0x0c"}]
  - id: agent_o
    department: ops
    wallets: [{id: wallet_o, vendor: local, chain: base, address: "0x0f"}]
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)";

// Balances set by the test; NOT_FOUND for a chain it has none for.
class FakeBalances final : public BalanceSource {
 public:
  absl::StatusOr<absl::uint128> Balance(const std::string& chain,
                                        const std::string& address,
                                        const std::string& token) override {
    absl::MutexLock lock(&mu_);
    asked_ = absl::StrCat(chain, " ", address, " ", token);
    auto it = by_chain_.find(chain);
    if (it == by_chain_.end())
      return absl::NotFoundError("no node for " + chain);
    return it->second;
  }
  void Set(const std::string& chain, absl::StatusOr<absl::uint128> balance) {
    absl::MutexLock lock(&mu_);
    by_chain_.insert_or_assign(chain, std::move(balance));
  }
  std::string asked() {
    absl::MutexLock lock(&mu_);
    return asked_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, absl::StatusOr<absl::uint128>> by_chain_
      ABSL_GUARDED_BY(mu_);
  std::string asked_ ABSL_GUARDED_BY(mu_);
};

class ApprovalTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    engine_ = std::make_unique<Engine>(
        &config_, store_.get(), &audit_, &freezes_, &clock_,
        EngineHooks{.notifications = &sink_, .balances = &balances_});
    ASSERT_TRUE(engine_->ApplyBundle(kApprovalBundle, false, "test").ok());
  }

  Authorization Spend(int64_t dollars, const std::string& key = "",
                      const std::string& wallet = "wallet_1",
                      const std::string& to = "") {
    AuthorizeInput in;
    in.agent_id = "agent_a";
    in.wallet_id = wallet;
    in.asset = "USDC";
    in.amount = std::to_string(dollars * 1'000'000);
    in.destination = to;
    in.idempotency_key = key;
    in.actor = "agent/agent_a";
    absl::StatusOr<AuthorizeOutput> out = engine_->Authorize(in);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->authorization : Authorization{};
  }

  // "<code> <scope>" of each violation of `a`.
  static std::vector<std::string> Refusals(const Authorization& a) {
    std::vector<std::string> out;
    for (const Violation& v : a.violations) {
      out.push_back(absl::StrCat(v.code, " ", v.scope));
    }
    return out;
  }

  // $1 from agent_a's wallet_1 to `to`.
  Authorization Pay(const std::string& to) {
    return Spend(1, "", "wallet_1", to);
  }

  absl::StatusOr<VoteOutput> Vote(const std::string& id,
                                  const std::string& approver,
                                  bool approve = true) {
    VoteInput in;
    in.authorization_id = id;
    in.approver = approver;
    in.comment = "checked the invoice";
    in.actor = approver;
    return approve ? engine_->Approve(in) : engine_->Reject(in);
  }

  Authorization Get(const std::string& id) {
    absl::StatusOr<Authorization> a = engine_->Get("acme", id);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *a : Authorization{};
  }

  // Real time: Redis expires keys by its own clock.
  ManualClock clock_{absl::Now()};
  MemoryConfigStore config_;
  std::unique_ptr<BudgetStore> store_;
  FakeAuditLog audit_;
  MemoryFreezeStore freezes_;
  RecordingSink sink_;
  FakeBalances balances_;
  std::unique_ptr<Engine> engine_;
};

TEST_P(ApprovalTest, EachTierByAmount) {
  EXPECT_EQ(Spend(40).decision, Decision::kAllow);
  EXPECT_THAT(sink_.events(), ::testing::IsEmpty());

  const Authorization notify = Spend(60);
  EXPECT_EQ(notify.decision, Decision::kAllow);
  EXPECT_THAT(notify.reason,
              ::testing::HasSubstr("notify: $60.00 is above department eng "
                                   "notify_above_usd $50.00"));

  const Authorization delayed = Spend(150);
  EXPECT_EQ(delayed.decision, Decision::kDelayed);
  EXPECT_EQ(delayed.release_at, clock_.Now() + absl::Minutes(10));
  EXPECT_EQ(delayed.hold_expires_at, clock_.Now() + absl::Minutes(20));

  const Authorization pending = Spend(350);
  EXPECT_EQ(pending.decision, Decision::kPendingApproval);
  EXPECT_EQ(pending.status, AuthorizationStatus::kHeld);
  EXPECT_EQ(pending.approvals_required, 2);
  EXPECT_EQ(pending.on_expiry, ExpiredHolds::kRelease);
  EXPECT_EQ(pending.hold_expires_at, clock_.Now() + absl::Hours(1));
  EXPECT_THAT(pending.reason,
              ::testing::HasSubstr("$350.00 is above agent agent_a "
                                   "approval_above_usd $300.00; needs 2 "
                                   "distinct approvals from [user/alice, "
                                   "user/bob, second_agent]"));
  EXPECT_THAT(sink_.events(),
              ::testing::ElementsAre("spend.notify", "spend.delayed",
                                     "approval.requested"));
}

// Above both the agent's ($300, 2 approvals) and the department's ($400,
// 1 approval) thresholds, the stricter requirement wins.
TEST_P(ApprovalTest, StrictestTierWins) {
  const Authorization a = Spend(450);
  EXPECT_EQ(a.decision, Decision::kPendingApproval);
  EXPECT_EQ(a.approvals_required, 2);
  EXPECT_THAT(a.approvers,
              ::testing::ElementsAre("user/alice", "user/bob", "second_agent"));
}

TEST_P(ApprovalTest, Quorum) {
  const Authorization a = Spend(350);
  ASSERT_EQ(a.decision, Decision::kPendingApproval);

  absl::StatusOr<VoteOutput> first = Vote(a.id, "user/alice");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->counted);
  EXPECT_EQ(first->authorization.decision, Decision::kPendingApproval);
  EXPECT_EQ(first->authorization.Approvals(), 1);

  // The same approver twice counts once.
  absl::StatusOr<VoteOutput> again = Vote(a.id, "user/alice");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->counted);
  EXPECT_EQ(again->authorization.decision, Decision::kPendingApproval);
  EXPECT_EQ(again->authorization.Approvals(), 1);

  // The requester cannot approve itself; strangers and agents of another
  // department are not approvers.
  EXPECT_EQ(Vote(a.id, "agent/agent_a").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Vote(a.id, "user/mallory").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Vote(a.id, "agent/agent_o").status().code(),
            absl::StatusCode::kPermissionDenied);

  // Not settleable while pending.
  SettleInput settle;
  settle.authorization_id = a.id;
  settle.tx_hash = "0xabc";
  EXPECT_EQ(engine_->Settle(settle).status().code(),
            absl::StatusCode::kFailedPrecondition);

  // A second, distinct approver (here the second agent) allows it.
  clock_.Advance(absl::Minutes(5));
  absl::StatusOr<VoteOutput> second = Vote(a.id, "agent/agent_c");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->counted);
  EXPECT_EQ(second->authorization.decision, Decision::kAllow);
  EXPECT_EQ(second->authorization.hold_expires_at,
            clock_.Now() + absl::Minutes(10));
  EXPECT_EQ(second->authorization.on_expiry, ExpiredHolds::kCount);
  ASSERT_EQ(second->authorization.votes.size(), 2u);
  EXPECT_EQ(second->authorization.votes[0].approver, "user/alice");
  EXPECT_EQ(second->authorization.votes[1].approver, "agent/agent_c");
  EXPECT_EQ(Get(a.id).decision, Decision::kAllow);

  // No more votes once decided; and it settles.
  EXPECT_EQ(Vote(a.id, "user/bob").status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<Authorization> settled = engine_->Settle(settle);
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(settled->status, AuthorizationStatus::kSettled);

  EXPECT_THAT(sink_.events(),
              ::testing::ElementsAre("approval.requested", "approval.voted",
                                     "approval.granted"));
  // Every vote is in the audit trail, with the record after it.
  int voted = 0;
  for (const AuditEvent& e : audit_.events()) {
    if (e.type == AuditEvent::Type::kAuthorizationVoted) ++voted;
  }
  EXPECT_EQ(voted, 3);  // alice, alice again, agent_c.
}

// Two pending requests cannot together pass the budget: the second is
// denied, and the reason names the amount awaiting approval.
TEST_P(ApprovalTest, PendingAmountsStayReserved) {
  const Authorization first = Spend(600);
  ASSERT_EQ(first.decision, Decision::kPendingApproval);
  const Authorization second = Spend(600, "", "wallet_2");
  EXPECT_EQ(second.decision, Decision::kDeny);
  ASSERT_EQ(second.violations.size(), 1u);
  EXPECT_EQ(second.violations[0].code, "BUDGET_EXCEEDED");
  EXPECT_EQ(second.violations[0].pending, "600.00");
  EXPECT_THAT(second.reason,
              ::testing::HasSubstr("rolling 24h spend $600.00 (other wallets "
                                   "$600.00, of which $600.00 pending "
                                   "approval) + $600.00 = $1,200.00 exceeds "
                                   "agent daily_max $1,000.00"));
}

TEST_P(ApprovalTest, ExpiredApprovalReleases) {
  const Authorization a = Spend(600);
  ASSERT_EQ(a.decision, Decision::kPendingApproval);
  ASSERT_TRUE(Vote(a.id, "user/alice").ok());
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(Vote(a.id, "user/bob").status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<size_t> swept = engine_->SweepExpired();
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_EQ(*swept, 1u);
  const Authorization expired = Get(a.id);
  EXPECT_EQ(expired.status, AuthorizationStatus::kExpired);
  EXPECT_FALSE(expired.expired_counted);
  // The $600 is free again.
  EXPECT_EQ(Spend(600, "", "wallet_2").decision, Decision::kPendingApproval);
  EXPECT_THAT(sink_.events(), ::testing::Contains("approval.expired"));
}

TEST_P(ApprovalTest, RejectionReleases) {
  const Authorization a = Spend(600);
  absl::StatusOr<VoteOutput> rejected = Vote(a.id, "user/bob", false);
  ASSERT_TRUE(rejected.ok()) << rejected.status();
  EXPECT_EQ(rejected->authorization.status, AuthorizationStatus::kVoided);
  EXPECT_FALSE(rejected->authorization.votes.at(0).approve);
  EXPECT_EQ(Spend(600, "", "wallet_2").decision, Decision::kPendingApproval);
  absl::StatusOr<std::vector<Authorization>> pending =
      engine_->ListPendingApprovals("");
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_NE((*pending)[0].id, a.id);
}

TEST_P(ApprovalTest, DelayThenAllowUnlessCancelled) {
  const Authorization a = Spend(150);
  ASSERT_EQ(a.decision, Decision::kDelayed);
  SettleInput settle;
  settle.authorization_id = a.id;
  settle.tx_hash = "0xabc";
  EXPECT_EQ(engine_->Settle(settle).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Vote(a.id, "user/alice").status().code(),
            absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::vector<Authorization>> listed =
      engine_->ListPendingApprovals("");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);

  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(Get(a.id).decision, Decision::kAllow);
  EXPECT_TRUE(engine_->ListPendingApprovals("")->empty());
  ASSERT_TRUE(engine_->Settle(settle).ok());

  // Another one, cancelled by an admin within the delay.
  const Authorization b = Spend(150);
  absl::StatusOr<VoteOutput> cancelled = Vote(b.id, "user/admin", false);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->authorization.status, AuthorizationStatus::kVoided);
  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(Get(b.id).decision, Decision::kDelayed);
  EXPECT_EQ(Get(b.id).status, AuthorizationStatus::kVoided);
}

// Spends that each need nothing add up past the cumulative threshold: the
// one that crosses it waits for approval.
TEST_P(ApprovalTest, CumulativeTier) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_EQ(Spend(90).decision, Decision::kAllow) << i;
  }
  const Authorization crossing = Spend(90);
  EXPECT_EQ(crossing.decision, Decision::kPendingApproval);
  EXPECT_THAT(crossing.reason,
              ::testing::HasSubstr("rolling 24h spend $630.00 + $90.00 = "
                                   "$720.00 is above agent agent_a cumulative "
                                   "approval_above_usd $700.00"));
}

// An approval binds to the exact request: the same key with another amount
// is refused, and a new request needs its own approval.
TEST_P(ApprovalTest, ApprovalBindsToTheRequest) {
  const Authorization a = Spend(350, "k1");
  AuthorizeInput changed;
  changed.agent_id = "agent_a";
  changed.wallet_id = "wallet_1";
  changed.asset = "USDC";
  changed.amount = std::to_string(360 * 1'000'000);
  changed.idempotency_key = "k1";
  EXPECT_EQ(engine_->Authorize(changed).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Vote(a.id, "user/alice").ok());
  ASSERT_TRUE(Vote(a.id, "user/bob").ok());
  EXPECT_EQ(Get(a.id).decision, Decision::kAllow);
  EXPECT_EQ(Spend(350, "k2").decision, Decision::kPendingApproval);
}

TEST_P(ApprovalTest, FreezeVoidsPendingApprovals) {
  const Authorization a = Spend(350);
  const Authorization b = Spend(150);
  absl::StatusOr<FreezeOutcome> frozen =
      engine_->FreezeScope("acme", "agent/agent_a", "incident", "user/admin");
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_EQ(frozen->holds_voided, 2);
  EXPECT_EQ(Get(a.id).status, AuthorizationStatus::kVoided);
  EXPECT_EQ(Get(b.id).status, AuthorizationStatus::kVoided);
  EXPECT_TRUE(engine_->ListPendingApprovals("")->empty());
  EXPECT_EQ(Vote(a.id, "user/alice").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// A store that lost its state (a Redis FLUSHALL) is rebuilt from the audit
// trail, as Engine::EnsureReady does: votes, quorum progress and the
// reservation of a pending request survive.
TEST_P(ApprovalTest, VotesSurviveARebuild) {
  const Authorization a = Spend(350);
  ASSERT_TRUE(Vote(a.id, "user/alice").ok());
  std::map<std::string, Authorization> latest;
  for (const AuditEvent& e : audit_.events()) {
    if (e.authorization) latest[e.authorization->id] = *e.authorization;
  }
  engine_.reset();
  store_ = GetParam()();
  for (const auto& [id, record] : latest) {
    ASSERT_TRUE(store_
                    ->Restore(record, record.created_at + absl::Hours(48),
                              absl::UTCTimeZone())
                    .ok());
  }
  engine_ =
      std::make_unique<Engine>(&config_, store_.get(), &audit_, &freezes_,
                               &clock_, EngineHooks{.notifications = &sink_});
  EXPECT_EQ(Spend(700, "", "wallet_2").decision, Decision::kDeny);
  absl::StatusOr<VoteOutput> again = Vote(a.id, "user/alice");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->counted);
  absl::StatusOr<VoteOutput> second = Vote(a.id, "user/bob");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->authorization.decision, Decision::kAllow);
}

// The org's schedule, through the engine and the store: outside it a spend
// is denied before anything is reserved; inside it, allowed. The hours are
// chosen around the (real) time of the run, in UTC.
TEST_P(ApprovalTest, ScheduleThroughTheEngine) {
  const int hour = absl::ToCivilHour(clock_.Now(), absl::UTCTimeZone()).hour();
  std::string yaml = kApprovalBundle;
  yaml.replace(yaml.find("expired_holds: count}"), 21,
               absl::StrFormat("expired_holds: count, schedule: {hours: "
                               "\"%02d:00-%02d:00\"}}",
                               (hour + 1) % 24, (hour + 3) % 24));
  ASSERT_TRUE(engine_->ApplyBundle(yaml, false, "test").ok());
  const Authorization outside = Spend(10);
  EXPECT_EQ(outside.decision, Decision::kDeny);
  ASSERT_EQ(outside.violations.size(), 1u);
  EXPECT_EQ(outside.violations[0].code, "OUTSIDE_SCHEDULE");
  EXPECT_EQ(outside.violations[0].scope, "org/acme");
  clock_.Advance(absl::Minutes(61));
  EXPECT_EQ(Spend(10).decision, Decision::kAllow);
  // The denied spend reserved nothing: the day's $1,000 minus $10 is left.
  EXPECT_EQ(Spend(990, "", "wallet_2").decision, Decision::kPendingApproval);
}

// `default: deny` through the engine: agent_a has a limit but no chains or
// assets lists, so it may not spend until they name what it may.
TEST_P(ApprovalTest, DefaultDenyThroughTheEngine) {
  std::string yaml = kApprovalBundle;
  yaml.replace(yaml.find("expired_holds: count}"), 21,
               "expired_holds: count, default: deny}");
  ASSERT_TRUE(engine_->ApplyBundle(yaml, false, "test").ok());
  Authorization denied = Spend(10);
  EXPECT_EQ(denied.decision, Decision::kDeny);
  std::vector<std::string> codes;
  for (const Violation& v : denied.violations) codes.push_back(v.code);
  EXPECT_THAT(codes,
              ::testing::ElementsAre("CHAIN_NOT_ALLOWED", "ASSET_NOT_ALLOWED"));
  yaml.replace(yaml.find("    approvals:\n      delay_above_usd"), 15,
               "    rules: {chains: [base], assets: [USDC]}\n    approvals:\n");
  ASSERT_TRUE(engine_->ApplyBundle(yaml, false, "test").ok());
  EXPECT_EQ(Spend(10).decision, Decision::kAllow);
  // Its other wallet is on ethereum, which the list leaves out.
  EXPECT_EQ(Spend(10, "", "wallet_2").decision, Decision::kDeny);
}

// Guard lines: a rule whose on_violation is approve sends a breaking spend
// to the approvers instead of denying it (reserved meanwhile); notify allows
// it and notifies; a rule that denies, or one of another scope, still
// denies, and then every violation is reported.
TEST_P(ApprovalTest, RuleViolationsEscalate) {
  std::string yaml = kApprovalBundle;
  const std::string allowed = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  yaml.replace(
      yaml.find("    approvals:\n      delay_above_usd"), 15,
      absl::StrCat("    rules:\n      destinations_allow: [\"", allowed,
                   "\"]\n      per_tx_max_usd: \"40\"\n"
                   "      on_violation: {destinations_allow: approve}\n"
                   "    approvals:\n"));
  yaml.replace(yaml.find("    department: ops\n"), 20,
               "    department: ops\n    rules: {chains: [ethereum], "
               "on_violation: {chains: notify}}\n");
  ASSERT_TRUE(engine_->ApplyBundle(yaml, false, "test").ok());

  AuthorizeInput in;
  in.agent_id = "agent_a";
  in.wallet_id = "wallet_1";
  in.asset = "USDC";
  in.amount = "20000000";  // $20: under every tier of agent_a.
  in.destination = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  in.actor = "agent/agent_a";
  absl::StatusOr<AuthorizeOutput> out = engine_->Authorize(in);
  ASSERT_TRUE(out.ok()) << out.status();
  const Authorization& pending = out->authorization;
  EXPECT_EQ(pending.decision, Decision::kPendingApproval);
  EXPECT_THAT(pending.violations, ::testing::IsEmpty());
  EXPECT_THAT(pending.reason,
              ::testing::HasSubstr("is not in agent agent_a's destination "
                                   "allowlist (agent agent_a's on_violation: "
                                   "approve); needs 2 distinct approvals"));
  ASSERT_TRUE(Vote(pending.id, "user/alice").ok());
  absl::StatusOr<VoteOutput> done = Vote(pending.id, "user/bob");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->authorization.decision, Decision::kAllow);

  // Over per_tx_max_usd too, which denies: both are reported, nothing held.
  in.amount = "50000000";
  in.idempotency_key = "over";
  out = engine_->Authorize(in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->authorization.decision, Decision::kDeny);
  std::vector<std::string> codes;
  for (const Violation& v : out->authorization.violations) {
    codes.push_back(v.code);
  }
  EXPECT_THAT(codes,
              ::testing::ElementsAre("PER_TX_MAX", "DESTINATION_NOT_ALLOWED"));

  // agent_o's chain rule notifies: allowed, and a spend.notify goes out.
  AuthorizeInput o;
  o.agent_id = "agent_o";
  o.wallet_id = "wallet_o";
  o.asset = "USDC";
  o.amount = "1000000";
  o.actor = "agent/agent_o";
  out = engine_->Authorize(o);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->authorization.decision, Decision::kAllow);
  EXPECT_THAT(out->authorization.reason,
              ::testing::HasSubstr("notify: chain base is not in agent "
                                   "agent_o's allowed chains [ethereum] "
                                   "(agent agent_o's on_violation: notify)"));
  EXPECT_THAT(sink_.events(), ::testing::Contains("spend.notify"));
}

// Contract calls through the engine: an ERC-20 transfer by calldata is a
// spend of the token (to its recipient, within the budgets); approvals are
// checked against approved_spenders (cap, unlimited, increaseAllowance) and
// show what they expose; any other call needs a contract rule, its method
// and its argument conditions; a retry must carry the same calldata.
TEST_P(ApprovalTest, ContractCallsThroughTheEngine) {
  constexpr char kToken[] = "0x1111111111111111111111111111111111111111";
  constexpr char kVault[] = "0x2222222222222222222222222222222222222222";
  constexpr char kAlice[] = "0x00000000000000000000000000000000000a11ce";
  std::string yaml = kApprovalBundle;
  const std::string usdc = "  - {symbol: USDC, decimals: 6, price_usd: \"1\"}";
  yaml.replace(yaml.find(usdc), usdc.size(),
               absl::StrCat("  - {symbol: USDC, decimals: 6, price_usd: \"1\", "
                            "chains: {base: \"",
                            kToken,
                            "\"}}\n  - {symbol: ETH, decimals: 18, price_usd: "
                            "\"3000\", chains: {base: native}}"));
  yaml.replace(yaml.find("    approvals:\n      delay_above_usd"), 15,
               absl::StrCat(R"(    rules:
      contracts:
        - chain: base
          address: ")",
                            kVault, R"y("
          methods:
            - signature: "deposit(address to, uint256 amount)"
              where:
                to: {one_of: [")y",
                            kAlice, R"("]}
                amount: {max: "100 USDC"}
            - "0xdeadbeef"
      approved_spenders:
        - {spender: "0x3333333333333333333333333333333333333333", asset: USDC, max: "500"}
        - {spender: "0x4444444444444444444444444444444444444444", unlimited: true}
    approvals:
)"));
  absl::StatusOr<ApplyResult> applied =
      engine_->ApplyBundle(yaml, false, "test");
  ASSERT_TRUE(applied.ok()) << applied.status();

  auto word = [](const std::string& hex) {
    return std::string(64 - hex.size(), '0') + hex;
  };
  auto address = [&](const std::string& a) { return word(a.substr(2)); };
  auto call = [&](const std::string& to, const std::string& data,
                  const std::string& asset = "USDC",
                  const std::string& amount = "", const std::string& key = "") {
    AuthorizeInput in;
    in.agent_id = "agent_a";
    in.wallet_id = "wallet_1";
    in.asset = asset;
    in.amount = amount;
    in.destination = to;
    in.calldata = data;
    in.idempotency_key = key;
    in.actor = "agent/agent_a";
    return engine_->Authorize(in);
  };
  auto decided = [&](const std::string& to, const std::string& data,
                     const std::string& asset = "USDC") {
    absl::StatusOr<AuthorizeOutput> out = call(to, data, asset);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->authorization : Authorization{};
  };
  auto codes = [](const Authorization& a) {
    std::vector<std::string> out;
    for (const Violation& v : a.violations) out.push_back(v.code);
    return out;
  };

  // transfer(alice, $20): a USDC spend to alice.
  const std::string transfer20 =
      absl::StrCat("0xa9059cbb", address(kAlice), word("1312d00"));
  Authorization t = decided(kToken, transfer20);
  EXPECT_EQ(t.decision, Decision::kAllow) << t.reason;
  EXPECT_EQ(t.amount, 20'000'000);
  EXPECT_EQ(t.amount_usd, 20'000'000);
  EXPECT_EQ(t.destination, kAlice);
  EXPECT_EQ(t.contract, kToken);
  EXPECT_EQ(t.method, "transfer(address,uint256)");
  EXPECT_EQ(t.calldata_hash.size(), 64);
  // $990 more by calldata passes the $1,000 daily limit.
  Authorization over = decided(
      kToken, absl::StrCat("0xa9059cbb", address(kAlice), word("3b023380")));
  EXPECT_EQ(codes(over), std::vector<std::string>{"BUDGET_EXCEEDED"})
      << over.reason;
  // The request's amount and asset must be the calldata's.
  absl::StatusOr<AuthorizeOutput> bad = call(kToken, transfer20, "USDC", "5");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::StartsWith("amount: 5, but"));
  bad = call(kToken, transfer20, "ETH");
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::StartsWith("asset: "));
  bad = call(kToken, "0xa9059c");
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::StartsWith("calldata: 3 bytes"));
  // "0x" is calldata of no bytes, not a plain transfer of nothing.
  bad = call(kAlice, "0x");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::StartsWith("calldata: 0 bytes"));
  // A retry with the same key and other calldata is refused.
  ASSERT_TRUE(call(kToken, transfer20, "USDC", "", "k1").ok());
  bad =
      call(kToken, absl::StrCat("0xa9059cbb", address(kVault), word("1312d00")),
           "USDC", "", "k1");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);

  // Approvals: within the cap, over it, unlimited, to an unknown spender,
  // an increase; an unlimited spender may have anything.
  const std::string spender = "0x3333333333333333333333333333333333333333";
  auto approve = [&](const std::string& who, const std::string& amount_hex,
                     const char* selector = "0x095ea7b3") {
    return decided(kToken,
                   absl::StrCat(selector, address(who), word(amount_hex)));
  };
  Authorization ok = approve(spender, "17d78400");  // 400 USDC.
  EXPECT_EQ(ok.decision, Decision::kAllow) << ok.reason;
  EXPECT_EQ(ok.amount_usd, 0);
  EXPECT_EQ(ok.destination, spender);
  EXPECT_THAT(ok.reason,
              ::testing::HasSubstr(absl::StrCat(
                  "spender ", spender,
                  " may move up to 400 USDC ($400.00) from the wallet")));
  EXPECT_EQ(codes(approve(spender, "23c34600")),  // 600 USDC.
            std::vector<std::string>{"APPROVAL_OVER_CAP"});
  EXPECT_EQ(codes(approve(spender, std::string(64, 'f'))),
            std::vector<std::string>{"APPROVAL_UNLIMITED"});
  EXPECT_EQ(codes(approve(kAlice, "1")),
            std::vector<std::string>{"APPROVAL_NOT_ALLOWED"});
  Authorization increase = approve(spender, "1", "0x39509351");
  EXPECT_EQ(codes(increase), std::vector<std::string>{"APPROVAL_NOT_ALLOWED"});
  EXPECT_THAT(increase.reason, ::testing::HasSubstr("increaseAllowance"));
  Authorization unlimited = approve(
      "0x4444444444444444444444444444444444444444", std::string(64, 'f'));
  EXPECT_EQ(unlimited.decision, Decision::kAllow) << unlimited.reason;
  EXPECT_THAT(unlimited.reason,
              ::testing::HasSubstr("may move up to an unlimited amount"));
  bad = call(kToken, absl::StrCat("0x095ea7b3", address(spender), word("1")),
             "USDC", "7");
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::StartsWith("amount: "));

  // Other calls: the vault's deposit within its conditions, outside them,
  // a selector-only method, an unknown method, an unknown contract.
  auto deposit = [&](const std::string& to, const std::string& amount_hex) {
    return decided(
        kVault, absl::StrCat("0x", "47e7ef24", address(to), word(amount_hex)),
        "ETH");
  };
  Authorization d = deposit(kAlice, "5f5e100");  // 100 USDC: the maximum.
  EXPECT_EQ(d.decision, Decision::kAllow) << d.reason;
  EXPECT_EQ(d.method, "deposit(address,uint256)");
  EXPECT_EQ(d.destination, kVault);
  EXPECT_EQ(d.asset, "ETH");
  EXPECT_EQ(d.amount, 0);
  Authorization d2 = deposit(spender, "5f5e101");
  EXPECT_THAT(codes(d2), ::testing::ElementsAre("ARGUMENT_NOT_ALLOWED",
                                                "ARGUMENT_NOT_ALLOWED"));
  EXPECT_THAT(d2.reason, ::testing::HasSubstr("amount 100000001 breaks amount "
                                              "<= 100 USDC"));
  EXPECT_EQ(decided(kVault, "0xdeadbeef", "ETH").decision, Decision::kAllow);
  EXPECT_EQ(codes(decided(kVault, "0x12345678", "ETH")),
            std::vector<std::string>{"METHOD_NOT_ALLOWED"});
  EXPECT_EQ(codes(decided(spender, "0xdeadbeef", "ETH")),
            std::vector<std::string>{"CONTRACT_NOT_ALLOWED"});
  // A call sends the native coin: USDC cannot be its asset.
  bad = call(kVault, "0xdeadbeef", "USDC", "1");
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::StartsWith("asset: "));
}

// Every scope through the engine: a nested department's budget binds the
// agents of its sub-departments, and its freeze stops them; a wallet's own
// limit, the org's per-chain, per-asset and per-destination limits and the
// agent's per-destination count all bind in the same reserve; the record
// keeps the scopes it charged, and voiding it gives back every one.
TEST_P(ApprovalTest, EveryScopeThroughTheEngine) {
  constexpr const char* kScopes = R"(
org:
  id: acme
  chain_limits: {ethereum: [{name: eth_daily, usd: "100", window: "rolling:24h"}]}
  asset_limits: {DAI: [{name: dai_daily, usd: "70", window: "rolling:24h"}]}
  destination_limits: [{name: per_address, usd: "50", window: "rolling:24h"}]
departments:
  - {id: division, limits: [{name: division_daily, usd: "200", window: "rolling:24h"}]}
  - {id: team, parent: division}
  - {id: squad, parent: team}
agents:
  - id: agent_a
    department: squad
    destination_limits: [{name: to_one, count: 2, window: "rolling:24h"}]
    wallets:
      - {id: wallet_1, vendor: local, chain: base, address: "0x01",
         limits: [{name: w1_daily, usd: "30", window: "rolling:24h"}]}
      - {id: wallet_2, vendor: local, chain: ethereum, address: "0x02"}
  - id: agent_b
    department: team
    wallets: [{id: wallet_b, vendor: local, chain: base, address: "0x0b"}]
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1"}
  - {symbol: DAI, decimals: 6, price_usd: "1"}
)";
  absl::StatusOr<ApplyResult> applied =
      engine_->ApplyBundle(kScopes, false, "test");
  ASSERT_TRUE(applied.ok()) << applied.status();
  auto to = [](int n) { return absl::StrFormat("0x%040x", n); };
  auto spend = [&](const std::string& agent, const std::string& wallet,
                   int64_t dollars, int dest,
                   const std::string& asset = "USDC") {
    AuthorizeInput in;
    in.agent_id = agent;
    in.wallet_id = wallet;
    in.asset = asset;
    in.amount = std::to_string(dollars * 1'000'000);
    in.destination = to(dest);
    in.actor = "agent/" + agent;
    absl::StatusOr<AuthorizeOutput> out = engine_->Authorize(in);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->authorization : Authorization{};
  };
  // The one violation of a denial, as "scope limit".
  auto refused_by = [](const Authorization& a) {
    EXPECT_EQ(a.decision, Decision::kDeny) << a.reason;
    return a.violations.size() == 1
               ? absl::StrCat(a.violations[0].scope, " ", a.violations[0].limit)
               : a.reason;
  };

  const Authorization first = spend("agent_a", "wallet_1", 20, 1);
  ASSERT_EQ(first.decision, Decision::kAllow) << first.reason;
  EXPECT_THAT(first.scope_path,
              ::testing::ElementsAre(
                  "org/acme", "department/division", "department/team",
                  "department/squad", "agent/agent_a", "wallet/wallet_1",
                  absl::StrCat("destination/", to(1)),
                  absl::StrCat("agent/agent_a/destination/", to(1))));
  // The wallet's own $30.
  const Authorization over_wallet = spend("agent_a", "wallet_1", 20, 2);
  EXPECT_EQ(refused_by(over_wallet), "wallet/wallet_1 w1_daily");
  EXPECT_THAT(over_wallet.reason,
              ::testing::HasSubstr("exceeds wallet wallet_1 w1_daily $30.00"));
  // $50 to any one address, across wallets.
  const Authorization over_address = spend("agent_a", "wallet_2", 40, 1);
  EXPECT_EQ(refused_by(over_address),
            absl::StrCat("destination/", to(1), " per_address"));
  EXPECT_THAT(over_address.reason,
              ::testing::HasSubstr(
                  absl::StrCat("$20.00 + $40.00 = $60.00 exceeds destination ",
                               to(1), " per_address")));
  // Two payments to one address a day, for agent_a.
  EXPECT_EQ(spend("agent_a", "wallet_2", 1, 3).decision, Decision::kAllow);
  EXPECT_EQ(spend("agent_a", "wallet_2", 1, 3).decision, Decision::kAllow);
  const Authorization third = spend("agent_a", "wallet_2", 1, 3);
  EXPECT_EQ(refused_by(third),
            absl::StrCat("agent/agent_a/destination/", to(3), " to_one"));
  EXPECT_THAT(third.reason,
              ::testing::HasSubstr(absl::StrCat("exceeds agent agent_a to ",
                                                to(3), " to_one 2")));
  // $100 a day on ethereum, whoever spends it: 2 + 45 + 45 = 92, then 9
  // more passes.
  EXPECT_EQ(spend("agent_a", "wallet_2", 45, 4).decision, Decision::kAllow);
  EXPECT_EQ(spend("agent_a", "wallet_2", 45, 5).decision, Decision::kAllow);
  EXPECT_EQ(refused_by(spend("agent_a", "wallet_2", 9, 6)),
            "chain/ethereum eth_daily");
  // $70 of DAI a day.
  EXPECT_EQ(spend("agent_b", "wallet_b", 40, 7, "DAI").decision,
            Decision::kAllow);
  EXPECT_EQ(refused_by(spend("agent_b", "wallet_b", 40, 8, "DAI")),
            "asset/DAI dai_daily");
  // The division's $200 binds agent_b (team) and agent_a (squad, below
  // team): 20 + 92 + 40 = 152 spent; 48 more fits, then nothing.
  EXPECT_EQ(spend("agent_b", "wallet_b", 48, 9).decision, Decision::kAllow);
  const Authorization over_division = spend("agent_a", "wallet_1", 1, 10);
  EXPECT_EQ(refused_by(over_division), "department/division division_daily");
  EXPECT_THAT(over_division.reason,
              ::testing::HasSubstr("(team $200.00) + $1.00 = $201.00 exceeds "
                                   "department division"));
  // Voiding the first spend gives its $20 back to every scope it charged.
  ASSERT_TRUE(engine_->Void("acme", first.id, "agent/agent_a").ok());
  EXPECT_EQ(spend("agent_a", "wallet_1", 20, 1).decision, Decision::kAllow);
  // Per-destination limits need the destination named.
  AuthorizeInput nameless;
  nameless.agent_id = "agent_a";
  nameless.wallet_id = "wallet_1";
  nameless.asset = "USDC";
  nameless.amount = "1000000";
  absl::StatusOr<AuthorizeOutput> out = engine_->Authorize(nameless);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->authorization.violations.size(), 1);
  EXPECT_EQ(out->authorization.violations[0].code, "DESTINATION_REQUIRED");
  // Freezing the division stops the agents of its sub-departments.
  ASSERT_TRUE(
      engine_->FreezeScope("acme", "department/division", "audit", "admin")
          .ok());
  const Authorization frozen = spend("agent_a", "wallet_1", 1, 11);
  ASSERT_EQ(frozen.violations.size(), 1);
  EXPECT_EQ(frozen.violations[0].code, "SCOPE_FROZEN");
  EXPECT_EQ(frozen.violations[0].scope, "department/division");
}

// The denylist is frozen destinations: an address on it is refused in the
// reserve step (DESTINATION_DENIED, whatever its case), its live holds are
// voided, and taking it off allows it again.
TEST_P(ApprovalTest, DenylistThroughTheEngine) {
  const std::string bad = "0x00000000000000000000000000000000000000Bd";
  const Authorization held = Pay(bad);
  ASSERT_EQ(held.decision, Decision::kAllow) << held.reason;
  absl::StatusOr<FreezeOutcome> added = engine_->FreezeScope(
      "acme", "destination/0x00000000000000000000000000000000000000bd",
      "phishing report", "user/admin");
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(added->holds_voided, 1);
  EXPECT_EQ(Get(held.id).status, AuthorizationStatus::kVoided);
  for (const std::string& to :
       {bad, std::string("0x00000000000000000000000000000000000000BD")}) {
    const Authorization denied = Pay(to);
    ASSERT_EQ(denied.violations.size(), 1) << denied.reason;
    EXPECT_EQ(denied.violations[0].code, "DESTINATION_DENIED");
    EXPECT_EQ(denied.violations[0].scope, "org/acme");
    EXPECT_THAT(denied.reason,
                ::testing::HasSubstr("is on org acme's denylist"));
  }
  EXPECT_EQ(Pay("0x00000000000000000000000000000000000000be").decision,
            Decision::kAllow);
  absl::StatusOr<std::vector<FrozenScope>> listed = engine_->ListFrozen("acme");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1);
  EXPECT_EQ((*listed)[0].reason, "phishing report");
  ASSERT_TRUE(engine_
                  ->UnfreezeScope(
                      "acme",
                      "destination/0x00000000000000000000000000000000000000bd",
                      "cleared", "user/admin")
                  .ok());
  EXPECT_EQ(Pay(bad).decision, Decision::kAllow);
}

// Guard lines on an agent's own limits: a burst past a count limit whose
// on_violation is approve goes to the approvers (reserved meanwhile), one
// past a notify limit is allowed and notified; a limit without it denies.
TEST_P(ApprovalTest, LimitsThatEscalate) {
  std::string yaml = kApprovalBundle;
  yaml.replace(
      yaml.find("    limits: [{name: daily_max, usd: \"1000\", window: "
                "\"rolling:24h\"}]"),
      67,
      "    limits:\n"
      "      - {name: daily_max, usd: \"1000\", window: \"rolling:24h\"}\n"
      "      - {name: burst, count: 2, window: \"rolling:1h\", on_violation: "
      "approve}\n"
      "      - {name: watch, usd: \"15\", window: \"rolling:1h\", "
      "on_violation: notify}");
  absl::StatusOr<ApplyResult> applied =
      engine_->ApplyBundle(yaml, false, "test");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(Spend(5).decision, Decision::kAllow);
  // $11 more passes watch ($15): allowed, and someone hears of it.
  const Authorization watched = Spend(11);
  EXPECT_EQ(watched.decision, Decision::kAllow);
  EXPECT_THAT(watched.reason,
              ::testing::HasSubstr("rolling 1h spend $5.00 + $11.00 = $16.00 "
                                   "passes agent agent_a watch $15.00 "
                                   "(on_violation: notify)"));
  EXPECT_THAT(sink_.events(), ::testing::Contains("spend.notify"));
  // The third in the hour passes burst (2): it needs 2 approvals.
  const Authorization third = Spend(1);
  EXPECT_EQ(third.decision, Decision::kPendingApproval) << third.reason;
  EXPECT_THAT(third.reason,
              ::testing::HasSubstr("rolling 1h count 2 + 1 = 3 passes agent "
                                   "agent_a burst 2 (on_violation: approve)"));
  EXPECT_EQ(third.approvals_required, 2);
  ASSERT_TRUE(Vote(third.id, "user/alice").ok());
  absl::StatusOr<VoteOutput> done = Vote(third.id, "user/bob");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->authorization.decision, Decision::kAllow);
  // Only on an agent's own limits.
  std::string dept = kApprovalBundle;
  dept.replace(dept.find("  - id: ops\n"), 12,
               "  - id: ops\n    limits: [{count: 1, window: \"rolling:1h\", "
               "on_violation: approve}]\n");
  absl::StatusOr<ApplyResult> refused =
      engine_->ApplyBundle(dept, false, "test");
  EXPECT_THAT(std::string(refused.status().message()),
              ::testing::HasSubstr("departments[1].limits[0].on_violation: "
                                   "unknown key"));
}

// The new_address guard line: an agent's first payment to an address in
// the window goes to its approvers; once one is paid, the next payment to
// it is allowed; another address is new again. It holds on both stores
// (a first payment is one the store counted nothing for).
TEST_P(ApprovalTest, NewAddressEscalates) {
  std::string yaml = kApprovalBundle;
  yaml.replace(yaml.find("    approvals:\n      delay_above_usd"), 15,
               "    rules:\n      new_address: \"rolling:30d\"\n"
               "      on_violation: {new_address: approve}\n"
               "    approvals:\n");
  absl::StatusOr<ApplyResult> applied =
      engine_->ApplyBundle(yaml, false, "test");
  ASSERT_TRUE(applied.ok()) << applied.status();
  const std::string known = "0x00000000000000000000000000000000000000c1";
  const Authorization first = Pay(known);
  EXPECT_EQ(first.decision, Decision::kPendingApproval) << first.reason;
  // While the first awaits approval, the address is still new: a second
  // payment to it cannot ride on the first.
  EXPECT_EQ(Pay(known).decision, Decision::kPendingApproval);
  EXPECT_THAT(first.reason,
              ::testing::HasSubstr(absl::StrCat(
                  "a first payment by agent agent_a to ", known,
                  " in its rolling 30d (new_address, on_violation: approve)")));
  ASSERT_TRUE(Vote(first.id, "user/alice").ok());
  ASSERT_TRUE(Vote(first.id, "user/bob").ok());
  EXPECT_EQ(Pay(known).decision, Decision::kAllow);
  EXPECT_EQ(Pay("0x00000000000000000000000000000000000000c2").decision,
            Decision::kPendingApproval);
  // It escalates only: deny is refused.
  yaml.replace(yaml.find("{new_address: approve}"), 22, "{new_address: deny}");
  EXPECT_THAT(
      std::string(engine_->ApplyBundle(yaml, false, "test").status().message()),
      ::testing::HasSubstr("rules.new_address: set "
                           "on_violation.new_address to approve or "
                           "notify"));
}

// Caps and lists at every scope: the org's and a parent department's
// per-tx cap, chains, assets, allow and deny lists bind an agent below
// them, each violation naming its scope; the agent's own deny list too.
TEST_P(ApprovalTest, RulesOfEveryScope) {
  constexpr char kAllowed[] = "0x00000000000000000000000000000000000000a1";
  constexpr char kDenied[] = "0x00000000000000000000000000000000000000d1";
  std::string yaml = kApprovalBundle;
  yaml.replace(
      yaml.find("org: {id: acme, hold_ttl: 10m, expired_holds: count}"), 52,
      "org:\n  id: acme\n  hold_ttl: 10m\n  rules: {per_tx_max_usd: "
      "\"250\", assets: [USDC]}");
  yaml.replace(yaml.find("  - id: eng\n"), 12,
               absl::StrCat("  - id: top\n    rules: {chains: [base], "
                            "destinations_allow: [\"",
                            kAllowed, "\", \"", kDenied,
                            "\"]}\n  - id: eng\n    parent: top\n"));
  yaml.replace(yaml.find("    approvals:\n      delay_above_usd"), 15,
               absl::StrCat("    rules: {destinations_deny: [\"", kDenied,
                            "\"]}\n    approvals:\n"));
  absl::StatusOr<ApplyResult> applied =
      engine_->ApplyBundle(yaml, false, "test");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(Spend(20, "", "wallet_1", kAllowed).decision, Decision::kAllow);
  // $260 from the ethereum wallet to an address not allowed.
  EXPECT_THAT(Refusals(Spend(260, "", "wallet_2",
                             "0x00000000000000000000000000000000000000b1")),
              ::testing::ElementsAre("PER_TX_MAX org/acme",
                                     "CHAIN_NOT_ALLOWED department/top",
                                     "DESTINATION_NOT_ALLOWED department/top"));
  const Authorization denied = Spend(1, "", "wallet_1", kDenied);
  EXPECT_THAT(Refusals(denied),
              ::testing::ElementsAre("DESTINATION_DENIED agent/agent_a"));
  EXPECT_THAT(denied.reason, ::testing::HasSubstr("is on agent agent_a's "
                                                  "denylist"));
}

// Caps and lists of a chain, an asset and a wallet bind every spend on
// it, of it or from it, each violation naming its scope.
TEST_P(ApprovalTest, RulesOfChainAssetAndWallet) {
  constexpr char kAllowed[] = "0x00000000000000000000000000000000000000a1";
  constexpr char kDenied[] = "0x00000000000000000000000000000000000000d1";
  std::string yaml = kApprovalBundle;
  yaml.replace(
      yaml.find("org: {id: acme, hold_ttl: 10m, expired_holds: count}"), 52,
      absl::StrCat("org:\n  id: acme\n  hold_ttl: 10m\n  chain_rules: {base: "
                   "{per_tx_max_usd: \"30\", destinations_deny: [\"",
                   kDenied, "\"]}}\n  asset_rules: {USDC: {chains: [base]}}"));
  yaml.replace(yaml.find("address: \"0x01\"}"), 16,
               absl::StrCat("address: \"0x01\", rules: {destinations_allow: "
                            "[\"",
                            kAllowed, "\", \"", kDenied, "\"]}}"));
  absl::StatusOr<ApplyResult> applied =
      engine_->ApplyBundle(yaml, false, "test");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(Spend(20, "", "wallet_1", kAllowed).decision, Decision::kAllow);
  const Authorization over =
      Spend(40, "", "wallet_1", "0x00000000000000000000000000000000000000b1");
  EXPECT_THAT(Refusals(over), ::testing::ElementsAre(
                                  "PER_TX_MAX chain/base",
                                  "DESTINATION_NOT_ALLOWED wallet/wallet_1"));
  EXPECT_THAT(over.reason,
              ::testing::HasSubstr("$40.00 exceeds chain base per_tx_max_usd "
                                   "$30.00"));
  EXPECT_THAT(Refusals(Spend(1, "", "wallet_1", kDenied)),
              ::testing::ElementsAre("DESTINATION_DENIED chain/base"));
  // The ethereum wallet has no rules of its own, but USDC is for base only.
  EXPECT_THAT(Refusals(Spend(1, "", "wallet_2", kAllowed)),
              ::testing::ElementsAre("CHAIN_NOT_ALLOWED asset/USDC"));
}

// The drain_all guard line: a spend of most of what the wallet holds goes
// to the approvers; a balance the node could not give escalates too (the
// guard fails closed); a chain with no node skips it, and the reason says
// so.
TEST_P(ApprovalTest, DrainAllEscalates) {
  std::string yaml = kApprovalBundle;
  yaml.replace(yaml.find("    approvals:\n      delay_above_usd"), 15,
               "    rules:\n      drain_all: \"90%\"\n"
               "      on_violation: {drain_all: approve}\n"
               "    approvals:\n");
  yaml.replace(yaml.find("price_usd: \"1\"}"), 15,
               "price_usd: \"1\", chains: {base: "
               "\"0x00000000000000000000000000000000000000cc\"}}");
  absl::StatusOr<ApplyResult> applied =
      engine_->ApplyBundle(yaml, false, "test");
  ASSERT_TRUE(applied.ok()) << applied.status();
  balances_.Set("base", absl::uint128(100'000'000));  // 100 USDC.
  EXPECT_EQ(Spend(50).decision, Decision::kAllow);
  EXPECT_EQ(balances_.asked(),
            "base 0x01 0x00000000000000000000000000000000000000cc");
  const Authorization drain = Spend(95);
  EXPECT_EQ(drain.decision, Decision::kPendingApproval) << drain.reason;
  EXPECT_THAT(drain.reason,
              ::testing::HasSubstr("95 USDC is at least 90% of wallet "
                                   "wallet_1's balance of 100 USDC on base"));
  balances_.Set("base", absl::UnavailableError("node down"));
  const Authorization unread = Spend(1);
  EXPECT_EQ(unread.decision, Decision::kPendingApproval);
  EXPECT_THAT(unread.reason, ::testing::HasSubstr("could not be read (node "
                                                  "down)"));
  // wallet_2 is on ethereum, where the asset has no address: skipped.
  const Authorization skipped = Spend(1, "", "wallet_2");
  EXPECT_EQ(skipped.decision, Decision::kAllow) << skipped.reason;
  EXPECT_THAT(skipped.reason,
              ::testing::HasSubstr("drain_all not checked: asset USDC has no "
                                   "address on ethereum in the bundle"));
  // A line that only notifies does not allow what it could not check.
  yaml.replace(yaml.find("{drain_all: approve}"), 20, "{drain_all: notify}");
  ASSERT_TRUE(engine_->ApplyBundle(yaml, false, "test").ok());
  const Authorization unchecked = Spend(1);
  EXPECT_EQ(unchecked.decision, Decision::kDeny) << unchecked.reason;
  EXPECT_THAT(unchecked.reason,
              ::testing::HasSubstr("notify does not allow what was not "
                                   "checked"));
  balances_.Set("base", absl::uint128(100'000'000));
  EXPECT_EQ(Spend(95).decision, Decision::kAllow) << "a drain, notified";
  yaml.replace(yaml.find("{drain_all: notify}"), 19, "{drain_all: approve}");
  // With on_violation deny (the default), a drain is refused.
  yaml.replace(yaml.find("      on_violation: {drain_all: approve}\n"), 41, "");
  ASSERT_TRUE(engine_->ApplyBundle(yaml, false, "test").ok());
  balances_.Set("base", absl::uint128(100'000'000));
  EXPECT_EQ(Spend(95).decision, Decision::kDeny);
  // A share outside 1-100%, or not written plainly, is refused with its
  // path.
  for (const char* bad : {"0%", "101%", "090%", "50.5%", "+5%", " 9%", "90"}) {
    std::string wrong = yaml;
    wrong.replace(wrong.find("\"90%\""), 5, absl::StrCat("\"", bad, "\""));
    EXPECT_THAT(
        std::string(
            engine_->ApplyBundle(wrong, false, "test").status().message()),
        ::testing::HasSubstr(absl::StrCat(
            "agents[0].rules.drain_all: \"", bad,
            "\" must be a whole percent of the wallet's balance from "
            "1% to 100%")));
  }
}

// A store that compares caps exactly only up to a bound (Redis: 2^53 - 1)
// has bundles with a larger cap refused, each named by its path, rather
// than applied to fail every spend under it; a store without a bound takes
// them.
TEST_P(ApprovalTest, CapsBeyondTheStoreAreRefused) {
  std::string yaml = kApprovalBundle;
  yaml.replace(yaml.find("usd: \"1000\""), 11, "usd: \"9007199254.740992\"");
  yaml.replace(yaml.find("approval_above_usd: \"700\""), 25,
               "approval_above_usd: \"9223372036854.775807\"");
  yaml.replace(yaml.find("  - id: ops\n"), 12,
               "  - id: ops\n"
               "    limits: [{name: txs, count: 9007199254740992, window: "
               "\"rolling:1h\"}]\n");
  const absl::StatusOr<ApplyResult> applied =
      engine_->ApplyBundle(yaml, false, "test");
  const std::optional<int64_t> largest = store_->LargestExact();
  if (!largest) {
    EXPECT_TRUE(applied.ok()) << applied.status();
    return;
  }
  ASSERT_EQ(applied.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(applied.status().message());
  EXPECT_THAT(message,
              ::testing::HasSubstr(
                  "agents.agent_a.limits.daily_max.usd: $9,007,199,254.740992 "
                  "is above the largest cap the budget store compares "
                  "exactly, $9,007,199,254.740991"));
  EXPECT_THAT(message, ::testing::HasSubstr(
                           "agents.agent_a.approvals.cumulative.approval_"
                           "above_usd: $9,223,372,036,854.775807 is above"));
  EXPECT_THAT(message, ::testing::HasSubstr(
                           "departments.ops.limits.txs.count: "
                           "9007199254740992 is above the largest cap the "
                           "budget store compares exactly, 9007199254740991"));
  // Nothing changed: the old bundle is in force, and a cap at the bound
  // applies.
  EXPECT_EQ(Spend(10).decision, Decision::kAllow);
  yaml = kApprovalBundle;
  yaml.replace(yaml.find("usd: \"1000\""), 11, "usd: \"9007199254.740991\"");
  EXPECT_TRUE(engine_->ApplyBundle(yaml, false, "test").ok());
}

}  // namespace warden::testing

#endif  // WARDEN_TESTS_APPROVALS_APPROVAL_CASES_H_
