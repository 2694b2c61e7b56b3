#include "tests/fakes/cdp/fake_cdp.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <regex>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "httplib.h"

namespace warden::testing {
namespace {

using nlohmann::json;

// Clock skew tolerated on nbf/iat, and the longest API key JWT CDP takes
// (its SDKs make them for 120 s).
constexpr int64_t kSkewSeconds = 5;
constexpr int64_t kMaxJwtLifetimeSeconds = 120;
// A wallet JWT has no exp; its iat must be recent.
constexpr int64_t kWalletJwtMaxAgeSeconds = 60;
constexpr size_t kMaxRequestsLogged = 10000;

// The networks sendEvmTransaction takes.
bool IsSendNetwork(const std::string& n) {
  static const std::set<std::string>* const kNetworks =
      new std::set<std::string>{
          "base",      "base-sepolia", "ethereum", "ethereum-sepolia",
          "avalanche", "polygon",      "optimism", "arbitrum"};
  return kNetworks->contains(n);
}

// v1 address history network ids -> v2 network names.
std::optional<std::string> V2Network(const std::string& v1) {
  static const std::map<std::string, std::string>* const kNetworks =
      new std::map<std::string, std::string>{
          {"base-mainnet", "base"},         {"base-sepolia", "base-sepolia"},
          {"ethereum-mainnet", "ethereum"}, {"polygon-mainnet", "polygon"},
          {"arbitrum-mainnet", "arbitrum"},
      };
  auto it = kNetworks->find(v1);
  if (it == kNetworks->end()) return std::nullopt;
  return it->second;
}

std::string Str(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string ErrorBody(const std::string& type, const std::string& message) {
  return json{{"errorType", type},
              {"errorMessage", message},
              {"correlationId",
               absl::StrReplaceAll(http::UuidV4(), {{"-", ""}}).substr(0, 16)},
              {"errorLink",
               absl::StrCat("https://docs.cdp.coinbase.com/api-reference/v2/"
                            "errors#",
                            type)}}
      .dump();
}

bool IsUuidV4(const std::string& s) {
  static const std::regex kUuid(
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return std::regex_match(s, kUuid);
}

bool IsUuid(const std::string& s) {
  static const std::regex kUuid(
      "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]"
      "{12}$");
  return std::regex_match(s, kUuid);
}

bool IsAddress(const std::string& s) {
  static const std::regex kAddress("^0x[0-9a-fA-F]{40}$");
  return std::regex_match(s, kAddress);
}

std::string HexBytes(absl::string_view bytes) {
  return absl::StrCat("0x", absl::BytesToHexString(bytes));
}

// Recursive Length Prefix decoding (yellow paper, appendix B).
struct RlpItem {
  bool is_list = false;
  std::string bytes;
  std::vector<RlpItem> items;
};

absl::StatusOr<size_t> BigEndianLength(absl::string_view b) {
  if (b.empty() || b.size() > 4 || b[0] == 0) {
    return absl::InvalidArgumentError("bad RLP length");
  }
  size_t n = 0;
  for (char c : b) n = (n << 8) | static_cast<unsigned char>(c);
  return n;
}

absl::StatusOr<RlpItem> DecodeRlp(absl::string_view in, size_t* used);

absl::StatusOr<std::vector<RlpItem>> DecodeRlpList(absl::string_view payload) {
  std::vector<RlpItem> out;
  while (!payload.empty()) {
    size_t used = 0;
    absl::StatusOr<RlpItem> item = DecodeRlp(payload, &used);
    if (!item.ok()) return item.status();
    out.push_back(*std::move(item));
    payload.remove_prefix(used);
  }
  return out;
}

absl::StatusOr<RlpItem> DecodeRlp(absl::string_view in, size_t* used) {
  if (in.empty()) return absl::InvalidArgumentError("RLP: empty");
  const unsigned char b = static_cast<unsigned char>(in[0]);
  RlpItem out;
  size_t header = 1;
  size_t length = 0;
  if (b < 0x80) {
    out.bytes = std::string(in.substr(0, 1));
    *used = 1;
    return out;
  } else if (b <= 0xb7) {
    length = b - 0x80;
  } else if (b <= 0xbf) {
    const size_t ll = b - 0xb7;
    if (in.size() < 1 + ll) return absl::InvalidArgumentError("RLP: short");
    absl::StatusOr<size_t> n = BigEndianLength(in.substr(1, ll));
    if (!n.ok()) return n.status();
    header += ll;
    length = *n;
  } else if (b <= 0xf7) {
    out.is_list = true;
    length = b - 0xc0;
  } else {
    out.is_list = true;
    const size_t ll = b - 0xf7;
    if (in.size() < 1 + ll) return absl::InvalidArgumentError("RLP: short");
    absl::StatusOr<size_t> n = BigEndianLength(in.substr(1, ll));
    if (!n.ok()) return n.status();
    header += ll;
    length = *n;
  }
  if (in.size() < header + length) {
    return absl::InvalidArgumentError("RLP: item longer than its input");
  }
  absl::string_view payload = in.substr(header, length);
  *used = header + length;
  if (!out.is_list) {
    out.bytes = std::string(payload);
    return out;
  }
  absl::StatusOr<std::vector<RlpItem>> items = DecodeRlpList(payload);
  if (!items.ok()) return items.status();
  out.items = *std::move(items);
  return out;
}

absl::StatusOr<absl::uint128> RlpUint(const RlpItem& item) {
  if (item.is_list || item.bytes.size() > 16 ||
      (!item.bytes.empty() && item.bytes[0] == 0)) {
    return absl::InvalidArgumentError("RLP: not a uint128");
  }
  absl::uint128 v = 0;
  for (char c : item.bytes) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

// The recipient and amount of ERC-20 transfer(address,uint256) calldata.
std::optional<std::pair<std::string, std::string>> Erc20Transfer(
    const std::string& data) {
  if (data.size() != 68 || data.substr(0, 4) != "\xa9\x05\x9c\xbb") {
    return std::nullopt;
  }
  const std::string word = absl::BytesToHexString(data.substr(36, 32));
  if (word.substr(0, 32).find_first_not_of('0') != std::string::npos) {
    return std::nullopt;  // Beyond 128 bits: not modelled.
  }
  absl::uint128 amount = 0;
  if (!absl::SimpleHexAtoi(word.substr(32), &amount)) return std::nullopt;
  std::string recipient = HexBytes(data.substr(16, 20));
  std::string value;
  // Decimal of a uint128.
  if (amount == 0) value = "0";
  while (amount > 0) {
    value.insert(value.begin(),
                 static_cast<char>('0' + static_cast<int>(amount % 10)));
    amount /= 10;
  }
  return std::make_pair(recipient, value);
}

std::string Decimal(absl::uint128 v) {
  if (v == 0) return "0";
  std::string out;
  while (v > 0) {
    out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return out;
}

bool op_is_tx_like(const std::string& op) {
  return op == "signEvmTransaction" || op == "sendEvmTransaction" ||
         op == "prepareUserOperation" || op == "sendUserOperation";
}

// Validates one policy rule as CDP's schema defines it.
absl::Status CheckRule(const json& rule) {
  static const std::set<std::string>* const kOps = new std::set<std::string>{
      "signEvmTransaction", "sendEvmTransaction", "signEvmMessage",
      "signEvmTypedData",   "signEvmHash",        "prepareUserOperation",
      "sendUserOperation",  "signSolTransaction"};
  // Operations that carry a transaction's value and destination.
  const bool tx_like = op_is_tx_like(Str(rule, "operation"));
  const std::string action = Str(rule, "action");
  const std::string op = Str(rule, "operation");
  if (action != "accept" && action != "reject") {
    return absl::InvalidArgumentError("rule action must be accept or reject");
  }
  if (!kOps->contains(op)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rule operation \"", op, "\" is not supported"));
  }
  auto criteria = rule.find("criteria");
  if (op == "signEvmHash") {
    if (criteria != rule.end()) {
      return absl::InvalidArgumentError("signEvmHash takes no criteria");
    }
    return absl::OkStatus();
  }
  if (criteria == rule.end() || !criteria->is_array()) {
    return absl::InvalidArgumentError("rule criteria must be an array");
  }
  for (const json& c : *criteria) {
    const std::string type = Str(c, "type");
    const std::string oper = Str(c, "operator");
    if (type == "ethValue" && tx_like) {
      absl::uint128 v = 0;
      if (!absl::SimpleAtoi(Str(c, "ethValue"), &v) ||
          !(oper == ">" || oper == ">=" || oper == "<" || oper == "<=" ||
            oper == "==")) {
        return absl::InvalidArgumentError("bad ethValue criterion");
      }
    } else if ((type == "evmAddress" && tx_like) ||
               (type == "evmTypedDataVerifyingContract" &&
                op == "signEvmTypedData")) {
      auto a = c.find("addresses");
      if (a == c.end() || !a->is_array() || a->size() > 100 ||
          !(oper == "in" || oper == "not in")) {
        return absl::InvalidArgumentError("bad evmAddress criterion");
      }
      for (const json& x : *a) {
        if (!x.is_string() || !IsAddress(x.get<std::string>())) {
          return absl::InvalidArgumentError("bad address in evmAddress");
        }
      }
    } else if (type == "evmNetwork" &&
               (op == "sendEvmTransaction" || op == "prepareUserOperation" ||
                op == "sendUserOperation")) {
      auto n = c.find("networks");
      if (n == c.end() || !n->is_array() ||
          !(oper == "in" || oper == "not in")) {
        return absl::InvalidArgumentError("bad evmNetwork criterion");
      }
    } else if (type == "evmMessage" && op == "signEvmMessage") {
      if (Str(c, "match").empty()) {
        return absl::InvalidArgumentError("evmMessage needs match");
      }
    } else if (type == "solAddress" && op == "signSolTransaction") {
      // Stored only.
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "criterion type \"", type, "\" is not valid for ", op,
          " (the fake models ethValue, evmAddress, evmNetwork, evmMessage, "
          "evmTypedDataVerifyingContract)"));
    }
  }
  return absl::OkStatus();
}

// Whether a rule for `op` applies: its criteria all hold (a logical AND).
// `to` is the destination, or a typed-data request's verifying contract.
bool RuleMatches(const json& rule, const std::string& op,
                 const std::string& network, const std::string& to,
                 absl::uint128 value) {
  if (Str(rule, "operation") != op) return false;
  auto criteria = rule.find("criteria");
  if (criteria == rule.end()) return op == "signEvmHash";
  if (!criteria->is_array()) return false;
  for (const json& c : *criteria) {
    const std::string type = Str(c, "type");
    const std::string oper = Str(c, "operator");
    bool holds = false;
    if (type == "ethValue") {
      absl::uint128 limit = 0;
      if (!absl::SimpleAtoi(Str(c, "ethValue"), &limit)) return false;
      holds = oper == ">"    ? value > limit
              : oper == ">=" ? value >= limit
              : oper == "<"  ? value < limit
              : oper == "<=" ? value <= limit
                             : value == limit;
    } else if (type == "evmAddress" || type == "evmNetwork" ||
               type == "evmTypedDataVerifyingContract") {
      const bool network_list = type == "evmNetwork";
      const json& list = c[network_list ? "networks" : "addresses"];
      bool in = false;
      for (const json& x : list) {
        if (x.is_string() &&
            absl::EqualsIgnoreCase(x.get<std::string>(),
                                   network_list ? network : to)) {
          in = true;
        }
      }
      holds = oper == "in" ? in : !in;
    } else if (type == "evmMessage") {
      // The fake knows one pattern: everything.
      holds = Str(c, "match") == "(?s).*";
    }
    if (!holds) return false;
  }
  return true;
}

absl::Status Unauthorized(absl::string_view why) {
  return absl::UnauthenticatedError(why);
}

}  // namespace

FakeCdp::FakeCdp(Options options) : options_(options) {}

absl::StatusOr<std::unique_ptr<FakeCdp>> FakeCdp::Start(Options options) {
  std::unique_ptr<FakeCdp> fake(new FakeCdp(options));
  if (absl::Status st = fake->Init(); !st.ok()) return st;
  return fake;
}

absl::Status FakeCdp::Init() {
  api_key_id_ = http::UuidV4();
  if (options_.ed25519_api_key) {
    // CDP's Ed25519 secret: base64 of the 32-byte seed then the public key.
    // Up to 4096 tries for a seed starting with 0x30 (1 in 256 each).
    EVP_PKEY* key = nullptr;
    std::string pair(64, '\0');
    for (int i = 0; i < 4096; ++i) {
      EVP_PKEY_free(key);
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      if (key == nullptr) return absl::InternalError("Ed25519 keygen failed");
      size_t priv_len = 32, pub_len = 32;
      if (EVP_PKEY_get_raw_private_key(
              key, reinterpret_cast<unsigned char*>(pair.data()), &priv_len) !=
              1 ||
          EVP_PKEY_get_raw_public_key(
              key, reinterpret_cast<unsigned char*>(pair.data() + 32),
              &pub_len) != 1) {
        EVP_PKEY_free(key);
        return absl::InternalError("Ed25519 key export failed");
      }
      if (!options_.ed25519_starts_like_der || pair[0] == '\x30') break;
    }
    // The verifier from the public key's own DER, not from the secret's
    // parser under test.
    unsigned char* spki = nullptr;
    const int spki_len = i2d_PUBKEY(key, &spki);
    EVP_PKEY_free(key);
    if (spki_len <= 0) return absl::InternalError("Ed25519 SPKI failed");
    const std::string der(reinterpret_cast<char*>(spki), spki_len);
    OPENSSL_free(spki);
    if (options_.ed25519_starts_like_der && pair[0] != '\x30') {
      return absl::InternalError("no Ed25519 seed starting with 0x30 found");
    }
    api_key_secret_ = absl::Base64Escape(pair);
    absl::StatusOr<http::VerifyingKey> v =
        http::VerifyingKey::FromBase64Der(absl::Base64Escape(der));
    if (!v.ok()) return v.status();
    api_verifier_ = *v;
    api_alg_ = "EdDSA";
  } else {
    absl::StatusOr<http::SigningKey> k = http::SigningKey::GenerateP256();
    if (!k.ok()) return k.status();
    absl::StatusOr<std::string> pem = k->PrivatePem();
    absl::StatusOr<http::VerifyingKey> v = http::VerifyingKey::Of(*k);
    if (!pem.ok()) return pem.status();
    if (!v.ok()) return v.status();
    api_key_secret_ = *pem;
    api_verifier_ = *v;
  }
  absl::StatusOr<http::SigningKey> w = http::SigningKey::GenerateP256();
  if (!w.ok()) return w.status();
  absl::StatusOr<std::string> der = w->PrivateDerBase64();
  absl::StatusOr<http::VerifyingKey> wv = http::VerifyingKey::Of(*w);
  if (!der.ok()) return der.status();
  if (!wv.ok()) return wv.status();
  wallet_secret_ = *der;
  wallet_verifier_ = *wv;

  server_ = std::make_unique<httplib::Server>();
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    Handle(req, res);
  };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->Put(".*", handler);
  server_->Delete(".*", handler);
  // Port 0: the kernel picks a free one, so two fakes never race for it.
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) return absl::UnavailableError("FakeCdp: cannot bind");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  for (int i = 0; i < 500 && !server_->is_running(); ++i) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  if (!server_->is_running()) {
    return absl::UnavailableError("FakeCdp: server did not start");
  }
  return absl::OkStatus();
}

