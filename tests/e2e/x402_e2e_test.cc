// x402 payments governed by Warden, end to end, against the real x402
// packages from npm: an EIP-3009 token on anvil (committed bytecode,
// tests/x402/contracts), a facilitator built from @x402/core and
// @x402/evm settling on anvil, and a resource server with @x402/express
// (tests/x402/harness.mjs). wardend runs on Redis and Postgres with a
// local keystore; `wardenctl pay` does the whole flow. A payment within
// budget is settled on chain and its hold settles; one over budget is
// denied and nothing is signed; a signed payment never used is voided at
// its deadline and its budget released; a replayed 402 does not pay twice;
// hosts off the x402_domains allowlist and bad requirements are refused.

#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "governance/postgres/pg.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/anvil_node.h"
#include "tests/support/durable_stack_test.h"
#include "tests/support/wardend_process.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kPassword[] = "correct horse battery staple\n";
// What /paid costs: 10000 base units of the 6-decimal token, $0.01.
constexpr uint64_t kPrice = 10'000;
// Tokens each wallet starts with.
constexpr uint64_t kMinted = 1'000'000'000;

class X402E2eTest : public DurableStackTest {
 protected:
  static void SetUpTestSuite() {
    DurableStackTest::SetUpTestSuite();
    if (HasFatalFailure()) return;
    const std::string harness_dir =
        std::string(WARDEN_SOURCE_DIR) + "/tests/x402";
    absl::StatusOr<CommandResult> npm = RunCommand(
        {"/bin/bash", harness_dir + "/install.sh"}, absl::Minutes(5));
    ASSERT_TRUE(npm.ok()) << npm.status();
    ASSERT_EQ(npm->exit_code, 0) << npm->err;

    auto anvil = AnvilNode::Start();
    ASSERT_TRUE(anvil.ok()) << anvil.status();
    anvil_ = anvil->release();

    password_file_ = dir_->Write("password", kPassword);
    keystore_ = dir_->path() + "/keystore";
    for (const char* wallet :
         {"buyer_w", "tight_w", "closed_w", "racer_w", "stalled_w"}) {
      absl::StatusOr<CommandResult> created = RunCommand(
          {WARDENCTL_PATH, "wallet", "create-local", "--keystore", keystore_,
           "--password-file", password_file_, "--scrypt-n", "1024"},
          absl::Seconds(60));
      ASSERT_TRUE(created.ok());
      ASSERT_EQ(created->exit_code, 0) << created->err;
      (*addresses_)[wallet] =
          std::string(absl::StripAsciiWhitespace(created->out));
    }
    pay_to_ = "0x00000000000000000000000000000000000e4020";
    std::vector<std::string> args = {"/usr/bin/env",
                                     "node",
                                     harness_dir + "/harness.mjs",
                                     "--rpc",
                                     anvil_->url(),
                                     "--pay-to",
                                     pay_to_,
                                     "--price",
                                     absl::StrCat(kPrice),
                                     "--mint",
                                     absl::StrCat(kMinted)};
    for (const auto& [wallet, address] : *addresses_) {
      args.insert(args.end(), {"--mint-to", address});
    }
    auto harness = Subprocess::Start(args);
    ASSERT_TRUE(harness.ok()) << harness.status();
    harness_ = harness->release();
    absl::StatusOr<std::string> line =
        harness_->WaitForLine("\"resourceUrl\"", absl::Seconds(90));
    ASSERT_TRUE(line.ok()) << line.status();
    const Json up = Json::parse(*line);
    token_ = up["token"].get<std::string>();
    resource_url_ = up["resourceUrl"].get<std::string>();
    network_ = up["network"].get<std::string>();

    // Each agent pays from its own wallet; `domains` empty: no list.
    auto agent = [](const std::string& id, const std::string& daily_usd,
                    const std::string& domains) {
      return absl::StrCat(
          "  - id: ", id, "\n    department: research\n",
          "    limits: [{name: daily, usd: \"", daily_usd,
          "\", window: \"rolling:24h\"}]\n",
          domains.empty()
              ? ""
              : absl::StrCat("    rules: {x402_domains: [", domains, "]}\n"),
          "    wallets: [{id: ", id, "_w, vendor: local, chain: anvil, ",
          "address: \"", (*addresses_)[id + "_w"], "\"}]\n");
    };
    const std::string bundle = absl::StrCat(
        "org: {id: payco}\ndepartments: [{id: research}]\nagents:\n",
        agent("buyer", "0.05", "\"127.0.0.1\""),
        agent("tight", "0.005", "\"*.example.com\", \"127.0.0.1\""),
        agent("racer", "1", "\"127.0.0.1\""),
        agent("stalled", "1", "\"127.0.0.1\""), agent("closed", "1", ""),
        "assets:\n  - {symbol: WUSD, decimals: 6, price_usd: \"1\", chains: "
        "{anvil: \"",
        token_, "\"}}\n");
    bundle_ = dir_->Write("bundle.yaml", bundle);
    absl::StatusOr<std::unique_ptr<WardendProcess>> w = WardendProcess::Start(
        WARDEND_PATH,
        {"--redis", redis_->url(), "--postgres", pg_->url("warden_app"),
         "--bundle", bundle_, "--keystore", keystore_,
         "--keystore-password-file", password_file_, "--chain-rpc",
         "anvil=" + anvil_->url(), "--chain-rpc-timeout-ms", "2000",
         "--shutdown-grace-ms", "1000"});
    ASSERT_TRUE(w.ok()) << w.status();
    wardend_ = w->release();
  }
  static void TearDownTestSuite() {
    delete wardend_;
    wardend_ = nullptr;
    delete harness_;
    harness_ = nullptr;
    delete anvil_;
    anvil_ = nullptr;
    DurableStackTest::TearDownTestSuite();
  }

