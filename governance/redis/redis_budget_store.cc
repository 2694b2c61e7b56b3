#include "governance/redis/redis_budget_store.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "governance/audit_codec.h"
#include "governance/audit_log.h"
#include "governance/redis/redis_scripts.h"
#include "governance/status_macros.h"
#include "governance/usage_buckets.h"
#include "openssl/rand.h"

namespace warden {
namespace {

// Key names (see redis_budget_store.h). The layout of usage buckets changed
// with the names: a Redis filled by an older release is not read, and each
// org is rebuilt from its durable record on first use.
std::string Tag(const std::string& org) { return absl::StrCat("{", org, "}"); }

std::string RecordKey(const std::string& org, const std::string& id) {
  return absl::StrCat(Tag(org), ":r:", id);
}
std::string IdempotencyKey(const Authorization& a) {
  return absl::StrCat(Tag(a.org_id), ":i:", a.agent_id, ":", a.idempotency_key);
}
std::string ExpiryKey(const std::string& org) {
  return absl::StrCat(Tag(org), ":x");
}
std::string AwaitingKey(const std::string& org) {
  return absl::StrCat(Tag(org), ":w");
}
std::string ReadyKey(const std::string& org) {
  return absl::StrCat(Tag(org), ":ok");
}
std::string RecoveryKey(const std::string& org) {
  return absl::StrCat(Tag(org), ":rb");
}
std::string ClaimKey(const std::string& org) {
  return absl::StrCat(Tag(org), ":rl");
}
// 128 random bits, in hex: a recovery's token, or a claim.
absl::StatusOr<std::string> RandomToken() {
  uint8_t random[16];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("no randomness for a recovery token");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(random), sizeof(random)));
}
// How long the ready mark lives without a refresh (every sweep refreshes it):
// should every replica be gone longer than this, the next start rebuilds.
constexpr int64_t kReadyTtlSeconds = 86400;
// A script's {"notready", why}.
absl::Status NotReady(const std::string& org, const RedisReply& r) {
  if (r.elements.size() > 1 && r.elements[1].str == "unverified") {
    return absl::UnavailableError(absl::StrCat(
        "redis failed over (a replica was promoted, or the server restarted) "
        "since org ",
        org,
        "'s budget state was last checked: checking it against the durable "
        "record for writes the failover lost, retry shortly"));
  }
  return absl::UnavailableError(absl::StrCat(
      "redis holds no budget state for org ", org,
      " (new, or lost by a flush, restart or failover); rebuilding it from "
      "the durable record, retry shortly"));
}
std::string FrozenKey(const std::string& org, const std::string& scope) {
  return absl::StrCat(Tag(org), ":frozen:", scope);
}
std::string UsageKey(const std::string& org, const std::string& scope) {
  return absl::StrCat(Tag(org), ":u:", scope);
}

absl::Status Unexpected(absl::string_view op, const RedisReply& r) {
  return absl::UnavailableError(
      absl::StrCat("redis ", op, ": unexpected reply",
                   r.IsError() ? absl::StrCat(": ", r.str) : std::string()));
}

// Per level: the bucket holding `t`, and the names of its USD and count
// fields.
void AppendBucketFields(absl::Time t, std::vector<std::string>* args) {
  for (const usage::Level& l : usage::kLevels) {
    const int64_t n = usage::BucketOf(l, t);
    const std::string name = absl::StrCat(std::string(1, l.name), n);
    args->insert(args->end(), {absl::StrCat(n), absl::StrCat(name, "u"),
                               absl::StrCat(name, "c")});
  }
}

}  // namespace

RedisBudgetStore::RedisBudgetStore(std::unique_ptr<RedisClient> client)
    : client_(std::move(client)) {}

