#include "adapters/privy/privy_adapter.h"

#include <httplib.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "adapters/evm/evm.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/privy/fake_privy.h"

namespace warden {
namespace {

using testing::FakePrivy;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr char kWalletAddress[] = "0x1111111111111111111111111111111111111111";
constexpr char kDestination[] = "0x2222222222222222222222222222222222222222";
constexpr char kToken[] = "0x3333333333333333333333333333333333333333";
constexpr char kPrivyWallet[] = "privywallet0000000000001";

// Short timeouts so that slow and dropped answers cost little time.
http::RetryPolicy Fast() {
  return {.max_attempts = 3,
          .timeout = absl::Milliseconds(400),
          .initial_backoff = absl::Milliseconds(10),
          .max_backoff = absl::Milliseconds(50),
          .max_retry_after = absl::Seconds(5)};
}

// Changes each request after it was signed, as an attacker on the path
// would.
class TamperingTransport final : public http::HttpTransport {
 public:
  explicit TamperingTransport(std::function<void(http::HttpRequest&)> tamper)
      : tamper_(std::move(tamper)) {}
  absl::StatusOr<http::HttpResponse> Do(const http::HttpRequest& request,
                                        absl::Duration timeout) override {
    http::HttpRequest changed = request;
    tamper_(changed);
    return inner_.Do(changed, timeout);
  }

 private:
  std::function<void(http::HttpRequest&)> tamper_;
  http::CurlTransport inner_;
};

class PrivyAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<FakePrivy>> fake = FakePrivy::Start();
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = *std::move(fake);
    absl::StatusOr<http::SigningKey> key = http::SigningKey::GenerateP256();
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = std::make_unique<http::SigningKey>(*key);
    fake_->AddWallet({.id = kPrivyWallet,
                      .address = kWalletAddress,
                      .owner_public_key = key_->PublicDerBase64().value()});
    fake_->AddToken(kToken, "usdc", 6);
    wallet_ = Wallet{.id = "w1",
                     .agent_id = "agent1",
                     .vendor = "privy",
                     .chain = "base",
                     .address = kWalletAddress,
                     .vendor_id = kPrivyWallet};
  }

  PrivyOptions Options() const {
    PrivyOptions o;
    o.base_url = fake_->url();
    o.app_id = fake_->app_id();
    o.app_secret = fake_->app_secret();
    o.authorization_key =
        absl::StrCat("wallet-auth:", key_->PrivateDerBase64().value());
    o.retry = Fast();
    return o;
  }

  std::unique_ptr<PrivyAdapter> Adapter(
      PrivyOptions o, std::unique_ptr<http::HttpTransport> t = nullptr) {
    absl::StatusOr<std::unique_ptr<PrivyAdapter>> a =
        PrivyAdapter::Create(std::move(o), std::move(t));
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *std::move(a) : nullptr;
  }
  std::unique_ptr<PrivyAdapter> Adapter() { return Adapter(Options()); }

  TransferIntent Native(const std::string& operation_id,
                        absl::uint128 amount) const {
    return TransferIntent{.operation_id = operation_id,
                          .wallet = wallet_,
                          .asset = "ETH",
                          .amount = amount,
                          .destination = kDestination};
  }

  // Sends `operation_id` through a 500 on every attempt: Privy may have
  // acted, so the send is UNKNOWN.
  VendorStatus SendThroughServerErrors(PrivyAdapter& adapter,
                                       const std::string& operation_id) {
    fake_->InjectFault({.kind = FakePrivy::FaultKind::k500,
                        .count = Fast().max_attempts,
                        .method = "POST"});
    absl::StatusOr<VendorStatus> st = adapter.Send(Native(operation_id, 5));
    EXPECT_TRUE(st.ok()) << st.status();
    const VendorStatus out = st.value_or(VendorStatus{});
    EXPECT_EQ(out.state, OperationState::kUnknown);
    return out;
  }

  int RpcRequests() const {
    int n = 0;
    for (const FakePrivy::Request& r : fake_->requests()) {
      n += absl::EndsWith(r.path, "/rpc");
    }
    return n;
  }

  std::unique_ptr<FakePrivy> fake_;
  std::unique_ptr<http::SigningKey> key_;
  Wallet wallet_;
};

