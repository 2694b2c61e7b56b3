#include "adapters/cdp/cdp_adapter.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "adapters/evm/evm.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/cdp/fake_cdp.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using FakeCdp = ::warden::testing::FakeCdp;

constexpr char kAddress[] = "0xAbC0000000000000000000000000000000000001";
constexpr char kDestination[] = "0x2222222222222222222222222222222222222222";
constexpr char kUsdc[] = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
constexpr char kSendPath[] =
    "/platform/v2/evm/accounts/0xabc0000000000000000000000000000000000001/"
    "send/transaction";

http::RetryPolicy Fast() {
  return {.max_attempts = 3,
          .timeout = absl::Seconds(2),
          .initial_backoff = absl::Milliseconds(10),
          .max_backoff = absl::Milliseconds(50),
          .max_retry_after = absl::Seconds(5)};
}

// Keeps every request the adapter sends, then sends it over curl.
class CapturingTransport final : public http::HttpTransport {
 public:
  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request,
                                        absl::Duration timeout) override {
    {
      absl::MutexLock lock(&mu_);
      seen_.push_back(request);
    }
    return curl_.Do(request, timeout);
  }
  std::vector<http::HttpRequest> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

 private:
  http::CurlTransport curl_;
  absl::Mutex mu_;
  std::vector<http::HttpRequest> seen_ ABSL_GUARDED_BY(mu_);
};

std::string Header(const http::HttpRequest& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

class CdpAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override { StartFake(FakeCdp::Options{}); }

  void StartFake(FakeCdp::Options options) {
    absl::StatusOr<std::unique_ptr<FakeCdp>> fake = FakeCdp::Start(options);
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = *std::move(fake);
    fake_->AddAccount(kAddress);
  }

  CdpOptions Options() const {
    CdpOptions o;
    o.base_url = fake_->url();
    o.api_key_id = fake_->api_key_id();
    o.api_key_secret = fake_->api_key_secret();
    o.wallet_secret = fake_->wallet_secret();
    o.rpc_urls["base"] = fake_->rpc_url();
    o.retry = Fast();
    return o;
  }

  std::unique_ptr<CdpAdapter> Adapter(
      CdpOptions options,
      std::unique_ptr<http::HttpTransport> transport = nullptr) {
    absl::StatusOr<std::unique_ptr<CdpAdapter>> a =
        CdpAdapter::Create(std::move(options), std::move(transport));
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *std::move(a) : nullptr;
  }
  std::unique_ptr<CdpAdapter> Adapter() { return Adapter(Options()); }

  TransferIntent Native(const std::string& op, absl::uint128 amount) const {
    return {.operation_id = op,
            .wallet = wallet_,
            .asset = "ETH",
            .amount = amount,
            .destination = kDestination};
  }

  std::unique_ptr<FakeCdp> fake_;
  Wallet wallet_{.id = "w1",
                 .agent_id = "bot",
                 .vendor = "cdp",
                 .chain = "base",
                 .address = kAddress};
};

// A native transfer reaches CDP as an unsigned EIP-1559 transaction to the
// destination with the amount as value, and answers SUBMITTED with its hash.
TEST_F(CdpAdapterTest, SendsANativeTransfer) {
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_1", 12345));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->state, OperationState::kSubmitted);
  const auto ledger = fake_->Ledger();
  ASSERT_THAT(ledger, SizeIs(1));
  EXPECT_EQ(s->tx_hash, ledger[0].hash);
  EXPECT_EQ(ledger[0].from, "0xabc0000000000000000000000000000000000001");
  EXPECT_EQ(ledger[0].network, "base");
  EXPECT_EQ(ledger[0].to, kDestination);
  EXPECT_EQ(ledger[0].value, 12345);
  EXPECT_EQ(ledger[0].data, "");
  EXPECT_LT(s->vendor_ref.size(), 4096u);
  EXPECT_FALSE(absl::StrContains(s->vendor_ref, fake_->wallet_secret()));
}