absl::StatusOr<RedisBudgetStore::ScriptCall> RedisBudgetStore::ReserveCall(
    const ReserveRequest& request, bool restore) {
  const Authorization& a = request.authorization;
  const bool hold = a.status == AuthorizationStatus::kHeld && !restore;
  const bool charge = hold || (restore && a.Charges());
  const std::vector<std::string> path = ScopePath(a);
  if (a.amount_usd > kMaxExactMicros) {
    return absl::InvalidArgumentError(absl::StrCat(
        "amount: ", FormatUsd(a.amount_usd),
        " exceeds the largest amount the Redis store compares exactly, ",
        FormatUsd(kMaxExactMicros)));
  }
  ScriptCall call;
  call.keys = {RecordKey(a.org_id, a.id), IdempotencyKey(a),
               ExpiryKey(a.org_id), AwaitingKey(a.org_id), ReadyKey(a.org_id)};
  if (hold) {
    for (const std::string& scope : path) {
      call.keys.push_back(FrozenKey(a.org_id, scope));
    }
  }
  if (charge) {
    for (const std::string& scope : path) {
      call.keys.push_back(UsageKey(a.org_id, scope));
    }
  }
  const size_t limits = hold ? request.limits.size() : 0;
  call.args = {
      restore ? "restore"
      : hold  ? "hold"
              : "record",
      a.id, EncodeAuthorization(a), StatusName(a.status),
      // What it charges: the held amount, or the settled one if restored.
      absl::StrCat(restore ? a.ChargedUsd() : a.amount_usd),
      absl::StrCat(absl::ToUnixMillis(a.hold_expires_at)),
      absl::StrCat(absl::ToUnixSeconds(request.retain_until)),
      a.on_expiry == ExpiredHolds::kCount ? "count" : "release",
      a.idempotency_key.empty() ? "0"
                                : absl::StrCat(std::max<int64_t>(
                                      1, absl::ToUnixMillis(a.created_at))),
      absl::StrCat(hold ? path.size() : 0),
      absl::StrCat(charge ? path.size() : 0), absl::StrCat(limits),
      DecisionName(a.decision), absl::StrCat(absl::ToUnixSeconds(a.created_at)),
      absl::StrJoin(path, "|")};
  AppendBucketFields(a.created_at, &call.args);
  for (size_t i = 0; i < limits; ++i) {
    const LimitCheck& c = request.limits[i];
    if (c.cap > kMaxExactMicros) {
      return absl::InvalidArgumentError(absl::StrCat(
          "limit ", path[c.scope_index], " ", c.limit_name,
          ": cap exceeds the largest the Redis store compares exactly (",
          FormatUsd(kMaxExactMicros),
          " or as many transactions); apply a "
          "bundle with a smaller cap"));
    }
    const char* kind = c.kind == Limit::Kind::kUsd ? "u" : "c";
    const std::vector<usage::Span> spans = usage::SpansOf(c, a.created_at);
    int64_t fields = 0;
    for (const usage::Span& span : spans) fields += span.last - span.first + 1;
    call.args.insert(
        call.args.end(),
        {kind, absl::StrCat(c.cap), absl::StrCat(c.scope_index),
         absl::StrCat(c.child_index),
         // Whole seconds from the start: what the reason counts as pending.
         absl::StrCat(absl::ToUnixSeconds(c.interval.start + absl::Seconds(1) -
                                          absl::Nanoseconds(1))),
         absl::StrCat(fields)});
    for (const usage::Span& span : spans) {
      for (int64_t n = span.first; n <= span.last; ++n) {
        call.args.push_back(absl::StrCat(
            std::string(1, usage::kLevels[span.level].name), n, kind));
      }
    }
  }
  call.args.push_back("0");  // The deadline: stamped by EvalWithDeadline.
  return call;
}