// A native transfer reaches Privy as eth_sendTransaction with the chain's
// caip2, and the answer's hash and transaction id come back.
TEST_F(PrivyAdapterTest, SendsANativeTransfer) {
  auto adapter = Adapter();
  TransferIntent intent = Native("op_1", 1000000000000000000);
  intent.data = std::string("\xde\xad\xbe\xef", 4);
  absl::StatusOr<VendorStatus> st = adapter->Send(intent);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kSubmitted);
  const std::vector<FakePrivy::Transaction> ledger = fake_->ledger();
  ASSERT_THAT(ledger, SizeIs(1));
  EXPECT_EQ(ledger[0].to, kDestination);
  EXPECT_EQ(ledger[0].value, absl::uint128(1000000000000000000));
  EXPECT_EQ(ledger[0].data, "0xdeadbeef");
  EXPECT_EQ(ledger[0].caip2, "eip155:8453");
  EXPECT_EQ(ledger[0].chain_id, 8453u);
  EXPECT_EQ(ledger[0].idempotency_key, "warden-op_1");
  EXPECT_EQ(st->tx_hash, ledger[0].hash);
  EXPECT_THAT(st->vendor_ref, HasSubstr(ledger[0].id));
}

// A token transfer goes to the token contract with no value and
// transfer(destination, amount) as calldata.
TEST_F(PrivyAdapterTest, SendsAnErc20Transfer) {
  auto adapter = Adapter();
  TransferIntent intent = Native("op_1", 2500000);
  intent.asset = "USDC";
  intent.token_contract = kToken;
  absl::StatusOr<VendorStatus> st = adapter->Send(intent);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kSubmitted);
  const std::vector<FakePrivy::Transaction> ledger = fake_->ledger();
  ASSERT_THAT(ledger, SizeIs(1));
  EXPECT_EQ(ledger[0].to, kToken);
  EXPECT_EQ(ledger[0].value, 0);
  EXPECT_EQ(ledger[0].data,
            evm::Hex(evm::TransferCalldata(
                evm::ParseAddress(kDestination).value(), 2500000)));
}

// A wrong app secret is refused by Privy's Basic auth: an error, nothing
// sent.
TEST_F(PrivyAdapterTest, AWrongAppSecretSendsNothing) {
  PrivyOptions o = Options();
  o.app_secret = "not-the-secret";
  absl::StatusOr<VendorStatus> st = Adapter(o)->Send(Native("op_1", 5));
  EXPECT_TRUE(absl::IsUnauthenticated(st.status())) << st.status();
  EXPECT_THAT(st.status().message(), HasSubstr("Invalid app ID or app secret"));
  EXPECT_THAT(std::string(st.status().message()),
              ::testing::Not(HasSubstr("not-the-secret")));
  EXPECT_THAT(fake_->ledger(), IsEmpty());
}

// A signature by a key that does not own the wallet is refused.
TEST_F(PrivyAdapterTest, AWrongAuthorizationKeySendsNothing) {
  PrivyOptions o = Options();
  o.authorization_key =
      http::SigningKey::GenerateP256().value().PrivateDerBase64().value();
  absl::StatusOr<VendorStatus> st = Adapter(o)->Send(Native("op_1", 5));
  EXPECT_TRUE(absl::IsUnauthenticated(st.status())) << st.status();
  EXPECT_THAT(st.status().message(),
              HasSubstr("zero_correct_authorization_signatures"));
  EXPECT_THAT(fake_->ledger(), IsEmpty());
}

// Without an authorization key an owned wallet's send has no signature.
TEST_F(PrivyAdapterTest, NoAuthorizationKeySendsNothing) {
  PrivyOptions o = Options();
  o.authorization_key.clear();
  absl::StatusOr<VendorStatus> st = Adapter(o)->Send(Native("op_1", 5));
  EXPECT_TRUE(absl::IsUnauthenticated(st.status())) << st.status();
  EXPECT_THAT(st.status().message(),
              HasSubstr("missing_or_empty_authorization_header"));
  EXPECT_THAT(fake_->ledger(), IsEmpty());
}

// A body changed after signing, or a changed signature, does not verify.
TEST_F(PrivyAdapterTest, ATamperedRequestIsRefused) {
  auto body_changed = Adapter(
      Options(), std::make_unique<TamperingTransport>([](http::HttpRequest& r) {
        r.body = absl::StrReplaceAll(
            r.body, {{"0x2222222222222222222222222222222222222222",
                      "0x4444444444444444444444444444444444444444"}});
      }));
  absl::StatusOr<VendorStatus> st = body_changed->Send(Native("op_1", 5));
  EXPECT_TRUE(absl::IsUnauthenticated(st.status())) << st.status();

  auto signature_changed = Adapter(
      Options(), std::make_unique<TamperingTransport>([](http::HttpRequest& r) {
        for (auto& [name, value] : r.headers) {
          if (name == "privy-authorization-signature") {
            value[10] = value[10] == 'A' ? 'B' : 'A';
          }
        }
      }));
  st = signature_changed->Send(Native("op_2", 5));
  EXPECT_TRUE(absl::IsUnauthenticated(st.status())) << st.status();
  EXPECT_THAT(fake_->ledger(), IsEmpty());
}

