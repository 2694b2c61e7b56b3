#include "adapters/metamask/metamask_adapter.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/evm/evm.h"
#include "adapters/metamask/mm_cli.h"
#include "adapters/metamask/subprocess.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/metamask/fake_metamask.h"

namespace warden {
namespace {

using testing::FakeMetaMask;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kWallet[] = "0x1111111111111111111111111111111111111111";
constexpr char kOtherWallet[] = "0x3333333333333333333333333333333333333333";
constexpr char kDest[] = "0x2222222222222222222222222222222222222222";
constexpr char kToken[] = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
constexpr uint64_t kBase = 8453;

std::string Calldata(const std::string& to, absl::uint128 amount) {
  return evm::Hex(evm::TransferCalldata(*evm::ParseAddress(to), amount));
}

class MetaMaskAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakeMetaMask>> fake = FakeMetaMask::Start();
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "warden_mm_home_XXXXXX")
            .string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    home_ = tmpl;
    ASSERT_TRUE(fake_->PrepareHome(home_).ok());
    fake_->AddWallet(kWallet, 1000);
    adapter_ = Make(Options());
    ASSERT_NE(adapter_, nullptr);
  }
  void TearDown() override {
    adapter_.reset();
    fake_.reset();
    std::filesystem::remove_all(home_);
  }

  MetaMaskOptions Options() const {
    MetaMaskOptions o;
    o.mm_path = FAKE_MM_PATH;
    o.home = home_;
    o.timeout = absl::Seconds(10);
    o.retry.max_attempts = 3;
    o.retry.initial_backoff = absl::Milliseconds(5);
    o.retry.max_backoff = absl::Milliseconds(20);
    return o;
  }
  static std::unique_ptr<MetaMaskAdapter> Make(MetaMaskOptions o) {
    absl::StatusOr<std::unique_ptr<MetaMaskAdapter>> a =
        MetaMaskAdapter::Create(std::move(o));
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? std::move(*a) : nullptr;
  }

  static Wallet TheWallet(const std::string& address = kWallet) {
    return Wallet{.id = absl::StrCat("w_", address.substr(2, 4)),
                  .agent_id = "agent_1",
                  .vendor = "metamask",
                  .chain = "base",
                  .address = address};
  }
  static TransferIntent Native(absl::uint128 amount,
                               const std::string& op = "op_1",
                               const std::string& address = kWallet) {
    return TransferIntent{.operation_id = op,
                          .wallet = TheWallet(address),
                          .asset = "ETH",
                          .amount = amount,
                          .destination = kDest};
  }

  // Runs fake_mm as the wallet's owner would, bypassing Warden.
  metamask::ProcessResult DirectMm(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {FAKE_MM_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    metamask::ProcessOptions o;
    o.env["HOME"] = home_;
    o.timeout = absl::Seconds(20);
    absl::StatusOr<metamask::ProcessResult> r = metamask::RunProcess(argv, o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : metamask::ProcessResult{};
  }

  std::unique_ptr<FakeMetaMask> fake_;
  std::string home_;
  std::unique_ptr<MetaMaskAdapter> adapter_;
};

// Describe names the vendor, its chains and what it can do.
TEST_F(MetaMaskAdapterTest, Describe) {
  const AdapterInfo info = adapter_->Describe();
  EXPECT_EQ(info.vendor, "metamask");
  EXPECT_THAT(info.chains, ::testing::Contains("base"));
  EXPECT_TRUE(info.async);
  EXPECT_TRUE(info.vendor_policy);
  EXPECT_TRUE(info.vendor_freeze);
  EXPECT_TRUE(info.list_transactions);
}

// A wallet on a chain the adapter does not serve, or with a bad address, is
// refused naming the bundle field.
TEST_F(MetaMaskAdapterTest, CheckWalletNamesTheField) {
  EXPECT_TRUE(adapter_->CheckWallet(TheWallet()).ok());
  Wallet solana = TheWallet();
  solana.chain = "solana";
  absl::Status st = adapter_->CheckWallet(solana);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("field \"chain\""));
  Wallet bad = TheWallet();
  bad.address = "0x12";
  st = adapter_->CheckWallet(bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("field \"address\""));
}