// An ERC-20 transfer goes to the token contract with value 0 and
// transfer(destination, amount) calldata.
TEST_F(CdpAdapterTest, SendsAnErc20Transfer) {
  auto adapter = Adapter();
  TransferIntent intent = Native("op_usdc", 5'000'000);
  intent.asset = "USDC";
  intent.token_contract = kUsdc;
  absl::StatusOr<VendorStatus> s = adapter->Send(intent);
  ASSERT_TRUE(s.ok()) << s.status();
  const auto ledger = fake_->Ledger();
  ASSERT_THAT(ledger, SizeIs(1));
  EXPECT_EQ(ledger[0].to, kUsdc);
  EXPECT_EQ(ledger[0].value, 0);
  EXPECT_EQ(ledger[0].data,
            evm::TransferCalldata(*evm::ParseAddress(kDestination), 5'000'000));
}

// The bundle's chain picks the CDP network (sepolia is ethereum-sepolia).
TEST_F(CdpAdapterTest, MapsTheChainToTheCdpNetwork) {
  auto adapter = Adapter();
  TransferIntent intent = Native("op_sep", 1);
  intent.wallet.chain = "sepolia";
  ASSERT_TRUE(adapter->Send(intent).ok());
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));
  EXPECT_EQ(fake_->Ledger()[0].network, "ethereum-sepolia");
}

// The same operation sent twice is one transaction: the idempotency key
// comes from the operation id.
TEST_F(CdpAdapterTest, ASecondSendOfAnOperationIsDeduplicated) {
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> a = adapter->Send(Native("op_dup", 7));
  absl::StatusOr<VendorStatus> b = adapter->Send(Native("op_dup", 7));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tx_hash, b->tx_hash);
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));
}

// A wrong API key is refused (401) and nothing is sent.
TEST_F(CdpAdapterTest, AWrongApiKeyIsRefused) {
  CdpOptions o = Options();
  o.api_key_secret = *http::SigningKey::GenerateP256()->PrivatePem();
  auto adapter = Adapter(o);
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_k", 1));
  EXPECT_TRUE(absl::IsUnauthenticated(s.status())) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("unauthorized"));
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
}

// A wrong wallet secret is refused (401) and nothing is sent.
TEST_F(CdpAdapterTest, AWrongWalletSecretIsRefused) {
  CdpOptions o = Options();
  o.wallet_secret = *http::SigningKey::GenerateP256()->PrivateDerBase64();
  auto adapter = Adapter(o);
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_w", 1));
  EXPECT_TRUE(absl::IsUnauthenticated(s.status())) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("Wallet authentication"));
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
}

// The fake checks the JWTs: a tampered signature, a body that does not match
// reqHash, and a replayed wallet token are each refused with 401.
TEST_F(CdpAdapterTest, TheFakeRefusesTamperedTokens) {
  auto capture = std::make_unique<CapturingTransport>();
  CapturingTransport* seen = capture.get();
  auto adapter = Adapter(Options(), std::move(capture));
  ASSERT_TRUE(adapter->Send(Native("op_t", 1)).ok());
  ASSERT_THAT(seen->seen(), SizeIs(1));
  const http::HttpRequest good = seen->seen()[0];
  EXPECT_EQ(good.url, absl::StrCat(fake_->url(), kSendPath));
  EXPECT_FALSE(Header(good, "X-Wallet-Auth").empty());
  EXPECT_EQ(Header(good, "X-Idempotency-Key").size(), 36u);

  http::CurlTransport curl;
  auto expect_401 = [&](http::HttpRequest r, const std::string& why) {
    // A fresh wallet jti unless the replay is what is tested.
    absl::StatusOr<http::HttpResponse> got = curl.Do(r, absl::Seconds(2));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->status, 401) << why;
    EXPECT_EQ(nlohmann::json::parse(got->body)["errorType"], "unauthorized")
        << why;
  };
  http::HttpRequest bad_signature = good;
  for (auto& [name, value] : bad_signature.headers) {
    if (name == "Authorization") value.back() = value.back() == 'A' ? 'B' : 'A';
  }
  expect_401(bad_signature, "tampered Bearer signature");
  http::HttpRequest other_body = good;
  other_body.body = absl::StrReplaceAll(good.body, {{"base", "base-sepolia"}});
  expect_401(other_body, "body does not match reqHash");
  expect_401(good, "replayed wallet jti");
  http::HttpRequest no_wallet = good;
  std::erase_if(no_wallet.headers,
                [](const auto& h) { return h.first == "X-Wallet-Auth"; });
  expect_401(no_wallet, "no X-Wallet-Auth");
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));
}