// A 429 is retried after its Retry-After, and the send happens once.
TEST_F(PrivyAdapterTest, HonoursRetryAfter) {
  fake_->InjectFault({.kind = FakePrivy::FaultKind::k429,
                      .count = 1,
                      .method = "POST",
                      .retry_after_seconds = 1});
  const absl::Time start = absl::Now();
  absl::StatusOr<VendorStatus> st = Adapter()->Send(Native("op_1", 5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kSubmitted);
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(RpcRequests(), 2);
  EXPECT_THAT(fake_->ledger(), SizeIs(1));
}

// A 500 is retried with the same idempotency key: one transaction.
TEST_F(PrivyAdapterTest, RetriesA500Once) {
  fake_->InjectFault(
      {.kind = FakePrivy::FaultKind::k500, .count = 1, .method = "POST"});
  absl::StatusOr<VendorStatus> st = Adapter()->Send(Native("op_1", 5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kSubmitted);
  EXPECT_THAT(fake_->ledger(), SizeIs(1));
  const std::vector<FakePrivy::Request> requests = fake_->requests();
  ASSERT_THAT(requests, SizeIs(2));
  EXPECT_EQ(requests[0].headers.at("privy-idempotency-key"),
            requests[1].headers.at("privy-idempotency-key"));
}

// The same operation sent twice is one transaction; the same operation id
// with another body is refused by Privy, not sent again, and since the
// first may have gone out the outcome is unknown rather than an error.
TEST_F(PrivyAdapterTest, TheOperationIdIsTheIdempotencyKey) {
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> first = adapter->Send(Native("op_1", 5));
  absl::StatusOr<VendorStatus> again = adapter->Send(Native("op_1", 5));
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->vendor_ref, again->vendor_ref);
  absl::StatusOr<VendorStatus> changed = adapter->Send(Native("op_1", 6));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(changed->state, OperationState::kUnknown);
  EXPECT_THAT(changed->error, HasSubstr("idempotency key"));
  EXPECT_THAT(fake_->ledger(), SizeIs(1));
}

// Answers slower than the timeout on every attempt leave the send unknown;
// Poll sends it again with the same key and finds the one transaction.
TEST_F(PrivyAdapterTest, SlowAnswersAreUnknownThenPollResolvesThem) {
  fake_->InjectFault({.kind = FakePrivy::FaultKind::kSlow,
                      .count = Fast().max_attempts,
                      .method = "POST",
                      .delay = absl::Milliseconds(700)});
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> st = adapter->Send(Native("op_1", 5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kUnknown);
  EXPECT_THAT(st->error, HasSubstr("may have been sent"));
  EXPECT_LT(st->vendor_ref.size(), 4096u);
  EXPECT_THAT(st->vendor_ref, ::testing::Not(HasSubstr(fake_->app_secret())));
  ASSERT_THAT(fake_->ledger(), SizeIs(1));  // It was done, only late.

  absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, *st);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  const std::vector<FakePrivy::Transaction> ledger = fake_->ledger();
  ASSERT_THAT(ledger, SizeIs(1));
  EXPECT_EQ(polled->tx_hash, ledger[0].hash);
}

// Connections dropped after the send took effect: unknown, then one
// transaction.
TEST_F(PrivyAdapterTest, DroppedConnectionsAreUnknownThenPollResolvesThem) {
  fake_->InjectFault({.kind = FakePrivy::FaultKind::kDrop,
                      .count = Fast().max_attempts,
                      .method = "POST"});
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> st = adapter->Send(Native("op_1", 5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kUnknown);
  EXPECT_EQ(RpcRequests(), Fast().max_attempts);
  EXPECT_THAT(st->error, HasSubstr("partial"));  // A broken transfer.
  absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, *st);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  EXPECT_THAT(fake_->ledger(), SizeIs(1));
}

// 500s to the last attempt may hide a send: unknown. When Privy had done
// nothing, Poll's re-send is the one transaction.
TEST_F(PrivyAdapterTest, PersistentServerErrorsAreUnknown) {
  auto adapter = Adapter();
  const VendorStatus st = SendThroughServerErrors(*adapter, "op_1");
  ASSERT_FALSE(HasFailure());
  EXPECT_THAT(fake_->ledger(), IsEmpty());
  absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, st);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  EXPECT_THAT(fake_->ledger(), SizeIs(1));
  polled = adapter->Poll(wallet_, st);  // Again: still the same one.
  EXPECT_THAT(fake_->ledger(), SizeIs(1));
}

