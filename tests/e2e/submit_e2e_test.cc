// SubmitTransaction end to end: two wardend replicas on Redis and Postgres,
// a local keystore, and a real Ethereum node (anvil). Native ETH and an
// ERC-20 transfer land with exactly their amounts and settle; a denial
// signs nothing; a retried Submit sends once; 20 concurrent Submits from
// one wallet land with consecutive nonces; a send whose answer is lost is
// UNKNOWN until polling resolves it; a replaced transaction fails and is
// released; and a node that stops (SIGSTOP) or goes away (its port closed,
// behind a JSON-RPC proxy) mid-stream leaves every operation FAILED
// (released) or sent exactly once. The node is stopped or hidden rather than
// killed so that its chain survives to count what reached it.

#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "adapters/evm/evm.h"
#include "adapters/evm/json_rpc.h"
#include "adapters/local/testdata/min_erc20.h"
#include "gmock/gmock.h"
#include "governance/postgres/pg.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/anvil_node.h"
#include "tests/support/durable_stack_test.h"
#include "tests/support/wardend_process.h"
#include "warden/v1/audit.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kPassword[] = "correct horse battery staple\n";
// flaky_w's private key.
constexpr char kFlakyKey[] =
    "1111111111111111111111111111111111111111111111111111111111111111";
// 0.01 ETH, $30 at the bundle's price.
constexpr char kHundredthEth[] = "10000000000000000";

// The one recipient payer's contract rule lets it pay, and spender it may
// approve.
constexpr char kFriend[] = "0x000000000000000000000000000000000000f00d";