absl::StatusOr<ReserveResult> RedisBudgetStore::Reserve(
    const ReserveRequest& request) {
  const Authorization& a = request.authorization;
  const bool hold = a.status == AuthorizationStatus::kHeld;
  const std::vector<std::string> path = ScopePath(a);
  ResolveInDoubt();
  WARDEN_ASSIGN_OR_RETURN(ScriptCall call, ReserveCall(request));
  absl::StatusOr<RedisReply> sent = client_->EvalWithDeadline(
      redis_scripts::Reserve(), call.keys, call.args, request.not_after);
  if (!sent.ok()) {
    if (RedisClient::NeverSent(sent.status())) return sent.status();
    // Redis may have run it: its record, if any, is abandoned once Redis
    // answers again, as no caller is told of it.
    absl::MutexLock lock(&doubt_mu_);
    if (in_doubt_.size() >= kMaxInDoubt) in_doubt_.pop_front();
    in_doubt_.emplace_back(a.org_id, a.id);
    return sent.status();
  }
  const RedisReply& r = *sent;
  if (r.type != RedisReply::Type::kArray || r.elements.empty()) {
    return Unexpected("reserve", r);
  }
  const std::string& tag = r.elements[0].str;
  ReserveResult result;
  if (tag == "notready") return NotReady(a.org_id, r);
  if (tag == "late") {
    return absl::UnavailableError(
        "redis ran the reservation past its deadline (it was stalled); "
        "nothing was reserved, retry");
  }
  if (tag == "ok") {
    result.outcome = hold ? ReserveResult::Outcome::kReserved
                          : ReserveResult::Outcome::kRecorded;
    if (hold && r.elements.size() != request.limits.size() + 1) {
      return Unexpected("reserve", r);
    }
    for (size_t i = 1; hold && i < r.elements.size(); ++i) {
      result.used_before.push_back(r.elements[i].integer);
    }
    return result;
  }
  if (tag == "dup" && r.elements.size() == 2) {
    result.outcome = ReserveResult::Outcome::kDuplicate;
    WARDEN_ASSIGN_OR_RETURN(result.authorization,
                            Get(a.org_id, r.elements[1].str));
    return result;
  }
  if (tag == "frozen" && r.elements.size() == 2 &&
      r.elements[1].integer < static_cast<int64_t>(path.size())) {
    result.outcome = ReserveResult::Outcome::kFrozen;
    result.frozen_scope = path[r.elements[1].integer];
    return result;
  }
  if (tag == "overflow" && r.elements.size() == 2 &&
      r.elements[1].integer < static_cast<int64_t>(path.size())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "amount: charging it would take the usage of ",
        path[r.elements[1].integer],
        " past the largest sum the Redis store keeps exactly in one bucket (",
        FormatUsd(kMaxExactMicros), ")"));
  }
  if (tag == "over" && r.elements.size() == 2) {
    result.outcome = ReserveResult::Outcome::kOverLimit;
    for (const RedisReply& e : r.elements[1].elements) {
      if (e.elements.size() != 4) return Unexpected("reserve", r);
      LimitUsage usage;
      usage.limit_index = static_cast<size_t>(e.elements[0].integer);
      usage.used = e.elements[1].integer;
      usage.child_used = e.elements[2].integer;
      usage.pending = e.elements[3].integer;
      if (usage.limit_index >= request.limits.size()) {
        return Unexpected("reserve", r);
      }
      result.exceeded.push_back(usage);
    }
    return result;
  }
  return Unexpected("reserve", r);
}

absl::StatusOr<std::vector<int64_t>> RedisBudgetStore::Usage(
    const std::string& org_id, const std::vector<UsageQuery>& queries,
    absl::Time now) {
  std::vector<int64_t> out;
  if (queries.empty()) return out;
  // One script call: per query, its usage hash and the fields to sum.
  std::vector<std::string> keys, args;
  for (const UsageQuery& q : queries) {
    keys.push_back(UsageKey(org_id, q.scope));
    const char* kind = q.kind == Limit::Kind::kUsd ? "u" : "c";
    const size_t count_at = args.size();
    args.push_back("0");
    int64_t fields = 0;
    for (const usage::Span& span : usage::SpansOf(q, now)) {
      for (int64_t n = span.first; n <= span.last; ++n, ++fields) {
        args.push_back(absl::StrCat(
            std::string(1, usage::kLevels[span.level].name), n, kind));
      }
    }
    args[count_at] = absl::StrCat(fields);
  }
  WARDEN_ASSIGN_OR_RETURN(RedisReply r,
                          client_->Eval(redis_scripts::Sums(), keys, args));
  if (r.type != RedisReply::Type::kArray ||
      r.elements.size() != queries.size()) {
    return Unexpected("usage", r);
  }
  for (const RedisReply& e : r.elements) {
    if (e.type != RedisReply::Type::kInteger) return Unexpected("usage", e);
    // Sums the script capped at 2^62 are past every cap either way.
    out.push_back(e.integer);
  }
  return out;
}