// A send within the wallet's policy is broadcast at once (kSubmitted with
// the hash), then Poll sees it confirmed.
TEST_F(MetaMaskAdapterTest, SendWithinPolicyIsSubmittedThenConfirmed) {
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(500));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->state, OperationState::kSubmitted);
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));
  const FakeMetaMask::Tx tx = fake_->Ledger()[0];
  EXPECT_EQ(sent->tx_hash, tx.hash);
  EXPECT_EQ(sent->vendor_ref, tx.polling_id);
  EXPECT_EQ(tx.from, kWallet);
  EXPECT_EQ(tx.to, kDest);
  EXPECT_EQ(tx.value, 500);
  EXPECT_EQ(tx.chain_id, kBase);
  EXPECT_THAT(tx.intent, HasSubstr("Warden op_1:"));

  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  ASSERT_TRUE(fake_->Confirm(sent->vendor_ref).ok());
  polled = adapter_->Poll(TheWallet(), *polled);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
  EXPECT_EQ(polled->tx_hash, tx.hash);
  EXPECT_EQ(fake_->CommandCount("wallet send-transaction"), 1);
}

// A token transfer goes to the token contract with value 0 and
// transfer(destination, amount) calldata.
TEST_F(MetaMaskAdapterTest, TokenTransferSendsTransferCalldata) {
  TransferIntent intent = Native(700);
  intent.asset = "USDC";
  intent.token_contract = kToken;
  absl::StatusOr<VendorStatus> sent = adapter_->Send(intent);
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));
  const FakeMetaMask::Tx tx = fake_->Ledger()[0];
  EXPECT_EQ(tx.to, kToken);
  EXPECT_EQ(tx.value, 0);
  EXPECT_EQ(tx.data, Calldata(kDest, 700));

  intent.data = "\x01";
  EXPECT_EQ(adapter_->Send(intent).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A send above the outflow limit waits for the owner's 2FA; once approved
// it is broadcast and confirmed.
TEST_F(MetaMaskAdapterTest, SendAboveLimitAwaitsApproval) {
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(5000));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->state, OperationState::kAwaitingApproval);
  EXPECT_TRUE(sent->tx_hash.empty());
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));

  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kAwaitingApproval);

  ASSERT_TRUE(fake_->ApproveMfa(sent->vendor_ref).ok());
  polled = adapter_->Poll(TheWallet(), *polled);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));
  EXPECT_EQ(polled->tx_hash, fake_->Ledger()[0].hash);

  ASSERT_TRUE(fake_->Confirm(polled->tx_hash).ok());
  polled = adapter_->Poll(TheWallet(), *polled);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
}

// A request the owner rejects fails, and nothing was spent.
TEST_F(MetaMaskAdapterTest, RejectedApprovalFails) {
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(5000));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_TRUE(fake_->RejectMfa(sent->vendor_ref).ok());
  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kFailed);
  EXPECT_THAT(polled->error, HasSubstr("rejected"));
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
}

// A transaction that reverts on chain fails.
TEST_F(MetaMaskAdapterTest, RevertedTransactionFails) {
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_TRUE(fake_->FailOnChain(sent->tx_hash, "execution reverted").ok());
  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kFailed);
  EXPECT_THAT(polled->error, HasSubstr("execution reverted"));
}

// With a wrong session token mm refuses (AUTH_FAILED): an error, and
// nothing reaches the wallet.
TEST_F(MetaMaskAdapterTest, WrongSessionIsUnauthenticatedAndSendsNothing) {
  ASSERT_TRUE(fake_->PrepareHome(home_, "not-the-token").ok());
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10));
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(sent.status().message(), HasSubstr("AUTH_FAILED"));
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
  EXPECT_THAT(fake_->Requests(), SizeIs(0));
}

// A rate limit refuses the request unread: the send is asked again with
// backoff, and happens once.
TEST_F(MetaMaskAdapterTest, RateLimitIsRetried) {
  fake_->InjectFault(FakeMetaMask::Fault::kRateLimited,
                     "wallet send-transaction", 2);
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->state, OperationState::kSubmitted);
  EXPECT_EQ(fake_->CommandCount("wallet send-transaction"), 3);
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));
}

// When the rate limit outlasts the attempts, the send fails UNAVAILABLE
// with nothing sent.
TEST_F(MetaMaskAdapterTest, RateLimitExhaustedSendsNothing) {
  fake_->InjectFault(FakeMetaMask::Fault::kRateLimited,
                     "wallet send-transaction", 10);
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10));
  EXPECT_EQ(sent.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(sent.status().message(), HasSubstr("nothing was sent"));
  EXPECT_EQ(fake_->CommandCount("wallet send-transaction"), 3);
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
}

