#include "governance/redis/redis_client.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <csignal>
#include <optional>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "governance/status_macros.h"
#include "governance/telemetry.h"

namespace warden {
namespace {

RedisReply Copy(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (size_t i = 0; i < r->elements; ++i) {
        out.elements.push_back(Copy(r->element[i]));
      }
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

// %XX escapes decoded; INVALID_ARGUMENT for a malformed one.
absl::StatusOr<std::string> PercentDecode(absl::string_view in) {
  const auto nibble = [](char c) {
    return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
  };
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || !absl::ascii_isxdigit(in[i + 1]) ||
        !absl::ascii_isxdigit(in[i + 2])) {
      return absl::InvalidArgumentError("bad percent-encoding");
    }
    out.push_back(
        static_cast<char>(nibble(in[i + 1]) * 16 + nibble(in[i + 2])));
    i += 2;
  }
  return out;
}

// A Redis error reply as UNAVAILABLE naming the command.
absl::StatusOr<RedisReply> RefusedAsStatus(const std::vector<std::string>& argv,
                                           absl::StatusOr<RedisReply> reply) {
  if (reply.ok() && reply->IsError()) {
    return absl::UnavailableError(
        absl::StrCat("redis ", argv.empty() ? "" : argv[0], ": ", reply->str));
  }
  return reply;
}

}  // namespace

absl::StatusOr<RedisOptions> ParseRedisUrl(absl::string_view url) {
  RedisOptions o;
  absl::string_view rest = url;
  o.tls.enabled = absl::ConsumePrefix(&rest, "rediss://");
  if (!o.tls.enabled && !absl::ConsumePrefix(&rest, "redis://")) {
    return absl::InvalidArgumentError(
        "redis url: must look like redis://[[USER]:PASSWORD@]HOST:PORT[/DB] "
        "(rediss:// for TLS)");
  }
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    const absl::string_view userinfo = rest.substr(0, at);
    const size_t colon = userinfo.find(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "redis url: credentials must be USER:PASSWORD@ or :PASSWORD@");
    }
    absl::StatusOr<std::string> user = PercentDecode(userinfo.substr(0, colon));
    absl::StatusOr<std::string> password =
        PercentDecode(userinfo.substr(colon + 1));
    if (!user.ok() || !password.ok() || password->empty()) {
      return absl::InvalidArgumentError(
          "redis url: the user or password is empty or badly percent-encoded");
    }
    o.user = *std::move(user);
    o.password = *std::move(password);
    rest.remove_prefix(at + 1);
  }
  // From here on only the address is quoted: it holds no secret.
  const std::string address(rest);
  const size_t slash = rest.find('/');
  if (slash != absl::string_view::npos) {
    if (!absl::SimpleAtoi(rest.substr(slash + 1), &o.db) || o.db < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "redis url \"", address, "\": database must be a number"));
    }
    rest = rest.substr(0, slash);
  }
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(rest.substr(colon + 1), &o.port) || o.port <= 0 ||
      o.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis url \"", address, "\": needs HOST:PORT"));
  }
  absl::string_view host = rest.substr(0, colon);
  if (absl::ConsumePrefix(&host, "[")) absl::ConsumeSuffix(&host, "]");
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis url \"", address, "\": needs a host"));
  }
  o.host = std::string(host);
  return o;
}

RedisClient::RedisClient(RedisOptions options)
    : options_(std::move(options)),
      tls_context_(options_.tls.enabled
                       ? MakeRedisTlsContext(options_.tls)
                       : absl::StatusOr<std::shared_ptr<SSL_CTX>>(nullptr)) {
  if (options_.tls.enabled) {
    // OpenSSL writes to the socket with write(2), which raises SIGPIPE on a
    // connection the server closed (plain connections send with
    // MSG_NOSIGNAL); the error is handled where the write returns it.
    std::signal(SIGPIPE, SIG_IGN);
  }
  absl::MutexLock lock(&map_mu_);
  if (!options_.cluster) {
    single_ = NodeAt(options_.host, options_.port);
    return;
  }
  slots_.assign(kSlots, nullptr);
  for (const auto& [host, port] : options_.seeds) NodeAt(host, port);
}