absl::StatusOr<std::vector<UsageBreakdown>> RedisBudgetStore::Breakdown(
    const std::string& org_id, const std::vector<UsageQuery>& queries,
    absl::Time now) {
  std::vector<std::string> keys = {ReadyKey(org_id), ExpiryKey(org_id)};
  std::vector<std::string> args = {RecordKey(org_id, ""),
                                   absl::StrCat(kMaxBreakdownHolds)};
  // Per query, each bucket searched for the oldest usage, in the order sent.
  std::vector<std::vector<Interval>> buckets;
  for (const UsageQuery& q : queries) {
    keys.push_back(UsageKey(org_id, q.scope));
    const char* kind = q.kind == Limit::Kind::kUsd ? "u" : "c";
    args.insert(
        args.end(),
        {kind, absl::StrCat(absl::ToUnixSeconds(q.interval.start)), q.scope});
    // The buckets to sum, then (rolling windows) those to search.
    std::vector<Interval>& searched = buckets.emplace_back();
    for (const bool search : {false, true}) {
      std::vector<usage::Span> spans;
      if (!search) {
        spans = usage::SpansOf(q, now);
      } else if (!q.calendar) {
        spans = {usage::FinestSpan(q, now)};
      }
      const size_t count_at = args.size();
      args.emplace_back();
      for (const usage::Span& span : spans) {
        const usage::Level& level = usage::kLevels[span.level];
        for (int64_t n = span.first; n <= span.last; ++n) {
          args.push_back(absl::StrCat(std::string(1, level.name), n, kind));
          if (search) searched.push_back(usage::BucketSpan(level, n));
        }
      }
      args[count_at] = absl::StrCat(args.size() - count_at - 1);
    }
  }
  WARDEN_ASSIGN_OR_RETURN(
      RedisReply r, client_->Eval(redis_scripts::Breakdown(), keys, args));
  if (r.type == RedisReply::Type::kArray && !r.elements.empty() &&
      r.elements[0].str == "notready") {
    return NotReady(org_id, r);
  }
  if (r.type == RedisReply::Type::kArray && r.elements.size() == 2 &&
      r.elements[0].str == "toomany") {
    return TooManyHolds(r.elements[1].integer);
  }
  if (r.type != RedisReply::Type::kArray ||
      r.elements.size() != queries.size() + 1) {
    return Unexpected("breakdown", r);
  }
  std::vector<UsageBreakdown> out;
  for (size_t i = 0; i < queries.size(); ++i) {
    const RedisReply& e = r.elements[i + 1];
    if (e.type != RedisReply::Type::kArray || e.elements.size() != 4 ||
        std::any_of(e.elements.begin(), e.elements.end(),
                    [](const RedisReply& x) {
                      return x.type != RedisReply::Type::kInteger;
                    })) {
      return Unexpected("breakdown", e);
    }
    const int64_t first = e.elements[1].integer;
    if (first < 0 || first > static_cast<int64_t>(buckets[i].size())) {
      return Unexpected("breakdown", e);
    }
    out.push_back({.used = e.elements[0].integer,
                   .pending = e.elements[2].integer,
                   .held = e.elements[3].integer,
                   .oldest = first == 0
                                 ? std::nullopt
                                 : std::optional(buckets[i][first - 1])});
  }
  return out;
}

absl::StatusOr<std::vector<std::optional<AuthorizationStatus>>>
RedisBudgetStore::StatusesOf(const std::string& org_id,
                             const std::vector<std::string>& ids) {
  std::vector<std::optional<AuthorizationStatus>> out;
  if (ids.empty()) return out;
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (const std::string& id : ids) keys.push_back(RecordKey(org_id, id));
  WARDEN_ASSIGN_OR_RETURN(RedisReply r,
                          client_->Eval(redis_scripts::Statuses(), keys, {}));
  if (r.type != RedisReply::Type::kArray || r.elements.size() != ids.size()) {
    return Unexpected("statuses", r);
  }
  for (const RedisReply& e : r.elements) {
    if (e.type == RedisReply::Type::kNil) {
      out.push_back(std::nullopt);
      continue;
    }
    AuthorizationStatus status;
    if (e.type != RedisReply::Type::kString ||
        !ParseStatusName(e.str, &status)) {
      return Unexpected("statuses", e);
    }
    out.push_back(status);
  }
  return out;
}

