#include "governance/redis/redis_client.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <csignal>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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
  for (size_t i = 0; i < std::max<size_t>(options_.pool_size, 1); ++i) {
    lanes_.push_back(std::make_unique<Lane>());
  }
}
RedisClient::~RedisClient() = default;

absl::StatusOr<std::unique_ptr<RedisClient::Connection>>
RedisClient::Connect() {
  if (!tls_context_.ok()) {
    return absl::UnavailableError(tls_context_.status().message());
  }
  const std::string where = absl::StrCat(options_.host, ":", options_.port);
  WARDEN_ASSIGN_OR_RETURN(
      std::unique_ptr<Connection> c,
      Connection::Open(options_.host, options_.port, options_.tls,
                       *tls_context_, options_.connect_timeout,
                       options_.command_timeout));
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
      clock_offset_us_ = *offset;
      clock_known_ = true;
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
    const std::vector<std::string>& argv,
    std::optional<absl::Time> stamp_until) {
  const absl::Time start = absl::Now();
  absl::StatusOr<RedisReply> reply = Send(argv, stamp_until);
  ReportBackendCall("redis", argv.empty() ? "" : argv[0], absl::Now() - start,
                    reply.ok() && reply->type != RedisReply::Type::kError);
  return reply;
}

struct RedisClient::Pending {
  const std::vector<std::string>* argv;
  std::optional<absl::Time> stamp_until;
  bool taken = false;  // In a batch that a leader is sending.
  bool done = false;
  absl::StatusOr<RedisReply> reply = absl::UnknownError("not answered");
};

absl::StatusOr<RedisReply> RedisClient::Send(
    const std::vector<std::string>& argv,
    std::optional<absl::Time> stamp_until) {
  Lane& lane = *lanes_[next_lane_.fetch_add(1, std::memory_order_relaxed) %
                       lanes_.size()];
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
          absl::StrCat("redis ", argv.empty() ? "" : argv[0], " on ",
                       options_.host, ":", options_.port, ": not sent within ",
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
    return absl::UnavailableError(
        absl::StrCat("redis ", argv.empty() ? "" : argv[0], " on ",
                     options_.host, ":", options_.port, ": ", st.message()));
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
    absl::StatusOr<std::unique_ptr<Connection>> c = Connect();
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
        p->stamp_until ? absl::StrCat(ScriptDeadlineMicros(*p->stamp_until))
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
  if (absl::Status st = c.Send(); !st.ok()) {
    return fail_from(0, failed(*sent[0]->argv, st));
  }
  // A connection to a node that is no longer the primary, or that lost its
  // authentication, stays so: a new one reaches the current primary (a
  // managed endpoint moves on failover) or authenticates again.
  bool stale = false;
  for (size_t i = 0; i < sent.size(); ++i) {
    absl::StatusOr<redisReply*> r = c.Read();
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

int64_t RedisClient::ScriptDeadlineMicros(absl::Time not_after) const {
  if (!clock_known_) return 0;
  // The client waits command_timeout for the answer; the script must run
  // a margin before that, so that its answer can still arrive.
  const absl::Duration margin =
      std::min(options_.command_timeout / 4, absl::Milliseconds(250));
  return absl::ToUnixMicros(std::min(
             absl::Now() + options_.command_timeout - margin, not_after)) +
         clock_offset_us_;
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

absl::StatusOr<std::string> RedisClient::ShaOf(const std::string& script) {
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [text, sha] : shas_) {
      if (text == script) return sha;
    }
  }
  absl::StatusOr<RedisReply> r = Command({"SCRIPT", "LOAD", script});
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
  // A restarted Redis has lost its scripts: reload once on NOSCRIPT.
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::string> sha = ShaOf(script);
    if (!sha.ok()) return sha.status();
    std::vector<std::string> argv = {"EVALSHA", *sha,
                                     std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<RedisReply> r = Call(argv, stamp_until);
    if (!r.ok() || !r->IsError() || !absl::StartsWith(r->str, "NOSCRIPT")) {
      return RefusedAsStatus(argv, std::move(r));
    }
    absl::MutexLock lock(&mu_);
    std::erase_if(shas_, [&](const auto& p) { return p.first == script; });
  }
  return absl::UnavailableError("redis keeps answering NOSCRIPT");
}

}  // namespace warden
