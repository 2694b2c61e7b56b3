// The Submitter on the memory stores with a scripted wallet adapter: one
// send per authorization whatever is retried, the hold kept for unknown
// outcomes and released for failed ones, sends that wait for an approval,
// and refusals before anything is held.

#include "services/submitter.h"

#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "governance/memory/memory_operation_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_audit_log.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

constexpr char kBundle[] = R"(
org: {id: acme, timezone: UTC, rules: {x402_domains: [api.example.com]}}
departments: [{id: eng}]
agents:
  - id: payer
    department: eng
    limits: [{name: daily, usd: "1000", window: "rolling:24h"}]
    wallets:
      - {id: payer_w, vendor: local, chain: base,
         address: "0x00000000000000000000000000000000000000a1"}
      - {id: payer_cdp, vendor: cdp, chain: base,
         address: "0x00000000000000000000000000000000000000a2"}
  - id: careful
    department: eng
    approvals: {approval_above_usd: "100", approvers: [user/boss]}
    wallets:
      - {id: careful_w, vendor: local, chain: base,
         address: "0x00000000000000000000000000000000000000a3"}
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1",
     chains: {base: "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913"}}
  - {symbol: DAI, decimals: 18, price_usd: "1"}
  - {symbol: ETH, decimals: 18, price_usd: "3000", chains: {base: native}}
)";
constexpr char kTo[] = "0x00000000000000000000000000000000000000b0";
constexpr char kHash[] =
    "0x1111111111111111111111111111111111111111111111111111111111111111";

// Answers Send and Poll as scripted, and counts the sends.
class ScriptedAdapter final : public WalletAdapter {
 public:
  AdapterInfo Describe() const override { return {.vendor = "local"}; }
  absl::Status CheckX402(const Wallet&, uint64_t) const override {
    return absl::OkStatus();
  }
  absl::StatusOr<VendorStatus> Send(const TransferIntent& intent) override {
    absl::MutexLock lock(&mu_);
    intents_.push_back(intent);
    mu_.Await(absl::Condition(
        +[](bool* held) { return !*held; }, &hold_sends_));
    return send_;
  }
  absl::StatusOr<VendorStatus> Poll(const Wallet& wallet,
                                    const VendorStatus& last) override {
    absl::MutexLock lock(&mu_);
    return poll_.ok() && poll_->state == OperationState::kPending ? last
                                                                  : poll_;
  }
  absl::StatusOr<VendorFreeze> Freeze(const Wallet&,
                                      const std::string&) override {
    return absl::UnimplementedError("no vendor freeze");
  }
  absl::Status Unfreeze(const Wallet&, const std::string&,
                        const std::string&) override {
    return absl::UnimplementedError("no vendor freeze");
  }
  absl::StatusOr<std::vector<VendorTransaction>> ListTransactions(
      const Wallet&, absl::Time) override {
    return absl::UnimplementedError("no");
  }

  void AnswerSend(absl::StatusOr<VendorStatus> s) {
    absl::MutexLock lock(&mu_);
    send_ = std::move(s);
  }
  // While held, Send waits (having recorded its intent) until released.
  void HoldSends(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_sends_ = hold;
  }
  // Poll answers what the operation was until this is set.
  void AnswerPoll(absl::StatusOr<VendorStatus> s) {
    absl::MutexLock lock(&mu_);
    poll_ = std::move(s);
  }
  std::vector<TransferIntent> intents() {
    absl::MutexLock lock(&mu_);
    return intents_;
  }

 private:
  absl::Mutex mu_;
  absl::StatusOr<VendorStatus> send_ =
      VendorStatus{OperationState::kSubmitted, kHash, "nonce:0", ""};
  absl::StatusOr<VendorStatus> poll_ = VendorStatus{};
  std::vector<TransferIntent> intents_;
  bool hold_sends_ = false;
};

class SubmitterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto adapter = std::make_unique<ScriptedAdapter>();
    adapter_ = adapter.get();
    ASSERT_TRUE(adapters_.Add(std::move(adapter)).ok());
    ASSERT_TRUE(engine_.ApplyBundle(kBundle, false, "test").ok());
  }

  static SubmitInput Input(const std::string& agent, const std::string& wallet,
                           const std::string& usdc, const std::string& key = "",
                           const std::string& asset = "USDC") {
    SubmitInput in;
    in.authorize.agent_id = agent;
    in.authorize.wallet_id = wallet;
    in.authorize.asset = asset;
    in.authorize.amount = usdc;
    in.authorize.destination = kTo;
    in.authorize.idempotency_key = key;
    in.authorize.actor = "agent/" + agent;
    return in;
  }

  AuthorizationStatus StatusOf(const Operation& op) {
    absl::StatusOr<Authorization> a = engine_.Get("acme", op.authorization_id);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? a->status : AuthorizationStatus::kDenied;
  }

  std::vector<std::string> OperationEvents() {
    std::vector<std::string> out;
    for (const AuditEvent& e : audit_.events()) {
      if (e.type == AuditEvent::Type::kOperationUpdated) {
        out.push_back(e.reason);
      }
    }
    return out;
  }

  ManualClock clock_{absl::FromUnixSeconds(1777651200)};
  MemoryConfigStore config_;
  MemoryBudgetStore budgets_;
  FakeAuditLog audit_;
  MemoryFreezeStore freezes_;
  MemoryOperationStore operations_;
  AdapterRegistry adapters_;
  ScriptedAdapter* adapter_ = nullptr;
  Engine engine_{&config_, &budgets_, &audit_, &freezes_, &clock_};
  Submitter submitter_{&engine_, &operations_, &adapters_, &audit_, &clock_};
};

TEST_F(SubmitterTest, SendsOnceAndSettlesWhenConfirmed) {
  absl::StatusOr<SubmitOutput> first =
      submitter_.Submit(Input("payer", "payer_w", "5000000", "k1"));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->operation.has_value());
  EXPECT_EQ(first->operation->state, OperationState::kSubmitted);
  EXPECT_EQ(first->operation->tx_hash, kHash);
  ASSERT_EQ(adapter_->intents().size(), 1u);
  const TransferIntent intent = adapter_->intents()[0];
  EXPECT_EQ(intent.token_contract,
            "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913");
  EXPECT_EQ(intent.amount, absl::uint128(5'000'000));
  EXPECT_EQ(intent.destination, kTo);
  EXPECT_EQ(intent.operation_id, first->operation->id);
  EXPECT_EQ(StatusOf(*first->operation), AuthorizationStatus::kHeld);

  absl::StatusOr<SubmitOutput> again =
      submitter_.Submit(Input("payer", "payer_w", "5000000", "k1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->authorized.replayed);
  EXPECT_EQ(again->operation->id, first->operation->id);
  EXPECT_EQ(adapter_->intents().size(), 1u);

  adapter_->AnswerPoll(
      VendorStatus{OperationState::kConfirmed, kHash, "nonce:0", ""});
  absl::StatusOr<Operation> done = submitter_.Get("", first->operation->id);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->state, OperationState::kConfirmed);
  absl::StatusOr<Authorization> a = engine_.Get("acme", done->authorization_id);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, AuthorizationStatus::kSettled);
  EXPECT_EQ(a->tx_hash, kHash);
  EXPECT_EQ(adapter_->intents().size(), 1u);
  // Each state is in the audit trail.
  EXPECT_THAT(OperationEvents(),
              ::testing::ElementsAre(HasSubstr("PENDING"), HasSubstr("SENDING"),
                                     HasSubstr("SUBMITTED tx 0x1111"),
                                     HasSubstr("CONFIRMED tx 0x1111")));
}