absl::StatusOr<Authorization> RedisBudgetStore::Get(const std::string& org_id,
                                                    const std::string& id) {
  WARDEN_ASSIGN_OR_RETURN(RedisReply r,
                          client_->Command({"HGETALL", RecordKey(org_id, id)}));
  if (r.type != RedisReply::Type::kArray || r.elements.size() % 2 != 0) {
    return Unexpected("get", r);
  }
  std::map<std::string, std::string> fields;
  for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    fields[r.elements[i].str] = r.elements[i + 1].str;
  }
  auto field = [&](const char* name) -> const std::string* {
    auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
  };
  auto corrupt = [&](absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("authorization ", id, " in redis: ", what));
  };
  if (field("rec") == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no authorization \"", id, "\" in org ", org_id));
  }
  absl::StatusOr<Authorization> a = DecodeAuthorization(*field("rec"));
  if (!a.ok()) return corrupt(a.status().message());
  if (const std::string* st = field("st")) {
    // An unknown name leaves the status the record was created with.
    ParseStatusName(*st, &a->status);
  }
  if (a->status == AuthorizationStatus::kSettled) {
    absl::StatusOr<absl::uint128> sa = ParseBaseUnits(fields["sa"]);
    if (!sa.ok() || !absl::SimpleAtoi(fields["su"], &a->settled_usd)) {
      return corrupt("bad settlement");
    }
    a->settled_amount = *sa;
    a->tx_hash = fields["tx"];
  }
  a->expired_counted = fields["ec"] == "1";
  // What an approval changed.
  if (const std::string* dec = field("dec"); dec && *dec == "ALLOW") {
    a->decision = Decision::kAllow;
  }
  if (const std::string* hx = field("hx")) {
    int64_t ns = 0;
    if (!absl::SimpleAtoi(*hx, &ns)) return corrupt("bad hold expiry");
    a->hold_expires_at = absl::FromUnixNanos(ns);
    a->on_expiry = fields["pol"] == "count" ? ExpiredHolds::kCount
                                            : ExpiredHolds::kRelease;
  }
  std::vector<ApprovalVote> votes;
  for (const auto& [name, value] : fields) {
    if (name.rfind("v:", 0) != 0) continue;
    absl::StatusOr<ApprovalVote> v = DecodeApprovalVote(value.substr(1));
    if (!v.ok()) return corrupt(v.status().message());
    votes.push_back(*std::move(v));
  }
  if (!votes.empty()) {
    std::stable_sort(votes.begin(), votes.end(),
                     [](const ApprovalVote& x, const ApprovalVote& y) {
                       return x.at < y.at;
                     });
    a->votes = std::move(votes);
  }
  return a;
}

absl::StatusOr<RedisReply> RedisBudgetStore::Transition(
    const std::string& org_id, const std::string& id, const std::string& op,
    absl::Time now, const TransitionArgs& extra) {
  // The usage hashes a record charged never change after the reservation,
  // so reading them first is safe; the script then declares every key it
  // touches.
  const std::string record = RecordKey(org_id, id);
  WARDEN_ASSIGN_OR_RETURN(RedisReply b,
                          client_->Command({"HMGET", record, "b", "rec", "t"}));
  if (b.type != RedisReply::Type::kArray || b.elements.size() != 3) {
    return Unexpected(op, b);
  }
  if (b.elements[1].type != RedisReply::Type::kString) {
    return absl::NotFoundError(
        absl::StrCat("no authorization \"", id, "\" in org ", org_id));
  }
  std::string idempotency = ExpiryKey(org_id);
  if (op == "abandon") {
    absl::StatusOr<Authorization> a = DecodeAuthorization(b.elements[1].str);
    if (a.ok() && !a->idempotency_key.empty()) {
      idempotency = IdempotencyKey(*a);
    }
  }
  std::vector<std::string> keys = {record, ExpiryKey(org_id), idempotency,
                                   ReadyKey(org_id), AwaitingKey(org_id)};
  std::vector<std::string> args = {op,
                                   id,
                                   absl::StrCat(absl::ToUnixMillis(now)),
                                   extra.settled_amount,
                                   extra.settled_usd,
                                   extra.tx_hash,
                                   extra.approver,
                                   extra.vote,
                                   extra.expiry_ms,
                                   extra.expiry_ns,
                                   extra.on_expiry,
                                   extra.approvals_required};
  int64_t charged_at = 0;
  if (b.elements[2].type == RedisReply::Type::kString &&
      !absl::SimpleAtoi(b.elements[2].str, &charged_at)) {
    return Unexpected(op, b);
  }
  AppendBucketFields(absl::FromUnixSeconds(charged_at), &args);
  if (b.elements[0].type == RedisReply::Type::kString) {
    for (absl::string_view key : absl::StrSplit(b.elements[0].str, '\n')) {
      keys.emplace_back(key);
    }
  }
  WARDEN_ASSIGN_OR_RETURN(
      RedisReply r, client_->Eval(redis_scripts::Transition(), keys, args));
  if (r.type != RedisReply::Type::kArray || r.elements.empty()) {
    return Unexpected(op, r);
  }
  const std::string& tag = r.elements[0].str;
  if (tag == "notready") return NotReady(org_id, r);
  if (tag == "notfound") {
    return absl::NotFoundError(
        absl::StrCat("no authorization \"", id, "\" in org ", org_id));
  }
  if (tag == "state") {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot ", op, " authorization ", id, ": it is ",
                     r.elements.size() > 1 ? r.elements[1].str : "?"));
  }
  if (tag == "expired") {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot ", op, " authorization ", id, ": its hold expired"));
  }
  if (tag != "ok") return Unexpected(op, r);
  return r;
}