// A refusal (429 beyond the wait limit) after an attempt that may have been
// acted on does not prove nothing was sent.
TEST_F(PrivyAdapterTest, ARefusalAfterAServerErrorIsStillUnknown) {
  fake_->InjectFault(
      {.kind = FakePrivy::FaultKind::k500, .count = 1, .method = "POST"});
  fake_->InjectFault({.kind = FakePrivy::FaultKind::k429,
                      .count = 1,
                      .method = "POST",
                      .retry_after_seconds = 3600});
  absl::StatusOr<VendorStatus> st = Adapter()->Send(Native("op_1", 5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kUnknown);
}

// Privy unreachable: the request never left, so nothing was sent.
TEST_F(PrivyAdapterTest, AnUnreachablePrivyIsAnError) {
  PrivyOptions o = Options();
  fake_.reset();  // Nothing listens on its port now.
  absl::StatusOr<VendorStatus> st = Adapter(o)->Send(Native("op_1", 5));
  EXPECT_TRUE(absl::IsUnavailable(st.status())) << st.status();
  EXPECT_THAT(st.status().message(), HasSubstr("nothing was sent"));
}

// Poll follows the transaction from broadcast to confirmation.
TEST_F(PrivyAdapterTest, PollFollowsATransactionToConfirmed) {
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> st = adapter->Send(Native("op_1", 5));
  ASSERT_TRUE(st.ok()) << st.status();
  absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, *st);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  ASSERT_TRUE(fake_->Confirm(fake_->ledger()[0].id).ok());
  polled = adapter->Poll(wallet_, *polled);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
  EXPECT_EQ(polled->tx_hash, fake_->ledger()[0].hash);
}

// Reverted and replaced transactions are failures with a reason.
TEST_F(PrivyAdapterTest, PollReportsFailures) {
  auto adapter = Adapter();
  int n = 0;
  for (const char* status : {"execution_reverted", "replaced"}) {
    absl::StatusOr<VendorStatus> st =
        adapter->Send(Native(absl::StrCat("op_", ++n), 5));
    ASSERT_TRUE(st.ok()) << st.status();
    ASSERT_TRUE(fake_->Fail(fake_->ledger().back().id, status).ok());
    absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, *st);
    ASSERT_TRUE(polled.ok()) << polled.status();
    EXPECT_EQ(polled->state, OperationState::kFailed) << status;
    EXPECT_THAT(polled->error, HasSubstr(status));
  }
}

// `failed` (pending too long) and `provider_error` do not say the signed
// transaction can never be mined: unknown, hold kept, and polling goes on
// to the outcome.
TEST_F(PrivyAdapterTest, FailedAndProviderErrorStayUnknown) {
  auto adapter = Adapter();
  int n = 0;
  for (const char* status : {"failed", "provider_error"}) {
    absl::StatusOr<VendorStatus> st =
        adapter->Send(Native(absl::StrCat("op_", ++n), 5));
    ASSERT_TRUE(st.ok()) << st.status();
    const std::string id = fake_->ledger().back().id;
    ASSERT_TRUE(fake_->Fail(id, status).ok());
    absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, *st);
    ASSERT_TRUE(polled.ok()) << polled.status();
    EXPECT_EQ(polled->state, OperationState::kUnknown) << status;
    EXPECT_THAT(polled->error, HasSubstr(status));
    ASSERT_TRUE(fake_->Confirm(id).ok());
    polled = adapter->Poll(wallet_, *polled);
    ASSERT_TRUE(polled.ok()) << polled.status();
    EXPECT_EQ(polled->state, OperationState::kConfirmed) << status;
  }
}

// A transaction_broadcast_failure comes after Privy signed: the transaction
// may still be mined, so the send is unknown (not an error) and Poll does
// not send it again.
TEST_F(PrivyAdapterTest, ABroadcastFailureIsUnknownAndNotResent) {
  fake_->InjectFault(
      {.kind = FakePrivy::FaultKind::kBroadcastFailure, .method = "POST"});
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> st = adapter->Send(Native("op_1", 5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kUnknown);
  EXPECT_THAT(st->error, HasSubstr("transaction_broadcast_failure"));
  const int before = RpcRequests();
  absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, *st);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kUnknown);
  EXPECT_THAT(polled->error, HasSubstr("resolve it by hand"));
  EXPECT_EQ(RpcRequests(), before);
  EXPECT_THAT(fake_->ledger(), SizeIs(1));
}