// A 429 is retried after its Retry-After; the send happens once.
TEST_F(CdpAdapterTest, HonoursRetryAfter) {
  fake_->InjectFault({.kind = FakeCdp::Fault::Kind::kRateLimit,
                      .method = "POST",
                      .path_prefix = kSendPath,
                      .retry_after_seconds = 1});
  auto adapter = Adapter();
  const absl::Time start = absl::Now();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_429", 1));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->state, OperationState::kSubmitted);
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(fake_->CountRequests("POST", kSendPath), 2);
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));
}

// A 500 is retried with the same idempotency key: one transaction.
TEST_F(CdpAdapterTest, RetriesA500) {
  fake_->InjectFault({.kind = FakeCdp::Fault::Kind::kServerError,
                      .method = "POST",
                      .path_prefix = kSendPath});
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_500", 1));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->state, OperationState::kSubmitted);
  EXPECT_EQ(fake_->CountRequests("POST", kSendPath), 2);
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));
}

// A send that outlives the timeout is UNKNOWN (the retry finds the key still
// in progress); Poll re-sends with the same key and gets the same hash.
TEST_F(CdpAdapterTest, ASlowSendIsUnknownThenPollFindsItsHash) {
  fake_->InjectFault({.kind = FakeCdp::Fault::Kind::kSlow,
                      .method = "POST",
                      .path_prefix = kSendPath,
                      .delay = absl::Seconds(1)});
  CdpOptions o = Options();
  o.retry.max_attempts = 2;
  o.retry.timeout = absl::Milliseconds(300);
  auto adapter = Adapter(o);
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_slow", 9));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->state, OperationState::kUnknown);
  EXPECT_TRUE(s->tx_hash.empty());
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));  // It did land.

  absl::SleepFor(absl::Milliseconds(1000));  // The fake finishes.
  absl::StatusOr<VendorStatus> p = adapter->Poll(wallet_, *s);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, OperationState::kSubmitted);
  EXPECT_EQ(p->tx_hash, fake_->Ledger()[0].hash);
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));
}

// A connection cut after CDP acted is UNKNOWN; Poll re-sends and gets the
// same hash, still one transaction.
TEST_F(CdpAdapterTest, ADroppedConnectionIsUnknownThenPollFindsItsHash) {
  fake_->InjectFault({.kind = FakeCdp::Fault::Kind::kDrop,
                      .count = Fast().max_attempts,
                      .method = "POST",
                      .path_prefix = kSendPath});
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_drop", 9));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->state, OperationState::kUnknown);
  EXPECT_FALSE(s->error.empty());
  EXPECT_EQ(fake_->CountRequests("POST", kSendPath), Fast().max_attempts);
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));

  absl::StatusOr<VendorStatus> p = adapter->Poll(wallet_, *s);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, OperationState::kSubmitted);
  EXPECT_EQ(p->tx_hash, fake_->Ledger()[0].hash);
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));
}

// Poll re-sends to the account the first send went to, not to the wallet's
// address in the current bundle: the idempotency key only deduplicates on
// that account's path.
TEST_F(CdpAdapterTest, PollReSendsToTheAccountOfTheFirstSend) {
  fake_->InjectFault({.kind = FakeCdp::Fault::Kind::kDrop,
                      .count = Fast().max_attempts,
                      .method = "POST",
                      .path_prefix = kSendPath});
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_moved", 9));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->state, OperationState::kUnknown);
  ASSERT_THAT(fake_->Ledger(), SizeIs(1));

  // The bundle now names another account (and chain) for the wallet.
  const std::string other = "0x00000000000000000000000000000000000000b2";
  fake_->AddAccount(other);
  Wallet edited = wallet_;
  edited.address = other;
  edited.chain = "sepolia";
  absl::StatusOr<VendorStatus> p = adapter->Poll(edited, *s);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, OperationState::kSubmitted) << p->error;
  EXPECT_EQ(p->tx_hash, fake_->Ledger()[0].hash);
  EXPECT_EQ(fake_->CountRequests(
                "POST", absl::StrCat("/platform/v2/evm/accounts/", other)),
            0);
  EXPECT_EQ(fake_->CountRequests("POST", kSendPath), Fast().max_attempts + 1);
  EXPECT_THAT(fake_->Ledger(), SizeIs(1));

  // Its receipt is read on the network it was sent on (base), not sepolia's.
  ASSERT_TRUE(fake_->SetTxState(p->tx_hash, FakeCdp::TxState::kConfirmed).ok());
  p = adapter->Poll(edited, *p);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, OperationState::kConfirmed);
}