// A JSON-RPC proxy in front of the node: passes calls through; can hold
// back the answers to eth_sendRawTransaction (after forwarding them) so
// that the caller times out, and can close its port as a node that went
// down.
class RpcProxy {
 public:
  explicit RpcProxy(int upstream_port) : upstream_port_(upstream_port) {
    absl::StatusOr<int> port = FreeLoopbackPort();
    port_ = port.value_or(0);
    Open();
  }
  ~RpcProxy() { Close(); }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_); }
  // How long answers to eth_sendRawTransaction are held back.
  void HoldSends(absl::Duration d) { hold_ms_ = absl::ToInt64Milliseconds(d); }
  // Answer eth_sendRawTransaction with an HTTP 502 without forwarding it:
  // the request reached "the node", which lost it.
  void LoseSends(bool lose) { lose_sends_ = lose; }

  void Open() {
    server_ = std::make_unique<httplib::Server>();
    server_->Post(
        "/", [this](const httplib::Request& req, httplib::Response& res) {
          const bool send =
              req.body.find("eth_sendRawTransaction") != std::string::npos;
          if (send && lose_sends_) {
            res.status = 502;
            return;
          }
          httplib::Client upstream("127.0.0.1", upstream_port_);
          upstream.set_read_timeout(30, 0);
          httplib::Result r = upstream.Post("/", req.body, "application/json");
          if (!r) {
            res.status = 502;
            return;
          }
          if (send) absl::SleepFor(absl::Milliseconds(hold_ms_.load()));
          res.set_content(r->body, "application/json");
        });
    if (!server_->bind_to_port("127.0.0.1", port_)) {
      ADD_FAILURE() << "proxy cannot bind port " << port_;
      return;
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 500 && !server_->is_running(); ++i) {
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  void Close() {
    if (server_ == nullptr) return;
    server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }

 private:
  const int upstream_port_;
  int port_ = 0;
  std::atomic<int64_t> hold_ms_{0};
  std::atomic<bool> lose_sends_{false};
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

class SubmitE2eTest : public DurableStackTest {
 protected:
  static void SetUpTestSuite() {
    DurableStackTest::SetUpTestSuite();
    if (HasFatalFailure()) return;
    auto anvil = AnvilNode::Start();
    ASSERT_TRUE(anvil.ok()) << anvil.status();
    anvil_ = anvil->release();

    // The token: deployed from the dev account, which holds its supply.
    auto deployed = anvil_->SendFromDev(
        {{"data", evm::testdata::kMinErc20InitCode}, {"gas", "0x100000"}});
    ASSERT_TRUE(deployed.ok()) << deployed.status();
    ASSERT_EQ((*deployed)["status"], "0x1");
    token_ = (*deployed)["contractAddress"].get<std::string>();
    // A second instance, declared as no asset: only a contract rule lets
    // an agent call it.
    deployed = anvil_->SendFromDev(
        {{"data", evm::testdata::kMinErc20InitCode}, {"gas", "0x100000"}});
    ASSERT_TRUE(deployed.ok()) << deployed.status();
    ASSERT_EQ((*deployed)["status"], "0x1");
    other_token_ = (*deployed)["contractAddress"].get<std::string>();

    // The keystore: one key per wallet, funded with ETH and tokens.
    password_file_ = dir_->Write("password", kPassword);
    keystore_ = dir_->path() + "/keystore";
    // flaky_w's key is known to the test, which signs a replacement.
    const std::string flaky_key =
        dir_->Write("flaky.key", absl::StrCat(kFlakyKey, "\n"));
    for (const char* wallet :
         {"payer_w", "tight_w", "busy_w", "flaky_w", "drainer_w"}) {
      std::vector<std::string> args = {
          WARDENCTL_PATH, "wallet",     "create-local",
          "--keystore",   keystore_,    "--password-file",
          password_file_, "--scrypt-n", "1024"};
      if (std::string(wallet) == "flaky_w") {
        args[2] = "import-local";
        args.insert(args.end(), {"--private-key-file", flaky_key});
      }
      absl::StatusOr<CommandResult> created =
          RunCommand(args, absl::Seconds(60));
      ASSERT_TRUE(created.ok());
      ASSERT_EQ(created->exit_code, 0) << created->err;
      const std::string address =
          std::string(absl::StripAsciiWhitespace(created->out));
      (*addresses_)[wallet] = address;
      auto funded = anvil_->SendFromDev(
          {{"to", address}, {"value", "0x56bc75e2d63100000"}});  // 100 ETH.
      ASSERT_TRUE(funded.ok()) << funded.status();
      for (const std::string& token : {token_, other_token_}) {
        auto tokens = anvil_->SendFromDev(
            {{"to", token}, {"data", TransferData(address, 1'000'000'000)}});
        ASSERT_TRUE(tokens.ok()) << tokens.status();
        ASSERT_EQ((*tokens)["status"], "0x1");
      }
    }
    const std::string bundle =
        absl::StrCat(R"(
org: {id: chainco}
departments: [{id: treasury}]
agents:
  - id: payer
    department: treasury
    limits: [{name: daily, usd: "100000", window: "rolling:24h"}]
    rules:
      contracts:
        - chain: anvil
          address: ")",
                     other_token_, R"y("
          methods:
            - signature: "transfer(address to, uint256 amount)"
              where: {to: {eq: ")y",
                     kFriend, R"("}, amount: {max: "5000000"}}
      approved_spenders: [{spender: ")",
                     kFriend, R"(", asset: TOK, max: "10"}]
    wallets: [{id: payer_w, vendor: local, chain: anvil, address: ")",
                     (*addresses_)["payer_w"], R"("}]
  - id: tight
    department: treasury
    limits: [{name: daily, usd: "10", window: "rolling:24h"}]
    wallets: [{id: tight_w, vendor: local, chain: anvil, address: ")",
                     (*addresses_)["tight_w"], R"("}]
  - id: busy
    department: treasury
    limits: [{name: daily, usd: "100000", window: "rolling:24h"}]
    wallets: [{id: busy_w, vendor: local, chain: anvil, address: ")",
                     (*addresses_)["busy_w"], R"("}]
  - id: drainer
    department: treasury
    limits: [{name: daily, usd: "100000", window: "rolling:24h"}]
    rules: {drain_all: "90%"}
    wallets: [{id: drainer_w, vendor: local, chain: anvil, address: ")",
                     (*addresses_)["drainer_w"], R"("}]
  - id: flaky
    department: treasury
    limits: [{name: daily, usd: "100000", window: "rolling:24h"}]
    wallets: [{id: flaky_w, vendor: local, chain: anvil, address: ")",
                     (*addresses_)["flaky_w"], R"("}]
assets:
  - {symbol: ETH, decimals: 18, price_usd: "3000", chains: {anvil: native}}
  - {symbol: TOK, decimals: 6, price_usd: "1", chains: {anvil: ")",
                     token_, R"("}}
  - {symbol: USDC, decimals: 6, price_usd: "1"}
)");
    bundle_ = dir_->Write("bundle.yaml", bundle);
    for (int i = 0; i < 2; ++i) {
      replicas_[i] = StartWardend(anvil_->url()).release();
      ASSERT_NE(replicas_[i], nullptr);
    }
  }
  static void TearDownTestSuite() {
    for (WardendProcess*& w : replicas_) {
      delete w;
      w = nullptr;
    }
    delete anvil_;
    DurableStackTest::TearDownTestSuite();
  }

  static std::unique_ptr<WardendProcess> StartWardend(
      const std::string& rpc_url, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--redis",
                                     redis_->url(),
                                     "--postgres",
                                     pg_->url("warden_app"),
                                     "--bundle",
                                     bundle_,
                                     "--keystore",
                                     keystore_,
                                     "--keystore-password-file",
                                     password_file_,
                                     "--chain-rpc",
                                     "anvil=" + rpc_url,
                                     "--shutdown-grace-ms",
                                     "1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    absl::StatusOr<std::unique_ptr<WardendProcess>> w =
        WardendProcess::Start(WARDEND_PATH, args);
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *std::move(w) : nullptr;
  }

  // transfer(to, amount) calldata, 0x-hex.
  static std::string TransferData(const std::string& to, uint64_t amount) {
    std::string hex = "0xa9059cbb" + std::string(24, '0') + to.substr(2);
    std::string value = absl::StrCat(absl::Hex(amount, absl::kZeroPad16));
    return hex + std::string(64 - value.size(), '0') + value;
  }

  static std::string NewAddress() {
    static std::atomic<int> n{0};
    return absl::StrCat("0x00000000000000000000000000000000c0de",
                        absl::Hex(++n, absl::kZeroPad4));
  }

  static v1::SubmitTransactionRequest Submit(const std::string& agent,
                                             const std::string& asset,
                                             const std::string& amount,
                                             const std::string& to,
                                             const std::string& key = "") {
    v1::SubmitTransactionRequest r;
    r.set_agent_id(agent);
    r.set_wallet_id(agent + "_w");
    r.set_asset(asset);
    r.set_amount(amount);
    r.set_destination(to);
    r.set_idempotency_key(key);
    return r;
  }

  static absl::StatusOr<v1::SubmitTransactionResponse> Call(
      WardendProcess& w, const v1::SubmitTransactionRequest& r) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::SubmitTransactionResponse out;
    grpc::Status st = w.authz().SubmitTransaction(&c, r, &out);
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                          st.error_message());
    }
    return out;
  }

  // Polls GetOperation (bounded) until the operation is final.
  static v1::Operation WaitFinal(WardendProcess& w, const std::string& id) {
    v1::Operation op;
    for (int i = 0; i < 200; ++i) {
      grpc::ClientContext c;
      v1::GetOperationRequest req;
      req.set_operation_id(id);
      grpc::Status st = w.authz().GetOperation(&c, req, &op);
      EXPECT_TRUE(st.ok()) << st.error_message();
      if (op.state() == v1::OPERATION_STATE_CONFIRMED ||
          op.state() == v1::OPERATION_STATE_FAILED) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return op;
  }

  // Polls each operation until final and checks it: CONFIRMED and its
  // authorization SETTLED, or FAILED and VOIDED. Returns how many confirmed.
  static int ResolveEach(WardendProcess& w,
                         const std::vector<std::string>& operation_ids) {
    int confirmed = 0;
    for (const std::string& id : operation_ids) {
      const v1::Operation op = WaitFinal(w, id);
      const v1::Authorization a = GetAuthorization(w, op.authorization_id());
      if (op.state() == v1::OPERATION_STATE_CONFIRMED) {
        ++confirmed;
        EXPECT_EQ(a.status(), v1::AUTHORIZATION_STATUS_SETTLED);
      } else {
        EXPECT_EQ(op.state(), v1::OPERATION_STATE_FAILED) << op.error();
        EXPECT_EQ(a.status(), v1::AUTHORIZATION_STATUS_VOIDED) << op.error();
      }
    }
    return confirmed;
  }

  static v1::Authorization GetAuthorization(WardendProcess& w,
                                            const std::string& id) {
    grpc::ClientContext c;
    v1::GetAuthorizationRequest req;
    req.set_authorization_id(id);
    v1::Authorization a;
    grpc::Status st = w.authz().GetAuthorization(&c, req, &a);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return a;
  }

  // The reasons of the org's operation.updated audit records.
  static std::vector<std::string> OperationAudit() {
    std::vector<std::string> out;
    auto c = pg::Connect(pg_->url());
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE(pg::Transact(**c, "read", [&](pqxx::work& w) {
                  for (const pqxx::row& r :
                       w.exec("SELECT body FROM audit_events WHERE type = "
                              "'operation.updated' ORDER BY seq")) {
                    out.push_back(r[0].as<std::string>());
                  }
                }).ok());
    return out;
  }

  static uint64_t Nonce(const std::string& wallet) {
    absl::StatusOr<uint64_t> n = anvil_->Nonce((*addresses_)[wallet]);
    EXPECT_TRUE(n.ok()) << n.status();
    return n.value_or(0);
  }

  static absl::uint128 Balance(const std::string& address) {
    absl::StatusOr<absl::uint128> b = anvil_->Balance(address);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.value_or(0);
  }

  static inline AnvilNode* anvil_ = nullptr;
  static inline WardendProcess* replicas_[2] = {nullptr, nullptr};
  static inline std::string token_, other_token_, password_file_, keystore_,
      bundle_;
  static inline auto* addresses_ = new std::map<std::string, std::string>;
};

TEST_F(SubmitE2eTest, NativeEthLandsSettlesAndIsAudited) {
  const std::string to = NewAddress();
  absl::StatusOr<CommandResult> r = RunCommand(
      {WARDENCTL_PATH, "--server", replicas_[0]->address(), "--json", "submit",
       "--agent", "payer", "--wallet", "payer_w", "--asset", "ETH", "--amount",
       kHundredthEth, "--to", to, "--wait"},
      absl::Seconds(120));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->err;
  const Json out = Json::parse(r->out);
  EXPECT_EQ(out["decision"], "ALLOW");
  EXPECT_EQ(out["state"], "CONFIRMED") << out.dump();
  const std::string tx = out["tx_hash"];
  ASSERT_EQ(tx.size(), 66u);

  // Exactly the amount arrived, in a successful transaction.
  EXPECT_EQ(Balance(to), absl::uint128(10'000'000'000'000'000ULL));
  auto receipt = anvil_->Receipt(tx);
  ASSERT_TRUE(receipt.ok());
  EXPECT_EQ((*receipt)["status"], "0x1");

  // Settled with the tx hash, at the hold's value.
  const v1::Authorization a =
      GetAuthorization(*replicas_[1], out["authorization_id"]);
  EXPECT_EQ(a.status(), v1::AUTHORIZATION_STATUS_SETTLED);
  EXPECT_EQ(a.tx_hash(), tx);
  EXPECT_EQ(a.settled_amount(), kHundredthEth);
  EXPECT_EQ(a.settled_amount_usd(), "30.00");

  // The audit trail holds the settlement with the hash, and the send.
  auto c = pg::Connect(pg_->url());
  ASSERT_TRUE(c.ok());
  std::string settled_body;
  ASSERT_TRUE(pg::Transact(**c, "read", [&](pqxx::work& w) {
                pqxx::result rows = w.exec_params(
                    "SELECT body FROM audit_events WHERE type = "
                    "'authorization.settled' AND authorization_id = $1",
                    out["authorization_id"].get<std::string>());
                if (rows.size() == 1)
                  settled_body = rows[0][0].as<std::string>();
              }).ok());
  EXPECT_THAT(settled_body, HasSubstr(tx));
  bool sent_audited = false;
  for (const std::string& body : OperationAudit()) {
    sent_audited |=
        body.find(absl::StrCat("SUBMITTED tx ", tx)) != std::string::npos;
  }
  EXPECT_TRUE(sent_audited);

  // The agent's spend shows the settled value.
  auto channel = grpc::CreateChannel(replicas_[0]->address(),
                                     grpc::InsecureChannelCredentials());
  auto audit = v1::AuditService::NewStub(channel);
  grpc::ClientContext ctx;
  v1::SpendSummaryRequest req;
  req.set_group_by(v1::SpendSummaryRequest::GROUP_BY_AGENT);
  v1::SpendSummaryResponse summary;
  ASSERT_TRUE(audit->SpendSummary(&ctx, req, &summary).ok());
  bool found = false;
  for (const v1::SpendRow& row : summary.rows()) {
    if (row.key() != "payer") continue;
    found = true;
    EXPECT_EQ(row.settled_usd(), "30.00") << row.DebugString();
  }
  EXPECT_TRUE(found);
}

// Audit queries check their input before any query: a timestamp outside a
// Timestamp's range or a decision that is not one is INVALID_ARGUMENT naming
// the field, never INTERNAL with the database's text, nor a filter ignored.
TEST_F(SubmitE2eTest, AuditQueriesRefuseOutOfRangeInputNamingTheField) {
  auto channel = grpc::CreateChannel(replicas_[0]->address(),
                                     grpc::InsecureChannelCredentials());
  auto audit = v1::AuditService::NewStub(channel);
  auto query = [&](const v1::QueryEventsRequest& req) {
    grpc::ClientContext ctx;
    auto reader = audit->QueryEvents(&ctx, req);
    v1::AuditRecord r;
    while (reader->Read(&r)) {
    }
    return reader->Finish();
  };
  auto expect_invalid = [](const grpc::Status& s, const std::string& field) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << s.error_message();
    EXPECT_EQ(s.error_message().rfind(field + ": ", 0), 0u)
        << s.error_message();
  };
  constexpr int64_t kHuge = int64_t{1} << 62;
  v1::QueryEventsRequest req;
  req.set_decision(static_cast<v1::Decision>(99));
  expect_invalid(query(req), "decision");
  req = {};
  req.mutable_from()->set_seconds(kHuge);
  expect_invalid(query(req), "from");
  req = {};
  req.mutable_to()->set_seconds(1);
  req.mutable_to()->set_nanos(-1);
  expect_invalid(query(req), "to");
  req = {};
  req.set_decision(v1::DECISION_DELAYED);  // A filter, not ignored.
  ASSERT_TRUE(query(req).ok());
  {
    grpc::ClientContext ctx;
    v1::SpendSummaryRequest sum;
    sum.set_group_by(v1::SpendSummaryRequest::GROUP_BY_AGENT);
    sum.mutable_from()->set_seconds(-kHuge);
    v1::SpendSummaryResponse r;
    expect_invalid(audit->SpendSummary(&ctx, sum, &r), "from");
  }
  // Spend over time: a period needs `from`, a known period and at most
  // ~1,100 of them in the range.
  auto over_time = [&](int period, int64_t from_seconds, int64_t to_seconds) {
    grpc::ClientContext ctx;
    v1::SpendSummaryRequest sum;
    sum.set_group_by(v1::SpendSummaryRequest::GROUP_BY_AGENT);
    sum.set_period(static_cast<v1::SpendSummaryRequest::Period>(period));
    if (from_seconds != 0) sum.mutable_from()->set_seconds(from_seconds);
    if (to_seconds != 0) sum.mutable_to()->set_seconds(to_seconds);
    v1::SpendSummaryResponse r;
    return audit->SpendSummary(&ctx, sum, &r);
  };
  constexpr int64_t k2026 = 1'767'225'600;
  expect_invalid(over_time(v1::SpendSummaryRequest::PERIOD_DAY, 0, 0), "from");
  expect_invalid(over_time(99, k2026, 0), "period");
  expect_invalid(over_time(v1::SpendSummaryRequest::PERIOD_DAY, 1, k2026),
                 "period");
  // Since 1970 in weeks, up to now (a `to` past now counts as now).
  expect_invalid(
      over_time(v1::SpendSummaryRequest::PERIOD_WEEK, 1, 253'402'300'799),
      "period");
  EXPECT_TRUE(over_time(v1::SpendSummaryRequest::PERIOD_MONTH, 1, k2026).ok());
  {
    // From the epoch itself (a set Timestamp of zero), by month.
    grpc::ClientContext ctx;
    v1::SpendSummaryRequest sum;
    sum.set_group_by(v1::SpendSummaryRequest::GROUP_BY_AGENT);
    sum.set_period(v1::SpendSummaryRequest::PERIOD_MONTH);
    sum.mutable_from();
    v1::SpendSummaryResponse r;
    EXPECT_TRUE(audit->SpendSummary(&ctx, sum, &r).ok());
  }
  EXPECT_TRUE(over_time(v1::SpendSummaryRequest::PERIOD_WEEK, k2026, 0).ok());
  {
    grpc::ClientContext ctx;
    v1::ReconcileRequest rec;
    rec.mutable_since()->set_seconds(kHuge);
    v1::ReconcileResponse r;
    expect_invalid(audit->Reconcile(&ctx, rec, &r), "since");
  }
}

// `submit --wait` tells a script by its exit code whether the transfer
// happened: 5 while it is not confirmed when the wait ends.
TEST_F(SubmitE2eTest, WaitExitsFiveWithoutAConfirmation) {
  ASSERT_TRUE(anvil_->Call("evm_setAutomine", Json::array({false})).ok());
  absl::Cleanup automine = [&] {
    (void)anvil_->Call("evm_setAutomine", Json::array({true}));
  };
  absl::StatusOr<CommandResult> r = RunCommand(
      {WARDENCTL_PATH, "--server", replicas_[0]->address(), "--json", "submit",
       "--agent", "payer", "--wallet", "payer_w", "--asset", "ETH", "--amount",
       kHundredthEth, "--to", NewAddress(), "--wait", "--wait-seconds", "1"},
      absl::Seconds(60));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 5) << r->out << r->err;
  const Json out = Json::parse(r->out);
  EXPECT_EQ(out["state"], "SUBMITTED") << out.dump();

  // Mined at last, it confirms.
  ASSERT_TRUE(anvil_->Call("evm_mine", Json::array()).ok());
  EXPECT_EQ(WaitFinal(*replicas_[1], out["operation_id"]).state(),
            v1::OPERATION_STATE_CONFIRMED);
}

TEST_F(SubmitE2eTest, Erc20TransferMovesTokens) {
  const std::string to = NewAddress();
  auto sent = Call(*replicas_[0], Submit("payer", "TOK", "2500000", to));
  ASSERT_TRUE(sent.ok()) << sent.status();
  ASSERT_EQ(sent->authorization().decision(), v1::DECISION_ALLOW);
  const v1::Operation op =
      WaitFinal(*replicas_[0], sent->operation().operation_id());
  ASSERT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  absl::StatusOr<absl::uint128> tokens = anvil_->TokenBalance(token_, to);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens, absl::uint128(2'500'000));
  EXPECT_EQ(Balance(to), 0);  // No ETH moved to the recipient.
  EXPECT_EQ(GetAuthorization(*replicas_[0], op.authorization_id()).status(),
            v1::AUTHORIZATION_STATUS_SETTLED);
}

// Contract calls on a real node: an approve over its cap is denied and
// nothing is signed; a method a contract rule allows, with arguments inside
// its conditions, is sent and lands; outside them, or another method of
// the same contract, is denied; a token transfer written as calldata lands
// and is valued as that token.
TEST_F(SubmitE2eTest, ContractCallsAreGoverned) {
  auto word = [](const std::string& hex) {
    return std::string(64 - hex.size(), '0') + hex;
  };
  auto call = [&](const std::string& asset, const std::string& contract,
                  const std::string& data) {
    v1::SubmitTransactionRequest r = Submit("payer", asset, "", contract);
    r.set_data(data);
    return Call(*replicas_[0], r);
  };
  const uint64_t before = Nonce("payer_w");
  // approve(friend, 11 TOK): the cap is 10.
  auto r = call("TOK", token_,
                absl::StrCat("0x095ea7b3", word(std::string(kFriend).substr(2)),
                             word("a7d8c0")));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->authorization().decision(), v1::DECISION_DENY);
  ASSERT_EQ(r->authorization().violations_size(), 1);
  EXPECT_EQ(r->authorization().violations(0).code(), "APPROVAL_OVER_CAP");
  EXPECT_FALSE(r->has_operation());
  // Another method of the allowed contract (balanceOf), and transfer with
  // an amount above its condition: denied, unsigned.
  r = call("ETH", other_token_,
           absl::StrCat("0x70a08231", word(std::string(kFriend).substr(2))));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->authorization().violations(0).code(), "METHOD_NOT_ALLOWED");
  r = call("ETH", other_token_, TransferData(kFriend, 5'000'001));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->authorization().violations(0).code(), "ARGUMENT_NOT_ALLOWED");
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(Nonce("payer_w"), before);

  // Within the conditions: sent, and the tokens arrive.
  r = call("ETH", other_token_, TransferData(kFriend, 5'000'000));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->authorization().decision(), v1::DECISION_ALLOW)
      << r->authorization().reason();
  EXPECT_EQ(
      GetAuthorization(*replicas_[0], r->authorization().authorization_id())
          .method(),
      "transfer(address,uint256)");
  v1::Operation op = WaitFinal(*replicas_[0], r->operation().operation_id());
  ASSERT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  absl::StatusOr<absl::uint128> got =
      anvil_->TokenBalance(other_token_, kFriend);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, absl::uint128(5'000'000));

  // A TOK transfer written as calldata: a spend of 3 TOK base units to its
  // recipient, sent as written.
  const std::string to = NewAddress();
  r = call("TOK", token_, TransferData(to, 3));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->authorization().decision(), v1::DECISION_ALLOW);
  const v1::Authorization record =
      GetAuthorization(*replicas_[0], r->authorization().authorization_id());
  EXPECT_EQ(record.destination(), absl::AsciiStrToLower(to));
  EXPECT_EQ(record.amount(), "3");
  EXPECT_EQ(record.contract(), absl::AsciiStrToLower(token_));
  op = WaitFinal(*replicas_[0], r->operation().operation_id());
  ASSERT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  got = anvil_->TokenBalance(token_, to);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, absl::uint128(3));
}

