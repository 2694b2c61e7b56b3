// Recovery: what a store that lost its state (a Redis flush) needs
// rebuilt, how long records must be kept for that, and the sweep that
// moves expired holds.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "governance/anomalies.h"
#include "governance/engine.h"
#include "governance/explain.h"
#include "governance/quote.h"
#include "governance/status_macros.h"

namespace warden {

absl::Duration RecordRetention(const Policy& p) {
  absl::Duration longest;
  auto scan = [&](const std::vector<Limit>& limits) {
    for (const Limit& l : limits) {
      longest = std::max(longest, l.window.MaxLength());
    }
  };
  scan(p.org.limits);
  scan(p.org.destination_limits);
  for (const auto& [chain, limits] : p.org.chain_limits) scan(limits);
  for (const auto& [asset, limits] : p.org.asset_limits) scan(limits);
  for (const auto& [id, d] : p.departments) scan(d.limits);
  for (const auto& [id, w] : p.wallets) scan(w.limits);
  for (const auto& [id, a] : p.agents) {
    scan(a.limits);
    scan(a.destination_limits);
    // NEW_ADDRESS looks back over its own window for a payment.
    if (a.rules.new_address) {
      longest = std::max(longest, a.rules.new_address->MaxLength());
    }
  }
  // The anomaly detectors look back over the store's counters too.
  longest = std::max(longest, anomaly::LongestLookback(p.org.anomalies));
  // A delayed or approved hold can start its TTL that much later; a
  // cumulative tier threshold counts over its own window.
  absl::Duration wait;
  auto waits = [&](const std::optional<ApprovalTiers>& t) {
    if (!t) return;
    wait = std::max({wait, t->delay, t->approval_timeout});
    if (t->window) longest = std::max(longest, t->window->MaxLength());
  };
  for (const auto& [id, d] : p.departments) waits(d.approvals);
  for (const auto& [id, a] : p.agents) waits(a.approvals);
  return longest + wait + p.org.hold_ttl + kIdempotencyRetention;
}

absl::StatusOr<Engine::Recovery> Engine::EnsureReady() {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  absl::MutexLock lock(&recovery_mu_);
  Recovery out;
  for (const std::string& org : orgs) {
    // One org's shard being down holds up no other org.
    if (absl::Status st = EnsureOrgReady(org, &out); !st.ok()) {
      out.failed.emplace_back(org, std::move(st));
    }
  }
  return out;
}

absl::Status Engine::EnsureOrgReady(const std::string& org, Recovery* out) {
  using State = BudgetStore::Readiness::State;
  WARDEN_ASSIGN_OR_RETURN(BudgetStore::Readiness ready,
                          budgets_->CheckReady(org));
  const absl::Time now = clock_->Now();
  auto recheck = recheck_until_.find(org);
  if (recheck != recheck_until_.end() && recheck->second <= now) {
    recheck_until_.erase(recheck);
    recheck = recheck_until_.end();
  }
  if (ready.state == State::kUnverified) {
    recheck_until_[org] = now + audit_->LandingBound();
  } else if (ready.state == State::kReady && recheck == recheck_until_.end()) {
    return absl::OkStatus();
  }
  size_t lost = 0;
  if (ready.state != State::kEmpty) {
    WARDEN_ASSIGN_OR_RETURN(lost, LostWrites(org));
    if (lost == 0) {
      if (ready.state == State::kUnverified) {
        WARDEN_RETURN_IF_ERROR(budgets_->MarkReady(org, ready.history));
        out->checked.push_back(org);
      }
      return absl::OkStatus();
    }
    // Refuses the org's spends while it is rebuilt.
    WARDEN_RETURN_IF_ERROR(budgets_->MarkIncomplete(org));
  }
  WARDEN_ASSIGN_OR_RETURN(size_t restored, Rebuild(org));
  WARDEN_RETURN_IF_ERROR(budgets_->MarkReady(org, ready.history));
  out->restored += restored;
  out->rebuilt.emplace_back(org, lost);
  return absl::OkStatus();
}

absl::StatusOr<size_t> Engine::LostWrites(const std::string& org) {
  if (hooks_.history == nullptr) return 0;
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          config_->Active(org));
  WARDEN_ASSIGN_OR_RETURN(
      std::vector<std::string> ids,
      hooks_.history->NewestHolds(org, clock_->Now() - RecordRetention(*policy),
                                  kLostWritesChecked));
  WARDEN_ASSIGN_OR_RETURN(auto statuses, budgets_->StatusesOf(org, ids));
  return std::count(statuses.begin(), statuses.end(), std::nullopt);
}

absl::StatusOr<size_t> Engine::Rebuild(const std::string& org) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          config_->Active(org));
  WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> frozen, freezes_->List(org));
  for (const FrozenScope& f : frozen) {
    WARDEN_RETURN_IF_ERROR(budgets_->SetFrozen(org, f.scope, true));
  }
  size_t restored = 0;
  if (hooks_.history != nullptr) {
    const absl::Duration retention = RecordRetention(*policy);
    WARDEN_RETURN_IF_ERROR(hooks_.history->LatestAuthorizations(
        org, clock_->Now() - retention, [&](const Authorization& a) {
          ++restored;
          return budgets_->Restore(a, a.created_at + retention,
                                   policy->org.timezone);
        }));
  }
  return restored;
}

absl::Status Engine::SyncFrozen() {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  for (const std::string& org : orgs) {
    WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> frozen,
                            freezes_->List(org));
    for (const FrozenScope& f : frozen) {
      WARDEN_RETURN_IF_ERROR(budgets_->SetFrozen(org, f.scope, true));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Engine::SweepExpired() {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  size_t total = 0;
  for (const std::string& org : orgs) {
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<Authorization> expired,
        budgets_->ExpireDue(org, clock_->Now(), kExpireBatchMax));
    for (const Authorization& a : expired) {
      WARDEN_RETURN_IF_ERROR(AuditTransition(
          AuditEvent::Type::kAuthorizationExpired, a, "system"));
      if (a.decision == Decision::kPendingApproval) {
        Notify("approval.expired", a, "system",
               absl::StrCat(a.id, " expired with ", a.Approvals(), " of ",
                            a.approvals_required,
                            " approvals; its reservation is released"));
      }
    }
    total += expired.size();
  }
  return total;
}

}  // namespace warden