FakeCdp::~FakeCdp() {
  stopping_ = true;
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string FakeCdp::url() const {
  return absl::StrCat("http://127.0.0.1:", port_);
}

std::string FakeCdp::rpc_url() const { return absl::StrCat(url(), "/rpc"); }

void FakeCdp::AddAccount(const std::string& address) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  accounts_.try_emplace(absl::AsciiStrToLower(address),
                        Account{.created_at = now, .updated_at = now});
}

std::vector<FakeCdp::LedgerEntry> FakeCdp::Ledger() const {
  absl::MutexLock lock(&mu_);
  return ledger_;
}

absl::StatusOr<std::string> FakeCdp::DirectSend(const std::string& from,
                                                const std::string& network,
                                                const std::string& to,
                                                absl::uint128 value,
                                                const std::string& data) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<LedgerEntry> e =
      Accept(absl::AsciiStrToLower(from), network, absl::AsciiStrToLower(to),
             value, data, "", /*direct=*/true);
  if (!e.ok()) return e.status();
  return e->hash;
}

absl::Status FakeCdp::SetTxState(const std::string& hash, TxState state) {
  absl::MutexLock lock(&mu_);
  for (LedgerEntry& e : ledger_) {
    if (absl::EqualsIgnoreCase(e.hash, hash)) {
      e.state = state;
      if (state != TxState::kPending) {
        e.mined_at = absl::Now();
        e.block = ++blocks_;
      }
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat("FakeCdp: no transaction ", hash));
}

void FakeCdp::InjectFault(Fault fault) {
  absl::MutexLock lock(&mu_);
  faults_.push_back(std::move(fault));
}

std::optional<std::string> FakeCdp::AccountPolicy(
    const std::string& address) const {
  absl::MutexLock lock(&mu_);
  auto it = accounts_.find(absl::AsciiStrToLower(address));
  if (it == accounts_.end() || it->second.account_policy.empty()) {
    return std::nullopt;
  }
  return it->second.account_policy;
}

bool FakeCdp::Rejects(const std::string& address, const std::string& op,
                      absl::uint128 value, const std::string& to) const {
  absl::MutexLock lock(&mu_);
  auto account = accounts_.find(absl::AsciiStrToLower(address));
  if (account == accounts_.end()) return false;
  auto policy = policies_.find(account->second.account_policy);
  if (policy == policies_.end()) return false;
  for (const json& rule : policy->second["rules"]) {
    if (RuleMatches(rule, op, "base", to, value)) {
      return Str(rule, "action") == "reject";
    }
  }
  return false;
}

std::optional<json> FakeCdp::Policy(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = policies_.find(id);
  if (it == policies_.end()) return std::nullopt;
  return it->second;
}

size_t FakeCdp::PolicyCount() const {
  absl::MutexLock lock(&mu_);
  return policies_.size();
}

absl::StatusOr<std::string> FakeCdp::CreatePolicy(const json& body) {
  absl::MutexLock lock(&mu_);
  return StorePolicy(body);
}

absl::Status FakeCdp::AttachPolicy(const std::string& address,
                                   const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = accounts_.find(absl::AsciiStrToLower(address));
  auto p = policies_.find(id);
  if (it == accounts_.end() || p == policies_.end() ||
      Str(p->second, "scope") != "account") {
    return absl::NotFoundError("FakeCdp: no such account or account policy");
  }
  it->second.account_policy = id;
  it->second.updated_at = absl::Now();
  return absl::OkStatus();
}

std::vector<std::string> FakeCdp::Requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int FakeCdp::CountRequests(const std::string& method,
                           const std::string& path_prefix) const {
  absl::MutexLock lock(&mu_);
  const std::string prefix = absl::StrCat(method, " ", path_prefix);
  return static_cast<int>(std::count_if(
      requests_.begin(), requests_.end(),
      [&](const std::string& r) { return absl::StartsWith(r, prefix); }));
}

void FakeCdp::Sleep(absl::Duration d) const {
  const absl::Time end = absl::Now() + d;
  while (absl::Now() < end && !stopping_) {
    absl::SleepFor(absl::Milliseconds(5));
  }
}

void FakeCdp::Handle(const httplib::Request& req, httplib::Response& res) {
  std::optional<Fault> fault;
  {
    absl::MutexLock lock(&mu_);
    if (requests_.size() < kMaxRequestsLogged) {
      requests_.push_back(absl::StrCat(req.method, " ", req.path));
    }
    for (Fault& f : faults_) {
      if (f.count > 0 && (f.method.empty() || f.method == req.method) &&
          absl::StartsWith(req.path, f.path_prefix)) {
        --f.count;
        fault = f;
        break;
      }
    }
  }
  Answer answer;
  if (fault.has_value() && fault->kind == Fault::Kind::kRateLimit) {
    res.status = 429;
    res.set_header("Retry-After", absl::StrCat(fault->retry_after_seconds));
    res.set_content(ErrorBody("rate_limit_exceeded", "Rate limit exceeded."),
                    "application/json");
    return;
  }
  if (fault.has_value() && fault->kind == Fault::Kind::kServerError) {
    res.status = 500;
    res.set_content(ErrorBody("internal_server_error",
                              "An internal server error occurred. Please try "
                              "again later."),
                    "application/json");
    return;
  }
  const absl::Duration slow =
      fault.has_value() && fault->kind == Fault::Kind::kSlow
          ? fault->delay
          : absl::ZeroDuration();
  if (req.method == "POST" && req.path == "/rpc") {
    answer = JsonRpc(req.body);
  } else {
    answer = Route(req, slow);
  }
  res.status = answer.status;
  if (fault.has_value() && fault->kind == Fault::Kind::kDrop) {
    // The headers (with Content-Length) go out, then the provider fails
    // and httplib closes the socket: the client gets a broken transfer.
    const size_t length = std::max<size_t>(answer.body.size(), 1);
    res.set_content_provider(
        length, "application/json",
        [](size_t, size_t, httplib::DataSink&) { return false; });
    return;
  }
  if (!answer.body.empty()) res.set_content(answer.body, "application/json");
}

absl::Status FakeCdp::CheckBearer(const httplib::Request& req,
                                  const std::string& uri) const {
  const std::string header = req.get_header_value("Authorization");
  absl::string_view auth = header;
  if (!absl::ConsumePrefix(&auth, "Bearer ") || auth.empty()) {
    return Unauthorized("missing Bearer token");
  }
  absl::StatusOr<http::Jwt> jwt =
      http::VerifyJwt(auth, *api_verifier_, api_alg_);
  if (!jwt.ok()) return Unauthorized(jwt.status().message());
  const json& h = jwt->header;
  const json& c = jwt->claims;
  if (Str(h, "kid") != api_key_id_ || Str(h, "typ") != "JWT" ||
      Str(h, "nonce").empty()) {
    return Unauthorized("JWT header needs kid (the API key id), typ, nonce");
  }
  if (Str(c, "sub") != api_key_id_ || Str(c, "iss") != "cdp") {
    return Unauthorized("JWT sub must be the API key id and iss \"cdp\"");
  }
  auto aud = c.find("aud");
  const bool aud_ok =
      aud != c.end() &&
      ((aud->is_string() && *aud == "cdp_service") ||
       (aud->is_array() &&
        std::find(aud->begin(), aud->end(), "cdp_service") != aud->end()));
  if (!aud_ok) return Unauthorized("JWT aud must include cdp_service");
  auto nbf = c.find("nbf");
  auto exp = c.find("exp");
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  if (nbf == c.end() || exp == c.end() || !nbf->is_number_integer() ||
      !exp->is_number_integer()) {
    return Unauthorized("JWT needs integer nbf and exp");
  }
  if (nbf->get<int64_t>() > now + kSkewSeconds || exp->get<int64_t>() <= now ||
      exp->get<int64_t>() - nbf->get<int64_t>() > kMaxJwtLifetimeSeconds) {
    return Unauthorized("JWT expired, not yet valid, or too long-lived");
  }
  auto uris = c.find("uris");
  if (uris == c.end() || !uris->is_array() ||
      std::find(uris->begin(), uris->end(), uri) == uris->end()) {
    return Unauthorized(absl::StrCat("JWT uris do not include \"", uri, "\""));
  }
  return absl::OkStatus();
}

absl::Status FakeCdp::CheckWalletAuth(const httplib::Request& req,
                                      const std::string& uri) {
  const std::string token = req.get_header_value("X-Wallet-Auth");
  if (token.empty()) return Unauthorized("missing X-Wallet-Auth");
  absl::StatusOr<http::Jwt> jwt =
      http::VerifyJwt(token, *wallet_verifier_, "ES256");
  if (!jwt.ok()) return Unauthorized(jwt.status().message());
  const json& c = jwt->claims;
  if (Str(jwt->header, "typ") != "JWT") return Unauthorized("typ != JWT");
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  auto iat = c.find("iat");
  auto nbf = c.find("nbf");
  if (iat == c.end() || !iat->is_number_integer() ||
      iat->get<int64_t>() > now + kSkewSeconds ||
      iat->get<int64_t>() < now - kWalletJwtMaxAgeSeconds ||
      (nbf != c.end() && (!nbf->is_number_integer() ||
                          nbf->get<int64_t>() > now + kSkewSeconds))) {
    return Unauthorized("wallet JWT iat/nbf not current");
  }
  auto uris = c.find("uris");
  if (uris == c.end() || !uris->is_array() ||
      std::find(uris->begin(), uris->end(), uri) == uris->end()) {
    return Unauthorized("wallet JWT uris do not match the request");
  }
  // reqHash: hex SHA-256 of the body as JSON with sorted keys, no spaces.
  const json body = json::parse(req.body, nullptr, false);
  std::string expected;
  if (!req.body.empty() && !(body.is_object() && body.empty())) {
    expected = body.is_discarded() ? http::Sha256Hex(req.body)
                                   : http::Sha256Hex(body.dump());
  }
  if (Str(c, "reqHash") != expected) {
    return Unauthorized("wallet JWT reqHash does not match the body");
  }
  const std::string jti = Str(c, "jti");
  if (jti.empty()) return Unauthorized("wallet JWT needs a jti");
  absl::MutexLock lock(&mu_);
  if (!wallet_jtis_.insert(jti).second) {
    return Unauthorized("wallet JWT jti used before (a replay)");
  }
  return absl::OkStatus();
}

FakeCdp::Answer FakeCdp::Idempotent(const httplib::Request& req,
                                    const std::string& key,
                                    const std::function<Answer()>& act,
                                    absl::Duration slow_delay) {
  if (key.empty()) {
    Answer a = act();
    Sleep(slow_delay);
    return a;
  }
  if (!IsUuidV4(key)) {
    return {400, ErrorBody("invalid_request",
                           "X-Idempotency-Key must be a UUID v4.")};
  }
  const json parsed = json::parse(req.body, nullptr, false);
  const std::string fingerprint =
      absl::StrCat(req.method, " ", req.path, " ",
                   parsed.is_discarded() ? req.body : parsed.dump());
  {
    absl::MutexLock lock(&mu_);
    auto it = idempotency_.find(key);
    if (it != idempotency_.end()) {
      if (it->second.fingerprint != fingerprint) {
        return {422, ErrorBody("idempotency_error",
                               absl::StrCat("Idempotency key '", key,
                                            "' was already used with a "
                                            "different request payload."))};
      }
      if (!it->second.done) {
        return {409, ErrorBody("already_exists",
                               "Another request with the same idempotency key "
                               "is currently processing.")};
      }
      return it->second.answer;
    }
    idempotency_[key] = Remembered{.fingerprint = fingerprint};
  }
  Answer a = act();
  // Acted on; the key stays "processing" until the (slow) answer is ready.
  Sleep(slow_delay);
  absl::MutexLock lock(&mu_);
  idempotency_[key].done = true;
  idempotency_[key].answer = a;
  return a;
}

FakeCdp::Answer FakeCdp::Route(const httplib::Request& req,
                               absl::Duration slow_delay) {
  static const std::regex kSend(
      "^/platform/v2/evm/accounts/(0x[0-9a-fA-F]{40})/send/transaction$");
  static const std::regex kAccount(
      "^/platform/v2/evm/accounts/(0x[0-9a-fA-F]{40})$");
  static const std::regex kPolicies("^/platform/v2/policy-engine/policies$");
  static const std::regex kPolicy(
      "^/platform/v2/policy-engine/policies/([0-9a-fA-F-]{36})$");
  static const std::regex kHistory(
      "^/platform/v1/networks/([a-z-]+)/addresses/(0x[0-9a-fA-F]{40})/"
      "transactions$");
  const std::string uri =
      absl::StrCat(req.method, " ", req.get_header_value("Host"), req.path);
  if (absl::Status st = CheckBearer(req, uri); !st.ok()) {
    return {401, ErrorBody("unauthorized", std::string(st.message()))};
  }
  const std::string key = req.get_header_value("X-Idempotency-Key");
  std::smatch m;
  const std::string& path = req.path;
  if (std::regex_match(path, m, kSend) && req.method == "POST") {
    if (absl::Status st = CheckWalletAuth(req, uri); !st.ok()) {
      return {401, ErrorBody("unauthorized",
                             absl::StrCat("Wallet authentication error. ",
                                          st.message()))};
    }
    const std::string address = absl::AsciiStrToLower(m[1].str());
    return Idempotent(
        req, key, [&] { return SendTransaction(address, req.body, key); },
        slow_delay);
  }
  if (std::regex_match(path, m, kAccount)) {
    const std::string address = absl::AsciiStrToLower(m[1].str());
    if (req.method == "GET") return GetAccount(address);
    if (req.method == "PUT") {
      // updateEvmAccount lists no X-Wallet-Auth; CDP's SDKs send one, and
      // when one comes it must be right.
      if (req.has_header("X-Wallet-Auth")) {
        if (absl::Status st = CheckWalletAuth(req, uri); !st.ok()) {
          return {401, ErrorBody("unauthorized",
                                 absl::StrCat("Wallet authentication error. ",
                                              st.message()))};
        }
      }
      return Idempotent(
          req, key, [&] { return UpdateAccount(address, req.body); },
          slow_delay);
    }
  }
  if (std::regex_match(path, m, kPolicies) && req.method == "POST") {
    return Idempotent(
        req, key, [&] { return CreatePolicyAnswer(req.body); }, slow_delay);
  }
  if (std::regex_match(path, m, kPolicy)) {
    const std::string id = absl::AsciiStrToLower(m[1].str());
    if (req.method == "GET") return GetPolicy(id);
    if (req.method == "DELETE") {
      return Idempotent(
          req, key, [&] { return DeletePolicy(id); }, slow_delay);
    }
  }
  if (std::regex_match(path, m, kHistory) && req.method == "GET") {
    return ListTransactions(m[1].str(), absl::AsciiStrToLower(m[2].str()), req);
  }
  return {404, ErrorBody("not_found", absl::StrCat("No route ", req.method, " ",
                                                   req.path, "."))};
}

std::optional<std::string> FakeCdp::Rejects(const std::string& address,
                                            const std::string& network,
                                            const std::string& to,
                                            absl::uint128 value) const {
  // The project's policy first, then the account's; the first rule whose
  // criteria all hold decides. A send no rule matches is accepted (the
  // docs' "limit"-style reject policies only make sense that way).
  std::vector<const json*> order;
  for (const auto& [id, p] : policies_) {
    if (Str(p, "scope") == "project") order.push_back(&p);
  }
  auto account = accounts_.find(address);
  if (account != accounts_.end() && !account->second.account_policy.empty()) {
    auto p = policies_.find(account->second.account_policy);
    if (p != policies_.end()) order.push_back(&p->second);
  }
  for (const json* p : order) {
    auto rules = p->find("rules");
    if (rules == p->end() || !rules->is_array()) continue;
    for (const json& rule : *rules) {
      if (!RuleMatches(rule, "sendEvmTransaction", network, to, value))
        continue;
      if (Str(rule, "action") == "reject") return Str(*p, "id");
      return std::nullopt;
    }
  }
  return std::nullopt;
}

absl::StatusOr<FakeCdp::LedgerEntry> FakeCdp::Accept(
    const std::string& from, const std::string& network, const std::string& to,
    absl::uint128 value, const std::string& data, const std::string& key,
    bool direct) {
  if (!accounts_.contains(from)) {
    return absl::NotFoundError("EVM account with the given address not found.");
  }
  if (std::optional<std::string> policy = Rejects(from, network, to, value)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "Request rejected by policy ", *policy, " (sendEvmTransaction)."));
  }
  LedgerEntry e;
  e.from = from;
  e.network = network;
  e.to = to;
  e.value = value;
  e.data = data;
  e.nonce = nonces_[{from, network}]++;
  e.idempotency_key = key;
  e.direct = direct;
  e.sent_at = absl::Now();
  e.hash = absl::StrCat(
      "0x", http::Sha256Hex(absl::StrCat(from, "/", network, "/", e.nonce, "/",
                                         to, "/", Decimal(value), "/",
                                         absl::BytesToHexString(data))));
  if (options_.auto_confirm) {
    e.state = TxState::kConfirmed;
    e.mined_at = e.sent_at;
    e.block = ++blocks_;
  }
  ledger_.push_back(e);
  return e;
}