// mm hangs after the send took effect: the adapter kills it and answers
// kUnknown; Poll then finds the one transaction by its operation id and
// never sends again.
TEST_F(MetaMaskAdapterTest, SlowSendIsUnknownThenFoundNotResent) {
  MetaMaskOptions o = Options();
  o.timeout = absl::Milliseconds(1500);
  std::unique_ptr<MetaMaskAdapter> adapter = Make(o);
  fake_->InjectFault(FakeMetaMask::Fault::kSlowAfterEffect,
                     "wallet send-transaction", 1, absl::Seconds(30));
  const absl::Time start = absl::Now();
  absl::StatusOr<VendorStatus> sent = adapter->Send(Native(10, "op_slow"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));
  EXPECT_EQ(sent->state, OperationState::kUnknown);
  EXPECT_THAT(sent->error, HasSubstr("did not finish"));
  EXPECT_LT(sent->vendor_ref.size(), 4096u);
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));
  const FakeMetaMask::Tx tx = fake_->Ledger()[0];

  absl::StatusOr<VendorStatus> polled = adapter->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  EXPECT_EQ(polled->tx_hash, tx.hash);
  EXPECT_EQ(polled->vendor_ref, tx.polling_id);

  ASSERT_TRUE(fake_->Confirm(tx.hash).ok());
  polled = adapter->Poll(TheWallet(), *polled);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
  EXPECT_EQ(fake_->CommandCount("wallet send-transaction"), 1);
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));
}

// mm dies by a signal after the send took effect and the transaction is
// mined before anyone polls: Poll finds it in the wallet's history by what
// was sent (the crashed CLI kept no intent for it).
TEST_F(MetaMaskAdapterTest, CrashedSendIsResolvedFromHistory) {
  fake_->InjectFault(FakeMetaMask::Fault::kCrashAfterEffect,
                     "wallet send-transaction");
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10, "op_crash"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->state, OperationState::kUnknown);
  EXPECT_THAT(sent->error, HasSubstr("signal 9"));
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));
  const std::string hash = fake_->Ledger()[0].hash;
  EXPECT_FALSE(fake_->Ledger()[0].intent_in_history);
  ASSERT_TRUE(fake_->Confirm(hash).ok());
  // Decoys: other spends to the same address, but of another amount, or
  // from before the send.
  fake_->RecordExternalTransaction(kWallet, kBase, kDest, 11);
  fake_->RecordExternalTransaction(kWallet, kBase, kDest, 10, "",
                                   absl::Now() - absl::Hours(1));

  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
  EXPECT_EQ(polled->tx_hash, hash);
  EXPECT_EQ(fake_->CommandCount("wallet send-transaction"), 1);
  const std::vector<FakeMetaMask::Tx> ledger = fake_->Ledger();
  EXPECT_EQ(std::count_if(ledger.begin(), ledger.end(),
                          [](const FakeMetaMask::Tx& tx) {
                            return !tx.polling_id.empty();
                          }),
            1);
}

// An internal error may hide a send: kUnknown. Poll never concludes that
// nothing was sent, however long ago the send was: it stays kUnknown and
// asks a person to check.
TEST_F(MetaMaskAdapterTest, InternalErrorStaysUnknownForAPerson) {
  fake_->InjectFault(FakeMetaMask::Fault::kInternalError,
                     "wallet send-transaction");
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10, "op_err"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->state, OperationState::kUnknown);
  EXPECT_THAT(sent->error, HasSubstr("WALLET_ERROR"));

  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kUnknown);

  // The same send, a day ago.
  VendorStatus old = *sent;
  nlohmann::json ref = nlohmann::json::parse(old.vendor_ref);
  ref["sent_at"] = absl::ToUnixSeconds(absl::Now() - absl::Hours(24));
  old.vendor_ref = ref.dump();
  polled = adapter_->Poll(TheWallet(), old);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kUnknown);
  EXPECT_THAT(polled->error, HasSubstr("A person should check"));
  EXPECT_EQ(fake_->CommandCount("wallet send-transaction"), 1);
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
}