RedisClient::Node* RedisClient::FindNode(const std::string& host, int port) {
  for (const std::unique_ptr<Node>& n : nodes_) {
    if (n->host == host && n->port == port) return n.get();
  }
  return nullptr;
}

RedisClient::Node* RedisClient::NodeAt(const std::string& host, int port) {
  if (Node* known = FindNode(host, port)) return known;
  // Redis Cluster's own ceiling; past it a map is refused, not followed.
  if (nodes_.size() >= kMaxNodes) return nullptr;
  auto n = std::make_unique<Node>();
  n->host = host;
  n->port = port;
  for (size_t i = 0; i < std::max<size_t>(options_.pool_size, 1); ++i) {
    n->lanes.push_back(std::make_unique<Lane>());
    n->lanes.back()->node = n.get();
  }
  nodes_.push_back(std::move(n));
  return nodes_.back().get();
}
RedisClient::~RedisClient() = default;

absl::StatusOr<std::unique_ptr<RedisClient::Connection>> RedisClient::Connect(
    Node& node) {
  if (!tls_context_.ok()) {
    return absl::UnavailableError(tls_context_.status().message());
  }
  const std::string where = absl::StrCat(node.host, ":", node.port);
  WARDEN_ASSIGN_OR_RETURN(
      std::unique_ptr<Connection> c,
      Connection::Open(node.host, node.port, options_.tls, *tls_context_,
                       options_.connect_timeout, options_.command_timeout));
  // One command of the handshake: its reply, or why there is none.
  const auto call =
      [&](const std::vector<std::string>& argv) -> absl::StatusOr<RedisReply> {
    absl::StatusOr<redisReply*> r = c->Call(argv);
    if (!r.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "redis ", argv[0], " on ", where, ": ", r.status().message()));
    }
    RedisReply reply = Copy(*r);
    freeReplyObject(*r);
    return reply;
  };
  if (!options_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!options_.user.empty()) auth.push_back(options_.user);
    auth.push_back(options_.password);
    absl::StatusOr<RedisReply> r = call(auth);
    if (!r.ok() || r->IsError()) {
      // Redis's answer (WRONGPASS ...) never quotes the password; nor does
      // `call`'s error, which names the command only.
      return absl::UnavailableError(absl::StrCat(
          "redis AUTH", options_.user.empty() ? "" : " as ", options_.user,
          " on ", where,
          " refused: ", r.ok() ? r->str : std::string(r.status().message())));
    }
  }
  {
    // Redis's clock, for ScriptDeadlineMicros. Redis read its clock at some
    // local instant between `sent` and `received`, so the offset is at
    // least (its time - received): that lower bound, the tightest of three
    // readings, makes the deadline early rather than late however long
    // this thread waited to send or to be scheduled (a late deadline would
    // let a script that ran after the client gave up take effect).
    std::optional<int64_t> offset;
    for (int i = 0; i < 3; ++i) {
      // No answer within the command timeout (a hung host): the
      // connection is unusable.
      WARDEN_ASSIGN_OR_RETURN(RedisReply r, call({"TIME"}));
      const absl::Time received = absl::Now();
      int64_t seconds = 0, micros = 0;
      if (r.type == RedisReply::Type::kArray && r.elements.size() == 2 &&
          absl::SimpleAtoi(r.elements[0].str, &seconds) &&
          absl::SimpleAtoi(r.elements[1].str, &micros)) {
        const int64_t lower =
            seconds * 1'000'000 + micros - absl::ToUnixMicros(received);
        offset = std::max(offset.value_or(lower), lower);
      }
    }
    if (offset) {
      node.clock_offset_us = *offset;
      node.clock_known = true;
    }
  }
  if (options_.db != 0) {
    absl::StatusOr<RedisReply> r = call({"SELECT", absl::StrCat(options_.db)});
    if (!r.ok() || r->IsError()) {
      return absl::UnavailableError(
          absl::StrCat("redis SELECT ", options_.db, " on ", where, " failed"));
    }
  }
  return c;
}