// An answer with a hash but no transaction id is followed through the
// wallet's transaction list to confirmation.
TEST_F(PrivyAdapterTest, AHashWithoutATransactionIdIsFollowedByHash) {
  fake_->InjectFault(
      {.kind = FakePrivy::FaultKind::kNoTransactionId, .method = "POST"});
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> st = adapter->Send(Native("op_1", 5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kSubmitted);
  const FakePrivy::Transaction tx = fake_->ledger().at(0);
  EXPECT_EQ(st->tx_hash, tx.hash);
  EXPECT_THAT(st->vendor_ref, ::testing::Not(HasSubstr(tx.id)));
  absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, *st);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  ASSERT_TRUE(fake_->Confirm(tx.id).ok());
  polled = adapter->Poll(wallet_, *st);  // Still by hash: the list.
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kConfirmed);
  EXPECT_THAT(polled->vendor_ref, HasSubstr(tx.id));
  EXPECT_THAT(fake_->ledger(), SizeIs(1));
}

// Poll re-sends to the Privy wallet the request first went to, even when
// the bundle's wallet now names another one.
TEST_F(PrivyAdapterTest, AResendGoesToTheWalletFirstSentTo) {
  auto adapter = Adapter();
  const VendorStatus st = SendThroughServerErrors(*adapter, "op_1");
  ASSERT_FALSE(HasFailure());
  fake_->AddWallet({.id = "otherwallet0000000000001",
                    .address = "0x6666666666666666666666666666666666666666"});
  Wallet edited = wallet_;
  edited.vendor_id = "otherwallet0000000000001";
  absl::StatusOr<VendorStatus> polled = adapter->Poll(edited, st);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  const std::vector<FakePrivy::Transaction> ledger = fake_->ledger();
  ASSERT_THAT(ledger, SizeIs(1));
  EXPECT_EQ(ledger[0].wallet_id, kPrivyWallet);
  EXPECT_THAT(fake_->requests().back().path, HasSubstr(kPrivyWallet));
}

// A re-send refused with a 4xx (a wallet since frozen, or gone) does not
// prove an earlier attempt was not sent: unknown, and not sent again.
TEST_F(PrivyAdapterTest, ARefusedResendStaysUnknown) {
  auto adapter = Adapter();
  const VendorStatus frozen = SendThroughServerErrors(*adapter, "op_1");
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(adapter->Freeze(wallet_, "").ok());
  absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, frozen);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kUnknown);
  EXPECT_THAT(polled->error, HasSubstr("policy_violation"));
  ASSERT_TRUE(adapter->Unfreeze(wallet_, "", "").ok());
  const int before = RpcRequests();
  polled = adapter->Poll(wallet_, *polled);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kUnknown);
  EXPECT_THAT(polled->error, HasSubstr("resolve it by hand"));
  EXPECT_EQ(RpcRequests(), before);

  VendorStatus gone = SendThroughServerErrors(*adapter, "op_2");
  ASSERT_FALSE(HasFailure());
  nlohmann::json ref = nlohmann::json::parse(gone.vendor_ref);
  ref["wallet_id"] = "nosuchwallet";
  gone.vendor_ref = ref.dump();
  polled = adapter->Poll(wallet_, gone);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kUnknown);
  EXPECT_THAT(polled->error, HasSubstr("HTTP 404"));
  EXPECT_THAT(fake_->ledger(), IsEmpty());
}

// A vendor_ref that is not what the adapter wrote is unknown with an
// error, never an exception or a re-send.
TEST_F(PrivyAdapterTest, AMalformedVendorRefIsUnknown) {
  auto adapter = Adapter();
  for (const char* bad :
       {"not json", "[]", R"({"transaction_id": 7})",
        R"({"wallet_id": "privywallet0000000000001", "idempotency_key": "k",
            "request": {"method": "eth_sendTransaction"},
            "first_sent_ms": "yesterday"})",
        R"({"wallet_id": "privywallet0000000000001", "idempotency_key": "k",
            "request": "x", "first_sent_ms": 1})"}) {
    absl::StatusOr<VendorStatus> polled = adapter->Poll(
        wallet_,
        VendorStatus{.state = OperationState::kUnknown, .vendor_ref = bad});
    ASSERT_TRUE(polled.ok()) << bad << ": " << polled.status();
    EXPECT_EQ(polled->state, OperationState::kUnknown) << bad;
    EXPECT_THAT(polled->error, HasSubstr("vendor_ref")) << bad;
  }
  EXPECT_TRUE(fake_->requests().empty());
}