// A vendor_ref that records no account (written before it did) is not
// re-sent: the operation stays UNKNOWN.
TEST_F(CdpAdapterTest, PollDoesNotReSendARefWithoutItsAccount) {
  fake_->InjectFault({.kind = FakeCdp::Fault::Kind::kDrop,
                      .count = Fast().max_attempts,
                      .method = "POST",
                      .path_prefix = kSendPath});
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_old_ref", 9));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->state, OperationState::kUnknown);
  nlohmann::json ref = nlohmann::json::parse(s->vendor_ref);
  ref.erase("account");
  VendorStatus last = *s;
  last.vendor_ref = ref.dump();
  const int sends = fake_->CountRequests("POST", kSendPath);
  absl::StatusOr<VendorStatus> p = adapter->Poll(wallet_, last);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, OperationState::kUnknown);
  EXPECT_THAT(p->error, HasSubstr("not re-sent"));
  EXPECT_EQ(fake_->CountRequests("POST", kSendPath), sends);
}

// A 4xx to a re-send does not show the first send never landed: the
// operation stays UNKNOWN (hold kept), never FAILED.
TEST_F(CdpAdapterTest, ARefusedReSendKeepsTheOperationUnknown) {
  // An account CDP does not know: the first send is answered 404, but the
  // connection breaks, so its outcome is unknown.
  const std::string unknown = "0x00000000000000000000000000000000000000c3";
  fake_->InjectFault({.kind = FakeCdp::Fault::Kind::kDrop,
                      .count = Fast().max_attempts,
                      .method = "POST",
                      .path_prefix = "/platform/v2/evm/accounts/"});
  auto adapter = Adapter();
  TransferIntent intent = Native("op_404", 1);
  intent.wallet.address = unknown;
  absl::StatusOr<VendorStatus> s = adapter->Send(intent);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->state, OperationState::kUnknown);

  absl::StatusOr<VendorStatus> p = adapter->Poll(intent.wallet, *s);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, OperationState::kUnknown);
  EXPECT_THAT(p->error, HasSubstr("HTTP 404"));
  EXPECT_THAT(p->error, HasSubstr("resolve the operation by hand"));
  EXPECT_EQ(p->vendor_ref, s->vendor_ref);
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
}

// A CDP that cannot be reached at all sent nothing: an error, not UNKNOWN.
TEST_F(CdpAdapterTest, AnUnreachableCdpIsAnError) {
  CdpOptions o = Options();
  const std::string url = fake_->url();
  fake_.reset();
  o.base_url = url;
  auto adapter = Adapter(o);
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_down", 1));
  EXPECT_TRUE(absl::IsUnavailable(s.status())) << s.status();
}