absl::StatusOr<RedisReply> RedisClient::Command(
    const std::vector<std::string>& argv) {
  return RefusedAsStatus(argv, Call(argv));
}

absl::StatusOr<RedisReply> RedisClient::Call(
    const std::vector<std::string>& argv, std::optional<absl::Time> stamp_until,
    std::optional<absl::string_view> route) {
  const absl::Time start = absl::Now();
  absl::StatusOr<RedisReply> reply = Route(argv, stamp_until, route);
  ReportBackendCall("redis", argv.empty() ? "" : argv[0], absl::Now() - start,
                    reply.ok() && reply->type != RedisReply::Type::kError);
  return reply;
}

namespace {

// The key whose slot a cluster routes `argv` by: a script's first key, a
// keyed command's first argument; none for commands of the server itself.
std::optional<absl::string_view> KeyOf(const std::vector<std::string>& argv) {
  if (argv.size() < 2) return std::nullopt;
  const std::string command = absl::AsciiStrToUpper(argv[0]);
  if (command == "EVALSHA" || command == "EVAL") {
    if (argv.size() > 3 && argv[2] != "0") return argv[3];
    return std::nullopt;
  }
  for (const char* keyless :
       {"PING", "TIME", "INFO", "CLUSTER", "SCRIPT", "CLIENT", "FLUSHALL",
        "FLUSHDB", "CONFIG", "DBSIZE", "REPLICAOF", "ROLE", "ECHO"}) {
    if (command == keyless) return std::nullopt;
  }
  return argv[1];
}

// "MOVED 3999 127.0.0.1:6381" or "ASK ...": the slot and the node.
bool ParseRedirect(absl::string_view error, int* slot, std::string* host,
                   int* port) {
  const std::vector<absl::string_view> parts = absl::StrSplit(error, ' ');
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], slot)) return false;
  const size_t colon = parts[2].rfind(':');
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(parts[2].substr(colon + 1), port)) {
    return false;
  }
  *host = std::string(parts[2].substr(0, colon));
  return !host->empty() && *slot >= 0 && *slot < 16384;
}

}  // namespace