  // The requirement /paid asks for, as PayX402 takes it.
  static v1::PayX402Request Request(const std::string& agent,
                                    const std::string& key) {
    v1::PayX402Request req;
    req.set_agent_id(agent);
    req.set_wallet_id(agent + "_w");
    req.set_resource(resource_url_);
    req.set_idempotency_key(key);
    v1::X402PaymentRequirements* r = req.mutable_requirements();
    r->set_scheme("exact");
    r->set_network(network_);
    r->set_asset(token_);
    r->set_amount(absl::StrCat(kPrice));
    r->set_pay_to(pay_to_);
    r->set_max_timeout_seconds(60);
    r->set_token_name("Warden Test USD");
    r->set_token_version("2");
    return req;
  }

  static absl::StatusOr<v1::PayX402Response> Pay(
      const v1::PayX402Request& req) {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::PayX402Response out;
    grpc::Status st = wardend_->authz().PayX402(&c, req, &out);
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                          st.error_message());
    }
    return out;
  }

  static absl::StatusOr<CommandResult> WardenctlPay(
      const std::string& agent, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {
        WARDENCTL_PATH, "--server", wardend_->address(), "--json",    "pay",
        "--agent",      agent,      "--wallet",          agent + "_w"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(resource_url_);
    return RunCommand(args, absl::Seconds(120));
  }

  static absl::uint128 PaidTo() {
    absl::StatusOr<absl::uint128> b = anvil_->TokenBalance(token_, pay_to_);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.value_or(0);
  }

  static v1::Operation GetOperation(const std::string& id) {
    grpc::ClientContext c;
    v1::GetOperationRequest req;
    req.set_operation_id(id);
    v1::Operation op;
    grpc::Status st = wardend_->authz().GetOperation(&c, req, &op);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return op;
  }

  // Polls GetOperation (bounded, 30 s) until the operation is final.
  static v1::Operation WaitFinal(const std::string& id) {
    v1::Operation op;
    for (int i = 0; i < 300; ++i) {
      op = GetOperation(id);
      if (op.state() == v1::OPERATION_STATE_CONFIRMED ||
          op.state() == v1::OPERATION_STATE_FAILED) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return op;
  }

  static v1::Authorization GetAuthorization(const std::string& id) {
    grpc::ClientContext c;
    v1::GetAuthorizationRequest req;
    req.set_authorization_id(id);
    v1::Authorization a;
    grpc::Status st = wardend_->authz().GetAuthorization(&c, req, &a);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return a;
  }

  // The agent's daily limit now: {used, held, settled} in USD.
  static std::map<std::string, std::string> Budget(const std::string& agent) {
    grpc::ClientContext c;
    v1::BudgetStatusRequest req;
    req.set_scope("agent/" + agent);
    v1::BudgetStatusResponse r;
    grpc::Status st = wardend_->authz().BudgetStatus(&c, req, &r);
    EXPECT_TRUE(st.ok()) << st.error_message();
    for (const v1::LimitStatus& l : r.limits()) {
      if (l.scope() == "agent/" + agent && l.name() == "daily") {
        return {{"used", l.used_usd()},
                {"held", l.held_usd()},
                {"settled", l.settled_usd()}};
      }
    }
    ADD_FAILURE() << "no daily limit for " << agent;
    return {};
  }

  // "0.01" -> 1.
  static int64_t UsdCents(const std::string& usd) {
    const size_t point = usd.find('.');
    return std::stoll(usd.substr(0, point)) * 100 +
           std::stoll((usd.substr(point + 1) + "00").substr(0, 2));
  }

  static std::string NewKey() {
    static std::atomic<int> n{0};
    return absl::StrCat("x402-", ++n);
  }

  static inline AnvilNode* anvil_ = nullptr;
  static inline Subprocess* harness_ = nullptr;
  static inline WardendProcess* wardend_ = nullptr;
  static inline std::string password_file_, keystore_, bundle_, token_,
      resource_url_, network_, pay_to_;
  static inline auto* addresses_ = new std::map<std::string, std::string>;
};

TEST_F(X402E2eTest, WithinBudgetIsSettledOnChainAndTheHoldSettles) {
  const absl::uint128 before = PaidTo();
  absl::StatusOr<CommandResult> r = WardenctlPay("buyer");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->out << r->err;
  const Json out = Json::parse(r->out);
  EXPECT_EQ(out["decision"], "ALLOW");
  EXPECT_EQ(out["status"], 200);
  EXPECT_EQ(out["paid"], true);
  EXPECT_THAT(out["body"].get<std::string>(), HasSubstr("\"ok\":true"));
  // The facilitator moved exactly the price from the agent's wallet.
  EXPECT_EQ(PaidTo(), before + kPrice);

  // The token reports the authorization used: the operation confirms with
  // the transaction that used it, and the hold settles at the price.
  const v1::Operation op = WaitFinal(out["operation_id"]);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CONFIRMED) << op.error();
  ASSERT_EQ(op.tx_hash().size(), 66u);
  auto receipt = anvil_->Receipt(op.tx_hash());
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ((*receipt)["status"], "0x1");
  const v1::Authorization a = GetAuthorization(out["authorization_id"]);
  EXPECT_EQ(a.status(), v1::AUTHORIZATION_STATUS_SETTLED);
  EXPECT_EQ(a.tx_hash(), op.tx_hash());
  EXPECT_EQ(a.settled_amount_usd(), "0.01");
  EXPECT_EQ(absl::AsciiStrToLower(a.destination()), pay_to_);
  EXPECT_EQ(a.asset(), "WUSD");
}