// Freezing attaches a reject-all account policy: Warden's sends and direct
// sends are refused; unfreezing detaches and deletes it. Both idempotent.
TEST_F(CdpAdapterTest, FreezeAttachesARejectPolicyAndUnfreezeRemovesIt) {
  auto adapter = Adapter();
  ASSERT_TRUE(adapter->Freeze(wallet_, "incident 42").ok());
  std::optional<std::string> policy = fake_->AccountPolicy(kAddress);
  ASSERT_TRUE(policy.has_value());
  EXPECT_EQ(fake_->Policy(*policy)->at("description"), "Warden freeze");
  EXPECT_EQ(fake_->Policy(*policy)->at("rules")[0]["action"], "reject");
  ASSERT_TRUE(adapter->Freeze(wallet_, "again").ok());
  EXPECT_EQ(fake_->AccountPolicy(kAddress), policy);
  EXPECT_EQ(fake_->PolicyCount(), 1u);

  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_frozen", 1));
  EXPECT_TRUE(absl::IsPermissionDenied(s.status())) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("policy_violation"));
  absl::StatusOr<std::string> direct =
      fake_->DirectSend(kAddress, "base", kDestination, 1);
  EXPECT_TRUE(absl::IsPermissionDenied(direct.status())) << direct.status();
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));

  ASSERT_TRUE(adapter->Unfreeze(wallet_, "", "resolved").ok());
  EXPECT_FALSE(fake_->AccountPolicy(kAddress).has_value());
  EXPECT_EQ(fake_->PolicyCount(), 0u);
  ASSERT_TRUE(adapter->Unfreeze(wallet_, "", "resolved").ok());
  absl::StatusOr<VendorStatus> after = adapter->Send(Native("op_thawed", 1));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->state, OperationState::kSubmitted);
  EXPECT_TRUE(fake_->DirectSend(kAddress, "base", kDestination, 1).ok());
  EXPECT_THAT(fake_->Ledger(), SizeIs(2));
}

// The freeze refuses every EVM operation CDP governs, not only sends: a
// signed transaction, a user operation, a hash, a message, typed data for
// any verifying contract (an EIP-3009 or permit signature moves money too).
TEST_F(CdpAdapterTest, FreezeRefusesEveryEvmOperation) {
  auto adapter = Adapter();
  ASSERT_TRUE(adapter->Freeze(wallet_, "incident").ok());
  for (const char* op :
       {"sendEvmTransaction", "signEvmTransaction", "prepareUserOperation",
        "sendUserOperation", "signEvmHash", "signEvmMessage"}) {
    EXPECT_TRUE(fake_->Rejects(kAddress, op, 0, kDestination)) << op;
    EXPECT_TRUE(fake_->Rejects(kAddress, op, absl::Uint128Max(), kDestination))
        << op;
  }
  for (const char* contract : {"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
                               "0x0000000000000000000000000000000000000000"}) {
    EXPECT_TRUE(fake_->Rejects(kAddress, "signEvmTypedData", 0, contract))
        << contract;
  }
  ASSERT_TRUE(adapter->Unfreeze(wallet_, "", "").ok());
  EXPECT_FALSE(fake_->Rejects(kAddress, "signEvmTypedData", 0,
                              "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"));
}

// An account policy the operator had is put back when the freeze ends.
TEST_F(CdpAdapterTest, UnfreezeRestoresTheOperatorsPolicy) {
  const nlohmann::json cap = {
      {"type", "ethValue"}, {"ethValue", "1000"}, {"operator", ">"}};
  const nlohmann::json rule = {{"action", "reject"},
                               {"operation", "sendEvmTransaction"},
                               {"criteria", nlohmann::json::array({cap})}};
  absl::StatusOr<std::string> own =
      fake_->CreatePolicy({{"scope", "account"},
                           {"description", "Operator cap"},
                           {"rules", nlohmann::json::array({rule})}});
  ASSERT_TRUE(own.ok()) << own.status();
  ASSERT_TRUE(fake_->AttachPolicy(kAddress, *own).ok());
  auto adapter = Adapter();
  ASSERT_TRUE(adapter->Freeze(wallet_, "").ok());
  EXPECT_NE(fake_->AccountPolicy(kAddress), *own);
  ASSERT_TRUE(adapter->Unfreeze(wallet_, "", "").ok());
  EXPECT_EQ(fake_->AccountPolicy(kAddress), *own);
  EXPECT_EQ(fake_->PolicyCount(), 1u);
  // The operator's cap still holds.
  EXPECT_TRUE(
      absl::IsPermissionDenied(adapter->Send(Native("op_big", 5000)).status()));
  EXPECT_TRUE(adapter->Send(Native("op_small", 10)).ok());
}

