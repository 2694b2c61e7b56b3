#include "governance/memory/memory_budget_store.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace warden {
namespace {

std::string ScopeKey(const std::string& org, const std::string& scope) {
  return absl::StrCat(org, "|", scope);
}

bool Awaits(const Authorization& a) {
  return a.status == AuthorizationStatus::kHeld &&
         (a.decision == Decision::kPendingApproval ||
          a.decision == Decision::kDelayed);
}

absl::Status NotFound(const std::string& org, const std::string& id) {
  return absl::NotFoundError(
      absl::StrCat("no authorization \"", id, "\" in org ", org));
}

}  // namespace

std::string MemoryBudgetStore::RecordKey(const std::string& org,
                                         const std::string& id) {
  return absl::StrCat(org, "|", id);
}

std::string MemoryBudgetStore::IdempotencyKey(const Authorization& a) {
  return absl::StrCat(a.org_id, "|", a.agent_id, "|", a.idempotency_key);
}

const usage::Buckets* MemoryBudgetStore::BucketsLocked(
    const std::string& org, const std::string& scope) const {
  auto it = usage_.find(ScopeKey(org, scope));
  return it == usage_.end() ? nullptr : &it->second;
}

void MemoryBudgetStore::RechargeLocked(const Authorization* before,
                                       const Authorization& after) {
  const absl::int128 usd =
      absl::int128(after.ChargedUsd()) - (before ? before->ChargedUsd() : 0);
  const absl::int128 count =
      int{after.Charges()} - (before && before->Charges() ? 1 : 0);
  if (usd == 0 && count == 0) return;
  for (const std::string& scope : ScopePath(after)) {
    const std::string key = ScopeKey(after.org_id, scope);
    usage::Buckets& buckets = usage_[key];
    buckets.Add(after.created_at, usd, count);
    if (buckets.Empty()) usage_.erase(key);
  }
}

int64_t MemoryBudgetStore::PendingLocked(const Authorization& spend,
                                         const LimitCheck& check) {
  // The limit's scope, which a spend awaiting approval counts in if its
  // own path holds it.
  const std::string scope = ScopePath(spend)[check.scope_index];
  const Limit::Kind kind = check.kind;
  int64_t pending = 0;
  const auto& awaiting = awaiting_[spend.org_id];
  for (auto at = awaiting.lower_bound({check.interval.start, std::string()});
       at != awaiting.end(); ++at) {
    auto it = records_.find(at->second);
    if (it == records_.end()) continue;
    const Authorization& a = it->second.auth;
    if (a.status == AuthorizationStatus::kHeld &&
        a.decision == Decision::kPendingApproval && OnScopePath(a, scope)) {
      pending = SaturatingAdd(
          pending, kind == Limit::Kind::kUsd ? a.amount_usd : int64_t{1});
    }
  }
  return pending;
}

void MemoryBudgetStore::TimeQueue::Push(absl::Time at, std::string key) {
  heap_.emplace_back(at, std::move(key));
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
}

std::pair<absl::Time, std::string> MemoryBudgetStore::TimeQueue::Pop() {
  std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
  std::pair<absl::Time, std::string> first = std::move(heap_.back());
  heap_.pop_back();
  return first;
}

void MemoryBudgetStore::InsertLocked(const Authorization& a,
                                     absl::Time retain_until) {
  const std::string key = RecordKey(a.org_id, a.id);
  records_[key] = Entry{a, retain_until};
  retention_[a.org_id].Push(retain_until, key);
  if (!a.idempotency_key.empty()) {
    // A key reused after its first record's retention maps to the newest of
    // its records, whatever order a rebuild loads them in.
    auto [it, added] = idempotency_.try_emplace(IdempotencyKey(a), key);
    if (!added) {
      auto held = records_.find(it->second);
      if (held == records_.end() || held->first == key ||
          held->second.auth.created_at <= a.created_at) {
        it->second = key;
      }
    }
  }
  RechargeLocked(nullptr, a);
  if (a.status == AuthorizationStatus::kHeld) {
    expiries_[a.org_id].Push(a.hold_expires_at, key);
  }
  if (Awaits(a)) awaiting_[a.org_id].emplace(a.created_at, key);
}

void MemoryBudgetStore::EraseLocked(const std::string& key) {
  auto it = records_.find(key);
  if (it == records_.end()) return;
  const Authorization& a = it->second.auth;
  if (!a.idempotency_key.empty()) {
    auto idem = idempotency_.find(IdempotencyKey(a));
    if (idem != idempotency_.end() && idem->second == key) {
      idempotency_.erase(idem);
    }
  }
  // What it charged stays in the buckets; its expiry and retention queue
  // entries are skipped once the record is gone.
  records_.erase(it);
}