// The drain_all guard line reads the wallet's balance from the chain's
// node: 950 of its 1,000 TOK is a drain (denied, unsigned); 500 lands, and
// then 460 of the 500 left is a drain too.
TEST_F(SubmitE2eTest, DrainAllReadsTheBalanceOnChain) {
  const uint64_t before = Nonce("drainer_w");
  const std::string to = NewAddress();
  auto r = Call(*replicas_[0], Submit("drainer", "TOK", "950000000", to));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->authorization().decision(), v1::DECISION_DENY);
  ASSERT_EQ(r->authorization().violations_size(), 1);
  EXPECT_EQ(r->authorization().violations(0).code(), "DRAIN_ALL");
  EXPECT_THAT(r->authorization().reason(),
              HasSubstr("950 TOK is at least 90% of wallet drainer_w's "
                        "balance of 1000 TOK on anvil"));
  EXPECT_FALSE(r->has_operation());
  EXPECT_EQ(Nonce("drainer_w"), before);

  r = Call(*replicas_[1], Submit("drainer", "TOK", "500000000", to));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->authorization().decision(), v1::DECISION_ALLOW)
      << r->authorization().reason();
  ASSERT_EQ(WaitFinal(*replicas_[1], r->operation().operation_id()).state(),
            v1::OPERATION_STATE_CONFIRMED);
  r = Call(*replicas_[0], Submit("drainer", "TOK", "460000000", to));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->authorization().decision(), v1::DECISION_DENY);
  EXPECT_THAT(r->authorization().reason(),
              HasSubstr("balance of 500 TOK on anvil"));
  // The native coin: 95 of its 100 ETH.
  r = Call(*replicas_[0],
           Submit("drainer", "ETH", "95000000000000000000", NewAddress()));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->authorization().violations(0).code(), "DRAIN_ALL");
}

