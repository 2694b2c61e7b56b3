// One agent, three vendors, end to end: a real `wardend` on Redis and
// Postgres sends through the MetaMask-, CDP- and Privy-style adapters to
// each vendor's fake (tests/fakes/), over loopback HTTP and the fake `mm`
// CLI. The agent's budget holds across all three; MetaMask 2FA holds a
// send until the owner answers; decommissioning freezes the wallets at
// every vendor; reconciliation reports spend made around the gateway.

#include <signal.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/http/signing.h"
#include "gmock/gmock.h"
#include "governance/postgres/pg.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/cdp/fake_cdp.h"
#include "tests/fakes/metamask/fake_metamask.h"
#include "tests/fakes/privy/fake_privy.h"
#include "tests/support/durable_stack_test.h"
#include "tests/support/wardend_process.h"
#include "warden/v1/audit.grpc.pb.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
using testing::DurableStackTest;
using testing::FakeCdp;
using testing::FakeMetaMask;
using testing::FakePrivy;
using testing::RunCommand;
using testing::TempDir;
using testing::WardendProcess;

constexpr uint64_t kBase = 8453;
constexpr char kUsdc[] = "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913";
constexpr char kTo[] = "0x00000000000000000000000000000000000000b0";

// Addresses by wallet id.
const std::map<std::string, std::string>& Addresses() {
  static const auto* a = new std::map<std::string, std::string>{
      {"trader_mm", "0x00000000000000000000000000000000000000a1"},
      {"trader_cdp", "0x00000000000000000000000000000000000000a2"},
      {"trader_privy", "0x00000000000000000000000000000000000000a3"},
      {"mfa_mm", "0x00000000000000000000000000000000000000a4"},
      {"rogue_mm", "0x00000000000000000000000000000000000000a5"},
      {"rogue_cdp", "0x00000000000000000000000000000000000000a6"},
      {"rogue_privy", "0x00000000000000000000000000000000000000a7"},
  };
  return *a;
}

std::string Wallet(const std::string& id, const std::string& vendor) {
  std::string out =
      absl::StrCat("{id: ", id, ", vendor: ", vendor,
                   ", chain: base, address: \"", Addresses().at(id), "\"");
  if (vendor == "privy") absl::StrAppend(&out, ", vendor_id: pw_", id);
  return out + "}";
}

class VendorsE2eTest : public DurableStackTest {
 protected:
  static void SetUpTestSuite() {
    DurableStackTest::SetUpTestSuite();
    if (HasFatalFailure()) return;

    // The vendors.
    auto cdp = FakeCdp::Start({.auto_confirm = true});
    ASSERT_TRUE(cdp.ok()) << cdp.status();
    cdp_ = cdp->release();
    auto privy = FakePrivy::Start();
    ASSERT_TRUE(privy.ok()) << privy.status();
    privy_ = privy->release();
    auto mm = FakeMetaMask::Start();
    ASSERT_TRUE(mm.ok()) << mm.status();
    mm_ = mm->release();
    mm_home_ = dir_->path() + "/mm-home";
    ASSERT_TRUE(mm_->PrepareHome(mm_home_).ok());

    // Privy wallets have an owner: every write is signed with its key.
    absl::StatusOr<http::SigningKey> owner = http::SigningKey::GenerateP256();
    ASSERT_TRUE(owner.ok());
    for (const char* id : {"trader_privy", "rogue_privy"}) {
      privy_->AddWallet({.id = absl::StrCat("pw_", id),
                         .address = Addresses().at(id),
                         .owner_public_key = *owner->PublicDerBase64()});
    }
    privy_->AddToken(kUsdc, "usdc", 6);
    for (const char* id : {"trader_cdp", "rogue_cdp"}) {
      cdp_->AddAccount(Addresses().at(id));
    }
    // MetaMask values transfers at one unit per base unit: above 500 USDC
    // the owner's 2FA is needed; mfa_mm needs it for anything above 10.
    mm_->AddWallet(Addresses().at("trader_mm"), absl::uint128(500'000'000));
    mm_->AddWallet(Addresses().at("mfa_mm"), absl::uint128(10'000'000));
    mm_->AddWallet(Addresses().at("rogue_mm"), absl::uint128(500'000'000));

    const std::string bundle = absl::StrCat(
        R"(
org: {id: vendorco}
departments: [{id: desk}]
agents:
  - id: trader
    department: desk
    limits: [{name: daily_max, usd: "1000", window: "rolling:24h"}]
    wallets:
      - )",
        Wallet("trader_mm", "metamask"), "\n      - ",
        Wallet("trader_cdp", "cdp"), "\n      - ",
        Wallet("trader_privy", "privy"), R"(
  - id: mfa_bot
    department: desk
    limits: [{name: daily_max, usd: "1000", window: "rolling:24h"}]
    wallets:
      - )",
        Wallet("mfa_mm", "metamask"), R"(
  - id: rogue
    department: desk
    limits: [{name: daily_max, usd: "1000", window: "rolling:24h"}]
    wallets:
      - )",
        Wallet("rogue_mm", "metamask"), "\n      - ",
        Wallet("rogue_cdp", "cdp"), "\n      - ",
        Wallet("rogue_privy", "privy"), R"(