// A rate limit that comes after MetaMask made the request (mm makes several
// calls per send) is not a refusal: the wallet shows the request, so the
// send is not run again; it is kUnknown, and Poll finds the one request.
TEST_F(MetaMaskAdapterTest, RateLimitAfterTheRequestIsNotResent) {
  fake_->InjectFault(FakeMetaMask::Fault::kRateLimitedAfterEffect,
                     "wallet send-transaction");
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(5000, "op_rl"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->state, OperationState::kUnknown);
  EXPECT_THAT(sent->error, HasSubstr("RATE_LIMITED"));
  EXPECT_EQ(fake_->CommandCount("wallet send-transaction"), 1);
  ASSERT_THAT(fake_->Requests(), SizeIs(1));

  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kAwaitingApproval);
  EXPECT_EQ(polled->vendor_ref, fake_->Requests()[0].polling_id);
}

// When the check itself fails (the request list is rate limited too), the
// send is not run again either: kUnknown.
TEST_F(MetaMaskAdapterTest, RateLimitWithFailedCheckIsUnknown) {
  fake_->InjectFault(FakeMetaMask::Fault::kRateLimited,
                     "wallet send-transaction");
  fake_->InjectFault(FakeMetaMask::Fault::kRateLimited, "wallet requests list",
                     3);
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10, "op_rl2"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->state, OperationState::kUnknown);
  EXPECT_THAT(sent->error, HasSubstr("could not be checked"));
  EXPECT_EQ(fake_->CommandCount("wallet send-transaction"), 1);
}

// An authentication error can come after the request was made (the session
// refresh of a later call): kUnknown with the hold kept, never an error.
TEST_F(MetaMaskAdapterTest, AuthErrorAfterTheRequestIsUnknown) {
  fake_->InjectFault(FakeMetaMask::Fault::kTokenRefreshFailedAfterEffect,
                     "wallet send-transaction");
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10, "op_auth"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->state, OperationState::kUnknown);
  EXPECT_THAT(sent->error, HasSubstr("TOKEN_REFRESH_FAILED"));
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));

  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  EXPECT_EQ(polled->tx_hash, fake_->Ledger()[0].hash);
}

// An unknown send is looked for in its own wallet's request list, even when
// another wallet is active at mm.
TEST_F(MetaMaskAdapterTest, UnknownSendIsFoundWhileAnotherWalletIsActive) {
  fake_->AddWallet(kOtherWallet, 1000);
  MetaMaskOptions o = Options();
  o.timeout = absl::Milliseconds(1500);
  std::unique_ptr<MetaMaskAdapter> adapter = Make(o);
  fake_->InjectFault(FakeMetaMask::Fault::kSlowAfterEffect,
                     "wallet send-transaction", 1, absl::Seconds(30));
  absl::StatusOr<VendorStatus> sent = adapter->Send(Native(5000, "op_2fa"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->state, OperationState::kUnknown);
  DirectMm({"wallet", "select", kOtherWallet});
  ASSERT_EQ(fake_->ActiveWallet(), kOtherWallet);

  absl::StatusOr<VendorStatus> polled = adapter->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kAwaitingApproval);
  EXPECT_EQ(fake_->CommandCount("wallet send-transaction"), 1);
}

// A finished job with a hash is not proof of success: the transaction's
// history row settles it, so while the indexer lags it stays kSubmitted.
TEST_F(MetaMaskAdapterTest, CompletedJobIsConfirmedByHistory) {
  fake_->PauseIndexer();
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_TRUE(fake_->Confirm(sent->vendor_ref).ok());
  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  fake_->ResumeIndexer();
  polled = adapter_->Poll(TheWallet(), *polled);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
}

// An unknown token transfer is matched by its calldata, never by token and
// value 0 alone: a later transfer of the same token with no calldata shown
// is not claimed.
TEST_F(MetaMaskAdapterTest, UnknownTokenSendMatchesItsCalldata) {
  TransferIntent intent = Native(700, "op_tok");
  intent.asset = "USDC";
  intent.token_contract = kToken;
  fake_->InjectFault(FakeMetaMask::Fault::kCrashAfterEffect,
                     "wallet send-transaction");
  absl::StatusOr<VendorStatus> sent = adapter_->Send(intent);
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->state, OperationState::kUnknown);
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));
  const std::string hash = fake_->Ledger()[0].hash;
  ASSERT_TRUE(fake_->Confirm(hash).ok());
  // Newer: to the token, value 0, no calldata shown.
  fake_->RecordExternalTransaction(kWallet, kBase, kToken, 0);

  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->tx_hash, hash);
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
}