TEST_F(X402E2eTest, OverBudgetIsDeniedAndNothingIsSigned) {
  const absl::uint128 before = PaidTo();
  // tight may spend $0.005 a day; the resource costs $0.01.
  absl::StatusOr<CommandResult> r = WardenctlPay("tight");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 6) << r->out << r->err;
  const Json out = Json::parse(r->out);
  EXPECT_EQ(out["decision"], "DENY");
  EXPECT_EQ(out["paid"], false);
  EXPECT_THAT(out["reason"].get<std::string>(), HasSubstr("daily"));
  EXPECT_FALSE(out.contains("status")) << "the server was paid: " << out;
  EXPECT_EQ(PaidTo(), before);

  absl::StatusOr<v1::PayX402Response> direct = Pay(Request("tight", NewKey()));
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(direct->authorization().decision(), v1::DECISION_DENY);
  EXPECT_FALSE(direct->has_payment());
  EXPECT_FALSE(direct->has_operation());
  EXPECT_EQ(Budget("tight")["used"], "0.00");
}

TEST_F(X402E2eTest, AnUnusedPaymentIsVoidedAtItsDeadline) {
  v1::PayX402Request req = Request("buyer", NewKey());
  req.mutable_requirements()->set_max_timeout_seconds(2);
  const std::string used_before = Budget("buyer")["used"];
  absl::StatusOr<v1::PayX402Response> paid = Pay(req);
  ASSERT_TRUE(paid.ok()) << paid.status();
  ASSERT_EQ(paid->authorization().decision(), v1::DECISION_ALLOW);
  ASSERT_TRUE(paid->has_payment());
  const v1::X402Authorization& p = paid->payment();
  EXPECT_EQ(absl::AsciiStrToLower(p.from()),
            absl::AsciiStrToLower((*addresses_)["buyer_w"]));
  EXPECT_EQ(p.value(), absl::StrCat(kPrice));
  EXPECT_EQ(p.valid_after(), "0");
  const int64_t valid_before = std::stoll(p.valid_before());
  EXPECT_LE(valid_before, absl::ToUnixSeconds(absl::Now()) + 3);
  EXPECT_EQ(p.nonce().size(), 66u);
  EXPECT_EQ(p.signature().size(), 132u);
  EXPECT_EQ(paid->operation().state(), v1::OPERATION_STATE_SUBMITTED);
  // Held while it could still be used.
  EXPECT_EQ(Budget("buyer")["held"], "0.01");

  // Past its deadline, once the chain has a block after it, it can never
  // be used: the operation fails and the hold is voided.
  while (absl::ToUnixSeconds(absl::Now()) <= valid_before) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(anvil_->Call("evm_mine", Json::array()).ok());
  const v1::Operation op = WaitFinal(paid->operation().operation_id());
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_THAT(op.error(), HasSubstr("expired unused"));
  EXPECT_EQ(GetAuthorization(paid->authorization().authorization_id()).status(),
            v1::AUTHORIZATION_STATUS_VOIDED);
  EXPECT_EQ(Budget("buyer")["held"], "0.00");
  EXPECT_EQ(Budget("buyer")["used"], used_before);
  // The trail names the payment by its nonce, and never keeps its
  // signature (a payment anyone holding it could make until it expires).
  std::string trail;
  auto c = pg::Connect(pg_->url());
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(pg::Transact(**c, "read", [&](pqxx::work& w) {
                for (const pqxx::row& r :
                     w.exec("SELECT body FROM audit_events WHERE type = "
                            "'operation.updated'")) {
                  trail += r[0].as<std::string>();
                }
              }).ok());
  EXPECT_THAT(trail, HasSubstr(absl::StrCat("x402 nonce ", p.nonce())));
  EXPECT_EQ(trail.find(p.signature().substr(2)), std::string::npos);
  // A replay of the expired payment signs nothing new.
  absl::StatusOr<v1::PayX402Response> again = Pay(req);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->authorization().replayed());
  EXPECT_FALSE(again->has_payment());
}