// A custodial-style wallet answers before there is a hash: pending, then
// submitted once broadcast.
TEST_F(PrivyAdapterTest, PendingUntilBroadcast) {
  fake_->AddWallet({.id = "custodial00000000000001",
                    .address = "0x5555555555555555555555555555555555555555",
                    .hash_later = true});
  wallet_.vendor_id = "custodial00000000000001";
  auto adapter = Adapter();
  absl::StatusOr<VendorStatus> st = adapter->Send(Native("op_1", 5));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, OperationState::kPending);
  EXPECT_THAT(st->tx_hash, IsEmpty());
  absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, *st);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kPending);
  ASSERT_TRUE(fake_->Broadcast(fake_->ledger()[0].id).ok());
  polled = adapter->Poll(wallet_, *polled);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kSubmitted);
  EXPECT_EQ(polled->tx_hash, fake_->ledger()[0].hash);
}

// Past Privy's 24-hour key window an unknown send is not sent again.
TEST_F(PrivyAdapterTest, AnUnknownSendIsNotResentPastTheKeyWindow) {
  auto adapter = Adapter();
  VendorStatus st = SendThroughServerErrors(*adapter, "op_1");
  ASSERT_FALSE(HasFailure());
  nlohmann::json ref = nlohmann::json::parse(st.vendor_ref);
  ref["first_sent_ms"] = absl::ToUnixMillis(absl::Now() - absl::Hours(25));
  st.vendor_ref = ref.dump();
  const int before = RpcRequests();
  absl::StatusOr<VendorStatus> polled = adapter->Poll(wallet_, st);
  ASSERT_TRUE(polled.ok()) << polled.status();
  EXPECT_EQ(polled->state, OperationState::kUnknown);
  EXPECT_THAT(polled->error, HasSubstr("resolve it by hand"));
  EXPECT_EQ(RpcRequests(), before);
  EXPECT_THAT(fake_->ledger(), IsEmpty());
}

// Freezing attaches a deny-all policy: Warden's and anyone's sends are
// refused; freezing twice changes nothing; unfreezing detaches and deletes
// it.
TEST_F(PrivyAdapterTest, FreezeAttachesADenyPolicy) {
  auto adapter = Adapter();
  ASSERT_TRUE(adapter->Freeze(wallet_, "incident 7").ok());
  std::vector<std::string> ids = fake_->PolicyIdsOf(kPrivyWallet);
  ASSERT_THAT(ids, SizeIs(1));
  EXPECT_EQ(fake_->GetPolicy(ids[0])->name, "warden-freeze:");
  EXPECT_TRUE(fake_->RefusesSend(kPrivyWallet, kDestination, 1));

  absl::StatusOr<VendorStatus> st = adapter->Send(Native("op_1", 5));
  EXPECT_TRUE(absl::IsPermissionDenied(st.status())) << st.status();
  EXPECT_THAT(st.status().message(), HasSubstr("policy_violation"));
  EXPECT_TRUE(absl::IsPermissionDenied(
      fake_->DirectSend(kPrivyWallet, 8453, kDestination, 5).status()));
  EXPECT_THAT(fake_->ledger(), IsEmpty());

  ASSERT_TRUE(adapter->Freeze(wallet_, "again").ok());
  EXPECT_EQ(fake_->PolicyIdsOf(kPrivyWallet), ids);
  EXPECT_EQ(fake_->policy_count(), 1u);

  ASSERT_TRUE(adapter->Unfreeze(wallet_, "", "").ok());
  EXPECT_THAT(fake_->PolicyIdsOf(kPrivyWallet), IsEmpty());
  EXPECT_EQ(fake_->policy_count(), 0u);
  ASSERT_TRUE(adapter->Unfreeze(wallet_, "", "").ok());
  EXPECT_TRUE(fake_->DirectSend(kPrivyWallet, 8453, kDestination, 5).ok());
  absl::StatusOr<VendorStatus> after = adapter->Send(Native("op_2", 5));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->state, OperationState::kSubmitted);
}

