#ifndef WARDEN_TESTS_APPROVALS_APPROVAL_CASES_H_
#define WARDEN_TESTS_APPROVALS_APPROVAL_CASES_H_

// Approval tiers end to end through the Engine, on any BudgetStore: each
// test binary instantiates the suite with its store (memory, Redis).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "governance/engine.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"

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

// Remembers every notification.
class RecordingSink final : public NotificationSink {
 public:
  void Notify(const Notification& n) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(n.event);
  }
  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

class ApprovalTest : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override {
    store_ = GetParam()();
    engine_ =
        std::make_unique<Engine>(&config_, store_.get(), &audit_, &freezes_,
                                 &clock_, EngineHooks{.notifications = &sink_});
    ASSERT_TRUE(engine_->ApplyBundle(kApprovalBundle, false, "test").ok());
  }

  Authorization Spend(int64_t dollars, const std::string& key = "",
                      const std::string& wallet = "wallet_1") {
    AuthorizeInput in;
    in.agent_id = "agent_a";
    in.wallet_id = wallet;
    in.asset = "USDC";
    in.amount = std::to_string(dollars * 1'000'000);
    in.idempotency_key = key;
    in.actor = "agent/agent_a";
    absl::StatusOr<AuthorizeOutput> out = engine_->Authorize(in);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? out->authorization : Authorization{};
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

}  // namespace warden::testing

#endif  // WARDEN_TESTS_APPROVALS_APPROVAL_CASES_H_
