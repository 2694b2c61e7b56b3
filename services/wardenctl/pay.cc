// wardenctl pay: an x402 payment governed by Warden, end to end. Fetches
// the URL; on 402 Payment Required, picks the server's `exact` EVM
// requirement, has Warden check it against the agent's budgets and sign it
// (PayX402), and fetches again with the payment header.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "adapters/evm/chains.h"
#include "adapters/http/http.h"
#include "services/wardenctl/cli.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace warden::wardenctl {
namespace {

// The longest header or body of a 402 read, in bytes.
constexpr size_t kMaxPaymentRequired = 64 * 1024;

struct PayFlags {
  v1::PayX402Request request;
  std::string url;
  std::string method = "GET";
  std::string data;
  int64_t timeout_seconds = 30;
  int64_t wait_seconds = 0;
};

// What the server asked for: the requirement chosen, as the server wrote
// it (the payment echoes it as `accepted`), and its `resource`.
struct PaymentRequired {
  Json accepted;
  Json resource;
};

// The 402's x402 v2 requirements (the PAYMENT-REQUIRED header, base64
// JSON): the first `exact` entry on an EVM network.
std::optional<PaymentRequired> ReadPaymentRequired(
    const http::HttpResponse& response, std::string* problem) {
  auto header = response.headers.find("payment-required");
  if (header == response.headers.end()) {
    *problem =
        "the 402 has no PAYMENT-REQUIRED header: not an x402 v2 server (an "
        "x402 v1 server, which asks in the body for an X-PAYMENT header, is "
        "not supported)";
    return std::nullopt;
  }
  std::string decoded;
  if (header->second.size() > kMaxPaymentRequired ||
      !absl::Base64Unescape(header->second, &decoded)) {
    *problem = "the PAYMENT-REQUIRED header is not base64 (of at most 64 KiB)";
    return std::nullopt;
  }
  const Json doc = Json::parse(decoded, nullptr, false);
  if (!doc.is_object() || !doc.contains("accepts") ||
      !doc["accepts"].is_array() || doc.value("x402Version", Json()) != 2) {
    *problem =
        "the PAYMENT-REQUIRED header is not x402 v2 payment requirements "
        "(a JSON object with x402Version 2 and accepts)";
    return std::nullopt;
  }
  PaymentRequired out;
  if (doc.contains("resource")) out.resource = doc["resource"];
  for (const Json& entry : doc["accepts"]) {
    if (!entry.is_object() || entry.value("scheme", Json()) != "exact" ||
        !entry.contains("network") || !entry["network"].is_string()) {
      continue;
    }
    const std::string network = entry["network"].get<std::string>();
    if (absl::StartsWith(network, "eip155:") ||
        evm::KnownChainId(network).has_value()) {
      out.accepted = entry;
      return out;
    }
  }
  *problem = "the server accepts no `exact` payment on an EVM network";
  return std::nullopt;
}

std::string StringField(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

void FillRequirements(const PaymentRequired& required,
                      v1::X402PaymentRequirements* r) {
  const Json& a = required.accepted;
  r->set_scheme(StringField(a, "scheme"));
  r->set_network(StringField(a, "network"));
  r->set_asset(StringField(a, "asset"));
  r->set_amount(StringField(a, "amount"));
  r->set_pay_to(StringField(a, "payTo"));
  if (a.contains("maxTimeoutSeconds") &&
      a["maxTimeoutSeconds"].is_number_integer()) {
    // As asked, for Warden to judge; past int64, int64's largest.
    const Json& t = a["maxTimeoutSeconds"];
    r->set_max_timeout_seconds(
        t.is_number_unsigned()
            ? static_cast<int64_t>(std::min<uint64_t>(
                  t.get<uint64_t>(), std::numeric_limits<int64_t>::max()))
            : t.get<int64_t>());
  }
  if (a.contains("extra") && a["extra"].is_object()) {
    r->set_token_name(StringField(a["extra"], "name"));
    r->set_token_version(StringField(a["extra"], "version"));
  }
}

// The PAYMENT-SIGNATURE header: the signed authorization, with the
// requirement it pays exactly as the server wrote it.
std::pair<std::string, std::string> PaymentHeader(
    const PaymentRequired& required, const v1::X402Authorization& p) {
  const Json payload = {{"signature", p.signature()},
                        {"authorization",
                         {{"from", p.from()},
                          {"to", p.to()},
                          {"value", p.value()},
                          {"validAfter", p.valid_after()},
                          {"validBefore", p.valid_before()},
                          {"nonce", p.nonce()}}}};
  Json doc = {{"x402Version", 2},
              {"accepted", required.accepted},
              {"payload", payload}};
  if (!required.resource.is_null()) doc["resource"] = required.resource;
  return {"PAYMENT-SIGNATURE", absl::Base64Escape(doc.dump())};
}

// A fresh idempotency key for one `pay`: retrying the command with the
// same --idempotency-key never pays twice.
std::string NewKey() {
  std::random_device random;
  return absl::StrCat("pay-", absl::Hex(random(), absl::kZeroPad8),
                      absl::Hex(random(), absl::kZeroPad8));
}

// The settlement the server reports (PAYMENT-RESPONSE, base64 JSON), or
// null.
Json Settlement(const http::HttpResponse& response) {
  auto it = response.headers.find("payment-response");
  std::string decoded;
  if (it == response.headers.end() ||
      !absl::Base64Unescape(it->second, &decoded)) {
    return nullptr;
  }
  Json j = Json::parse(decoded, nullptr, false);
  return j.is_discarded() ? Json(nullptr) : j;
}

int Pay(const Globals& g, PayFlags f) {
  http::CurlTransport transport;
  http::HttpRequest fetch{.method = f.method, .url = f.url, .body = f.data};
  if (!f.data.empty()) {
    fetch.headers.emplace_back("Content-Type", "application/json");
  }
  const absl::Duration timeout = absl::Seconds(f.timeout_seconds);
  absl::StatusOr<http::HttpResponse> first = transport.Do(fetch, timeout);
  if (!first.ok()) {
    return Problem(absl::StrCat("GET ", http::UrlOrigin(f.url), ": ",
                                first.status().message()),
                   kCallFailed);
  }
  if (first->status != 402) {
    // Nothing to pay.
    if (g.json) {
      std::cout << Json{{"status", first->status},
                        {"paid", false},
                        {"body", first->body}}
                       .dump()
                << "\n";
    } else {
      std::cout << first->body;
    }
    return http::Is2xx(first->status) ? 0 : kCallFailed;
  }
  std::string problem;
  std::optional<PaymentRequired> required =
      ReadPaymentRequired(*first, &problem);
  if (!required) return Problem(problem, kCallFailed);

  std::shared_ptr<grpc::Channel> channel = Connect(g);
  if (channel == nullptr) return kUsage;
  auto authz = v1::AuthorizationService::NewStub(channel);
  v1::PayX402Request& request = f.request;
  request.set_org_id(g.org);
  request.set_resource(f.url);
  if (request.idempotency_key().empty()) request.set_idempotency_key(NewKey());
  FillRequirements(*required, request.mutable_requirements());
  v1::PayX402Response paid;
  // A hold for approval or a delay: ask again with the same key (which
  // charges nothing more) until it is decided or --wait-seconds pass.
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::seconds(f.wait_seconds);
  for (;;) {
    grpc::ClientContext context;
    PrepareContext(g, &context);
    const grpc::Status status = authz->PayX402(&context, request, &paid);
    if (!status.ok()) return Fail(status);
    const v1::Decision d = paid.authorization().decision();
    if (d != v1::DECISION_PENDING_APPROVAL && d != v1::DECISION_DELAYED) break;
    if (std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  const v1::AuthorizeResponse& a = paid.authorization();
  Json out = {{"decision", DecisionText(a.decision())},
              {"authorization_id", a.authorization_id()},
              {"amount_usd", a.amount_usd()},
              {"reason", a.reason()},
              {"violations", ViolationsJson(a.violations())},
              {"replayed", a.replayed()},
              {"paid", false}};
  if (paid.has_operation()) {
    out["operation_id"] = paid.operation().operation_id();
  }
  auto print = [&](const std::string& body) {
    if (g.json) {
      std::cout << out.dump() << "\n";
      return;
    }
    std::cout << DecisionText(a.decision()) << " " << a.authorization_id()
              << " $" << a.amount_usd() << (a.replayed() ? " (replayed)" : "")
              << "\n  " << a.reason() << "\n";
    if (out.contains("status")) {
      std::cout << "  " << f.method << " " << http::UrlOrigin(f.url) << ": "
                << out["status"].get<int>()
                << (out["paid"].get<bool>() ? " (paid)" : "") << "\n";
    }
    if (out.contains("settlement")) {
      std::cout << "  settlement " << out["settlement"].dump() << "\n";
    }
    if (out.contains("refusal")) {
      std::cout << "  refused: " << out["refusal"].get<std::string>() << "\n";
    }
    std::cout << body;
  };
  if (!paid.has_payment()) {
    // Denied, still waiting, or no longer payable: nothing was signed.
    print("");
    return kNotPaid;
  }
  http::HttpRequest retry = fetch;
  retry.headers.push_back(PaymentHeader(*required, paid.payment()));
  absl::StatusOr<http::HttpResponse> second = transport.Do(retry, timeout);
  if (!second.ok()) {
    // The signed payment may or may not have reached the server: Warden's
    // hold settles if it is used, and is voided when it expires unused.
    print("");
    return Problem(absl::StrCat("paying ", http::UrlOrigin(f.url), ": ",
                                second.status().message(),
                                "; retry with --idempotency-key ",
                                request.idempotency_key(),
                                " to send the same payment again"),
                   kCallFailed);
  }
  out["status"] = second->status;
  out["paid"] = http::Is2xx(second->status);
  if (Json s = Settlement(*second); !s.is_null()) out["settlement"] = s;
  if (second->status == 402) {
    // Why the server refused the payment: the error of its new 402.
    auto header = second->headers.find("payment-required");
    std::string decoded;
    if (header != second->headers.end() &&
        header->second.size() <= kMaxPaymentRequired &&
        absl::Base64Unescape(header->second, &decoded)) {
      const Json doc = Json::parse(decoded, nullptr, false);
      if (doc.is_object() && doc.contains("error") &&
          doc["error"].is_string()) {
        out["refusal"] = doc["error"];
      }
    }
  }
  if (g.json) out["body"] = second->body;
  print(second->body);
  return http::Is2xx(second->status) ? 0 : kNotPaid;
}

}  // namespace

void AddPayCommands(CLI::App& app, const Globals& g, Commands& commands) {
  auto flags = std::make_shared<PayFlags>();
  CLI::App* pay = app.add_subcommand(
      "pay",
      "Fetch a URL, paying its x402 402 Payment Required through Warden "
      "(checked against the agent's budgets, signed by the wallet's key)");
  pay->add_option("url", flags->url, "The resource (http or https)")
      ->required();
  pay->add_option("--agent", *flags->request.mutable_agent_id())->required();
  pay->add_option("--wallet", *flags->request.mutable_wallet_id(),
                  "A local wallet on the network the server asks for")
      ->required();
  pay->add_option("-X,--method", flags->method)
      ->capture_default_str()
      ->check(CLI::IsMember({"GET", "POST", "PUT", "PATCH", "DELETE"}));
  pay->add_option("-d,--data", flags->data, "A JSON body to send");
  pay->add_option("--idempotency-key",
                  *flags->request.mutable_idempotency_key(),
                  "Retrying with the same key pays at most once (default: a "
                  "new key per run)");
  pay->add_option("--memo", *flags->request.mutable_memo());
  pay->add_option("--timeout-seconds", flags->timeout_seconds,
                  "Per HTTP request to the resource")
      ->capture_default_str()
      ->check(CLI::Range(1, 600));
  pay->add_option("--wait-seconds", flags->wait_seconds,
                  "Wait this long for a pending approval or a delay")
      ->capture_default_str()
      ->check(CLI::Range(0, 86'400));
  commands.Add(pay,
               "wardenctl pay --agent research_bot --wallet research_base "
               "https://api.example.com/report",
               [&g, flags] { return Pay(g, *flags); });
}

}  // namespace warden::wardenctl