// The freeze policy is owned by the adapter's authorization key: someone
// holding only the app secret (what an agent's own Privy integration has)
// can neither detach it from the wallet nor delete it. Warden can.
TEST_F(PrivyAdapterTest, TheFreezePolicyIsOwnedByTheAuthorizationKey) {
  auto adapter = Adapter();
  ASSERT_TRUE(adapter->Freeze(wallet_, "incident").ok());
  const std::vector<std::string> ids = fake_->PolicyIdsOf(kPrivyWallet);
  ASSERT_THAT(ids, SizeIs(1));
  EXPECT_FALSE(fake_->GetPolicy(ids[0])->owner_public_key.empty());

  httplib::Client app_only(fake_->url());
  app_only.set_basic_auth(fake_->app_id(), fake_->app_secret());
  const httplib::Headers headers = {{"privy-app-id", fake_->app_id()}};
  auto detach =
      app_only.Patch(absl::StrCat("/v1/wallets/", kPrivyWallet), headers,
                     R"({"policy_ids": []})", "application/json");
  ASSERT_TRUE(detach);
  EXPECT_EQ(detach->status, 401) << detach->body;
  auto removed =
      app_only.Delete(absl::StrCat("/v1/policies/", ids[0]), headers);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 401) << removed->body;
  EXPECT_EQ(fake_->PolicyIdsOf(kPrivyWallet), ids);
  EXPECT_TRUE(fake_->RefusesSend(kPrivyWallet, kDestination, 1));

  ASSERT_TRUE(adapter->Unfreeze(wallet_, "", "").ok());
  EXPECT_THAT(fake_->PolicyIdsOf(kPrivyWallet), IsEmpty());
  EXPECT_EQ(fake_->policy_count(), 0u);
}

// Unfreezing restores the policy the wallet had before.
TEST_F(PrivyAdapterTest, UnfreezeRestoresThePreviousPolicy) {
  const std::string limit = fake_->CreatePolicy(
      "at most 100 wei", {{{"name", "cap"},
                           {"method", "eth_sendTransaction"},
                           {"conditions",
                            {{{"field_source", "ethereum_transaction"},
                              {"field", "value"},
                              {"operator", "lte"},
                              {"value", "100"}}}},
                           {"action", "ALLOW"}}});
  ASSERT_TRUE(fake_->SetPolicyIds(kPrivyWallet, {limit}).ok());
  auto adapter = Adapter();
  // The wallet's own policy refuses what it does not allow.
  absl::StatusOr<VendorStatus> big = adapter->Send(Native("op_big", 101));
  EXPECT_TRUE(absl::IsPermissionDenied(big.status())) << big.status();

  ASSERT_TRUE(adapter->Freeze(wallet_, "").ok());
  std::vector<std::string> ids = fake_->PolicyIdsOf(kPrivyWallet);
  ASSERT_THAT(ids, SizeIs(1));
  EXPECT_EQ(fake_->GetPolicy(ids[0])->name,
            absl::StrCat("warden-freeze:", limit));
  EXPECT_TRUE(fake_->RefusesSend(kPrivyWallet, kDestination, 1));

  ASSERT_TRUE(adapter->Unfreeze(wallet_, "", "").ok());
  EXPECT_EQ(fake_->PolicyIdsOf(kPrivyWallet), std::vector<std::string>{limit});
  EXPECT_FALSE(fake_->RefusesSend(kPrivyWallet, kDestination, 1));
}

// Updating an owned wallet needs the owner's signature.
TEST_F(PrivyAdapterTest, FreezingAnOwnedWalletNeedsTheAuthorizationKey) {
  PrivyOptions o = Options();
  o.authorization_key.clear();
  absl::Status st = Adapter(o)->Freeze(wallet_, "").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("authorization_key"));
  EXPECT_THAT(fake_->PolicyIdsOf(kPrivyWallet), IsEmpty());
  EXPECT_EQ(fake_->policy_count(), 0u);
}

// ListTransactions reports Warden's sends and sends made around Warden,
// native and token, with their amounts, from `since` on; not deposits.
TEST_F(PrivyAdapterTest, ListTransactionsShowsShadowSpend) {
  PrivyOptions o = Options();
  o.list_tokens["base"] = {kToken};
  auto adapter = Adapter(o);
  const absl::Time start = absl::Now() - absl::Seconds(1);
  ASSERT_TRUE(adapter->Send(Native("op_1", 7)).ok());
  absl::StatusOr<FakePrivy::Transaction> shadow =
      fake_->DirectSend(kPrivyWallet, 8453, kDestination, 900);
  ASSERT_TRUE(shadow.ok()) << shadow.status();
  absl::StatusOr<FakePrivy::Transaction> shadow_token =
      fake_->DirectSend(kPrivyWallet, 8453, kToken, 0,
                        evm::Hex(evm::TransferCalldata(
                            evm::ParseAddress(kDestination).value(), 123456)));
  ASSERT_TRUE(shadow_token.ok()) << shadow_token.status();
  // Elsewhere: another chain is not this wallet's record.
  ASSERT_TRUE(fake_->DirectSend(kPrivyWallet, 1, kDestination, 1).ok());
  // Money coming in is not spend.
  fake_->AddWallet({.id = "sender000000000000000001", .address = kDestination});
  ASSERT_TRUE(
      fake_->DirectSend("sender000000000000000001", 8453, kWalletAddress, 50)
          .ok());

  absl::StatusOr<std::vector<VendorTransaction>> txs =
      adapter->ListTransactions(wallet_, start);
  ASSERT_TRUE(txs.ok()) << txs.status();
  ASSERT_THAT(*txs, SizeIs(3));
  std::map<std::string, VendorTransaction> by_hash;
  for (const VendorTransaction& t : *txs) by_hash[t.tx_hash] = t;
  const VendorTransaction& native = by_hash.at(shadow->hash);
  EXPECT_EQ(native.from, kWalletAddress);
  EXPECT_EQ(native.to, kDestination);
  EXPECT_EQ(native.asset, "");
  EXPECT_EQ(native.amount, 900);
  const VendorTransaction& token = by_hash.at(shadow_token->hash);
  EXPECT_EQ(token.to, kDestination);
  EXPECT_EQ(token.asset, kToken);
  EXPECT_EQ(token.amount, 123456);
  EXPECT_EQ(by_hash.at(fake_->ledger()[0].hash).amount, 7);

  txs = adapter->ListTransactions(wallet_, absl::Now() + absl::Hours(1));
  ASSERT_TRUE(txs.ok()) << txs.status();
  EXPECT_THAT(*txs, IsEmpty());
}