TEST_F(X402E2eTest, AReplayedPaymentDoesNotPayTwice) {
  const std::string key = NewKey();
  const absl::uint128 before = PaidTo();
  const std::map<std::string, std::string> budget_before = Budget("buyer");
  absl::StatusOr<CommandResult> first =
      WardenctlPay("buyer", {"--idempotency-key", key});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->exit_code, 0) << first->out << first->err;
  EXPECT_EQ(PaidTo(), before + kPrice);
  const Json one = Json::parse(first->out);

  // The same command again: Warden answers the same signed payment (one
  // nonce), which the token refuses to use twice.
  absl::StatusOr<CommandResult> second =
      WardenctlPay("buyer", {"--idempotency-key", key});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->exit_code, 6) << second->out << second->err;
  const Json two = Json::parse(second->out);
  EXPECT_EQ(two["replayed"], true);
  EXPECT_EQ(two["authorization_id"], one["authorization_id"]);
  EXPECT_EQ(two["paid"], false);
  // Either the server refused the same payment again (the nonce is used),
  // or Warden saw it settled first and signed nothing.
  if (two.contains("status")) {
    EXPECT_EQ(two["refusal"], "invalid_exact_evm_nonce_already_used") << two;
  } else {
    EXPECT_EQ(two["decision"], "DENY") << two;
  }
  EXPECT_EQ(PaidTo(), before + kPrice);

  // Concurrent PayX402 calls with one key: one authorization, one nonce.
  const std::string racing = NewKey();
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<v1::PayX402Response>> answers(
      8, absl::UnknownError("not run"));
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back(
        [&answers, i, &racing] { answers[i] = Pay(Request("buyer", racing)); });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> nonces, ids;
  for (const auto& a : answers) {
    ASSERT_TRUE(a.ok()) << a.status();
    ids.insert(a->authorization().authorization_id());
    if (a->has_payment()) nonces.insert(a->payment().nonce());
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(nonces.size(), 1u);
  // Charged once for the first payment (settled), and held once for the
  // race's.
  EXPECT_EQ(WaitFinal(one["operation_id"].get<std::string>()).state(),
            v1::OPERATION_STATE_CONFIRMED);
  const std::map<std::string, std::string> after = Budget("buyer");
  EXPECT_EQ(after.at("held"), "0.01");
  EXPECT_EQ(UsdCents(after.at("settled")),
            UsdCents(budget_before.at("settled")) + 1);
}