absl::StatusOr<std::vector<int64_t>> MemoryBudgetStore::Usage(
    const std::string& org_id, const std::vector<UsageQuery>& queries,
    absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> out;
  out.reserve(queries.size());
  for (const UsageQuery& q : queries) {
    const usage::Buckets* buckets = BucketsLocked(org_id, q.scope);
    out.push_back(buckets ? buckets->Sum(usage::SpansOf(q, now), q.kind) : 0);
  }
  return out;
}

absl::StatusOr<std::vector<UsageBreakdown>> MemoryBudgetStore::Breakdown(
    const std::string& org_id, const std::vector<UsageQuery>& queries,
    absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::vector<UsageBreakdown> out(queries.size());
  for (size_t i = 0; i < queries.size(); ++i) {
    const UsageQuery& q = queries[i];
    if (const usage::Buckets* b = BucketsLocked(org_id, q.scope)) {
      out[i].used = b->Sum(usage::SpansOf(q, now), q.kind);
      if (!q.calendar) {
        out[i].oldest = b->Oldest({usage::FinestSpan(q, now)}, q.kind);
      }
    }
  }
  // Every HELD record is in the org's expiry queue (with stale entries for
  // records since moved on or re-queued).
  auto queue = expiries_.find(org_id);
  if (queue == expiries_.end()) return out;
  absl::flat_hash_set<std::string> seen;
  int64_t held = 0;
  for (const auto& [at, key] : queue->second.entries()) {
    auto it = records_.find(key);
    if (it == records_.end() || !seen.insert(key).second) continue;
    const Authorization& a = it->second.auth;
    if (a.status != AuthorizationStatus::kHeld) continue;
    if (++held > kMaxBreakdownHolds) return TooManyHolds(held);
    const bool awaiting = a.decision == Decision::kPendingApproval;
    for (size_t i = 0; i < queries.size(); ++i) {
      const UsageQuery& q = queries[i];
      if (a.created_at < q.interval.start || !OnScopePath(a, q.scope)) {
        continue;
      }
      int64_t& sum = awaiting ? out[i].pending : out[i].held;
      sum = SaturatingAdd(sum, q.kind == Limit::Kind::kUsd ? a.amount_usd : 1);
    }
  }
  return out;
}

absl::StatusOr<ReserveResult> MemoryBudgetStore::Reserve(
    const ReserveRequest& request) {
  const Authorization& a = request.authorization;
  absl::MutexLock lock(&mu_);
  ReserveResult result;
  if (!a.idempotency_key.empty()) {
    auto it = idempotency_.find(IdempotencyKey(a));
    if (it != idempotency_.end()) {
      result.outcome = ReserveResult::Outcome::kDuplicate;
      result.authorization = records_.at(it->second).auth;
      return result;
    }
  }
  if (a.status == AuthorizationStatus::kHeld) {
    const std::vector<std::string> path = ScopePath(a);
    for (const std::string& scope : path) {
      if (frozen_.contains(ScopeKey(a.org_id, scope))) {
        result.outcome = ReserveResult::Outcome::kFrozen;
        result.frozen_scope = scope;
        return result;
      }
    }
    for (size_t i = 0; i < request.limits.size(); ++i) {
      const LimitCheck& check = request.limits[i];
      const int64_t requested =
          check.kind == Limit::Kind::kUsd ? a.amount_usd : 1;
      const std::vector<usage::Span> spans =
          usage::SpansOf(check, a.created_at);
      const usage::Buckets* buckets =
          BucketsLocked(a.org_id, path[check.scope_index]);
      LimitUsage usage;
      usage.used = buckets ? buckets->Sum(spans, check.kind) : 0;
      result.used_before.push_back(usage.used);
      // A negative cap passes on a first spend: nothing counted but
      // spends still awaiting approval.
      if (check.cap < 0 ? usage.used > 0 && usage.used > PendingLocked(a, check)
                        : !Exceeds(usage.used, requested, check.cap)) {
        continue;
      }
      // The figures of the reason.
      usage.limit_index = i;
      const usage::Buckets* child =
          check.child_index < 0
              ? nullptr
              : BucketsLocked(a.org_id, path[check.child_index]);
      usage.child_used = child ? child->Sum(spans, check.kind) : 0;
      usage.pending = PendingLocked(a, check);
      result.exceeded.push_back(usage);
    }
    if (!result.exceeded.empty()) {
      result.outcome = ReserveResult::Outcome::kOverLimit;
      result.used_before.clear();
      return result;
    }
    result.outcome = ReserveResult::Outcome::kReserved;
  } else {
    result.outcome = ReserveResult::Outcome::kRecorded;
  }
  InsertLocked(a, request.retain_until);
  return result;
}