FakeCdp::Answer FakeCdp::SendTransaction(const std::string& address,
                                         const std::string& body,
                                         const std::string& idempotency_key) {
  const json request = json::parse(body, nullptr, false);
  const std::string network = Str(request, "network");
  if (!IsSendNetwork(network)) {
    return {400,
            ErrorBody("invalid_request", absl::StrCat("network \"", network,
                                                      "\" is not supported."))};
  }
  // The transaction: 0x02 || rlp([chainId, nonce, maxPriorityFeePerGas,
  // maxFeePerGas, gas, to, value, data, accessList]), unsigned.
  const std::string text = Str(request, "transaction");
  absl::string_view hex = text;
  std::string raw;
  const Answer malformed{400, ErrorBody("malformed_transaction",
                                        "Malformed unsigned transaction.")};
  if (!absl::ConsumePrefix(&hex, "0x") || hex.size() % 2 != 0 ||
      hex.find_first_not_of("0123456789abcdefABCDEF") !=
          absl::string_view::npos) {
    return malformed;
  }
  raw = absl::HexStringToBytes(hex);
  if (raw.empty() || raw[0] != '\x02') return malformed;
  size_t used = 0;
  absl::StatusOr<RlpItem> tx =
      DecodeRlp(absl::string_view(raw).substr(1), &used);
  if (!tx.ok() || used != raw.size() - 1 || !tx->is_list ||
      tx->items.size() != 9) {
    return malformed;
  }
  const RlpItem& to = tx->items[5];
  absl::StatusOr<absl::uint128> value = RlpUint(tx->items[6]);
  if (to.is_list || to.bytes.size() != 20 || !value.ok() ||
      tx->items[7].is_list || !tx->items[8].is_list) {
    return malformed;
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<LedgerEntry> e =
      Accept(address, network, HexBytes(to.bytes), *value, tx->items[7].bytes,
             idempotency_key, /*direct=*/false);
  if (absl::IsNotFound(e.status())) {
    return {404, ErrorBody("not_found", std::string(e.status().message()))};
  }
  if (absl::IsPermissionDenied(e.status())) {
    return {403,
            ErrorBody("policy_violation", std::string(e.status().message()))};
  }
  if (!e.ok()) {
    return {500, ErrorBody("internal_server_error",
                           std::string(e.status().message()))};
  }
  return {200, json{{"transactionHash", e->hash}}.dump()};
}

json FakeCdp::AccountJson(const std::string& address,
                          const Account& account) const {
  json policies = json::array();
  for (const auto& [id, p] : policies_) {
    if (Str(p, "scope") == "project") policies.push_back(id);
  }
  if (!account.account_policy.empty()) {
    policies.push_back(account.account_policy);
  }
  return {{"address", address},
          {"policies", policies},
          {"createdAt", Rfc3339(account.created_at)},
          {"updatedAt", Rfc3339(account.updated_at)}};
}

FakeCdp::Answer FakeCdp::GetAccount(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = accounts_.find(address);
  if (it == accounts_.end()) {
    return {404, ErrorBody("not_found",
                           "EVM account with the given address not found.")};
  }
  return {200, AccountJson(address, it->second).dump()};
}

FakeCdp::Answer FakeCdp::UpdateAccount(const std::string& address,
                                       const std::string& body) {
  const json request = json::parse(body, nullptr, false);
  if (!request.is_object()) {
    return {400, ErrorBody("invalid_request", "Request body must be JSON.")};
  }
  absl::MutexLock lock(&mu_);
  auto it = accounts_.find(address);
  if (it == accounts_.end()) {
    return {404, ErrorBody("not_found",
                           "EVM account with the given address not found.")};
  }
  if (auto p = request.find("accountPolicy"); p != request.end()) {
    if (!p->is_string()) {
      return {400, ErrorBody("invalid_request", "accountPolicy: a string")};
    }
    const std::string id = absl::AsciiStrToLower(p->get<std::string>());
    if (!id.empty()) {
      auto policy = policies_.find(id);
      if (!IsUuid(id) || policy == policies_.end() ||
          Str(policy->second, "scope") != "account") {
        return {400, ErrorBody("invalid_request",
                               absl::StrCat("accountPolicy \"", id,
                                            "\" is not an account policy."))};
      }
    }
    it->second.account_policy = id;
  }
  it->second.updated_at = absl::Now();
  return {200, AccountJson(address, it->second).dump()};
}

absl::StatusOr<std::string> FakeCdp::StorePolicy(const json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("body: JSON object");
  const std::string scope = Str(body, "scope");
  if (scope != "project" && scope != "account") {
    return absl::InvalidArgumentError("scope must be project or account");
  }
  static const std::regex kDescription("^[A-Za-z0-9 ,.]{1,50}$");
  if (auto d = body.find("description"); d != body.end()) {
    if (!d->is_string() ||
        !std::regex_match(d->get<std::string>(), kDescription)) {
      return absl::InvalidArgumentError(
          "description: 1 to 50 of [A-Za-z0-9 ,.]");
    }
  }
  auto rules = body.find("rules");
  if (rules == body.end() || !rules->is_array() || rules->size() > 10) {
    return absl::InvalidArgumentError("rules: an array of at most 10 rules");
  }
  for (const json& rule : *rules) {
    if (absl::Status st = CheckRule(rule); !st.ok()) return st;
  }
  if (scope == "project") {
    for (const auto& [id, p] : policies_) {
      if (Str(p, "scope") == "project") {
        return absl::AlreadyExistsError(
            "Only one project-level policy can exist.");
      }
    }
  }
  const std::string id = http::UuidV4();
  const std::string now = Rfc3339(absl::Now());
  json policy = {{"id", id},
                 {"scope", scope},
                 {"rules", *rules},
                 {"createdAt", now},
                 {"updatedAt", now}};
  if (auto d = body.find("description"); d != body.end()) {
    policy["description"] = *d;
  }
  policies_[id] = std::move(policy);
  return id;
}

FakeCdp::Answer FakeCdp::CreatePolicyAnswer(const std::string& body) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::string> id =
      StorePolicy(json::parse(body, nullptr, false));
  if (!id.ok()) {
    return {400,
            ErrorBody("invalid_request", std::string(id.status().message()))};
  }
  return {201, policies_[*id].dump()};
}

