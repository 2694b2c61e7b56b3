#include "governance/redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
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
  if (!absl::ConsumePrefix(&rest, "redis://")) {
    return absl::InvalidArgumentError(
        "redis url: must look like redis://[[USER]:PASSWORD@]HOST:PORT[/DB]");
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

struct RedisClient::Connection {
  redisContext* ctx = nullptr;
  ~Connection() {
    if (ctx != nullptr) redisFree(ctx);
  }
};

RedisClient::RedisClient(RedisOptions options) : options_(std::move(options)) {
  for (size_t i = 0; i < std::max<size_t>(options_.pool_size, 1); ++i) {
    lanes_.push_back(std::make_unique<Lane>());
  }
}
RedisClient::~RedisClient() = default;

absl::StatusOr<std::unique_ptr<RedisClient::Connection>>
RedisClient::Connect() {
  const timeval connect_timeout = absl::ToTimeval(options_.connect_timeout);
  auto c = std::make_unique<Connection>();
  c->ctx = redisConnectWithTimeout(options_.host.c_str(), options_.port,
                                   connect_timeout);
  const std::string where = absl::StrCat(options_.host, ":", options_.port);
  if (c->ctx == nullptr || c->ctx->err) {
    return absl::UnavailableError(
        absl::StrCat("redis connect to ", where, ": ",
                     c->ctx ? c->ctx->errstr : "out of memory"));
  }
  if (redisSetTimeout(c->ctx, absl::ToTimeval(options_.command_timeout)) !=
      REDIS_OK) {
    return absl::UnavailableError(
        absl::StrCat("redis connect to ", where, ": cannot set timeout"));
  }
  if (!options_.password.empty()) {
    auto* r = static_cast<redisReply*>(
        options_.user.empty()
            ? redisCommand(c->ctx, "AUTH %b", options_.password.data(),
                           options_.password.size())
            : redisCommand(c->ctx, "AUTH %b %b", options_.user.data(),
                           options_.user.size(), options_.password.data(),
                           options_.password.size()));
    std::string refused = r == nullptr ? "no answer"
                          : r->type == REDIS_REPLY_ERROR
                              ? std::string(r->str, r->len)
                              : "";
    if (r != nullptr) freeReplyObject(r);
    if (!refused.empty()) {
      // Redis's answer (WRONGPASS ...) never quotes the password.
      return absl::UnavailableError(
          absl::StrCat("redis AUTH", options_.user.empty() ? "" : " as ",
                       options_.user, " on ", where, " refused: ", refused));
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
      auto* r = static_cast<redisReply*>(redisCommand(c->ctx, "TIME"));
      const absl::Time received = absl::Now();
      int64_t seconds = 0, micros = 0;
      if (r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
          r->element[0]->type == REDIS_REPLY_STRING &&
          r->element[1]->type == REDIS_REPLY_STRING &&
          absl::SimpleAtoi(r->element[0]->str, &seconds) &&
          absl::SimpleAtoi(r->element[1]->str, &micros)) {
        const int64_t lower =
            seconds * 1'000'000 + micros - absl::ToUnixMicros(received);
        offset = std::max(offset.value_or(lower), lower);
      }
      if (r == nullptr) {
        // No answer within the command timeout (a hung host): the
        // connection is unusable.
        return absl::UnavailableError(
            absl::StrCat("redis TIME on ", where, ": ", c->ctx->errstr));
      }
      freeReplyObject(r);
    }
    if (offset) {
      clock_offset_us_ = *offset;
      clock_known_ = true;
    }
  }
  if (options_.db != 0) {
    auto* r = static_cast<redisReply*>(
        redisCommand(c->ctx, "SELECT %d", options_.db));
    const bool ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
    if (r != nullptr) freeReplyObject(r);
    if (!ok) {
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
    const std::vector<std::string>& argv, bool stamp_deadline) {
  const absl::Time start = absl::Now();
  absl::StatusOr<RedisReply> reply = Send(argv, stamp_deadline);
  ReportBackendCall("redis", argv.empty() ? "" : argv[0], absl::Now() - start,
                    reply.ok() && reply->type != RedisReply::Type::kError);
  return reply;
}

struct RedisClient::Pending {
  const std::vector<std::string>* argv;
  bool stamp_deadline;
  bool taken = false;  // In a batch that a leader is sending.
  bool done = false;
  absl::StatusOr<RedisReply> reply = absl::UnknownError("not answered");
};

absl::StatusOr<RedisReply> RedisClient::Send(
    const std::vector<std::string>& argv, bool stamp_deadline) {
  Lane& lane = *lanes_[next_lane_.fetch_add(1, std::memory_order_relaxed) %
                       lanes_.size()];
  Pending p{.argv = &argv, .stamp_deadline = stamp_deadline};
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
      return absl::UnavailableError(
          absl::StrCat("redis ", argv.empty() ? "" : argv[0], " on ",
                       options_.host, ":", options_.port, ": not sent within ",
                       absl::FormatDuration(options_.command_timeout),
                       " (the connection is busy with earlier calls)"));
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
  const auto fail_from = [&](size_t first, const absl::Status& st) {
    for (size_t i = first; i < batch.size(); ++i) batch[i]->reply = st;
    lane.connection.reset();  // Its state is unknown: drop it.
  };
  if (lane.connection == nullptr) {
    absl::StatusOr<std::unique_ptr<Connection>> c = Connect();
    if (!c.ok()) return fail_from(0, c.status());
    lane.connection = *std::move(c);
  }
  redisContext* ctx = lane.connection->ctx;
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const Pending* p : batch) {
    const std::vector<std::string>& argv = *p->argv;
    // Stamped as it is sent, so that waiting in the queue does not count
    // against the script's time.
    const std::string deadline =
        p->stamp_deadline ? absl::StrCat(ScriptDeadlineMicros()) : "";
    args.clear();
    lens.clear();
    for (size_t i = 0; i < argv.size(); ++i) {
      const std::string& a =
          p->stamp_deadline && i + 1 == argv.size() ? deadline : argv[i];
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx, static_cast<int>(args.size()), args.data(),
                               lens.data()) != REDIS_OK) {
      return fail_from(0, absl::UnavailableError(
                              absl::StrCat("redis on ", options_.host, ":",
                                           options_.port, ": ", ctx->errstr)));
    }
  }
  // A connection to a node that is no longer the primary, or that lost its
  // authentication, stays so: a new one reaches the current primary (a
  // managed endpoint moves on failover) or authenticates again.
  bool stale = false;
  for (size_t i = 0; i < batch.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(ctx, &raw) != REDIS_OK || raw == nullptr) {
      const std::vector<std::string>& argv = *batch[i]->argv;
      return fail_from(
          i, absl::UnavailableError(absl::StrCat(
                 "redis ", argv.empty() ? "" : argv[0], " on ", options_.host,
                 ":", options_.port, ": ", ctx->errstr)));
    }
    auto* r = static_cast<redisReply*>(raw);
    RedisReply reply = Copy(r);
    freeReplyObject(r);
    stale = stale ||
            (reply.IsError() && (absl::StartsWith(reply.str, "READONLY") ||
                                 absl::StartsWith(reply.str, "MASTERDOWN") ||
                                 absl::StartsWith(reply.str, "LOADING") ||
                                 absl::StartsWith(reply.str, "NOAUTH")));
    batch[i]->reply = std::move(reply);
  }
  if (stale) lane.connection.reset();
}