assets:
  - {symbol: USDC, decimals: 6, price_usd: "1", chains: {base: ")",
        kUsdc, R"("}}
  - {symbol: ETH, decimals: 18, price_usd: "3000", chains: {base: native}}
)");
    args_ = {
        "--redis", redis_->url(), "--postgres", pg_->url("warden_app"),
        "--bundle", dir_->Write("bundle.yaml", bundle), "--shutdown-grace-ms",
        "1000", "--sweep-interval-ms", "200",
        // CDP answers with a hash; receipts come from the chain's node.
        "--chain-rpc", "base=" + cdp_->rpc_url(), "--metamask-mm", FAKE_MM_PATH,
        "--metamask-home", mm_home_, "--metamask-timeout-ms", "5000",
        "--cdp-base-url", cdp_->url(), "--cdp-api-key-id", cdp_->api_key_id(),
        "--cdp-api-key-secret-file",
        dir_->Write("cdp-key", cdp_->api_key_secret()),
        "--cdp-wallet-secret-file",
        dir_->Write("cdp-wallet", cdp_->wallet_secret()), "--privy-base-url",
        privy_->url(), "--privy-app-id", privy_->app_id(),
        "--privy-app-secret-file",
        dir_->Write("privy-secret", privy_->app_secret()),
        "--privy-authorization-key-file",
        dir_->Write("privy-key", "wallet-auth:" + *owner->PrivateDerBase64()),
        "--privy-list-token", absl::StrCat("base=", kUsdc),
        "--vendor-timeout-ms", "2000"};
    absl::StatusOr<std::unique_ptr<WardendProcess>> w =
        WardendProcess::Start(WARDEND_PATH, args_);
    ASSERT_TRUE(w.ok()) << w.status();
    wardend_ = w->release();
  }

  static void TearDownTestSuite() {
    delete wardend_;
    delete mm_;
    delete privy_;
    delete cdp_;
    DurableStackTest::TearDownTestSuite();
  }

  static v1::SubmitTransactionResponse Submit(const std::string& agent,
                                              const std::string& wallet,
                                              const std::string& usdc) {
    v1::SubmitTransactionRequest r;
    r.set_agent_id(agent);
    r.set_wallet_id(wallet);
    r.set_asset("USDC");
    r.set_amount(usdc);
    r.set_destination(kTo);
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::SubmitTransactionResponse out;
    grpc::Status st = wardend_->authz().SubmitTransaction(&c, r, &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out;
  }

  static v1::Operation Get(const std::string& id) {
    grpc::ClientContext c;
    v1::GetOperationRequest req;
    req.set_operation_id(id);
    v1::Operation op;
    grpc::Status st = wardend_->authz().GetOperation(&c, req, &op);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return op;
  }

  // Polls until the operation reaches `state` (or 10 s pass).
  static v1::Operation WaitFor(const std::string& id,
                               v1::OperationState state) {
    v1::Operation op;
    for (int i = 0; i < 200; ++i) {
      op = Get(id);
      if (op.state() == state) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return op;
  }

  static v1::AuthorizationStatus StatusOf(const std::string& authorization_id) {
    grpc::ClientContext c;
    v1::GetAuthorizationRequest req;
    req.set_authorization_id(authorization_id);
    v1::Authorization a;
    grpc::Status st = wardend_->authz().GetAuthorization(&c, req, &a);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return a.status();
  }

  // The audit trail's records of `type`, their bodies.
  static std::vector<std::string> Audited(const std::string& type) {
    std::vector<std::string> out;
    auto c = pg::Connect(pg_->url());
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE(pg::Transact(**c, "read", [&](pqxx::work& w) {
                  for (const pqxx::row& r : w.exec_params(
                           "SELECT body FROM audit_events WHERE type = $1 "
                           "ORDER BY seq",
                           type)) {
                    out.push_back(r[0].as<std::string>());
                  }
                }).ok());
    return out;
  }

  // The id of the wallet's one request awaiting 2FA at MetaMask.
  static std::string AwaitingMfa(const std::string& wallet) {
    std::string id;
    for (const FakeMetaMask::Request& r : mm_->Requests()) {
      if (r.address == Addresses().at(wallet) && r.status == "AWAITING_MFA") {
        id = r.polling_id;
      }
    }
    return id;
  }

  static inline FakeCdp* cdp_ = nullptr;
  static inline FakePrivy* privy_ = nullptr;
  static inline FakeMetaMask* mm_ = nullptr;
  static inline std::string mm_home_;
  static inline WardendProcess* wardend_ = nullptr;
  static inline std::vector<std::string> args_;
};

// The seed scenario across vendors: each vendor caps its own wallet, only
// Warden sees the agent's $1,000 across all three.
TEST_F(VendorsE2eTest, OneAgentsBudgetHoldsAcrossThreeVendors) {
  // $600 at CDP, through a 500 that the adapter retries with the same
  // idempotency key: one transaction, confirmed from its receipt, settled.
  cdp_->InjectFault({.kind = FakeCdp::Fault::Kind::kServerError,
                     .count = 1,
                     .method = "POST",
                     .path_prefix = "/platform/v2/evm/accounts"});
  v1::SubmitTransactionResponse cdp =
      Submit("trader", "trader_cdp", "600000000");
  ASSERT_EQ(cdp.authorization().decision(), v1::DECISION_ALLOW);
  v1::Operation op =
      WaitFor(cdp.operation().operation_id(), v1::OPERATION_STATE_CONFIRMED);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  EXPECT_EQ(StatusOf(op.authorization_id()), v1::AUTHORIZATION_STATUS_SETTLED);
  ASSERT_EQ(cdp_->Ledger().size(), 1u);
  EXPECT_EQ(cdp_->Ledger()[0].to, kUsdc);  // A token transfer.
  EXPECT_EQ(op.tx_hash(), cdp_->Ledger()[0].hash);

  // $600 more at Privy would make $1,200: denied, nothing reaches Privy.
  v1::SubmitTransactionResponse denied =
      Submit("trader", "trader_privy", "600000000");
  EXPECT_EQ(denied.authorization().decision(), v1::DECISION_DENY);
  EXPECT_FALSE(denied.has_operation());
  EXPECT_TRUE(privy_->ledger().empty());

  // $300 at MetaMask (within its own cap): sent, mined, settled.
  v1::SubmitTransactionResponse mm = Submit("trader", "trader_mm", "300000000");
  ASSERT_EQ(mm.authorization().decision(), v1::DECISION_ALLOW);
  ASSERT_EQ(mm_->Ledger().size(), 1u);
  ASSERT_TRUE(mm_->Confirm(mm_->Ledger()[0].hash).ok());
  op = WaitFor(mm.operation().operation_id(), v1::OPERATION_STATE_CONFIRMED);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  EXPECT_EQ(StatusOf(op.authorization_id()), v1::AUTHORIZATION_STATUS_SETTLED);

  // $100 at Privy reaches exactly $1,000; the Privy transaction confirms.
  v1::SubmitTransactionResponse privy =
      Submit("trader", "trader_privy", "100000000");
  ASSERT_EQ(privy.authorization().decision(), v1::DECISION_ALLOW);
  ASSERT_EQ(privy_->ledger().size(), 1u);
  ASSERT_TRUE(privy_->Confirm(privy_->ledger()[0].id).ok());
  op = WaitFor(privy.operation().operation_id(), v1::OPERATION_STATE_CONFIRMED);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  EXPECT_EQ(StatusOf(op.authorization_id()), v1::AUTHORIZATION_STATUS_SETTLED);

  // Not one more dollar, at any vendor.
  for (const char* wallet : {"trader_mm", "trader_cdp", "trader_privy"}) {
    EXPECT_EQ(Submit("trader", wallet, "1000000").authorization().decision(),
              v1::DECISION_DENY)
        << wallet;
  }
  EXPECT_EQ(cdp_->Ledger().size(), 1u);
  EXPECT_EQ(privy_->ledger().size(), 1u);
  EXPECT_EQ(mm_->Ledger().size(), 1u);
}

// A MetaMask send above the wallet's policy waits for the owner's 2FA,
// held in Warden all the while; approval settles it, rejection voids it.
TEST_F(VendorsE2eTest, MetaMaskTwoFactorHoldsThenSettlesOrVoids) {
  v1::SubmitTransactionResponse first = Submit("mfa_bot", "mfa_mm", "50000000");
  ASSERT_EQ(first.authorization().decision(), v1::DECISION_ALLOW);
  EXPECT_EQ(first.operation().state(), v1::OPERATION_STATE_AWAITING_APPROVAL)
      << first.operation().error();
  const std::string op_id = first.operation().operation_id();
  EXPECT_EQ(Get(op_id).state(), v1::OPERATION_STATE_AWAITING_APPROVAL);
  EXPECT_EQ(StatusOf(first.authorization().authorization_id()),
            v1::AUTHORIZATION_STATUS_HELD);
  const std::string mfa = AwaitingMfa("mfa_mm");
  ASSERT_FALSE(mfa.empty());

  ASSERT_TRUE(mm_->ApproveMfa(mfa).ok());
  v1::Operation op = WaitFor(op_id, v1::OPERATION_STATE_SUBMITTED);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_SUBMITTED) << op.error();
  ASSERT_TRUE(mm_->Confirm(mfa).ok());
  op = WaitFor(op_id, v1::OPERATION_STATE_CONFIRMED);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  EXPECT_EQ(op.tx_hash().size(), 66u);
  EXPECT_EQ(StatusOf(op.authorization_id()), v1::AUTHORIZATION_STATUS_SETTLED);

  v1::SubmitTransactionResponse second =
      Submit("mfa_bot", "mfa_mm", "60000000");
  ASSERT_EQ(second.operation().state(), v1::OPERATION_STATE_AWAITING_APPROVAL);
  ASSERT_TRUE(mm_->RejectMfa(AwaitingMfa("mfa_mm")).ok());
  op = WaitFor(second.operation().operation_id(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(StatusOf(op.authorization_id()), v1::AUTHORIZATION_STATUS_VOIDED);
}

// Spend made straight at the vendors is reported by `wardenctl reconcile`;
// decommissioning then freezes the agent's wallets at all three vendors,
// which refuse a direct send afterwards.
TEST_F(VendorsE2eTest, ShadowSpendIsReportedAndDecommissionReachesVendors) {
  const uint64_t wei = 1'000'000'000'000'000;  // 0.001 ETH.
  absl::StatusOr<FakePrivy::Transaction> shadow =
      privy_->DirectSend("pw_rogue_privy", kBase, kTo, wei);
  ASSERT_TRUE(shadow.ok()) << shadow.status();
  ASSERT_TRUE(privy_->Broadcast(shadow->id).ok());
  const std::string shadow_hash = privy_->Find(shadow->id)->hash;
  absl::StatusOr<std::string> cdp_shadow =
      cdp_->DirectSend(Addresses().at("rogue_cdp"), "base", kTo, wei);
  ASSERT_TRUE(cdp_shadow.ok()) << cdp_shadow.status();

  const std::vector<std::string> reconcile = {
      WARDENCTL_PATH, "--server", wardend_->address(), "--json", "reconcile",
      "--since",      "1h"};
  absl::StatusOr<testing::CommandResult> r =
      RunCommand(reconcile, absl::Seconds(60));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 4) << r->out << r->err;  // Findings.
  const Json report = Json::parse(r->out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << r->out;
  std::map<std::string, std::string> shadows;  // tx -> wallet.
  for (const Json& f : report["findings"]) {
    if (f["kind"] == "shadow_spend") shadows[f["tx_hash"]] = f["wallet_id"];
  }
  EXPECT_EQ(shadows[shadow_hash], "rogue_privy") << r->out;
  EXPECT_EQ(shadows[*cdp_shadow], "rogue_cdp") << r->out;
  EXPECT_EQ(report["wallets_checked"].get<int>(), 7) << r->out;
  EXPECT_GE(report["audited"].get<int>(), 2);
  // The findings are audit records; a second run records nothing new.
  r = RunCommand(reconcile, absl::Seconds(60));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Json::parse(r->out)["audited"], 0) << r->out;
  // Warden's own spends are not findings.
  for (const Json& f : report["findings"]) {
    EXPECT_THAT(f["wallet_id"].get<std::string>(), HasSubstr("rogue")) << f;
  }

  grpc::ClientContext c;
  v1::DecommissionAgentRequest req;
  req.set_agent_id("rogue");
  req.set_reason("bypassed the gateway");
  v1::FreezeResponse frozen;
  grpc::Status st = wardend_->admin().DecommissionAgent(&c, req, &frozen);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(frozen.vendor_results_size(), 3);
  // CDP and Privy refuse; MetaMask cannot, and says so: its owner's 2FA
  // now holds every spend.
  for (const v1::VendorFreeze& v : frozen.vendor_results()) {
    EXPECT_EQ(v.outcome(), v.vendor() == "metamask"
                               ? v1::VendorFreeze::OWNER_APPROVAL
                               : v1::VendorFreeze::DONE)
        << v.wallet_id() << ": " << v.reason();
  }
  int audited_freezes = 0;
  for (const std::string& body : Audited("wallet.vendor_freeze")) {
    audited_freezes +=
        body.find("wallet/rogue_") != std::string::npos &&
        (body.find(": done (bypassed the gateway)") != std::string::npos ||
         body.find(": owner approval: ") != std::string::npos);
  }
  EXPECT_EQ(audited_freezes, 3);

  // Each vendor shows the freeze and refuses a send made around Warden.
  EXPECT_TRUE(cdp_->AccountPolicy(Addresses().at("rogue_cdp")).has_value());
  EXPECT_FALSE(
      cdp_->DirectSend(Addresses().at("rogue_cdp"), "base", kTo, wei).ok());
  EXPECT_TRUE(privy_->RefusesSend("pw_rogue_privy", kTo, wei));
  absl::StatusOr<FakePrivy::Transaction> refused =
      privy_->DirectSend("pw_rogue_privy", kBase, kTo, wei);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(mm_->IsFrozen(Addresses().at("rogue_mm")));
  // MetaMask's strongest control: the agent's own `mm` send waits for the
  // owner's 2FA instead of moving money.
  const size_t mm_before = mm_->Ledger().size();
  r = RunCommand({"/usr/bin/env", "HOME=" + mm_home_, FAKE_MM_PATH, "wallet",
                  "select", Addresses().at("rogue_mm"), "--format", "json"},
                 absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  r = RunCommand(
      {"/usr/bin/env", "HOME=" + mm_home_, FAKE_MM_PATH, "wallet",
       "send-transaction", "--chain-id", "8453", "--payload",
       absl::StrCat(R"({"to":")", kTo, R"(","value":"0x38d7ea4c68000"})"),
       "--format", "json"},
      absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->out, HasSubstr("AWAITING_MFA")) << r->out << r->err;
  EXPECT_EQ(mm_->Ledger().size(), mm_before);
  // And Warden refuses the agent outright.
  EXPECT_EQ(Submit("rogue", "rogue_cdp", "1000000").authorization().decision(),
            v1::DECISION_DENY);
}

// With --reconcile-interval-ms, a replica finds shadow spend by itself and
// records it in the audit trail.
TEST_F(VendorsE2eTest, PeriodicReconciliationRecordsShadowSpend) {
  absl::StatusOr<FakePrivy::Transaction> shadow =
      privy_->DirectSend("pw_trader_privy", kBase, kTo, 12345);
  ASSERT_TRUE(shadow.ok()) << shadow.status();
  ASSERT_TRUE(privy_->Broadcast(shadow->id).ok());
  const std::string hash = privy_->Find(shadow->id)->hash;
  std::vector<std::string> args = args_;
  args.insert(args.end(), {"--reconcile-interval-ms", "200"});
  absl::StatusOr<std::unique_ptr<WardendProcess>> replica =
      WardendProcess::Start(WARDEND_PATH, args);
  ASSERT_TRUE(replica.ok()) << replica.status();
  int found = 0;
  for (int i = 0; i < 100 && found == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    for (const std::string& body : Audited("reconcile.finding")) {
      found += body.find("shadow_spend wallet/trader_privy tx " + hash) !=
               std::string::npos;
    }
  }
  EXPECT_EQ(found, 1);
  // Later rounds find it again but do not record it again.
  absl::SleepFor(absl::Milliseconds(600));
  found = 0;
  for (const std::string& body : Audited("reconcile.finding")) {
    found += body.find(hash) != std::string::npos;
  }
  EXPECT_EQ(found, 1);
}

// A MetaMask freeze keeps what to restore in Warden, not in MetaMask: after
// wardend restarts, the unfreeze asks MetaMask for the exact earlier policy
// (loosening waits for the owner's 2FA, which then applies it).
TEST_F(VendorsE2eTest, MetaMaskUnfreezeAfterARestartRestoresTheExactPolicy) {
  const std::string address = Addresses().at("mfa_mm");
  const std::string before = mm_->PolicyYaml(address);
  const std::string mode_before = mm_->TradingMode(address);
  ASSERT_FALSE(before.empty());
  v1::ScopeRef scope;
  scope.set_wallet_id("mfa_mm");
  {
    grpc::ClientContext c;
    v1::FreezeScopeRequest req;
    *req.mutable_scope() = scope;
    req.set_reason("restart test");
    v1::FreezeResponse frozen;
    ASSERT_TRUE(wardend_->admin().FreezeScope(&c, req, &frozen).ok());
    ASSERT_EQ(frozen.vendor_results_size(), 1);
    EXPECT_EQ(frozen.vendor_results(0).outcome(),
              v1::VendorFreeze::OWNER_APPROVAL)
        << frozen.vendor_results(0).reason();
  }
  EXPECT_NE(mm_->PolicyYaml(address), before);

  wardend_->process().Signal(SIGTERM);
  ASSERT_TRUE(wardend_->process().Wait(absl::Seconds(30)).ok());
  delete wardend_;
  wardend_ = nullptr;
  absl::StatusOr<std::unique_ptr<WardendProcess>> w =
      WardendProcess::Start(WARDEND_PATH, args_);
  ASSERT_TRUE(w.ok()) << w.status();
  wardend_ = w->release();

  grpc::ClientContext c;
  v1::FreezeScopeRequest req;
  *req.mutable_scope() = scope;
  req.set_reason("resolved");
  v1::FreezeResponse thawed;
  ASSERT_TRUE(wardend_->admin().UnfreezeScope(&c, req, &thawed).ok());
  ASSERT_EQ(thawed.vendor_results_size(), 1);
  // Loosening at MetaMask waits for the owner: approve what was asked.
  std::string pending;
  for (const FakeMetaMask::Request& r : mm_->Requests()) {
    if (r.address == address && r.status == "pending_approval") {
      pending = r.polling_id;
    }
  }
  if (!pending.empty()) {
    EXPECT_EQ(thawed.vendor_results(0).outcome(), v1::VendorFreeze::FAILED);
    EXPECT_THAT(thawed.vendor_results(0).reason(), HasSubstr("2FA"));
    ASSERT_TRUE(mm_->ApproveMfa(pending).ok());
  }
  EXPECT_EQ(mm_->PolicyYaml(address), before);
  EXPECT_EQ(mm_->TradingMode(address), mode_before);
}

}  // namespace
}  // namespace warden