absl::StatusOr<Authorization> RedisBudgetStore::Settle(
    const std::string& org_id, const std::string& id, absl::uint128 amount,
    UsdMicros amount_usd, const std::string& tx_hash, absl::Time now) {
  TransitionArgs extra;
  extra.settled_amount = FormatBaseUnits(amount);
  extra.settled_usd = absl::StrCat(amount_usd);
  extra.tx_hash = tx_hash;
  WARDEN_RETURN_IF_ERROR(Transition(org_id, id, "settle", now, extra).status());
  return Get(org_id, id);
}

absl::StatusOr<Authorization> RedisBudgetStore::Void(const std::string& org_id,
                                                     const std::string& id,
                                                     absl::Time now) {
  WARDEN_RETURN_IF_ERROR(Transition(org_id, id, "void", now, {}).status());
  return Get(org_id, id);
}

absl::Status RedisBudgetStore::Abandon(const std::string& org_id,
                                       const std::string& id) {
  return Transition(org_id, id, "abandon", absl::Now(), {}).status();
}

absl::StatusOr<BudgetStore::Readiness> RedisBudgetStore::CheckReady(
    const std::string& org_id) {
  WARDEN_ASSIGN_OR_RETURN(
      RedisReply r,
      client_->Eval(redis_scripts::CheckReady(), {ReadyKey(org_id)},
                    {absl::StrCat(kReadyTtlSeconds)}));
  if (r.type != RedisReply::Type::kArray || r.elements.size() != 2 ||
      r.elements[1].type != RedisReply::Type::kString) {
    return Unexpected("readiness", r);
  }
  Readiness out;
  out.history = r.elements[1].str;
  const std::string& state = r.elements[0].str;
  if (state == "empty") {
    out.state = Readiness::State::kEmpty;
  } else if (state == "unverified") {
    out.state = Readiness::State::kUnverified;
  } else if (state != "ready") {
    return Unexpected("readiness", r);
  }
  return out;
}

absl::StatusOr<BudgetStore::Recovery> RedisBudgetStore::BeginRecovery(
    const std::string& org_id, const std::string& history,
    absl::Duration hold) {
  WARDEN_ASSIGN_OR_RETURN(std::string token, RandomToken());
  WARDEN_ASSIGN_OR_RETURN(
      RedisReply r,
      client_->Eval(
          redis_scripts::BeginRecovery(), {RecoveryKey(org_id)},
          {history,
           absl::StrCat(std::max<int64_t>(0, absl::ToInt64Milliseconds(hold))),
           token}));
  if (r.type != RedisReply::Type::kArray || r.elements.size() != 2 ||
      r.elements[0].type != RedisReply::Type::kString ||
      r.elements[1].type != RedisReply::Type::kInteger) {
    return Unexpected("recovery", r);
  }
  return Recovery{.token = r.elements[0].str,
                  .hold_left = absl::Milliseconds(r.elements[1].integer)};
}

absl::StatusOr<std::string> RedisBudgetStore::ClaimRecovery(
    const std::string& org_id) {
  WARDEN_ASSIGN_OR_RETURN(std::string claim, RandomToken());
  WARDEN_ASSIGN_OR_RETURN(
      RedisReply r,
      client_->Command({"SET", ClaimKey(org_id), claim, "NX", "PX", "60000"}));
  return r.type == RedisReply::Type::kNil ? std::string() : claim;
}

absl::Status RedisBudgetStore::ReleaseClaim(const std::string& org_id,
                                            const std::string& claim) {
  return client_
      ->Eval(redis_scripts::ReleaseClaim(), {ClaimKey(org_id)}, {claim})
      .status();
}

absl::Status RedisBudgetStore::MarkReady(const std::string& org_id,
                                         const std::string& history,
                                         const std::string& token,
                                         const std::string& claim) {
  WARDEN_ASSIGN_OR_RETURN(
      RedisReply r,
      client_->Eval(redis_scripts::MarkReady(),
                    {ReadyKey(org_id), RecoveryKey(org_id), ClaimKey(org_id)},
                    {history, token, absl::StrCat(kReadyTtlSeconds), claim}));
  if (r.type != RedisReply::Type::kInteger) return Unexpected("ready mark", r);
  if (r.integer == 0) {
    return absl::UnavailableError(absl::StrCat(
        "org ", org_id,
        "'s budget state changed while it was being checked or rebuilt (redis "
        "failed over or was flushed again, or another replica is rebuilding "
        "it); starting over"));
  }
  return absl::OkStatus();
}