TEST_F(SubmitterTest, ARetryDuringTheSendAnswersWithItsOutcome) {
  adapter_->HoldSends(true);
  absl::StatusOr<SubmitOutput> first;
  std::thread sender([&] {
    first = submitter_.Submit(Input("payer", "payer_w", "1000000", "k3"));
  });
  for (int i = 0; i < 500 && adapter_->intents().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_EQ(adapter_->intents().size(), 1u);
  // The retry finds the operation SENDING and waits for the first call.
  absl::StatusOr<SubmitOutput> retry;
  std::thread retrier([&] {
    retry = submitter_.Submit(Input("payer", "payer_w", "1000000", "k3"));
  });
  absl::SleepFor(absl::Milliseconds(200));
  adapter_->HoldSends(false);
  sender.join();
  retrier.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_TRUE(retry->authorized.replayed);
  EXPECT_EQ(retry->operation->id, first->operation->id);
  EXPECT_EQ(retry->operation->state, OperationState::kSubmitted);
  EXPECT_EQ(retry->operation->tx_hash, kHash);
  EXPECT_EQ(adapter_->intents().size(), 1u);
}

TEST_F(SubmitterTest, AFailedSendReleasesTheHold) {
  adapter_->AnswerSend(absl::UnavailableError("node unreachable"));
  absl::StatusOr<SubmitOutput> out =
      submitter_.Submit(Input("payer", "payer_w", "5000000"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->operation->state, OperationState::kFailed);
  EXPECT_THAT(out->operation->error, HasSubstr("node unreachable"));
  EXPECT_EQ(StatusOf(*out->operation), AuthorizationStatus::kVoided);
}

TEST_F(SubmitterTest, AnUnknownSendKeepsTheHoldUntilPolled) {
  adapter_->AnswerSend(VendorStatus{OperationState::kUnknown, kHash, "nonce:3",
                                    "broadcast timed out"});
  absl::StatusOr<SubmitOutput> out =
      submitter_.Submit(Input("payer", "payer_w", "5000000"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->operation->state, OperationState::kUnknown);
  EXPECT_EQ(StatusOf(*out->operation), AuthorizationStatus::kHeld);
  EXPECT_THAT(OperationEvents().back(), HasSubstr("UNKNOWN tx 0x1111"));

  // Still unknown: nothing changes, nothing is sent again.
  absl::StatusOr<size_t> advanced = submitter_.AdvanceOpen(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 0u);
  EXPECT_EQ(adapter_->intents().size(), 1u);

  // The vendor finds it failed: released.
  adapter_->AnswerPoll(VendorStatus{OperationState::kFailed, kHash, "nonce:3",
                                    "the transaction reverted"});
  advanced = submitter_.AdvanceOpen(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 1u);
  absl::StatusOr<Operation> op = submitter_.Get("", out->operation->id);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->state, OperationState::kFailed);
  EXPECT_EQ(StatusOf(*op), AuthorizationStatus::kVoided);
  EXPECT_EQ(adapter_->intents().size(), 1u);
}

TEST_F(SubmitterTest, AnApprovedSpendIsSentOnceApproved) {
  absl::StatusOr<SubmitOutput> out =
      submitter_.Submit(Input("careful", "careful_w", "150000000"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->authorized.authorization.decision, Decision::kPendingApproval);
  EXPECT_EQ(out->operation->state, OperationState::kPending);
  ASSERT_TRUE(submitter_.AdvanceOpen(10).ok());
  EXPECT_TRUE(adapter_->intents().empty());

  ASSERT_TRUE(
      engine_
          .Approve({.org_id = "acme",
                    .authorization_id = out->operation->authorization_id,
                    .approver = "user/boss",
                    .actor = "user/boss"})
          .ok());
  ASSERT_TRUE(submitter_.AdvanceOpen(10).ok());
  EXPECT_EQ(adapter_->intents().size(), 1u);
  absl::StatusOr<Operation> op = submitter_.Get("", out->operation->id);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->state, OperationState::kSubmitted);
  ASSERT_TRUE(submitter_.AdvanceOpen(10).ok());
  EXPECT_EQ(adapter_->intents().size(), 1u);
}

TEST_F(SubmitterTest, ARejectedSpendIsNeverSent) {
  absl::StatusOr<SubmitOutput> out =
      submitter_.Submit(Input("careful", "careful_w", "150000000"));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(engine_
                  .Reject({.org_id = "acme",
                           .authorization_id = out->operation->authorization_id,
                           .approver = "user/boss",
                           .actor = "user/boss"})
                  .ok());
  absl::StatusOr<Operation> op = submitter_.Get("", out->operation->id);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->state, OperationState::kFailed);
  EXPECT_THAT(op->error, HasSubstr("not sent"));
  EXPECT_TRUE(adapter_->intents().empty());
}

TEST_F(SubmitterTest, ASendLeftMidwayBecomesUnknown) {
  // A replica claimed it and stopped before recording the outcome.
  absl::StatusOr<SubmitOutput> out =
      submitter_.Submit(Input("careful", "careful_w", "150000000"));
  ASSERT_TRUE(out.ok());
  Operation sending = *out->operation;
  const OperationState was = sending.state;
  sending.state = OperationState::kSending;
  ASSERT_TRUE(*operations_.Update(sending, was));
  absl::StatusOr<Operation> op = submitter_.Get("", sending.id);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->state, OperationState::kSending);

  clock_.Advance(Submitter::kSendingStale + absl::Seconds(1));
  op = submitter_.Get("", sending.id);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->state, OperationState::kUnknown);
  EXPECT_EQ(StatusOf(*op), AuthorizationStatus::kHeld);
}