int RedisKeySlot(absl::string_view key) {
  // The part between the first '{' and the next '}', if not empty.
  if (const size_t open = key.find('{'); open != absl::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != absl::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  // CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0.
  uint16_t crc = 0;
  for (const char c : key) {
    crc ^= static_cast<uint16_t>(static_cast<uint8_t>(c)) << 8;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc % 16384;
}

absl::StatusOr<RedisOptions> ParseRedisClusterUrls(absl::string_view urls) {
  std::optional<RedisOptions> first;
  for (absl::string_view url : absl::StrSplit(urls, ',')) {
    url = absl::StripAsciiWhitespace(url);
    absl::StatusOr<RedisOptions> parsed = ParseRedisUrl(url);
    if (!parsed.ok()) {
      // Not quoted: a piece of a list cut at a comma may be a password's.
      return absl::InvalidArgumentError(absl::StrCat(
          "redis urls: seed ", (first ? first->seeds.size() : 0) + 1,
          " is not a redis:// or rediss:// URL with HOST:PORT (a comma in a "
          "password is written %2C)"));
    }
    RedisOptions& o = *parsed;
    if (o.db != 0) {
      return absl::InvalidArgumentError(
          "redis url: a cluster has database 0 only");
    }
    if (!first) {
      first = o;
    } else if (o.tls.enabled != first->tls.enabled || o.user != first->user ||
               o.password != first->password) {
      return absl::InvalidArgumentError(
          "redis urls: every seed node needs the same scheme and "
          "credentials");
    }
    first->seeds.emplace_back(o.host, o.port);
  }
  first->cluster = true;
  return *first;
}

absl::StatusOr<RedisReply> RedisClient::Route(
    const std::vector<std::string>& argv, std::optional<absl::Time> stamp_until,
    std::optional<absl::string_view> route) {
  if (!options_.cluster) return Send(*single_, argv, stamp_until);
  const std::optional<absl::string_view> key = route ? route : KeyOf(argv);
  // A slot moves at most once or twice in a resharding or a failover.
  for (int hop = 0; hop < 5; ++hop) {
    WARDEN_ASSIGN_OR_RETURN(Node * node, NodeFor(key));
    absl::StatusOr<RedisReply> r = Send(*node, argv, stamp_until);
    if (!r.ok()) {
      MarkStale();  // The node may be gone, and its replica promoted.
      return r;
    }
    if (!r->IsError()) return r;
    int slot = 0, port = 0;
    std::string host;
    // A redirection is followed only to a node the cluster's own slot map
    // names (never wherever a reply points: the password goes with it).
    if (absl::StartsWith(r->str, "MOVED ") &&
        ParseRedirect(r->str, &slot, &host, &port)) {
      absl::MutexLock lock(&map_mu_);
      stale_ = true;  // The rest of that node's slots moved too.
      if (Node* known = FindNode(host, port)) slots_[slot] = known;
      continue;
    }
    if (absl::StartsWith(r->str, "ASK ") &&
        ParseRedirect(r->str, &slot, &host, &port)) {
      Node* target;
      {
        absl::MutexLock lock(&map_mu_);
        target = FindNode(host, port);
        stale_ = stale_ || target == nullptr;
      }
      if (target == nullptr) {
        return absl::UnavailableError(
            absl::StrCat("redis ", argv[0], ": asked to go to ", host, ":",
                         port, ", which the cluster's slot map does not name"));
      }
      return SendAsking(*target, argv, stamp_until);
    }
    if (absl::StartsWith(r->str, "CLUSTERDOWN") ||
        absl::StartsWith(r->str, "TRYAGAIN")) {
      MarkStale();
    }
    return r;
  }
  return absl::UnavailableError(
      absl::StrCat("redis ", argv[0],
                   ": still redirected after 5 hops; the cluster's "
                   "slots are moving"));
}

absl::StatusOr<RedisReply> RedisClient::SendAsking(
    Node& node, const std::vector<std::string>& argv,
    std::optional<absl::Time> stamp_until) {
  const std::string where = absl::StrCat(node.host, ":", node.port);
  WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<Connection> c, Connect(node));
  std::vector<std::string> sent = argv;
  if (stamp_until) {
    sent.back() = absl::StrCat(
        ScriptDeadlineMicros(node, *stamp_until, options_.command_timeout));
  }
  absl::StatusOr<redisReply*> asked = c->Call({"ASKING"});
  if (asked.ok()) freeReplyObject(*asked);
  absl::StatusOr<redisReply*> r = asked.ok() ? c->Call(sent) : asked;
  if (!r.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "redis ", argv[0], " on ", where, " (asked): ", r.status().message()));
  }
  RedisReply reply = Copy(*r);
  freeReplyObject(*r);
  return reply;
}

absl::StatusOr<RedisClient::Node*> RedisClient::NodeFor(
    std::optional<absl::string_view> key) {
  MaybeRefresh();
  absl::MutexLock lock(&map_mu_);
  const int slot = key ? RedisKeySlot(*key) : -1;
  const auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(map_mu_) -> Node* {
    if (slot >= 0) return slots_[slot];
    for (Node* n : slots_) {
      if (n != nullptr) return n;
    }
    return nodes_.front().get();  // A seed.
  };
  // Read for the first time, or again, by another caller: wait for it.
  auto settled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(map_mu_) {
    return !refreshing_;
  };
  if (found() == nullptr) {
    map_mu_.AwaitWithTimeout(absl::Condition(&settled),
                             options_.command_timeout);
  }
  if (Node* n = found()) return n;
  stale_ = true;
  return Unsent(absl::UnavailableError(
      absl::StrCat("redis cluster: no reachable primary serves slot ", slot,
                   "; refusing until the slot map names one")));
}