FakeCdp::Answer FakeCdp::GetPolicy(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = policies_.find(id);
  if (it == policies_.end()) {
    return {404, ErrorBody("not_found", "Policy not found")};
  }
  return {200, it->second.dump()};
}

FakeCdp::Answer FakeCdp::DeletePolicy(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = policies_.find(id);
  if (it == policies_.end()) {
    return {404, ErrorBody("not_found", "Policy not found")};
  }
  for (const auto& [address, account] : accounts_) {
    if (account.account_policy == id) {
      return {400, ErrorBody("policy_in_use", "Policy in use")};
    }
  }
  policies_.erase(it);
  return {204, ""};
}

FakeCdp::Answer FakeCdp::ListTransactions(const std::string& network_id,
                                          const std::string& address,
                                          const httplib::Request& req) {
  const std::optional<std::string> network = V2Network(network_id);
  if (!network.has_value()) {
    return {400, ErrorBody("invalid_request",
                           absl::StrCat("network_id \"", network_id,
                                        "\" is not supported."))};
  }
  int limit = 10;
  if (req.has_param("limit") &&
      (!absl::SimpleAtoi(req.get_param_value("limit"), &limit) || limit < 1 ||
       limit > 100)) {
    return {400, ErrorBody("invalid_request", "limit: 1 to 100")};
  }
  size_t offset = 0;
  if (req.has_param("page") &&
      !absl::SimpleAtoi(req.get_param_value("page"), &offset)) {
    return {400, ErrorBody("invalid_request", "page: not a page token")};
  }
  absl::MutexLock lock(&mu_);
  std::vector<json> all;
  // Newest first.
  for (auto it = ledger_.rbegin(); it != ledger_.rend(); ++it) {
    const LedgerEntry& e = *it;
    if (e.network != *network) continue;
    const auto transfer = Erc20Transfer(e.data);
    if (e.from != address && e.to != address &&
        !(transfer.has_value() && transfer->first == address)) {
      continue;
    }
    json content = {{"from", e.from},
                    {"to", e.to},
                    {"value", Decimal(e.value)},
                    {"hash", e.hash},
                    {"input", HexBytes(e.data)},
                    {"nonce", e.nonce},
                    {"type", 2}};
    json tx = {{"network_id", network_id},   {"from_address_id", e.from},
               {"to_address_id", e.to},      {"unsigned_payload", ""},
               {"transaction_hash", e.hash}, {"transaction_link", ""}};
    if (e.state == TxState::kPending) {
      tx["status"] = "broadcast";
    } else {
      tx["status"] = e.state == TxState::kConfirmed ? "complete" : "failed";
      tx["block_height"] = absl::StrCat(e.block);
      tx["block_hash"] =
          absl::StrCat("0x", http::Sha256Hex(absl::StrCat(e.block)));
      content["block_timestamp"] = Rfc3339(e.mined_at);
      if (transfer.has_value() && e.state == TxState::kConfirmed) {
        content["token_transfers"] =
            json::array({{{"contract_address", e.to},
                          {"from_address", e.from},
                          {"to_address", transfer->first},
                          {"value", transfer->second},
                          {"log_index", 0},
                          {"token_transfer_type", "erc20"}}});
      }
    }
    tx["content"] = std::move(content);
    all.push_back(std::move(tx));
  }
  json data = json::array();
  for (size_t i = offset; i < all.size() && i < offset + limit; ++i) {
    data.push_back(all[i]);
  }
  const bool more = offset + limit < all.size();
  return {200, json{{"data", data},
                    {"has_more", more},
                    {"next_page", more ? absl::StrCat(offset + limit) : ""}}
                   .dump()};
}

