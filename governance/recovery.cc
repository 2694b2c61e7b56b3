// Recovery: what a store that lost its state (a Redis flush) needs
// rebuilt, how long records must be kept for that, and the sweep that
// moves expired holds.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
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

absl::StatusOr<Engine::ReadyReport> Engine::EnsureReady() {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  absl::MutexLock lock(&recovery_mu_);
  ReadyReport out;
  for (const std::string& org : orgs) {
    // One org's shard being down holds up no other org.
    if (absl::Status st = EnsureOrgReady(org, &out); !st.ok()) {
      out.failed.emplace_back(org, std::move(st));
    }
  }
  return out;
}

absl::Status Engine::EnsureOrgReady(const std::string& org, ReadyReport* out) {
  using State = BudgetStore::Readiness::State;
  WARDEN_ASSIGN_OR_RETURN(BudgetStore::Readiness ready,
                          budgets_->CheckReady(org));
  if (ready.state == State::kReady) return absl::OkStatus();
  // After a failover, the old primary's last decisions may still be on
  // their way to the audit trail: none is checked for until every append
  // made before it was seen has landed or never will.
  WARDEN_ASSIGN_OR_RETURN(
      BudgetStore::Recovery recovery,
      budgets_->BeginRecovery(org, ready.history,
                              ready.state == State::kUnverified
                                  ? audit_->LandingBound()
                                  : absl::ZeroDuration()));
  if (recovery.hold_left > absl::ZeroDuration()) {
    out->holding.emplace_back(org, recovery.hold_left);
    return absl::OkStatus();
  }
  Stale stale;
  std::string claim;  // Only while dropping records to restore them.
  absl::Cleanup give_up = [&] {
    // Failed after claiming: the next sweep (here or elsewhere) starts over.
    if (!claim.empty()) budgets_->ReleaseClaim(org, claim).IgnoreError();
  };
  if (ready.state == State::kUnverified) {
    WARDEN_ASSIGN_OR_RETURN(stale, StaleRecords(org));
    if (stale.count() == 0) {
      // Freezes are not decisions: whatever the failover lost of them is
      // put back from the durable record.
      WARDEN_RETURN_IF_ERROR(SyncFrozen(org));
      WARDEN_RETURN_IF_ERROR(
          budgets_->MarkReady(org, ready.history, recovery.token, ""));
      out->checked.push_back(org);
      return absl::OkStatus();
    }
    if (!stale.behind.empty()) {
      // A record behind the trail (a settle, void or expiry lost) is
      // dropped, releasing what it charged, and restored below as the
      // trail has it; no other replica may mark the org ready meanwhile.
      WARDEN_ASSIGN_OR_RETURN(claim, budgets_->ClaimRecovery(org));
      if (claim.empty()) {
        return absl::UnavailableError(
            "another replica is restoring its records; retrying");
      }
      for (const std::string& id : stale.behind) {
        absl::Status abandoned = budgets_->Abandon(org, id);
        if (!abandoned.ok() && !absl::IsNotFound(abandoned)) return abandoned;
      }
    }
  }
  WARDEN_ASSIGN_OR_RETURN(size_t restored, Rebuild(org));
  WARDEN_RETURN_IF_ERROR(
      budgets_->MarkReady(org, ready.history, recovery.token, claim));
  std::move(give_up).Cancel();
  out->restored += restored;
  out->rebuilt.emplace_back(org, stale.count());
  return absl::OkStatus();
}

absl::StatusOr<Engine::Stale> Engine::StaleRecords(const std::string& org) {
  Stale stale;
  if (hooks_.history == nullptr) return stale;
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          config_->Active(org));
  WARDEN_ASSIGN_OR_RETURN(
      std::vector<AuditReader::RecordedStatus> recorded,
      hooks_.history->NewestHolds(org, clock_->Now() - RecordRetention(*policy),
                                  kLostWritesChecked));
  std::vector<std::string> ids;
  ids.reserve(recorded.size());
  for (const AuditReader::RecordedStatus& r : recorded) {
    ids.push_back(r.authorization_id);
  }
  WARDEN_ASSIGN_OR_RETURN(auto statuses, budgets_->StatusesOf(org, ids));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!statuses[i]) {
      ++stale.missing;  // Restored by the rebuild.
    } else if (*statuses[i] == AuthorizationStatus::kHeld &&
               recorded[i].status != AuthorizationStatus::kHeld) {
      stale.behind.push_back(ids[i]);  // Its settle, void or expiry lost.
    }
  }
  return stale;
}

absl::Status Engine::SyncFrozen(const std::string& org) {
  WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> frozen, freezes_->List(org));
  for (const FrozenScope& f : frozen) {
    WARDEN_RETURN_IF_ERROR(budgets_->SetFrozen(org, f.scope, true));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Engine::Rebuild(const std::string& org) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          config_->Active(org));
  WARDEN_RETURN_IF_ERROR(SyncFrozen(org));
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
    WARDEN_RETURN_IF_ERROR(SyncFrozen(org));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Engine::SweepExpired() {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  size_t total = 0;
  absl::Status first_failure;
  for (const std::string& org : orgs) {
    // One org's store being down, or not ready, holds up no other.
    absl::StatusOr<std::vector<Authorization>> expired =
        budgets_->ExpireDue(org, clock_->Now(), kExpireBatchMax);
    if (!expired.ok()) {
      first_failure.Update(expired.status());
      continue;
    }
    for (const Authorization& a : *expired) {
      WARDEN_RETURN_IF_ERROR(AuditTransition(
          AuditEvent::Type::kAuthorizationExpired, a, "system"));
      if (a.decision == Decision::kPendingApproval) {
        Notify("approval.expired", a, "system",
               absl::StrCat(a.id, " expired with ", a.Approvals(), " of ",
                            a.approvals_required,
                            " approvals; its reservation is released"));
      }
    }
    total += expired->size();
  }
  if (!first_failure.ok()) return first_failure;
  return total;
}

}  // namespace warden