// The node stopped (SIGSTOP, not dead): nothing is signed, the hold is
// kept and the call is UNAVAILABLE; the retry with the same key signs once
// the node answers.
TEST_F(X402E2eTest, AStoppedNodeSignsNothingAndKeepsTheHold) {
  const std::string key = NewKey();
  anvil_->process().Signal(SIGSTOP);
  absl::Cleanup resume = [] { anvil_->process().Signal(SIGCONT); };
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::PayX402Response> stalled = Pay(Request("stalled", key));
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  EXPECT_EQ(stalled.status().code(), absl::StatusCode::kUnavailable)
      << stalled.status();
  EXPECT_THAT(stalled.status().message(), HasSubstr("is still held"));
  EXPECT_EQ(Budget("stalled")["held"], "0.01");
  std::move(resume).Invoke();
  absl::StatusOr<v1::PayX402Response> retried = Pay(Request("stalled", key));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(retried->authorization().replayed());
  EXPECT_EQ(retried->authorization().decision(), v1::DECISION_ALLOW);
  EXPECT_TRUE(retried->has_payment());
  EXPECT_EQ(Budget("stalled")["held"], "0.01");
}

// A freeze that returns while a payment waits on a stopped node: no
// signature is ever handed out, and the hold is voided.
TEST_F(X402E2eTest, NothingIsSignedThroughAFreeze) {
  anvil_->process().Signal(SIGSTOP);
  absl::Cleanup resume = [] { anvil_->process().Signal(SIGCONT); };
  absl::StatusOr<v1::PayX402Response> paid = absl::UnknownError("not run");
  std::thread paying([&paid] { paid = Pay(Request("racer", NewKey())); });
  absl::SleepFor(absl::Milliseconds(300));
  {
    grpc::ClientContext c;
    v1::FreezeScopeRequest freeze;
    freeze.mutable_scope()->set_agent_id("racer");
    freeze.set_reason("compromised");
    v1::FreezeResponse frozen;
    ASSERT_TRUE(wardend_->admin().FreezeScope(&c, freeze, &frozen).ok());
  }
  std::move(resume).Invoke();
  paying.join();
  if (paid.ok()) {
    // Frozen while signing (the adapter refused, or the signature was
    // dropped), or before the hold.
    EXPECT_FALSE(paid->has_payment()) << paid->DebugString();
    EXPECT_EQ(paid->authorization().decision(), v1::DECISION_DENY);
    if (paid->has_operation()) {
      EXPECT_EQ(paid->operation().state(), v1::OPERATION_STATE_FAILED);
    }
  } else {
    EXPECT_EQ(paid.status().code(), absl::StatusCode::kUnavailable)
        << paid.status();
  }
  EXPECT_EQ(Budget("racer")["used"], "0.00");
}

TEST_F(X402E2eTest, HostsOffTheAllowlistAreDenied) {
  // No x402_domains on closed's path: x402 payments are off.
  absl::StatusOr<v1::PayX402Response> closed = Pay(Request("closed", NewKey()));
  ASSERT_TRUE(closed.ok()) << closed.status();
  EXPECT_EQ(closed->authorization().decision(), v1::DECISION_DENY);
  ASSERT_GT(closed->authorization().violations_size(), 0);
  EXPECT_EQ(closed->authorization().violations(0).code(),
            "X402_DOMAIN_NOT_ALLOWED");
  EXPECT_FALSE(closed->has_payment());
  // The same server under another name: not the listed 127.0.0.1.
  v1::PayX402Request other = Request("buyer", NewKey());
  std::string url = resource_url_;
  url.replace(url.find("127.0.0.1"), 9, "localhost");
  other.set_resource(url);
  absl::StatusOr<v1::PayX402Response> renamed = Pay(other);
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(renamed->authorization().decision(), v1::DECISION_DENY);
  EXPECT_THAT(renamed->authorization().reason(), HasSubstr("\"localhost\""));
  EXPECT_FALSE(renamed->has_payment());
}