// More transactions than one page: every page is read.
TEST_F(PrivyAdapterTest, ListTransactionsReadsEveryPage) {
  for (int i = 0; i < PrivyAdapter::kListPageSize + 20; ++i) {
    ASSERT_TRUE(fake_->DirectSend(kPrivyWallet, 8453, kDestination, i).ok());
  }
  absl::StatusOr<std::vector<VendorTransaction>> txs =
      Adapter()->ListTransactions(wallet_, absl::InfinitePast());
  ASSERT_TRUE(txs.ok()) << txs.status();
  EXPECT_THAT(*txs, SizeIs(PrivyAdapter::kListPageSize + 20));
  EXPECT_THAT(fake_->requests(), SizeIs(2));
}

// A wallet without its Privy id, or on a chain without an id, is refused
// before anything is held or sent.
TEST_F(PrivyAdapterTest, CheckWalletNamesTheBundleField) {
  auto adapter = Adapter();
  Wallet w = wallet_;
  w.vendor_id.clear();
  absl::Status st = adapter->CheckWallet(w);
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("wallets[w1].vendor_id: required"));
  TransferIntent intent = Native("op_1", 5);
  intent.wallet = w;
  EXPECT_TRUE(absl::IsFailedPrecondition(adapter->Send(intent).status()));
  w = wallet_;
  w.chain = "dogechain";
  st = adapter->CheckWallet(w);
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("wallets[w1].chain"));
  EXPECT_TRUE(adapter->CheckWallet(wallet_).ok());
  EXPECT_TRUE(fake_->requests().empty());
  EXPECT_THAT(fake_->ledger(), IsEmpty());
}

// Bad options are refused naming the option, and never quote the key.
TEST_F(PrivyAdapterTest, CreateChecksTheOptions) {
  PrivyOptions o = Options();
  o.base_url = "ftp://example.com";
  EXPECT_THAT(PrivyAdapter::Create(o).status().message(),
              HasSubstr("base_url"));
  o = Options();
  o.app_id.clear();
  EXPECT_THAT(PrivyAdapter::Create(o).status().message(), HasSubstr("app_id"));
  o = Options();
  o.authorization_key = "wallet-auth:bm90IGEga2V5IGF0IGFsbA==";
  absl::Status st = PrivyAdapter::Create(o).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("authorization_key"));
  EXPECT_THAT(std::string(st.message()),
              ::testing::Not(HasSubstr("bm90IGEga2V5IGF0IGFsbA")));
  o = Options();
  o.chain_ids["zora"] = 7777777;
  auto adapter = Adapter(o);
  const AdapterInfo info = adapter->Describe();
  EXPECT_EQ(info.vendor, "privy");
  EXPECT_TRUE(info.vendor_freeze && info.list_transactions && info.async);
  EXPECT_THAT(info.chains, ::testing::Contains("zora"));
  EXPECT_THAT(info.chains, ::testing::Contains("base"));
}

// Calldata too long to keep in vendor_ref is refused before sending.
TEST_F(PrivyAdapterTest, OverlongCalldataIsRefused) {
  TransferIntent intent = Native("op_1", 5);
  intent.data = std::string(PrivyAdapter::kMaxDataBytes + 1, '\x01');
  absl::StatusOr<VendorStatus> st = Adapter()->Send(intent);
  EXPECT_TRUE(absl::IsInvalidArgument(st.status())) << st.status();
  EXPECT_TRUE(fake_->requests().empty());
}

}  // namespace
}  // namespace warden