TEST_F(SubmitE2eTest, DeniedMeansUnsigned) {
  const uint64_t before = Nonce("tight_w");
  const std::string to = NewAddress();
  // $3,000 against a $10 budget.
  auto r =
      Call(*replicas_[0], Submit("tight", "ETH", "1000000000000000000", to));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->authorization().decision(), v1::DECISION_DENY);
  EXPECT_FALSE(r->has_operation());
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(Nonce("tight_w"), before);
  absl::StatusOr<nlohmann::json> pending =
      anvil_->Call("eth_getTransactionCount",
                   Json::array({(*addresses_)["tight_w"], "pending"}));
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, "0x0");
  EXPECT_EQ(Balance(to), 0);
}

TEST_F(SubmitE2eTest, RetriedSubmitSendsOnce) {
  const uint64_t before = Nonce("payer_w");
  const std::string to = NewAddress();
  const auto request = Submit("payer", "ETH", kHundredthEth, to, "retry-1");
  absl::Mutex mu;
  std::set<std::string> operations, authorizations;
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto r = Call(*replicas_[i % 2], request);
      ASSERT_TRUE(r.ok()) << r.status();
      absl::MutexLock lock(&mu);
      operations.insert(r->operation().operation_id());
      authorizations.insert(r->authorization().authorization_id());
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(operations.size(), 1u);
  EXPECT_EQ(authorizations.size(), 1u);
  const v1::Operation op = WaitFinal(*replicas_[1], *operations.begin());
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  // Once more, after it landed: the same operation, nothing new sent.
  auto again = Call(*replicas_[1], request);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->operation().operation_id(), *operations.begin());
  EXPECT_TRUE(again->authorization().replayed());
  EXPECT_EQ(Nonce("payer_w"), before + 1);
  EXPECT_EQ(Balance(to), absl::uint128(10'000'000'000'000'000ULL));
}

TEST_F(SubmitE2eTest, TwentyConcurrentSubmitsLandWithConsecutiveNonces) {
  const uint64_t before = Nonce("busy_w");
  const std::string to = NewAddress();
  absl::Mutex mu;
  std::vector<std::string> ops;
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int i = 0; i < 20; ++i) {
    threads.emplace_back([&, i] {
      auto r = Call(*replicas_[0], Submit("busy", "ETH", "1000000000000000", to,
                                          absl::StrCat("busy-", i)));
      ASSERT_TRUE(r.ok()) << r.status();
      ASSERT_EQ(r->authorization().decision(), v1::DECISION_ALLOW);
      EXPECT_NE(r->operation().state(), v1::OPERATION_STATE_FAILED)
          << r->operation().error();
      absl::MutexLock lock(&mu);
      ops.push_back(r->operation().operation_id());
    });
  }
  for (std::thread& t : threads) t.join();
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(ops.size(), 20u);
  std::set<uint64_t> nonces;
  for (const std::string& id : ops) {
    const v1::Operation op = WaitFinal(*replicas_[0], id);
    ASSERT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
    auto tx =
        anvil_->Call("eth_getTransactionByHash", Json::array({op.tx_hash()}));
    ASSERT_TRUE(tx.ok());
    nonces.insert(
        absl::Uint128Low64(evm::ParseQuantity((*tx)["nonce"]).value_or(0)));
  }
  std::set<uint64_t> want;
  for (uint64_t i = 0; i < 20; ++i) want.insert(before + i);
  EXPECT_EQ(nonces, want);
  EXPECT_EQ(Balance(to), absl::uint128(20'000'000'000'000'000ULL));
  std::printf("20 concurrent Submits from one wallet: %s\n",
              absl::FormatDuration(took).c_str());
}

TEST_F(SubmitE2eTest, UnansweredSendIsUnknownUntilPolled) {
  RpcProxy proxy(anvil_->port());
  // Each call to the node times out after 300 ms; the proxy answers sends
  // after 1 s, having forwarded them at once.
  auto w = StartWardend(proxy.url(), {"--chain-rpc-timeout-ms", "300",
                                      "--sweep-interval-ms", "600000"});
  ASSERT_NE(w, nullptr);
  const uint64_t before = Nonce("flaky_w");
  const std::string to = NewAddress();
  proxy.HoldSends(absl::Seconds(1));
  auto r = Call(*w, Submit("flaky", "ETH", kHundredthEth, to));
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::Operation unknown = r->operation();
  ASSERT_EQ(unknown.state(), v1::OPERATION_STATE_UNKNOWN) << unknown.error();
  EXPECT_EQ(unknown.tx_hash().size(), 66u);
  // The hold is kept: the transaction may be on chain.
  EXPECT_EQ(GetAuthorization(*w, unknown.authorization_id()).status(),
            v1::AUTHORIZATION_STATUS_HELD);
  bool audited = false;
  for (const std::string& body : OperationAudit()) {
    audited |=
        body.find(absl::StrCat(unknown.operation_id())) != std::string::npos &&
        body.find("UNKNOWN") != std::string::npos;
  }
  EXPECT_TRUE(audited);

  // It did reach the node, once (every retry carried the same bytes);
  // polling finds the receipt and settles.
  proxy.HoldSends(absl::ZeroDuration());
  const v1::Operation op = WaitFinal(*w, unknown.operation_id());
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  EXPECT_EQ(op.tx_hash(), unknown.tx_hash());
  EXPECT_EQ(GetAuthorization(*w, op.authorization_id()).status(),
            v1::AUTHORIZATION_STATUS_SETTLED);
  EXPECT_EQ(Nonce("flaky_w"), before + 1);
  EXPECT_EQ(Balance(to), absl::uint128(10'000'000'000'000'000ULL));
}

TEST_F(SubmitE2eTest, ALostSendIsBroadcastAgainByPolling) {
  RpcProxy proxy(anvil_->port());
  auto w = StartWardend(proxy.url(), {"--sweep-interval-ms", "600000"});
  ASSERT_NE(w, nullptr);
  const uint64_t before = Nonce("flaky_w");
  const std::string to = NewAddress();
  proxy.LoseSends(true);
  auto r = Call(*w, Submit("flaky", "ETH", kHundredthEth, to));
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::Operation lost = r->operation();
  ASSERT_EQ(lost.state(), v1::OPERATION_STATE_UNKNOWN) << lost.error();
  EXPECT_EQ(Nonce("flaky_w"), before);  // It never reached the node.

  // Polling sends the very same signed bytes: it lands once, as that hash.
  proxy.LoseSends(false);
  const v1::Operation op = WaitFinal(*w, lost.operation_id());
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  EXPECT_EQ(op.tx_hash(), lost.tx_hash());
  EXPECT_EQ(Nonce("flaky_w"), before + 1);
  EXPECT_EQ(Balance(to), absl::uint128(10'000'000'000'000'000ULL));
}

TEST_F(SubmitE2eTest, NodeDownMidStreamNeverDoubleSends) {
  RpcProxy proxy(anvil_->port());
  auto w = StartWardend(proxy.url(), {"--chain-rpc-timeout-ms", "1000",
                                      "--sweep-interval-ms", "600000"});
  ASSERT_NE(w, nullptr);
  const uint64_t before = Nonce("flaky_w");
  const std::string to = NewAddress();
  constexpr int kSubmits = 12;
  absl::Mutex mu;
  std::vector<v1::SubmitTransactionResponse> results;
  auto submit = [&](int i) {
    auto r = Call(*w, Submit("flaky", "ETH", "1000000000000000", to,
                             absl::StrCat("down-", i)));
    ASSERT_TRUE(r.ok()) << r.status();
    absl::MutexLock lock(&mu);
    results.push_back(*r);
  };
  // Three land; then the node goes away while the rest are in flight.
  for (int i = 0; i < 3; ++i) submit(i);
  std::vector<std::thread> threads;
  for (int i = 3; i < kSubmits; ++i) {
    threads.emplace_back([&, i] {
      absl::SleepFor(absl::Milliseconds(5) * i);
      submit(i);
    });
  }
  absl::SleepFor(absl::Milliseconds(30));
  proxy.Close();
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(results.size(), static_cast<size_t>(kSubmits));

  std::map<std::string, int> states;
  for (const auto& r : results) {
    ASSERT_TRUE(r.has_operation());
    states[v1::OperationState_Name(r.operation().state())]++;
  }
  EXPECT_GT(states["OPERATION_STATE_FAILED"], 0)
      << "no send found the node down";

  // The node is back: everything resolves, and what failed was never sent.
  proxy.Open();
  std::vector<std::string> ids;
  for (const auto& r : results) ids.push_back(r.operation().operation_id());
  const int confirmed = ResolveEach(*w, ids);
  EXPECT_GE(confirmed, 3);
  EXPECT_EQ(Nonce("flaky_w"), before + confirmed);
  EXPECT_EQ(Balance(to), absl::uint128(1'000'000'000'000'000ULL) * confirmed);
  for (const auto& [state, n] : states) {
    std::printf("node down mid-stream: %d answered %s\n", n, state.c_str());
  }
  std::printf("then %d of %d confirmed, the rest failed and released\n",
              confirmed, kSubmits);
}

TEST_F(SubmitE2eTest, AnvilStoppedMidStreamEndsUnknownOrFailedNeverTwice) {
  // Calls to the node time out after 300 ms; sweeps are left to the test.
  auto w = StartWardend(anvil_->url(), {"--chain-rpc-timeout-ms", "300",
                                        "--sweep-interval-ms", "600000"});
  ASSERT_NE(w, nullptr);
  const uint64_t before = Nonce("flaky_w");
  const std::string to = NewAddress();
  constexpr int kSubmits = 12;
  absl::Mutex mu;
  std::vector<v1::Operation> ops;
  // One lands first; the rest straddle the stop.
  auto warm = Call(*w, Submit("flaky", "ETH", "1000000000000000", to));
  ASSERT_TRUE(warm.ok()) << warm.status();
  ops.push_back(warm->operation());
  std::vector<std::thread> threads;
  for (int i = 1; i < kSubmits; ++i) {
    threads.emplace_back([&, i] {
      absl::SleepFor(absl::Milliseconds(4) * i);
      auto r = Call(*w, Submit("flaky", "ETH", "1000000000000000", to,
                               absl::StrCat("paused-", i)));
      ASSERT_TRUE(r.ok()) << r.status();
      absl::MutexLock lock(&mu);
      ops.push_back(r->operation());
    });
  }
  // The node stops answering (SIGSTOP: its socket still takes the
  // requests), then comes back.
  absl::SleepFor(absl::Milliseconds(25));
  anvil_->process().Signal(SIGSTOP);
  for (std::thread& t : threads) t.join();
  anvil_->process().Signal(SIGCONT);
  ASSERT_EQ(ops.size(), static_cast<size_t>(kSubmits));

  std::map<std::string, int> states;
  for (const v1::Operation& op : ops) {
    states[v1::OperationState_Name(op.state())]++;
    // Whatever was not known to be sent or refused keeps its hold.
    if (op.state() == v1::OPERATION_STATE_UNKNOWN) {
      EXPECT_EQ(GetAuthorization(*w, op.authorization_id()).status(),
                v1::AUTHORIZATION_STATUS_HELD);
    }
  }
  EXPECT_GT(
      states["OPERATION_STATE_UNKNOWN"] + states["OPERATION_STATE_FAILED"], 0);

  // Polling resolves each: landed once, or never sent and released.
  std::vector<std::string> ids;
  for (const v1::Operation& op : ops) ids.push_back(op.operation_id());
  const int confirmed = ResolveEach(*w, ids);
  EXPECT_GE(confirmed, 1);
  EXPECT_EQ(Nonce("flaky_w"), before + confirmed);
  EXPECT_EQ(Balance(to), absl::uint128(1'000'000'000'000'000ULL) * confirmed);
  for (const auto& [state, n] : states) {
    std::printf("anvil stopped mid-stream: %d answered %s\n", n, state.c_str());
  }
  std::printf("then %d of %d confirmed, the rest failed and released\n",
              confirmed, kSubmits);
}

TEST_F(SubmitE2eTest, ReplacedTransactionFailsAndReleasesItsHold) {
  ASSERT_TRUE(anvil_->Call("evm_setAutomine", Json::array({false})).ok());
  const std::string to = NewAddress();
  auto r = Call(*replicas_[0], Submit("flaky", "ETH", kHundredthEth, to));
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::Operation sent = r->operation();
  ASSERT_EQ(sent.state(), v1::OPERATION_STATE_SUBMITTED) << sent.error();

  // The wallet's owner replaces it in the pool: same nonce, higher fees.
  auto pending =
      anvil_->Call("eth_getTransactionByHash", Json::array({sent.tx_hash()}));
  ASSERT_TRUE(pending.ok() && pending->is_object());
  evm::Eip1559Tx tx;
  tx.chain_id = 31337;
  tx.nonce = absl::Uint128Low64(*evm::ParseQuantity((*pending)["nonce"]));
  tx.max_priority_fee_per_gas =
      *evm::ParseQuantity((*pending)["maxPriorityFeePerGas"]) * 2 + 1;
  tx.max_fee_per_gas = *evm::ParseQuantity((*pending)["maxFeePerGas"]) * 2 + 1;
  tx.gas_limit = 21000;
  tx.to = *evm::ParseAddress((*addresses_)["flaky_w"]);
  auto key = evm::PrivateKey::FromBytes(absl::HexStringToBytes(kFlakyKey));
  ASSERT_TRUE(key.ok());
  const std::string raw =
      evm::SignedEnvelope(tx, key->Sign(evm::SigningHash(tx)));
  auto replaced =
      anvil_->Call("eth_sendRawTransaction", Json::array({evm::Hex(raw)}));
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  ASSERT_TRUE(anvil_->Call("evm_mine", Json::array()).ok());
  ASSERT_TRUE(anvil_->Call("evm_setAutomine", Json::array({true})).ok());

  // Its nonce is used by the other one: it can never be mined, nothing of
  // it was spent, and the hold is released.
  const v1::Operation op = WaitFinal(*replicas_[1], sent.operation_id());
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_THAT(op.error(), HasSubstr("replaced or dropped"));
  EXPECT_EQ(GetAuthorization(*replicas_[0], op.authorization_id()).status(),
            v1::AUTHORIZATION_STATUS_VOIDED);
  EXPECT_EQ(Balance(to), 0);
}

TEST_F(SubmitE2eTest, UnsendableSubmitsAreRefusedBeforeAnyHold) {
  // USDC has no address on the wallet's chain in the bundle.
  auto r = Call(*replicas_[0], Submit("payer", "USDC", "1", NewAddress()));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("USDC has no address on chain"));
  r = Call(*replicas_[0], Submit("payer", "ETH", "1", "0x12"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("destination"));
  r = Call(*replicas_[0], Submit("payer", "ETH", "1", ""));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("destination"));
  v1::SubmitTransactionRequest bad_data =
      Submit("payer", "ETH", "1", NewAddress());
  bad_data.set_data("0xzz");
  r = Call(*replicas_[0], bad_data);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("data"));
  // None of them held anything.
  auto c = pg::Connect(pg_->url());
  ASSERT_TRUE(c.ok());
  int64_t decided = -1;
  ASSERT_TRUE(pg::Transact(**c, "read", [&](pqxx::work& w) {
                // Each asked for 1 base unit: at most 1 micro-dollar.
                // (Contract calls, which may move nothing, are another
                // test's.)
                decided = w.exec(
                               "SELECT count(*) FROM audit_events WHERE "
                               "type = 'authorization.decided' AND "
                               "agent_id = 'payer' AND amount_usd <= 1 AND "
                               "body NOT LIKE '%\"contract\":%'")[0][0]
                              .as<int64_t>();
              }).ok());
  EXPECT_EQ(decided, 0);
}

}  // namespace
}  // namespace warden::testing