void MemoryBudgetStore::VoidLocked(Authorization* a) {
  const Authorization before = *a;
  a->status = AuthorizationStatus::kVoided;
  RechargeLocked(&before, *a);
}

absl::StatusOr<Authorization> MemoryBudgetStore::Get(const std::string& org_id,
                                                     const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(RecordKey(org_id, id));
  if (it == records_.end()) return NotFound(org_id, id);
  return it->second.auth;
}

absl::StatusOr<std::vector<std::optional<AuthorizationStatus>>>
MemoryBudgetStore::StatusesOf(const std::string& org_id,
                              const std::vector<std::string>& ids) {
  std::vector<std::optional<AuthorizationStatus>> out;
  out.reserve(ids.size());
  absl::MutexLock lock(&mu_);
  for (const std::string& id : ids) {
    auto it = records_.find(RecordKey(org_id, id));
    out.push_back(it == records_.end() ? std::nullopt
                                       : std::optional(it->second.auth.status));
  }
  return out;
}

absl::StatusOr<MemoryBudgetStore::Entry*> MemoryBudgetStore::FindHeldLocked(
    const std::string& org_id, const std::string& id, absl::Time now,
    const char* action) {
  auto it = records_.find(RecordKey(org_id, id));
  if (it == records_.end()) return NotFound(org_id, id);
  const Authorization& a = it->second.auth;
  if (a.status != AuthorizationStatus::kHeld) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot ", action, " authorization ", id, ": it is ",
                     StatusName(a.status)));
  }
  if (now >= a.hold_expires_at) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot ", action, " authorization ", id, ": its hold expired at ",
        absl::FormatTime(a.hold_expires_at)));
  }
  return &it->second;
}

absl::StatusOr<Authorization> MemoryBudgetStore::Settle(
    const std::string& org_id, const std::string& id, absl::uint128 amount,
    UsdMicros amount_usd, const std::string& tx_hash, absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(RecordKey(org_id, id));
  if (it != records_.end()) {
    const Authorization& a = it->second.auth;
    if (a.status == AuthorizationStatus::kSettled &&
        a.settled_amount == amount && a.tx_hash == tx_hash) {
      return a;  // A retried settle.
    }
  }
  absl::StatusOr<Entry*> entry = FindHeldLocked(org_id, id, now, "settle");
  if (!entry.ok()) return entry.status();
  Authorization& a = (*entry)->auth;
  const Authorization before = a;
  a.status = AuthorizationStatus::kSettled;
  a.settled_amount = amount;
  a.settled_usd = amount_usd;
  a.tx_hash = tx_hash;
  RechargeLocked(&before, a);
  return a;
}

absl::StatusOr<Authorization> MemoryBudgetStore::Void(const std::string& org_id,
                                                      const std::string& id,
                                                      absl::Time now) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(RecordKey(org_id, id));
  if (it != records_.end() &&
      it->second.auth.status == AuthorizationStatus::kVoided) {
    return it->second.auth;  // A retried void.
  }
  absl::StatusOr<Entry*> entry = FindHeldLocked(org_id, id, now, "void");
  if (!entry.ok()) return entry.status();
  VoidLocked(&(*entry)->auth);
  return (*entry)->auth;
}

absl::StatusOr<VoteResult> MemoryBudgetStore::Vote(const std::string& org_id,
                                                   const std::string& id,
                                                   const ApprovalVote& vote,
                                                   absl::Time allowed_until,
                                                   ExpiredHolds on_expiry) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Entry*> entry = FindHeldLocked(org_id, id, vote.at, "vote on");
  if (!entry.ok()) return entry.status();
  Authorization& a = (*entry)->auth;
  if (!Awaits(a)) {
    return absl::FailedPreconditionError(
        absl::StrCat("authorization ", id, " is ", DecisionName(a.decision),
                     ", not awaiting approval"));
  }
  for (const ApprovalVote& v : a.votes) {
    if (v.approver == vote.approver) return VoteResult{a, false};
  }
  a.votes.push_back(vote);
  if (!vote.approve) {
    VoidLocked(&a);
  } else if (a.decision == Decision::kPendingApproval &&
             a.Approvals() >= a.approvals_required) {
    a.decision = Decision::kAllow;
    a.hold_expires_at = allowed_until;
    a.on_expiry = on_expiry;
    expiries_[org_id].Push(allowed_until, RecordKey(org_id, id));
  }
  return VoteResult{a, true};
}

absl::StatusOr<int64_t> MemoryBudgetStore::CountHeld(
    const std::string& org_id) {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [at, key] : expiries_[org_id].entries()) {
    auto rec = records_.find(key);
    // An approved hold is queued again at its new expiry: count the entry
    // that matches the record's, once.
    if (rec != records_.end() &&
        rec->second.auth.status == AuthorizationStatus::kHeld &&
        rec->second.auth.hold_expires_at == at) {
      ++n;
    }
  }
  return n;
}