TEST_F(SubmitterTest, AKeyUsedByAuthorizeIsNotSent) {
  AuthorizeInput plain = Input("payer", "payer_w", "1000000", "k2").authorize;
  ASSERT_TRUE(engine_.Authorize(plain).ok());
  absl::StatusOr<SubmitOutput> out =
      submitter_.Submit(Input("payer", "payer_w", "1000000", "k2"));
  EXPECT_EQ(out.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(out.status().message(), HasSubstr("This call sent nothing"));
  EXPECT_TRUE(adapter_->intents().empty());
}

TEST_F(SubmitterTest, UnsendableRequestsHoldNothing) {
  const size_t events = audit_.events().size();
  // No adapter for cdp here.
  EXPECT_EQ(submitter_.Submit(Input("payer", "payer_cdp", "1")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // DAI has no address on base.
  absl::StatusOr<SubmitOutput> dai =
      submitter_.Submit(Input("payer", "payer_w", "1", "", "DAI"));
  EXPECT_EQ(dai.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(dai.status().message(), HasSubstr("DAI has no address"));
  SubmitInput bad = Input("payer", "payer_w", "1");
  bad.authorize.destination = "0x12";
  EXPECT_EQ(submitter_.Submit(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad = Input("payer", "payer_w", "1");
  bad.authorize.calldata = "0x123";
  absl::Status st = submitter_.Submit(bad).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("data: must be 0x followed by"));
  bad.authorize.calldata = "0x12";  // Shorter than a selector.
  st = submitter_.Submit(bad).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("data: 1 bytes"));
  // A token's transfer without its arguments.
  SubmitInput call = Input("payer", "payer_w", "", "", "USDC");
  call.authorize.destination = "0x833589FCD6EDB6E08F4C7C32D4F71B54BDA02913";
  call.authorize.calldata = "0xa9059cbb";
  st = submitter_.Submit(call).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(),
              HasSubstr("data: argument 0 of transfer(address,uint256) is "
                        "missing"));
  EXPECT_EQ(audit_.events().size(), events);
  EXPECT_TRUE(adapter_->intents().empty());
}

// Calls: a token transfer written as calldata is sent to the token's
// contract as it was written (no value), valued as the token; a call a
// contract rule allows goes to the contract with its native value; one no
// rule allows is denied and sends nothing.
TEST_F(SubmitterTest, SendsContractCalls) {
  constexpr char kUsdc[] = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
  constexpr char kVault[] = "0x00000000000000000000000000000000000000c0";
  std::string yaml = kBundle;
  yaml.replace(yaml.find("    limits: [{name: daily"), 4,
               absl::StrCat("    rules:\n      contracts: [{chain: base, "
                            "address: \"",
                            kVault, "\", methods: [\"0xdeadbeef\"]}]\n    "));
  ASSERT_TRUE(engine_.ApplyBundle(yaml, false, "test").ok());

  SubmitInput transfer = Input("payer", "payer_w", "", "t1", "USDC");
  transfer.authorize.destination = kUsdc;
  const std::string calldata = absl::StrCat(
      "0xa9059cbb000000000000000000000000", std::string(kTo).substr(2),
      "00000000000000000000000000000000000000000000000000000000000f4240");
  transfer.authorize.calldata = calldata;
  absl::StatusOr<SubmitOutput> out = submitter_.Submit(transfer);
  ASSERT_TRUE(out.ok()) << out.status();
  const Authorization& t = out->authorized.authorization;
  EXPECT_EQ(t.decision, Decision::kAllow) << t.reason;
  EXPECT_EQ(t.amount_usd, 1'000'000);
  EXPECT_EQ(t.destination, kTo);

  SubmitInput call = Input("payer", "payer_w", "5", "c1", "ETH");
  call.authorize.destination = kVault;
  call.authorize.calldata = "0xdeadbeef";
  out = submitter_.Submit(call);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->authorized.authorization.decision, Decision::kAllow);

  call.authorize.idempotency_key = "c2";
  call.authorize.calldata = "0x12345678";
  out = submitter_.Submit(call);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->authorized.authorization.violations.at(0).code,
            "METHOD_NOT_ALLOWED");
  EXPECT_FALSE(out->operation.has_value());

  const std::vector<TransferIntent> sent = adapter_->intents();
  ASSERT_EQ(sent.size(), 2);
  EXPECT_EQ(sent[0].destination, kUsdc);
  EXPECT_EQ(sent[0].token_contract, "");
  EXPECT_EQ(sent[0].amount, 0);
  EXPECT_EQ(absl::StrCat("0x", absl::BytesToHexString(sent[0].data)), calldata);
  EXPECT_EQ(sent[1].destination, kVault);
  EXPECT_EQ(sent[1].amount, 5);
  EXPECT_EQ(sent[1].data, "\xde\xad\xbe\xef");
}

TEST_F(SubmitterTest, ASubmittedAuthorizationIsNotTheCallersToRelease) {
  absl::StatusOr<SubmitOutput> out =
      submitter_.Submit(Input("payer", "payer_w", "1000000"));
  ASSERT_TRUE(out.ok());
  absl::Status st =
      submitter_.CheckNotSubmitted("", out->operation->authorization_id);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("is being sent by Warden"));
  AuthorizeInput plain = Input("payer", "payer_w", "1000000").authorize;
  absl::StatusOr<AuthorizeOutput> a = engine_.Authorize(plain);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(submitter_.CheckNotSubmitted("", a->authorization.id).ok());
}