// Poll reads the receipt from the chain's JSON-RPC: mined -> CONFIRMED,
// reverted -> FAILED; no RPC URL for the chain -> stays SUBMITTED.
TEST_F(CdpAdapterTest, PollsTheReceipt) {
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_r1", 1));
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<VendorStatus> p = adapter->Poll(wallet_, *s);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, OperationState::kSubmitted);
  ASSERT_TRUE(fake_->SetTxState(s->tx_hash, FakeCdp::TxState::kConfirmed).ok());
  p = adapter->Poll(wallet_, *p);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, OperationState::kConfirmed);
  EXPECT_EQ(p->tx_hash, s->tx_hash);

  absl::StatusOr<VendorStatus> r = adapter->Send(Native("op_r2", 1));
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(fake_->SetTxState(r->tx_hash, FakeCdp::TxState::kReverted).ok());
  p = adapter->Poll(wallet_, *r);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, OperationState::kFailed);
  EXPECT_THAT(p->error, HasSubstr("reverted"));

  Wallet optimism = wallet_;
  optimism.chain = "optimism";
  TransferIntent on_optimism = Native("op_r3", 1);
  on_optimism.wallet = optimism;
  absl::StatusOr<VendorStatus> o = adapter->Send(on_optimism);
  ASSERT_TRUE(o.ok());
  ASSERT_TRUE(fake_->SetTxState(o->tx_hash, FakeCdp::TxState::kConfirmed).ok());
  p = adapter->Poll(optimism, *o);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state, OperationState::kSubmitted);
}

// A node URL's key (path, query) never shows in a receipt error.
TEST_F(CdpAdapterTest, ReceiptErrorsDoNotQuoteTheRpcUrl) {
  CdpOptions o = Options();
  o.rpc_urls["base"] = "http://127.0.0.1:1/secret-key?token=abc";
  o.retry.max_attempts = 1;
  auto adapter = Adapter(o);
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_rpc", 1));
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<VendorStatus> p = adapter->Poll(wallet_, *s);
  ASSERT_TRUE(absl::IsUnavailable(p.status())) << p.status();
  EXPECT_THAT(p.status().message(), HasSubstr("JSON-RPC of base"));
  EXPECT_THAT(p.status().message(), ::testing::Not(HasSubstr("secret-key")));
  EXPECT_THAT(p.status().message(), ::testing::Not(HasSubstr("abc")));
}

// A chain CDP is not configured for, or an address that is not one, is
// refused before anything is held or sent.
TEST_F(CdpAdapterTest, CheckWalletRefusesWhatCdpCannotServe) {
  auto adapter = Adapter();
  Wallet solana = wallet_;
  solana.chain = "solana";
  absl::Status st = adapter->CheckWallet(solana);
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("wallets[].chain"));
  Wallet bad = wallet_;
  bad.address = "not-an-address";
  st = adapter->CheckWallet(bad);
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("wallets[].address"));
  EXPECT_TRUE(adapter->CheckWallet(wallet_).ok());
  TransferIntent intent = Native("op_sol", 1);
  intent.wallet = solana;
  EXPECT_TRUE(absl::IsFailedPrecondition(adapter->Send(intent).status()));
  EXPECT_THAT(fake_->Ledger(), SizeIs(0));
}

// ListTransactions finds Warden's sends and spends made around Warden (a
// token transfer reported with its recipient and amount).
TEST_F(CdpAdapterTest, ListTransactionsFindsShadowSpend) {
  const absl::Time start = absl::Now() - absl::Minutes(1);
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_l", 77));
  ASSERT_TRUE(s.ok());
  const std::string recipient = "0x3333333333333333333333333333333333333333";
  absl::StatusOr<std::string> shadow = fake_->DirectSend(
      kAddress, "base", kUsdc, 0,
      evm::TransferCalldata(*evm::ParseAddress(recipient), 42));
  ASSERT_TRUE(shadow.ok()) << shadow.status();
  ASSERT_TRUE(fake_->SetTxState(s->tx_hash, FakeCdp::TxState::kConfirmed).ok());
  ASSERT_TRUE(fake_->SetTxState(*shadow, FakeCdp::TxState::kConfirmed).ok());

  absl::StatusOr<std::vector<VendorTransaction>> txs =
      adapter->ListTransactions(wallet_, start);
  ASSERT_TRUE(txs.ok()) << txs.status();
  ASSERT_THAT(*txs, SizeIs(2));
  // Newest first.
  EXPECT_EQ((*txs)[0].tx_hash, *shadow);
  EXPECT_EQ((*txs)[0].asset, kUsdc);
  EXPECT_EQ((*txs)[0].to, recipient);
  EXPECT_EQ((*txs)[0].from, "0xabc0000000000000000000000000000000000001");
  EXPECT_EQ((*txs)[0].amount, 42);
  EXPECT_EQ((*txs)[1].tx_hash, s->tx_hash);
  EXPECT_EQ((*txs)[1].asset, "");
  EXPECT_EQ((*txs)[1].to, kDestination);
  EXPECT_EQ((*txs)[1].amount, 77);
  EXPECT_GE((*txs)[1].time, start);

  txs = adapter->ListTransactions(wallet_, absl::Now() + absl::Hours(1));
  ASSERT_TRUE(txs.ok()) << txs.status();
  EXPECT_THAT(*txs, SizeIs(0));

  Wallet optimism = wallet_;
  optimism.chain = "optimism";
  EXPECT_TRUE(absl::IsUnimplemented(
      adapter->ListTransactions(optimism, start).status()));
}