TEST_F(X402E2eTest, BadRequirementsAreRefusedNamingTheField) {
  struct Case {
    const char* field;
    std::function<void(v1::PayX402Request*)> edit;
    absl::StatusCode code;
  };
  const std::string huge(1 << 20, 'a');
  const std::vector<Case> cases = {
      {"requirements.scheme",
       [](auto* r) { r->mutable_requirements()->set_scheme("upto"); },
       absl::StatusCode::kInvalidArgument},
      {"requirements.network",
       [](auto* r) { r->mutable_requirements()->set_network("solana"); },
       absl::StatusCode::kInvalidArgument},
      {"requirements.network",
       [](auto* r) { r->mutable_requirements()->set_network("eip155:8453"); },
       absl::StatusCode::kFailedPrecondition},
      {"requirements.network",
       [](auto* r) {
         r->mutable_requirements()->set_network("eip155:18446744073709551616");
       },
       absl::StatusCode::kInvalidArgument},
      {"requirements.asset",
       [](auto* r) {
         r->mutable_requirements()->set_asset(
             "0x00000000000000000000000000000000000000aa");
       },
       absl::StatusCode::kFailedPrecondition},
      {"requirements.asset",
       [](auto* r) { r->mutable_requirements()->set_asset("0x1234"); },
       absl::StatusCode::kInvalidArgument},
      {"requirements.amount",
       [](auto* r) {
         r->mutable_requirements()->set_amount(
             "340282366920938463463374607431768211456");
       },
       absl::StatusCode::kInvalidArgument},
      {"requirements.amount",
       [](auto* r) { r->mutable_requirements()->set_amount("-1"); },
       absl::StatusCode::kInvalidArgument},
      {"requirements.amount",
       [](auto* r) { r->mutable_requirements()->set_amount("0"); },
       absl::StatusCode::kInvalidArgument},
      {"requirements.pay_to",
       [](auto* r) { r->mutable_requirements()->set_pay_to("0xnope"); },
       absl::StatusCode::kInvalidArgument},
      {"requirements.max_timeout_seconds",
       [](auto* r) { r->mutable_requirements()->set_max_timeout_seconds(0); },
       absl::StatusCode::kInvalidArgument},
      {"requirements.max_timeout_seconds",
       [](auto* r) {
         r->mutable_requirements()->set_max_timeout_seconds(INT64_MAX);
       },
       absl::StatusCode::kInvalidArgument},
      {"requirements.token_name",
       [](auto* r) { r->mutable_requirements()->set_token_name("a\nb"); },
       absl::StatusCode::kInvalidArgument},
      {"requirements.token_version",
       [&huge](auto* r) { r->mutable_requirements()->set_token_version(huge); },
       absl::StatusCode::kInvalidArgument},
      {"resource",
       [&huge](auto* r) { r->set_resource("https://a.com/" + huge); },
       absl::StatusCode::kInvalidArgument},
      {"resource", [](auto* r) { r->set_resource("file:///etc/passwd"); },
       absl::StatusCode::kInvalidArgument},
      {"wallet_id", [](auto* r) { r->set_wallet_id("tight_w"); },
       absl::StatusCode::kInvalidArgument},
  };
  const std::string used_before = Budget("buyer")["used"];
  for (const Case& c : cases) {
    v1::PayX402Request req = Request("buyer", NewKey());
    c.edit(&req);
    absl::StatusOr<v1::PayX402Response> r = Pay(req);
    EXPECT_EQ(r.status().code(), c.code) << c.field << ": " << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(c.field)) << r.status();
  }
  // Nothing was held by any of them.
  EXPECT_EQ(Budget("buyer")["used"], used_before);
}