absl::Status RedisBudgetStore::Restore(const Authorization& a,
                                       absl::Time retain_until,
                                       const absl::TimeZone& zone) {
  ReserveRequest request;
  request.authorization = a;
  request.retain_until = retain_until;
  request.zone = zone;
  WARDEN_ASSIGN_OR_RETURN(ScriptCall call,
                          ReserveCall(request, /*restore=*/true));
  WARDEN_ASSIGN_OR_RETURN(RedisReply r, client_->Eval(redis_scripts::Reserve(),
                                                      call.keys, call.args));
  if (r.type != RedisReply::Type::kArray || r.elements.empty() ||
      r.elements[0].str != "ok") {
    return Unexpected("restore", r);
  }
  if (r.elements.size() > 1 && r.elements[1].str == "kept") {
    return absl::OkStatus();  // Already there: left as it is.
  }
  // The state a transition reached, on the fresh record.
  std::vector<std::string> fields = {"ec", a.expired_counted ? "1" : "0"};
  if (a.settled_amount) {
    fields.insert(fields.end(), {"sa", FormatBaseUnits(*a.settled_amount), "su",
                                 absl::StrCat(a.settled_usd), "tx", a.tx_hash});
  }
  for (const ApprovalVote& v : a.votes) {
    fields.insert(fields.end(),
                  {absl::StrCat("v:", v.approver),
                   absl::StrCat(v.approve ? "A" : "R", EncodeApprovalVote(v))});
  }
  if (!a.votes.empty()) {
    fields.insert(fields.end(), {"na", absl::StrCat(a.Approvals())});
  }
  return client_
      ->Eval(redis_scripts::SetOnRecord(), {RecordKey(a.org_id, a.id)}, fields)
      .status();
}

absl::Status RedisBudgetStore::SetFrozen(const std::string& org_id,
                                         const std::string& scope,
                                         bool frozen) {
  const std::string key = FrozenKey(org_id, scope);
  return client_
      ->Command(frozen ? std::vector<std::string>{"SET", key, "1"}
                       : std::vector<std::string>{"DEL", key})
      .status();
}

absl::StatusOr<std::vector<Authorization>> RedisBudgetStore::VoidUnder(
    const std::string& org_id, const std::string& scope, absl::Time now,
    size_t max_records) {
  // Every HELD record is in the expiry set; new holds under the scope are
  // already refused by its frozen flag, so this walk terminates.
  WARDEN_ASSIGN_OR_RETURN(
      RedisReply held,
      client_->Command({"ZRANGE", ExpiryKey(org_id), "0", "-1"}));
  if (held.type != RedisReply::Type::kArray) return Unexpected("void", held);
  std::vector<Authorization> voided;
  for (const RedisReply& id : held.elements) {
    if (voided.size() >= max_records) break;
    WARDEN_ASSIGN_OR_RETURN(
        RedisReply path,
        client_->Command({"HGET", RecordKey(org_id, id.str), "p"}));
    const std::vector<std::string> scopes = absl::StrSplit(path.str, '|');
    if (std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) {
      continue;
    }
    absl::StatusOr<RedisReply> r = Transition(org_id, id.str, "void", now, {});
    if (absl::IsFailedPrecondition(r.status()) ||
        absl::IsNotFound(r.status())) {
      continue;  // Settled, voided or expired meanwhile.
    }
    WARDEN_RETURN_IF_ERROR(r.status());
    WARDEN_ASSIGN_OR_RETURN(Authorization a, Get(org_id, id.str));
    voided.push_back(std::move(a));
  }
  return voided;
}

absl::StatusOr<VoteResult> RedisBudgetStore::Vote(const std::string& org_id,
                                                  const std::string& id,
                                                  const ApprovalVote& vote,
                                                  absl::Time allowed_until,
                                                  ExpiredHolds on_expiry) {
  WARDEN_ASSIGN_OR_RETURN(Authorization before, Get(org_id, id));
  TransitionArgs extra;
  extra.approver = vote.approver;
  extra.vote = absl::StrCat(vote.approve ? "A" : "R", EncodeApprovalVote(vote));
  extra.expiry_ms = absl::StrCat(absl::ToUnixMillis(allowed_until));
  extra.expiry_ns = absl::StrCat(absl::ToUnixNanos(allowed_until));
  extra.on_expiry = on_expiry == ExpiredHolds::kCount ? "count" : "release";
  extra.approvals_required = absl::StrCat(before.approvals_required);
  WARDEN_ASSIGN_OR_RETURN(RedisReply r,
                          Transition(org_id, id, "vote", vote.at, extra));
  const bool counted = r.elements.size() < 2 || r.elements[1].str != "DUP";
  WARDEN_ASSIGN_OR_RETURN(Authorization after, Get(org_id, id));
  return VoteResult{std::move(after), counted};
}