// Two transactions that both fit an unknown send, neither naming it: Poll
// does not pick one; it stays kUnknown for a person.
TEST_F(MetaMaskAdapterTest, AmbiguousHistoryStaysUnknown) {
  fake_->InjectFault(FakeMetaMask::Fault::kCrashAfterEffect,
                     "wallet send-transaction");
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10, "op_amb"));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->state, OperationState::kUnknown);
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));
  ASSERT_TRUE(fake_->Confirm(fake_->Ledger()[0].hash).ok());
  fake_->RecordExternalTransaction(kWallet, kBase, kDest, 10);
  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kUnknown);
  EXPECT_THAT(polled->error, HasSubstr("a person must check"));
  EXPECT_TRUE(polled->tx_hash.empty());
}

// Freezing tightens the wallet's policy (Guard Mode, outflow limit 0) with
// no 2FA, so MetaMask holds any spend, even one made around Warden: it cannot
// refuse one (kOwnerApproval). What to restore is the exact earlier
// document, kept by Warden, not by MetaMask. Unfreezing needs the owner's
// 2FA, and is reported as pending until it comes.
TEST_F(MetaMaskAdapterTest, FreezeHoldsEverySpendUntilTheOwnerUnfreezes) {
  const std::string before = fake_->PolicyYaml(kWallet);
  absl::StatusOr<VendorFreeze> frozen =
      adapter_->Freeze(TheWallet(), "kill switch");
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_EQ(frozen->strength, VendorFreeze::Strength::kOwnerApproval);
  EXPECT_TRUE(fake_->IsFrozen(kWallet));
  EXPECT_THAT(frozen->restore, HasSubstr("guard"));
  // The document itself carries nothing of Warden's.
  EXPECT_THAT(fake_->PolicyYaml(kWallet), Not(HasSubstr("warden")));

  // The owner's agent sends directly with the CLI: held for 2FA.
  const metamask::ProcessResult direct = DirectMm(
      {"wallet", "send-transaction", "--chain-id", "8453", "--payload",
       absl::StrCat(R"({"to":")", kDest, R"(","value":"0x1"})"), "--json"});
  EXPECT_EQ(direct.exit_code, 0);
  EXPECT_THAT(direct.out, HasSubstr("AWAITING_MFA"));
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(1));
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->state, OperationState::kAwaitingApproval);
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));

  // A new adapter (a restarted wardend) unfreezes from what Warden kept.
  std::unique_ptr<MetaMaskAdapter> restarted = Make(Options());
  absl::Status st = restarted->Unfreeze(TheWallet(), frozen->restore, "lifted");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("2FA"));
  EXPECT_TRUE(fake_->IsFrozen(kWallet));
  std::string policy_request;
  for (const FakeMetaMask::Request& r : fake_->Requests()) {
    if (r.kind == "policy" && r.status == "pending_approval") {
      policy_request = r.polling_id;
    }
  }
  ASSERT_FALSE(policy_request.empty());
  EXPECT_THAT(st.message(), HasSubstr(policy_request));
  // Asked again while the approval is pending: still pending, no new one.
  st = restarted->Unfreeze(TheWallet(), frozen->restore, "lifted");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);

  ASSERT_TRUE(fake_->ApproveMfa(policy_request).ok());
  EXPECT_FALSE(fake_->IsFrozen(kWallet));
  EXPECT_EQ(fake_->OutflowLimit(kWallet), absl::uint128(1000));
  EXPECT_EQ(fake_->PolicyYaml(kWallet), before);  // Exactly as it was.
  EXPECT_TRUE(restarted->Unfreeze(TheWallet(), frozen->restore, "lifted").ok());
  // Nothing kept: nothing to undo.
  EXPECT_TRUE(restarted->Unfreeze(TheWallet(), "", "lifted").ok());
}

// A wallet whose policy already holds a limit of 0 is frozen all the same,
// and unfreezing puts back that same 0 (it was never "already frozen").
TEST_F(MetaMaskAdapterTest, FreshWalletWithALimitOfZero) {
  fake_->SetOutflowLimit(kWallet, 0);
  const std::string before = fake_->PolicyYaml(kWallet);
  absl::StatusOr<VendorFreeze> frozen = adapter_->Freeze(TheWallet(), "x");
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_TRUE(fake_->IsFrozen(kWallet));
  EXPECT_TRUE(adapter_->Unfreeze(TheWallet(), frozen->restore, "x").ok());
  EXPECT_EQ(fake_->PolicyYaml(kWallet), before);
}