// The listing follows CDP's pages.
TEST_F(CdpAdapterTest, ListTransactionsReadsEveryPage) {
  for (int i = 0; i < 150; ++i) {
    ASSERT_TRUE(fake_->DirectSend(kAddress, "base", kDestination, i + 1).ok());
  }
  auto adapter = Adapter();
  absl::StatusOr<std::vector<VendorTransaction>> txs =
      adapter->ListTransactions(wallet_, absl::InfinitePast());
  ASSERT_TRUE(txs.ok()) << txs.status();
  EXPECT_THAT(*txs, SizeIs(150));
  EXPECT_EQ(fake_->CountRequests("GET", "/platform/v1/networks/base-mainnet/"),
            2);
}

// An Ed25519 API key signs with EdDSA and is accepted.
TEST_F(CdpAdapterTest, AnEd25519ApiKeyWorks) {
  StartFake({.ed25519_api_key = true});
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_ed", 1));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->state, OperationState::kSubmitted);
}

// About 1 key in 256 starts with the byte DER starts with; it is still read
// as Ed25519 (by its length) and accepted by CDP.
TEST_F(CdpAdapterTest, AnEd25519ApiKeyStartingLikeDerWorks) {
  StartFake({.ed25519_api_key = true, .ed25519_starts_like_der = true});
  std::string secret;
  ASSERT_TRUE(absl::Base64Unescape(fake_->api_key_secret(), &secret));
  ASSERT_EQ(secret[0], '\x30');
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> s = adapter->Send(Native("op_der_like", 1));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->state, OperationState::kSubmitted);
}

// Create names the option that is wrong.
TEST_F(CdpAdapterTest, CreateNamesTheBadOption) {
  auto expect_bad = [](CdpOptions o, const std::string& option) {
    absl::StatusOr<std::unique_ptr<CdpAdapter>> a = CdpAdapter::Create(o);
    EXPECT_TRUE(absl::IsInvalidArgument(a.status())) << option;
    EXPECT_THAT(a.status().message(), HasSubstr(option));
  };
  CdpOptions o = Options();
  o.api_key_id = "";
  expect_bad(o, "api_key_id");
  o = Options();
  o.api_key_secret = "garbage";
  expect_bad(o, "api_key_secret");
  o = Options();
  o.wallet_secret = o.api_key_secret;
  expect_bad(o, "wallet_secret");
  o = Options();
  o.base_url = "ftp://x";
  expect_bad(o, "base_url");
  o = Options();
  o.rpc_urls["solana"] = "http://x";
  expect_bad(o, "rpc_urls[solana]");
  o = Options();
  o.networks["base"] = "Base Mainnet";
  expect_bad(o, "networks[base]");
}

// Describe says what the adapter does.
TEST_F(CdpAdapterTest, DescribesItself) {
  const AdapterInfo info = Adapter()->Describe();
  EXPECT_EQ(info.vendor, "cdp");
  EXPECT_TRUE(info.vendor_freeze);
  EXPECT_TRUE(info.vendor_policy);
  EXPECT_TRUE(info.list_transactions);
  EXPECT_FALSE(info.async);
  EXPECT_THAT(info.chains, ::testing::Contains("sepolia"));
}

}  // namespace
}  // namespace warden