absl::StatusOr<int64_t> RedisBudgetStore::CountHeld(const std::string& org_id) {
  WARDEN_ASSIGN_OR_RETURN(RedisReply n,
                          client_->Command({"ZCARD", ExpiryKey(org_id)}));
  if (n.type != RedisReply::Type::kInteger) return Unexpected("count", n);
  return n.integer;
}

absl::StatusOr<std::vector<Authorization>> RedisBudgetStore::ListAwaiting(
    const std::string& org_id, size_t max_records) {
  WARDEN_ASSIGN_OR_RETURN(
      RedisReply ids,
      client_->Command({"ZRANGE", AwaitingKey(org_id), "0",
                        absl::StrCat(static_cast<int64_t>(max_records) - 1)}));
  if (ids.type != RedisReply::Type::kArray) return Unexpected("list", ids);
  std::vector<Authorization> out;
  for (const RedisReply& id : ids.elements) {
    absl::StatusOr<Authorization> a = Get(org_id, id.str);
    if (absl::IsNotFound(a.status())) {
      // Its record outlived retention; drop the stale entry.
      WARDEN_RETURN_IF_ERROR(
          client_->Command({"ZREM", AwaitingKey(org_id), id.str}).status());
      continue;
    }
    WARDEN_RETURN_IF_ERROR(a.status());
    out.push_back(*std::move(a));
  }
  return out;
}

void RedisBudgetStore::ResolveInDoubt() {
  {
    absl::MutexLock lock(&doubt_mu_);
    // One caller at a time resolves; the others go on at once, so a
    // stalled Redis costs each call its own timeout only.
    if (resolving_ || in_doubt_.empty()) return;
    resolving_ = true;
  }
  while (true) {
    std::pair<std::string, std::string> next;
    {
      absl::MutexLock lock(&doubt_mu_);
      if (in_doubt_.empty()) break;
      next = in_doubt_.front();
    }
    absl::Status st =
        Transition(next.first, next.second, "abandon", absl::Now(), {})
            .status();
    absl::MutexLock lock(&doubt_mu_);
    if (!st.ok() && !absl::IsNotFound(st)) break;  // Redis is still away.
    // Unless a full queue dropped it meanwhile.
    if (!in_doubt_.empty() && in_doubt_.front() == next) in_doubt_.pop_front();
  }
  absl::MutexLock lock(&doubt_mu_);
  resolving_ = false;
}

absl::StatusOr<std::vector<Authorization>> RedisBudgetStore::ExpireDue(
    const std::string& org_id, absl::Time now, size_t max_records) {
  ResolveInDoubt();
  WARDEN_ASSIGN_OR_RETURN(
      RedisReply due,
      client_->Command({"ZRANGEBYSCORE", ExpiryKey(org_id), "-inf",
                        absl::StrCat(absl::ToUnixMillis(now)), "LIMIT", "0",
                        absl::StrCat(max_records)}));
  if (due.type != RedisReply::Type::kArray) return Unexpected("expire", due);
  std::vector<Authorization> expired;
  for (const RedisReply& id : due.elements) {
    absl::StatusOr<RedisReply> r =
        Transition(org_id, id.str, "expire", now, {});
    if (absl::IsNotFound(r.status())) {
      // Its record outlived retention; drop the stale entry.
      WARDEN_RETURN_IF_ERROR(
          client_->Command({"ZREM", ExpiryKey(org_id), id.str}).status());
      continue;
    }
    // Another replica's sweep got there first.
    if (absl::IsFailedPrecondition(r.status())) continue;
    // Not ready (lost, or failed over and not checked yet): its holds
    // expire once it is.
    if (absl::IsUnavailable(r.status()) && !expired.empty()) break;
    WARDEN_RETURN_IF_ERROR(r.status());
    WARDEN_ASSIGN_OR_RETURN(Authorization a, Get(org_id, id.str));
    expired.push_back(std::move(a));
  }
  return expired;
}

}  // namespace warden