void RedisClient::MarkStale() {
  if (!options_.cluster) return;
  absl::MutexLock lock(&map_mu_);
  stale_ = true;
}

void RedisClient::MaybeRefresh() {
  {
    absl::MutexLock lock(&map_mu_);
    if (!stale_ || refreshing_ ||
        absl::Now() - refreshed_ < absl::Milliseconds(100)) {
      return;
    }
    refreshing_ = true;
  }
  const absl::Status st = RefreshSlots();
  absl::MutexLock lock(&map_mu_);
  refreshing_ = false;
  refreshed_ = absl::Now();
  if (st.ok()) stale_ = false;
}

absl::Status RedisClient::RefreshSlots() {
  std::vector<Node*> candidates;
  {
    absl::MutexLock lock(&map_mu_);
    for (const std::unique_ptr<Node>& n : nodes_) candidates.push_back(n.get());
  }
  absl::Status last = absl::UnavailableError("redis cluster: no node known");
  for (Node* n : candidates) {
    absl::StatusOr<RedisReply> r = Send(*n, {"CLUSTER", "SLOTS"}, std::nullopt);
    if (!r.ok() || r->type != RedisReply::Type::kArray) {
      last = r.ok() ? absl::UnavailableError(
                          absl::StrCat("redis CLUSTER SLOTS on ", n->host, ":",
                                       n->port, ": ", r->str))
                    : r.status();
      continue;
    }
    // [[first, last, [host, port, id], replicas...], ...]
    std::vector<std::tuple<int64_t, int64_t, std::string, int64_t>> ranges;
    for (const RedisReply& range : r->elements) {
      if (range.elements.size() < 3 || range.elements[2].elements.size() < 2) {
        continue;
      }
      const RedisReply& primary = range.elements[2];
      std::string host = primary.elements[0].str;
      if (host.empty() || host == "?") host = n->host;  // Its own address.
      ranges.emplace_back(range.elements[0].integer, range.elements[1].integer,
                          host, primary.elements[1].integer);
    }
    absl::MutexLock lock(&map_mu_);
    std::vector<Node*> slots(kSlots, nullptr);
    for (const auto& [from, to, host, port] : ranges) {
      if (port <= 0 || port > 65535) continue;
      Node* owner = NodeAt(host, static_cast<int>(port));
      for (int64_t i = std::max<int64_t>(from, 0);
           i <= std::min<int64_t>(to, kSlots - 1); ++i) {
        slots[i] = owner;
      }
    }
    slots_ = std::move(slots);
    return absl::OkStatus();
  }
  return last;
}

struct RedisClient::Pending {
  const std::vector<std::string>* argv;
  std::optional<absl::Time> stamp_until;
  bool taken = false;  // In a batch that a leader is sending.
  bool done = false;
  absl::StatusOr<RedisReply> reply = absl::UnknownError("not answered");
};

absl::StatusOr<RedisReply> RedisClient::Send(
    Node& node, const std::vector<std::string>& argv,
    std::optional<absl::Time> stamp_until) {
  Lane& lane =
      *node.lanes[node.next_lane.fetch_add(1, std::memory_order_relaxed) %
                  node.lanes.size()];
  Pending p{.argv = &argv, .stamp_until = stamp_until};
  const absl::Time give_up = absl::Now() + options_.command_timeout;
  absl::MutexLock lock(&lane.mu);
  lane.queue.push_back(&p);
  auto answered_or_idle = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lane.mu) {
    return p.done || !lane.leading;
  };
  while (!p.done) {
    if (!lane.leading) {
      Lead(lane);
    } else if (p.taken) {
      // Sent: its batch's I/O is bounded by the connection's timeouts.
      lane.mu.Await(absl::Condition(&answered_or_idle));
    } else if (!lane.mu.AwaitWithDeadline(absl::Condition(&answered_or_idle),
                                          give_up) &&
               !p.taken) {
      std::erase(lane.queue, &p);
      return Unsent(absl::UnavailableError(
          absl::StrCat("redis ", argv.empty() ? "" : argv[0], " on ", node.host,
                       ":", node.port, ": not sent within ",
                       absl::FormatDuration(options_.command_timeout),
                       " (the connection is busy with earlier calls)")));
    }
  }
  return std::move(p.reply);
}