int64_t RedisClient::ScriptDeadlineMicros() const {
  if (!clock_known_) return 0;
  // The client waits command_timeout for the answer; the script must run
  // a margin before that, so that its answer can still arrive.
  const absl::Duration margin =
      std::min(options_.command_timeout / 4, absl::Milliseconds(250));
  return absl::ToUnixMicros(absl::Now() + options_.command_timeout - margin) +
         clock_offset_us_;
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
  return EvalImpl(script, keys, args, /*stamp_deadline=*/false);
}

absl::StatusOr<RedisReply> RedisClient::EvalWithDeadline(
    const std::string& script, const std::vector<std::string>& keys,
    const std::vector<std::string>& args) {
  return EvalImpl(script, keys, args, /*stamp_deadline=*/true);
}

absl::StatusOr<RedisReply> RedisClient::EvalImpl(
    const std::string& script, const std::vector<std::string>& keys,
    const std::vector<std::string>& args, bool stamp_deadline) {
  // A restarted Redis has lost its scripts: reload once on NOSCRIPT.
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::string> sha = ShaOf(script);
    if (!sha.ok()) return sha.status();
    std::vector<std::string> argv = {"EVALSHA", *sha,
                                     std::to_string(keys.size())};
    argv.insert(argv.end(), keys.begin(), keys.end());
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<RedisReply> r = Call(argv, stamp_deadline);
    if (!r.ok() || !r->IsError() || !absl::StartsWith(r->str, "NOSCRIPT")) {
      return RefusedAsStatus(argv, std::move(r));
    }
    absl::MutexLock lock(&mu_);
    std::erase_if(shas_, [&](const auto& p) { return p.first == script; });
  }
  return absl::UnavailableError("redis keeps answering NOSCRIPT");
}

}  // namespace warden