absl::StatusOr<std::vector<Authorization>> MemoryBudgetStore::ListAwaiting(
    const std::string& org_id, size_t max_records) {
  absl::MutexLock lock(&mu_);
  std::vector<Authorization> out;
  auto& awaiting = awaiting_[org_id];
  for (auto it = awaiting.begin();
       it != awaiting.end() && out.size() < max_records;) {
    auto rec = records_.find(it->second);
    if (rec == records_.end() || !Awaits(rec->second.auth)) {
      it = awaiting.erase(it);
      continue;
    }
    out.push_back(rec->second.auth);
    ++it;
  }
  return out;
}

absl::Status MemoryBudgetStore::Abandon(const std::string& org_id,
                                        const std::string& id) {
  absl::MutexLock lock(&mu_);
  const std::string key = RecordKey(org_id, id);
  auto it = records_.find(key);
  if (it == records_.end()) return NotFound(org_id, id);
  // As if it never happened: nothing stays charged.
  Authorization none = it->second.auth;
  none.status = AuthorizationStatus::kVoided;
  RechargeLocked(&it->second.auth, none);
  EraseLocked(key);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Authorization>> MemoryBudgetStore::ExpireDue(
    const std::string& org_id, absl::Time now, size_t max_records) {
  absl::MutexLock lock(&mu_);
  std::vector<Authorization> expired;
  TimeQueue& exp = expiries_[org_id];
  while (exp.Due(now) && expired.size() < max_records) {
    auto it = records_.find(exp.Pop().second);
    // Gone, no longer HELD, or re-queued with a later expiry (approved).
    if (it == records_.end() ||
        it->second.auth.status != AuthorizationStatus::kHeld ||
        it->second.auth.hold_expires_at > now) {
      continue;
    }
    Authorization& a = it->second.auth;
    const Authorization before = a;
    a.status = AuthorizationStatus::kExpired;
    a.expired_counted = a.on_expiry == ExpiredHolds::kCount;
    RechargeLocked(&before, a);
    expired.push_back(a);
  }
  TimeQueue& retention = retention_[org_id];
  while (retention.Due(now)) {
    std::string key = retention.Pop().second;
    auto it = records_.find(key);
    if (it == records_.end() || it->second.retain_until > now) continue;
    if (it->second.auth.status == AuthorizationStatus::kHeld) {
      // Not expired yet (more than kExpireBatchMax were due): look again.
      retention.Push(now + absl::Minutes(1), std::move(key));
      continue;
    }
    EraseLocked(key);
  }
  return expired;
}

absl::Status MemoryBudgetStore::SetFrozen(const std::string& org_id,
                                          const std::string& scope,
                                          bool frozen) {
  absl::MutexLock lock(&mu_);
  if (frozen) {
    frozen_.insert(ScopeKey(org_id, scope));
  } else {
    frozen_.erase(ScopeKey(org_id, scope));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Authorization>> MemoryBudgetStore::VoidUnder(
    const std::string& org_id, const std::string& scope, absl::Time now,
    size_t max_records) {
  absl::MutexLock lock(&mu_);
  // Every HELD record is in its org's expiry queue.
  std::vector<Authorization> voided;
  for (const auto& [at, key] : expiries_[org_id].entries()) {
    if (voided.size() >= max_records) break;
    auto it = records_.find(key);
    if (it == records_.end()) continue;
    Authorization& a = it->second.auth;
    if (a.status != AuthorizationStatus::kHeld || now >= a.hold_expires_at ||
        !OnScopePath(a, scope)) {
      continue;
    }
    VoidLocked(&a);
    voided.push_back(a);
  }
  return voided;
}

absl::Status MemoryBudgetStore::Restore(const Authorization& a,
                                        absl::Time retain_until,
                                        const absl::TimeZone&) {
  absl::MutexLock lock(&mu_);
  if (!records_.contains(RecordKey(a.org_id, a.id))) {
    InsertLocked(a, retain_until);
  }
  return absl::OkStatus();
}

void MemoryBudgetStore::Replace(const Authorization& a,
                                absl::Time retain_until) {
  absl::MutexLock lock(&mu_);
  const std::string key = RecordKey(a.org_id, a.id);
  if (auto it = records_.find(key); it != records_.end()) {
    Authorization none = it->second.auth;
    none.status = AuthorizationStatus::kVoided;
    RechargeLocked(&it->second.auth, none);
    EraseLocked(key);
  }
  InsertLocked(a, retain_until);
}

}  // namespace warden