TEST_F(SubmitterTest, AConfirmationAfterTheHoldWasVoidedIsFlagged) {
  absl::StatusOr<SubmitOutput> out =
      submitter_.Submit(Input("payer", "payer_w", "1000000"));
  ASSERT_TRUE(out.ok());
  // A freeze voids the hold while the transaction is on its way.
  ASSERT_TRUE(engine_.FreezeScope("", "agent/payer", "incident", "admin").ok());
  adapter_->AnswerPoll(
      VendorStatus{OperationState::kConfirmed, kHash, "nonce:0", ""});
  absl::StatusOr<Operation> op = submitter_.Get("", out->operation->id);
  ASSERT_TRUE(op.ok());
  EXPECT_EQ(op->state, OperationState::kConfirmed);
  EXPECT_THAT(op->error, HasSubstr("not charged to any budget"));
  EXPECT_THAT(OperationEvents().back(), HasSubstr("not charged"));
}

TEST_F(SubmitterTest, TheSweepTakesTurns) {
  // Three waiting for approval fill a window of two; the third still gets
  // its turn on the next sweep.
  std::vector<std::string> authorizations;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<SubmitOutput> out = submitter_.Submit(
        Input("careful", "careful_w", "150000000", absl::StrCat("t", i)));
    ASSERT_TRUE(out.ok());
    authorizations.push_back(out->operation->authorization_id);
    clock_.Advance(absl::Seconds(1));
  }
  ASSERT_TRUE(engine_
                  .Approve({.org_id = "acme",
                            .authorization_id = authorizations[2],
                            .approver = "user/boss",
                            .actor = "user/boss"})
                  .ok());
  for (int sweep = 0; sweep < 2; ++sweep) {
    clock_.Advance(absl::Seconds(1));
    ASSERT_TRUE(submitter_.AdvanceOpen(2).ok());
  }
  EXPECT_EQ(adapter_->intents().size(), 1u);
}