// A wallet in Beast Mode (no outflow limit enforced) is put back in Guard
// Mode to freeze it; unfreezing asks for both back.
TEST_F(MetaMaskAdapterTest, FreezeFromBeastMode) {
  const metamask::ProcessResult beast = DirectMm(
      {"wallet", "trading-mode", "set", "beast", "--no-wait", "--json"});
  ASSERT_EQ(beast.exit_code, 0) << beast.err;
  for (const FakeMetaMask::Request& r : fake_->Requests()) {
    ASSERT_TRUE(fake_->ApproveMfa(r.polling_id).ok());
  }
  ASSERT_EQ(fake_->TradingMode(kWallet), "beast");

  absl::StatusOr<VendorFreeze> frozen =
      adapter_->Freeze(TheWallet(), "kill switch");
  ASSERT_TRUE(frozen.ok()) << frozen.status();
  EXPECT_EQ(fake_->TradingMode(kWallet), "guard");
  EXPECT_TRUE(fake_->IsFrozen(kWallet));

  absl::Status st = adapter_->Unfreeze(TheWallet(), frozen->restore, "lifted");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("beast"));
  for (const FakeMetaMask::Request& r : fake_->Requests()) {
    if (r.status == "pending_approval") {
      ASSERT_TRUE(fake_->ApproveMfa(r.polling_id).ok());
    }
  }
  EXPECT_EQ(fake_->TradingMode(kWallet), "beast");
  EXPECT_EQ(fake_->OutflowLimit(kWallet), absl::uint128(1000));
}

// Against CLI v6 (positional polling id; --polling-id removed) a request
// that left the pending list is watched to its end and settled.
TEST_F(MetaMaskAdapterTest, V6WatchConfirmsAndSettles) {
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(5000));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->state, OperationState::kAwaitingApproval);
  ASSERT_TRUE(fake_->ApproveMfa(sent->vendor_ref).ok());
  ASSERT_TRUE(fake_->Confirm(sent->vendor_ref).ok());
  absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
  EXPECT_FALSE(polled->tx_hash.empty());
  EXPECT_GE(fake_->CommandCount("wallet requests watch"), 1);
  // The v6 CLI itself refuses the old flag, as the fake shows.
  const metamask::ProcessResult old =
      DirectMm({"wallet", "requests", "watch", "--polling-id", sent->vendor_ref,
                "--json"});
  EXPECT_THAT(old.err, HasSubstr("UNKNOWN_FLAG"));
}

// The previous major (5.x) is still driven, with its --polling-id.
TEST_F(MetaMaskAdapterTest, V5WatchUsesItsFlag) {
  fake_->SetCliVersion("5.3.0");
  std::unique_ptr<MetaMaskAdapter> v5 = Make(Options());
  ASSERT_NE(v5, nullptr);
  absl::StatusOr<VendorStatus> sent = v5->Send(Native(5000));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_TRUE(fake_->ApproveMfa(sent->vendor_ref).ok());
  ASSERT_TRUE(fake_->Confirm(sent->vendor_ref).ok());
  absl::StatusOr<VendorStatus> polled = v5->Poll(TheWallet(), *sent);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
}

// A CLI of a major this adapter was not written against is refused at
// start, naming the version; so is one that does not say.
TEST_F(MetaMaskAdapterTest, UnsupportedCliVersionIsRefused) {
  for (const char* version : {"7.0.0", "4.9.1"}) {
    fake_->SetCliVersion(version);
    absl::StatusOr<std::unique_ptr<MetaMaskAdapter>> a =
        MetaMaskAdapter::Create(Options());
    EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(a.status().message(),
                HasSubstr(absl::StrCat(version, " (", FAKE_MM_PATH,
                                       ") is not supported")));
  }
  EXPECT_FALSE(metamask::ParseMmVersion("mm 6").ok());
  absl::StatusOr<metamask::MmVersion> v = metamask::ParseMmVersion(
      "@metamask/agent-wallet/6.1.5 darwin-arm64 node-v22.18.0\n");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->major, 6);
  EXPECT_EQ(v->minor, 1);
  EXPECT_EQ(v->patch, 5);
}