void RedisClient::Lead(Lane& lane) {
  lane.leading = true;
  const size_t n = std::min(lane.queue.size(), kMaxBatch);
  std::vector<Pending*> batch(lane.queue.begin(), lane.queue.begin() + n);
  lane.queue.erase(lane.queue.begin(), lane.queue.begin() + n);
  for (Pending* p : batch) p->taken = true;
  lane.mu.Unlock();
  Exchange(lane, batch);
  lane.mu.Lock();
  // Each caller returns (and its Pending goes) once it sees `done`.
  for (Pending* p : batch) p->done = true;
  lane.leading = false;
}

void RedisClient::Exchange(Lane& lane, const std::vector<Pending*>& batch) {
  const auto failed = [&](const std::vector<std::string>& argv,
                          const absl::Status& st) {
    return absl::UnavailableError(absl::StrCat(
        "redis ", argv.empty() ? "" : argv[0], " on ", lane.node->host, ":",
        lane.node->port, ": ", st.message()));
  };
  // The calls sent, in order: those whose caller still waits.
  std::vector<Pending*> sent;
  const absl::Time now = absl::Now();
  for (Pending* p : batch) {
    if (p->stamp_until && *p->stamp_until <= now) {
      const std::vector<std::string>& argv = *p->argv;
      p->reply = Unsent(absl::DeadlineExceededError(
          absl::StrCat("redis ", argv.empty() ? "" : argv[0],
                       ": the caller's deadline passed before it was sent")));
    } else {
      sent.push_back(p);
    }
  }
  if (sent.empty()) return;
  // Fails calls from `first` on; the connection's state is then unknown,
  // so it is dropped.
  const auto fail_from = [&](size_t first, const absl::Status& st) {
    for (size_t i = first; i < sent.size(); ++i) sent[i]->reply = st;
    lane.connection.reset();
  };
  if (lane.connection == nullptr) {
    absl::StatusOr<std::unique_ptr<Connection>> c = Connect(*lane.node);
    if (!c.ok()) return fail_from(0, Unsent(c.status()));
    lane.connection = *std::move(c);
  }
  Connection& c = *lane.connection;
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const Pending* p : sent) {
    const std::vector<std::string>& argv = *p->argv;
    // Stamped as it is sent, so that waiting in the queue does not count
    // against the script's time.
    const std::string deadline =
        p->stamp_until
            ? absl::StrCat(ScriptDeadlineMicros(*lane.node, *p->stamp_until,
                                                options_.command_timeout))
            : "";
    args.clear();
    lens.clear();
    for (size_t i = 0; i < argv.size(); ++i) {
      const std::string& a =
          p->stamp_until && i + 1 == argv.size() ? deadline : argv[i];
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    c.Append(args, lens);
  }
  // The whole batch answers within the command timeout, however slowly
  // its bytes come.
  const absl::Time deadline = absl::Now() + options_.command_timeout;
  if (absl::Status st = c.Send(deadline); !st.ok()) {
    return fail_from(0, failed(*sent[0]->argv, st));
  }
  // A connection to a node that is no longer the primary, or that lost its
  // authentication, stays so: a new one reaches the current primary (a
  // managed endpoint moves on failover) or authenticates again.
  bool stale = false;
  for (size_t i = 0; i < sent.size(); ++i) {
    absl::StatusOr<redisReply*> r = c.Read(deadline);
    if (!r.ok()) return fail_from(i, failed(*sent[i]->argv, r.status()));
    RedisReply reply = Copy(*r);
    freeReplyObject(*r);
    stale = stale ||
            (reply.IsError() && (absl::StartsWith(reply.str, "READONLY") ||
                                 absl::StartsWith(reply.str, "MASTERDOWN") ||
                                 absl::StartsWith(reply.str, "LOADING") ||
                                 absl::StartsWith(reply.str, "NOAUTH")));
    sent[i]->reply = std::move(reply);
  }
  if (stale) lane.connection.reset();
}