TEST_F(SubmitterTest, AnotherAgentsOperationIsRefused) {
  absl::StatusOr<SubmitOutput> out =
      submitter_.Submit(Input("payer", "payer_w", "1000000"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(submitter_.Get("", out->operation->id, "careful").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(submitter_.Get("", out->operation->id, "payer").ok());
  EXPECT_EQ(submitter_.Get("", "op_nope").status().code(),
            absl::StatusCode::kNotFound);
}

// x402 payments (Pay): the signing is the adapter's Send.
PayInput Payment(const std::string& key) {
  PayInput in;
  in.authorize.agent_id = "payer";
  in.authorize.wallet_id = "payer_w";
  in.authorize.amount = "10000";
  in.authorize.destination = kTo;
  in.authorize.x402_resource = "https://api.example.com/report";
  in.authorize.idempotency_key = key;
  in.authorize.actor = "agent/payer";
  in.token_contract = "0x833589FCD6EDB6E08F4C7C32D4F71B54BDA02913";
  in.terms = X402Terms{.token_name = "USD Coin",
                       .token_version = "2",
                       .chain_id = 8453,
                       .valid_for = absl::Seconds(60)};
  return in;
}

const VendorStatus kSigned{OperationState::kSubmitted, "",
                           "x402:{\"signed\":true}", ""};

TEST_F(SubmitterTest, APaymentIsSignedForTheAssetOfItsTokenWithinTheHold) {
  adapter_->AnswerSend(kSigned);
  absl::StatusOr<SubmitOutput> paid = submitter_.Pay(Payment("p1"));
  ASSERT_TRUE(paid.ok()) << paid.status();
  EXPECT_EQ(paid->authorized.authorization.decision, Decision::kAllow);
  EXPECT_EQ(paid->authorized.authorization.asset, "USDC");
  ASSERT_TRUE(paid->operation.has_value());
  EXPECT_EQ(paid->operation->state, OperationState::kSubmitted);
  ASSERT_EQ(adapter_->intents().size(), 1u);
  const TransferIntent intent = adapter_->intents()[0];
  ASSERT_TRUE(intent.x402.has_value());
  EXPECT_EQ(intent.x402->token_name, "USD Coin");
  EXPECT_EQ(intent.token_contract,
            "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913");
  EXPECT_EQ(intent.valid_before, clock_.Now() + absl::Seconds(60));
  // A retry: the same payment, signed once.
  paid = submitter_.Pay(Payment("p1"));
  ASSERT_TRUE(paid.ok()) << paid.status();
  EXPECT_TRUE(paid->authorized.replayed);
  EXPECT_EQ(adapter_->intents().size(), 1u);
  // Other terms with the same key are refused.
  PayInput other = Payment("p1");
  other.terms.valid_for = absl::Seconds(30);
  EXPECT_THAT(submitter_.Pay(other).status().message(),
              HasSubstr("an x402 payment with other terms"));
  // Never valid past the hold (15 minutes) less the margin.
  other = Payment("p2");
  other.terms.valid_for = absl::Hours(1);
  ASSERT_TRUE(submitter_.Pay(other).ok());
  EXPECT_EQ(adapter_->intents().back().valid_before,
            clock_.Now() + absl::Minutes(15) - Submitter::kX402HoldMargin);
}

// A freeze that returns while the payment is being signed: the signature
// is dropped, never recorded or answered.
TEST_F(SubmitterTest, ASignatureMadeWhileAFreezeVoidedTheHoldIsDiscarded) {
  adapter_->AnswerSend(kSigned);
  adapter_->HoldSends(true);
  absl::StatusOr<SubmitOutput> paid = absl::UnknownError("not run");
  std::thread paying([&] { paid = submitter_.Pay(Payment("p1")); });
  for (int i = 0; i < 500 && adapter_->intents().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  ASSERT_EQ(adapter_->intents().size(), 1u);
  ASSERT_TRUE(
      engine_.FreezeScope("", "agent/payer", "compromised", "admin").ok());
  adapter_->HoldSends(false);
  paying.join();
  ASSERT_TRUE(paid.ok()) << paid.status();
  EXPECT_EQ(paid->authorized.authorization.decision, Decision::kDeny);
  EXPECT_EQ(paid->authorized.authorization.status,
            AuthorizationStatus::kVoided);
  ASSERT_TRUE(paid->operation.has_value());
  EXPECT_EQ(paid->operation->state, OperationState::kFailed);
  EXPECT_TRUE(paid->operation->vendor_ref.empty());
  EXPECT_THAT(paid->operation->error, HasSubstr("the signature was discarded"));
  absl::StatusOr<Operation> stored =
      operations_.Get("acme", paid->operation->id);
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->vendor_ref.empty());
}

// A node that cannot be reached: nothing signed, the hold kept, UNAVAILABLE;
// the retry with the same key signs.
TEST_F(SubmitterTest, AnUnreachableNodeKeepsTheHoldForARetry) {
  adapter_->AnswerSend(absl::DeadlineExceededError("eth_blockNumber: timeout"));
  absl::StatusOr<SubmitOutput> paid = submitter_.Pay(Payment("p1"));
  EXPECT_TRUE(absl::IsUnavailable(paid.status())) << paid.status();
  EXPECT_THAT(paid.status().message(), HasSubstr("is still held"));
  adapter_->AnswerSend(kSigned);
  paid = submitter_.Pay(Payment("p1"));
  ASSERT_TRUE(paid.ok()) << paid.status();
  EXPECT_TRUE(paid->authorized.replayed);
  EXPECT_EQ(paid->authorized.authorization.decision, Decision::kAllow);
  EXPECT_EQ(paid->operation->state, OperationState::kSubmitted);
  EXPECT_EQ(adapter_->intents().size(), 2u);
}

// Without durable operations, an org that releases expired holds could
// lose a used payment's operation in a restart and release it: refused.
TEST_F(SubmitterTest, PaymentsNeedDurableOperationsWhenHoldsAreReleased) {
  std::string bundle = kBundle;
  bundle.replace(bundle.find("timezone: UTC,"), 14,
                 "timezone: UTC, expired_holds: release,");
  ASSERT_TRUE(engine_.ApplyBundle(bundle, false, "test").ok());
  Submitter in_memory(&engine_, &operations_, &adapters_, &audit_, &clock_,
                      /*durable_operations=*/false);
  absl::StatusOr<SubmitOutput> paid = in_memory.Pay(Payment("p1"));
  EXPECT_TRUE(absl::IsFailedPrecondition(paid.status())) << paid.status();
  EXPECT_THAT(paid.status().message(),
              HasSubstr("x402 payments need Postgres"));
  EXPECT_TRUE(adapter_->intents().empty());
  // With Postgres's operations it pays.
  adapter_->AnswerSend(kSigned);
  EXPECT_TRUE(submitter_.Pay(Payment("p2")).ok());
}

}  // namespace
}  // namespace warden