FakeCdp::Answer FakeCdp::JsonRpc(const std::string& body) {
  const json request = json::parse(body, nullptr, false);
  json answer = {
      {"jsonrpc", "2.0"},
      {"id", request.is_object() && request.contains("id") ? request["id"]
                                                           : json(nullptr)}};
  const std::string method = Str(request, "method");
  auto params = request.is_object() ? request.find("params") : request.end();
  if (method != "eth_getTransactionReceipt" || params == request.end() ||
      !params->is_array() || params->empty() || !(*params)[0].is_string()) {
    answer["error"] = {{"code", -32601},
                       {"message",
                        "the fake node answers "
                        "eth_getTransactionReceipt only"}};
    return {200, answer.dump()};
  }
  const std::string hash = (*params)[0].get<std::string>();
  absl::MutexLock lock(&mu_);
  answer["result"] = nullptr;
  for (const LedgerEntry& e : ledger_) {
    if (!absl::EqualsIgnoreCase(e.hash, hash) || e.state == TxState::kPending) {
      continue;
    }
    answer["result"] = {
        {"transactionHash", e.hash},
        {"blockNumber", absl::StrCat("0x", absl::Hex(e.block))},
        {"from", e.from},
        {"to", e.to},
        {"gasUsed", "0x5208"},
        {"logs", json::array()},
        {"status", e.state == TxState::kConfirmed ? "0x1" : "0x0"}};
  }
  return {200, answer.dump()};
}

}  // namespace warden::testing