int64_t RedisClient::ScriptDeadlineMicros(const Node& node,
                                          absl::Time not_after,
                                          absl::Duration command_timeout) {
  if (!node.clock_known) return 0;
  // The client waits command_timeout for the answer; the script must run
  // a margin before that, so that its answer can still arrive.
  const absl::Duration margin =
      std::min(command_timeout / 4, absl::Milliseconds(250));
  return absl::ToUnixMicros(
             std::min(absl::Now() + command_timeout - margin, not_after)) +
         node.clock_offset_us;
}

namespace {
constexpr absl::string_view kUnsentPayload = "warden.dev/redis-unsent";
}  // namespace

bool RedisClient::NeverSent(const absl::Status& status) {
  return status.GetPayload(kUnsentPayload).has_value();
}

absl::Status RedisClient::Unsent(absl::Status status) {
  status.SetPayload(kUnsentPayload, absl::Cord("1"));
  return status;
}

absl::StatusOr<std::string> RedisClient::ShaOf(
    const std::string& script, std::optional<absl::string_view> route) {
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [text, sha] : shas_) {
      if (text == script) return sha;
    }
  }
  const std::vector<std::string> argv = {"SCRIPT", "LOAD", script};
  absl::StatusOr<RedisReply> r =
      RefusedAsStatus(argv, Call(argv, std::nullopt, route));
  if (!r.ok()) return r.status();
  if (r->type != RedisReply::Type::kString) {
    return absl::UnavailableError(
        absl::StrCat("redis SCRIPT LOAD failed: ", r->str));
  }
  absl::MutexLock lock(&mu_);
  shas_.emplace_back(script, r->str);
  return r->str;
}

absl::StatusOr<RedisReply> RedisClient::Eval(
    const std::string& script, const std::vector<std::string>& keys,
    const std::vector<std::string>& args) {
  return EvalImpl(script, keys, args, std::nullopt);
}

absl::StatusOr<RedisReply> RedisClient::EvalWithDeadline(
    const std::string& script, const std::vector<std::string>& keys,
    const std::vector<std::string>& args, absl::Time not_after) {
  return EvalImpl(script, keys, args, not_after);
}

absl::StatusOr<RedisReply> RedisClient::EvalImpl(
    const std::string& script, const std::vector<std::string>& keys,
    const std::vector<std::string>& args,
    std::optional<absl::Time> stamp_until) {
  // The node that runs it (in a cluster, its first key's primary) loads it.
  const std::optional<absl::string_view> route =
      keys.empty() ? std::nullopt
                   : std::optional<absl::string_view>(keys.front());
  // A restarted Redis (or a cluster primary that never ran it) has not got
  // the script: load it there once on NOSCRIPT.
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::string> sha = ShaOf(script, route);
    if (!sha.ok()) return sha.status();
    std::vector<std::string> argv = {"EVALSHA", *sha,
                                     std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<RedisReply> r = Call(argv, stamp_until, route);
    if (!r.ok() || !r->IsError() || !absl::StartsWith(r->str, "NOSCRIPT")) {
      return RefusedAsStatus(argv, std::move(r));
    }
    absl::MutexLock lock(&mu_);
    std::erase_if(shas_, [&](const auto& p) { return p.first == script; });
  }
  return absl::UnavailableError("redis keeps answering NOSCRIPT");
}

}  // namespace warden
