#include "governance/memory/memory_budget_store.h"

#include <algorithm>
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

LimitUsage MemoryBudgetStore::UsageLocked(const std::vector<std::string>& path,
                                          const std::string& org,
                                          const LimitCheck& check,
                                          bool with_breakdown) {
  LimitUsage usage;
  auto it = by_scope_.find(ScopeKey(org, path[check.scope_index]));
  if (it == by_scope_.end()) return usage;
  std::map<std::string, int64_t> by_child;
  const std::vector<const Entry*>& entries = it->second;
  auto first = std::lower_bound(
      entries.begin(), entries.end(), check.interval.start,
      [](const Entry* e, absl::Time t) { return e->auth.created_at < t; });
  for (auto e = first;
       e != entries.end() && (*e)->auth.created_at < check.interval.end; ++e) {
    const Authorization& a = (*e)->auth;
    if (!a.Charges()) continue;
    const int64_t amount = check.kind == Limit::Kind::kUsd ? a.ChargedUsd() : 1;
    usage.used = SaturatingAdd(usage.used, amount);
    if (with_breakdown) {
      int64_t& child = by_child[ScopePath(a)[check.scope_index + 1]];
      child = SaturatingAdd(child, amount);
    }
  }
  usage.by_child.assign(by_child.begin(), by_child.end());
  std::stable_sort(
      usage.by_child.begin(), usage.by_child.end(),
      [](const auto& x, const auto& y) { return x.second > y.second; });
  return usage;
}

void MemoryBudgetStore::InsertLocked(const Authorization& a,
                                     absl::Time retain_until) {
  const std::string key = RecordKey(a.org_id, a.id);
  Entry* entry = &(records_[key] = Entry{a, retain_until});
  retention_[a.org_id].emplace(retain_until, key);
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
  if (a.status == AuthorizationStatus::kDenied) return;
  for (const std::string& scope : ScopePath(a)) {
    std::vector<const Entry*>& entries = by_scope_[ScopeKey(a.org_id, scope)];
    // Nearly always an append: records arrive in time order.
    entries.insert(
        std::upper_bound(entries.begin(), entries.end(), a.created_at,
                         [](absl::Time t, const Entry* e) {
                           return t < e->auth.created_at;
                         }),
        entry);
  }
  if (a.status == AuthorizationStatus::kHeld) {
    expiries_[a.org_id].emplace(a.hold_expires_at, key);
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
  for (const std::string& scope : ScopePath(a)) {
    auto s = by_scope_.find(ScopeKey(a.org_id, scope));
    if (s == by_scope_.end()) continue;
    std::erase(s->second, &it->second);
    if (s->second.empty()) by_scope_.erase(s);
  }
  // Its expiry and retention queue entries are skipped once the record is
  // gone.
  records_.erase(it);
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
      if (Exceeds(UsageLocked(path, a.org_id, check, false).used, requested,
                  check.cap)) {
        // The breakdown is only needed to explain a refusal.
        LimitUsage usage = UsageLocked(path, a.org_id, check, true);
        usage.limit_index = i;
        result.exceeded.push_back(std::move(usage));
      }
    }
    if (!result.exceeded.empty()) {
      result.outcome = ReserveResult::Outcome::kOverLimit;
      return result;
    }
    result.outcome = ReserveResult::Outcome::kReserved;
  } else {
    result.outcome = ReserveResult::Outcome::kRecorded;
  }
  InsertLocked(a, request.retain_until);
  result.authorization = a;
  return result;
}

absl::StatusOr<Authorization> MemoryBudgetStore::Get(const std::string& org_id,
                                                     const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(RecordKey(org_id, id));
  if (it == records_.end()) return NotFound(org_id, id);
  return it->second.auth;
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
  a.status = AuthorizationStatus::kSettled;
  a.settled_amount = amount;
  a.settled_usd = amount_usd;
  a.tx_hash = tx_hash;
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
  (*entry)->auth.status = AuthorizationStatus::kVoided;
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
    a.status = AuthorizationStatus::kVoided;
  } else if (a.decision == Decision::kPendingApproval &&
             a.Approvals() >= a.approvals_required) {
    a.decision = Decision::kAllow;
    a.hold_expires_at = allowed_until;
    a.on_expiry = on_expiry;
    expiries_[org_id].emplace(allowed_until, RecordKey(org_id, id));
  }
  return VoteResult{a, true};
}

absl::StatusOr<int64_t> MemoryBudgetStore::CountHeld(
    const std::string& org_id) {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [at, key] : expiries_[org_id]) {
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
  if (!records_.contains(key)) return NotFound(org_id, id);
  EraseLocked(key);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Authorization>> MemoryBudgetStore::ExpireDue(
    const std::string& org_id, absl::Time now, size_t max_records) {
  absl::MutexLock lock(&mu_);
  std::vector<Authorization> expired;
  auto& exp = expiries_[org_id];
  while (!exp.empty() && exp.begin()->first <= now &&
         expired.size() < max_records) {
    auto it = records_.find(exp.begin()->second);
    exp.erase(exp.begin());
    // Gone, no longer HELD, or re-queued with a later expiry (approved).
    if (it == records_.end() ||
        it->second.auth.status != AuthorizationStatus::kHeld ||
        it->second.auth.hold_expires_at > now) {
      continue;
    }
    Authorization& a = it->second.auth;
    a.status = AuthorizationStatus::kExpired;
    a.expired_counted = a.on_expiry == ExpiredHolds::kCount;
    expired.push_back(a);
  }
  auto& retention = retention_[org_id];
  while (!retention.empty() && retention.begin()->first <= now) {
    const std::string key = retention.begin()->second;
    retention.erase(retention.begin());
    auto it = records_.find(key);
    if (it == records_.end() || it->second.retain_until > now) continue;
    if (it->second.auth.status == AuthorizationStatus::kHeld) {
      // Not expired yet (more than kExpireBatchMax were due): look again.
      retention.emplace(now + absl::Minutes(1), key);
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
  std::vector<Authorization> voided;
  auto it = by_scope_.find(ScopeKey(org_id, scope));
  if (it == by_scope_.end()) return voided;
  for (const Entry* e : it->second) {
    if (voided.size() >= max_records) break;
    if (e->auth.status != AuthorizationStatus::kHeld ||
        now >= e->auth.hold_expires_at) {
      continue;
    }
    Authorization& a = records_.at(RecordKey(org_id, e->auth.id)).auth;
    a.status = AuthorizationStatus::kVoided;
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
  EraseLocked(RecordKey(a.org_id, a.id));
  InsertLocked(a, retain_until);
}

}  // namespace warden