// GetOperation asks the node for a payment's use; with the node stopped
// each such call waits out the RPC timeout. One caller gets at most 4 at
// a time; the rest answer the operation as stored, at once.
TEST_F(X402E2eTest, PollsOfAStoppedNodeAreBoundedPerCaller) {
  absl::StatusOr<v1::PayX402Response> paid = Pay(Request("buyer", NewKey()));
  ASSERT_TRUE(paid.ok()) << paid.status();
  ASSERT_TRUE(paid->has_payment());
  const std::string op = paid->operation().operation_id();
  anvil_->process().Signal(SIGSTOP);
  absl::Cleanup resume = [] { anvil_->process().Signal(SIGCONT); };
  constexpr int kCalls = 12;
  std::atomic<int> quick{0};
  std::vector<std::thread> calls;
  for (int i = 0; i < kCalls; ++i) {
    calls.emplace_back([&quick, &op] {
      const absl::Time start = absl::Now();
      EXPECT_EQ(GetOperation(op).state(), v1::OPERATION_STATE_SUBMITTED);
      if (absl::Now() - start < absl::Seconds(1)) ++quick;
    });
  }
  for (std::thread& t : calls) t.join();
  // The node's timeout is 2 s: at most 4 of them waited for it.
  EXPECT_GE(quick.load(), kCalls - 4);
}

// What `wardenctl pay` does with what a server answers, when it is not a
// payable x402 v2 402: nothing to pay (exit 0), or a clear refusal (exit
// 1) with nothing asked of Warden; a requirement Warden refuses names the
// field. 127.0.0.1 is on buyer's list, so only the answers differ.
TEST_F(X402E2eTest, PayRefusesWhatIsNotAPayable402) {
  const std::string huge_timeout = absl::Base64Escape(
      Json{{"x402Version", 2},
           {"accepts",
            {{{"scheme", "exact"},
              {"network", network_},
              {"asset", token_},
              {"amount", "10000"},
              {"payTo", pay_to_},
              {"maxTimeoutSeconds", 18446744073709551615ULL},
              {"extra", {{"name", "Warden Test USD"}, {"version", "2"}}}}}}}
          .dump());
  const std::string no_evm = absl::Base64Escape(Json{
      {"x402Version", 2},
      {"accepts",
       {{{"scheme", "exact"}, {"network", "solana:mainnet"}},
        {{"scheme", "upto"},
         {"network", network_}}}}}.dump());
  httplib::Server server;
  server.Get("/v1", [](const httplib::Request&, httplib::Response& res) {
    res.status = 402;
    res.set_content(R"({"x402Version":1,"accepts":[]})", "application/json");
  });
  server.Get("/garbage", [](const httplib::Request&, httplib::Response& res) {
    res.status = 402;
    res.set_header("PAYMENT-REQUIRED", "not base64!");
  });
  server.Get("/no-evm", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 402;
    res.set_header("PAYMENT-REQUIRED", no_evm);
  });
  server.Get("/huge", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 402;
    res.set_header("PAYMENT-REQUIRED", huge_timeout);
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  absl::Cleanup stop = [&] {
    server.stop();
    serving.join();
  };
  auto pay = [](const std::string& url) {
    absl::StatusOr<CommandResult> r =
        RunCommand({WARDENCTL_PATH, "--server", wardend_->address(), "pay",
                    "--agent", "buyer", "--wallet", "buyer_w", url},
                   absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(CommandResult{});
  };
  const std::string used_before = Budget("buyer")["used"];
  const std::string base = absl::StrCat("http://127.0.0.1:", port);
  for (const auto& [path, problem] :
       std::vector<std::pair<std::string, std::string>>{
           {"/v1", "x402 v1 server"},
           {"/garbage", "not base64"},
           {"/no-evm", "no `exact` payment on an EVM network"},
           {"/huge", "requirements.max_timeout_seconds"}}) {
    const CommandResult r = pay(base + path);
    EXPECT_EQ(r.exit_code, 1) << path << ": " << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr(problem)) << path;
  }
  EXPECT_EQ(Budget("buyer")["used"], used_before);
  // A resource that asks for no payment: its body, and nothing paid.
  std::string free_url = resource_url_;
  free_url.replace(free_url.rfind("/paid"), 5, "/free");
  const CommandResult free = pay(free_url);
  EXPECT_EQ(free.exit_code, 0) << free.err;
  EXPECT_THAT(free.out, HasSubstr("\"ok\":true"));
}

}  // namespace
}  // namespace warden::testing