// Every documented terminal outcome of a watched request ends it FAILED
// (the caller then voids the hold), with MetaMask's reason; timeouts keep
// it running; an undocumented one leaves it UNKNOWN with a reason, never
// polled as an error forever.
TEST_F(MetaMaskAdapterTest, WatchOutcomes) {
  struct Case {
    const char* code;
    const char* reason;
    OperationState want;
  };
  for (const Case& c :
       {Case{"TX_FAILED", "", OperationState::kFailed},
        Case{"TX_REVERTED", "execution reverted: ERC20 balance",
             OperationState::kFailed},
        Case{"TX_DENIED", "", OperationState::kFailed},
        Case{"TX_EXPIRED", "", OperationState::kFailed},
        Case{"RELAY_FAILED", "", OperationState::kFailed},
        Case{"RELAY_ABORTED", "", OperationState::kFailed},
        Case{"ABORTED", "", OperationState::kFailed},
        Case{"RELAY_TIMEOUT", "", OperationState::kAwaitingApproval},
        Case{"SOMETHING_NEW", "", OperationState::kUnknown}}) {
    absl::StatusOr<VendorStatus> sent =
        adapter_->Send(Native(5000, absl::StrCat("op_", c.code)));
    ASSERT_TRUE(sent.ok()) << sent.status();
    ASSERT_TRUE(fake_->EndRequest(sent->vendor_ref, c.code, c.reason).ok());
    absl::StatusOr<VendorStatus> polled = adapter_->Poll(TheWallet(), *sent);
    ASSERT_TRUE(polled.ok()) << c.code << ": " << polled.status();
    EXPECT_EQ(polled->state, c.want) << c.code;
    if (c.want != OperationState::kAwaitingApproval) {
      EXPECT_THAT(polled->error, HasSubstr(c.code));
    }
    if (*c.reason != '\0') {
      EXPECT_THAT(polled->error, HasSubstr(c.reason));
    }
  }
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
}

// ListTransactions shows what the wallet sent, Warden's sends and direct
// ones alike, with token transfers decoded; not what it received, not
// other chains, not older than `since`.
TEST_F(MetaMaskAdapterTest, ListTransactionsShowsDirectSpend) {
  // No outflow limit: the direct spend below must not hold Warden's send.
  fake_->SetOutflowLimit(kWallet, std::nullopt);
  const absl::Time now = absl::Now();
  const std::string shadow =
      fake_->RecordExternalTransaction(kWallet, kBase, kDest, 1234);
  const std::string token = fake_->RecordExternalTransaction(
      kWallet, kBase, kToken, 0, Calldata(kOtherWallet, 999));
  fake_->RecordExternalTransaction(kOtherWallet, kBase, kWallet, 5);  // In.
  fake_->RecordExternalTransaction(kWallet, 1, kDest, 6);  // Ethereum.
  fake_->RecordExternalTransaction(kWallet, kBase, kDest, 7, "",
                                   now - absl::Hours(2));  // Too old.
  absl::StatusOr<VendorStatus> sent = adapter_->Send(Native(10));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->state, OperationState::kSubmitted);

  absl::StatusOr<std::vector<VendorTransaction>> txs =
      adapter_->ListTransactions(TheWallet(), now - absl::Hours(1));
  ASSERT_TRUE(txs.ok()) << txs.status();
  ASSERT_THAT(*txs, SizeIs(3));
  std::map<std::string, VendorTransaction> by_hash;
  for (const VendorTransaction& tx : *txs) by_hash[tx.tx_hash] = tx;
  ASSERT_TRUE(by_hash.contains(shadow));
  EXPECT_EQ(by_hash[shadow].from, kWallet);
  EXPECT_EQ(by_hash[shadow].to, kDest);
  EXPECT_EQ(by_hash[shadow].asset, "");
  EXPECT_EQ(by_hash[shadow].amount, 1234);
  EXPECT_LE(absl::AbsDuration(by_hash[shadow].time - now), absl::Seconds(5));
  ASSERT_TRUE(by_hash.contains(token));
  EXPECT_EQ(by_hash[token].asset, kToken);
  EXPECT_EQ(by_hash[token].to, kOtherWallet);
  EXPECT_EQ(by_hash[token].amount, 999);
  ASSERT_TRUE(by_hash.contains(sent->tx_hash));
  EXPECT_EQ(by_hash[sent->tx_hash].amount, 10);
}

// History comes in pages of 50; all of them are read.
TEST_F(MetaMaskAdapterTest, ListTransactionsReadsEveryPage) {
  const absl::Time now = absl::Now();
  for (int i = 0; i < 120; ++i) {
    fake_->RecordExternalTransaction(kWallet, kBase, kDest, i + 1, "",
                                     now - absl::Seconds(i));
  }
  absl::StatusOr<std::vector<VendorTransaction>> txs =
      adapter_->ListTransactions(TheWallet(), now - absl::Hours(1));
  ASSERT_TRUE(txs.ok()) << txs.status();
  EXPECT_THAT(*txs, SizeIs(120));
  EXPECT_GE(fake_->CommandCount("tx history"), 3);
}

// Sends from two wallets at once each leave from their own wallet, though
// mm acts on one "active" wallet at a time.
TEST_F(MetaMaskAdapterTest, ConcurrentSendsUseTheirOwnWallet) {
  fake_->AddWallet(kOtherWallet, 1000);
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([this, i] {
      const std::string address = i % 2 == 0 ? kWallet : kOtherWallet;
      absl::StatusOr<VendorStatus> sent =
          adapter_->Send(Native(1, absl::StrCat("op_c", i), address));
      EXPECT_TRUE(sent.ok()) << sent.status();
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_THAT(fake_->Ledger(), SizeIs(6));
  for (const FakeMetaMask::Tx& tx : fake_->Ledger()) {
    const int i = tx.intent[std::string("Warden op_c").size()] - '0';
    EXPECT_EQ(tx.from, i % 2 == 0 ? kWallet : kOtherWallet) << tx.intent;
  }
}

// A missing mm is refused at Create (a path) or at Send (a name): nothing
// is sent.
TEST_F(MetaMaskAdapterTest, MissingBinary) {
  MetaMaskOptions o = Options();
  o.mm_path = "/nonexistent/mm";
  EXPECT_EQ(MetaMaskAdapter::Create(o).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A name looked up in PATH fails at start too: its version is asked.
  o.mm_path = "warden-no-such-mm-binary";
  absl::StatusOr<std::unique_ptr<MetaMaskAdapter>> a =
      MetaMaskAdapter::Create(o);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(a.status().message(), HasSubstr("did not run"));
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
}

// Polling a request MetaMask does not know is NOT_FOUND, not a guess.
TEST_F(MetaMaskAdapterTest, PollUnknownRequest) {
  VendorStatus last{.state = OperationState::kPending,
                    .vendor_ref = "no-such-polling-id"};
  EXPECT_EQ(adapter_->Poll(TheWallet(), last).status().code(),
            absl::StatusCode::kNotFound);
}

// The CLI's output is read as documented: notices, then the envelope, on
// stdout or (errors) stderr, pretty-printed or not; anything else is no
// answer.
TEST(ParseMmOutputTest, ReadsEnvelopes) {
  metamask::ProcessResult r;
  r.exit_code = 0;
  r.out =
      "{\"_notice\":{\"kind\":\"AWAITING_MFA\",\"message\":\"Approval "
      "required\"}}\nsome log line\n{\n  \"ok\": true,\n  \"data\": "
      "{\"pollingId\": \"p1\"}\n}\n";
  metamask::MmReply reply = metamask::ParseMmOutput(r);
  EXPECT_EQ(reply.kind, metamask::MmReply::Kind::kOk);
  EXPECT_EQ(reply.data["pollingId"], "p1");
  EXPECT_TRUE(reply.HasNotice("AWAITING_MFA"));

  r.out = "";
  r.exit_code = 1;
  r.err =
      "Error: boom\n{\"ok\":false,\"error\":{\"code\":\"AUTH_FAILED\","
      "\"message\":\"Authentication failed\"}}\n";
  reply = metamask::ParseMmOutput(r);
  EXPECT_EQ(reply.kind, metamask::MmReply::Kind::kError);
  EXPECT_EQ(reply.code, "AUTH_FAILED");
  EXPECT_EQ(reply.Summary(), "AUTH_FAILED: Authentication failed");

  r.err = "{\"ok\":false,\"code\":\"NOT_INITIALIZED\",\"message\":\"x\"}";
  EXPECT_EQ(metamask::ParseMmOutput(r).code, "NOT_INITIALIZED");

  r.err = "Segmentation fault";
  EXPECT_EQ(metamask::ParseMmOutput(r).kind,
            metamask::MmReply::Kind::kNoAnswer);

  r.out = "{\"ok\":true,\"data\":{}}";
  r.err = "";
  r.exit_code = -1;
  r.term_signal = 9;
  reply = metamask::ParseMmOutput(r);
  EXPECT_EQ(reply.kind, metamask::MmReply::Kind::kNoAnswer);
  EXPECT_EQ(reply.Summary(), "no JSON answer (killed by signal 9)");
}

}  // namespace
}  // namespace warden
