// The kill switch: freezing and unfreezing scopes (in the stores and at
// the wallets' vendors), decommissioning agents, retiring addresses.

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "governance/engine.h"
#include "governance/engine_internal.h"
#include "governance/evaluation.h"
#include "governance/explain.h"
#include "governance/quote.h"
#include "governance/status_macros.h"

namespace warden {

using engine_internal::FieldError;
using eval::WalletsUnder;

absl::StatusOr<FreezeOutcome> Engine::Freeze(const Policy& policy,
                                             const std::string& scope,
                                             const std::string& reason,
                                             const std::string& actor,
                                             bool decommission) {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> wallets,
                          WalletsUnder(policy, scope));
  const std::string& org = policy.org.id;
  const absl::Time now = clock_->Now();
  // 1. Durable. 2. Enforced by every replica's next reserve step.
  WARDEN_RETURN_IF_ERROR(
      freezes_->Freeze(org, {scope, now, actor, reason, decommission}));
  WARDEN_RETURN_IF_ERROR(budgets_->SetFrozen(org, scope, true));
  WARDEN_RETURN_IF_ERROR(audit_->Append(
      AuditEvent::ForScope(AuditEvent::Type::kScopeFrozen, now, org, actor,
                           scope, reason, decommission)));
  // 3. Void what it already holds; no new hold can appear meanwhile.
  FreezeOutcome out{scope, static_cast<int64_t>(wallets.size()), 0};
  while (true) {
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<Authorization> voided,
        budgets_->VoidUnder(org, scope, clock_->Now(), kExpireBatchMax));
    for (const Authorization& a : voided) {
      WARDEN_RETURN_IF_ERROR(AuditTransition(
          AuditEvent::Type::kAuthorizationVoided, a,
          absl::StrCat(actor, " (", scope, " frozen: ", reason, ")")));
    }
    out.holds_voided += static_cast<int64_t>(voided.size());
    if (voided.size() < kExpireBatchMax) break;
  }
  return out;
}

absl::Status Engine::RetireAddress(const Policy& policy, const Wallet& wallet,
                                   const std::string& reason,
                                   const std::string& actor) {
  const std::string scope = RetiredAddressScope(wallet.chain, wallet.address);
  const absl::Time now = clock_->Now();
  WARDEN_RETURN_IF_ERROR(freezes_->Freeze(
      policy.org.id, {scope, now, actor, reason, /*decommissioned=*/true}));
  return audit_->Append(AuditEvent::ForScope(
      AuditEvent::Type::kScopeFrozen, now, policy.org.id, actor, scope,
      absl::StrCat("wallet ", wallet.id, " decommissioned: ", reason),
      /*decommissioned=*/true));
}

absl::Status Engine::CheckNoRetiredAddress(const Policy& next) {
  WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> frozen,
                          freezes_->List(next.org.id));
  absl::flat_hash_set<std::string> retired;  // Addresses and wallets.
  for (const FrozenScope& f : frozen) {
    if (f.decommissioned) retired.insert(f.scope);
  }
  if (retired.empty()) return absl::OkStatus();
  for (const auto& [id, w] : next.wallets) {
    if (retired.contains(RetiredAddressScope(w.chain, w.address)) &&
        !retired.contains(absl::StrCat("wallet/", id))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "agents.", w.agent_id, ".wallets: wallet ", Quote(id), " uses ",
          w.address, " on ", w.chain,
          ", the address of a decommissioned wallet: a retired key never "
          "spends again"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<FrozenScope>> Engine::ListFrozen(
    const std::string& org_id) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> frozen, freezes_->List(org));
  std::sort(frozen.begin(), frozen.end(),
            [](const FrozenScope& a, const FrozenScope& b) {
              return std::tie(a.frozen_at, a.scope) <
                     std::tie(b.frozen_at, b.scope);
            });
  return frozen;
}

absl::StatusOr<FreezeOutcome> Engine::FreezeScope(const std::string& org_id,
                                                  const std::string& scope,
                                                  const std::string& reason,
                                                  const std::string& actor) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(org_id));
  WARDEN_ASSIGN_OR_RETURN(
      FreezeOutcome out,
      Freeze(*policy, scope, reason, actor, /*decommission=*/false));
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> wallets,
                          WalletsUnder(*policy, scope));
  FreezeAtVendors(*policy, wallets, true, reason, actor, &out);
  return out;
}

void Engine::FreezeAtVendors(const Policy& policy,
                             const std::vector<std::string>& wallets,
                             bool frozen, const std::string& reason,
                             const std::string& actor, FreezeOutcome* out) {
  if (hooks_.vendor_freezer == nullptr) return;
  const std::string& org = policy.org.id;
  for (const std::string& id : wallets) {
    const Wallet& wallet = policy.wallets.at(id);
    VendorFreezeResult r{.wallet_id = id, .vendor = wallet.vendor};
    // Set when the vendor call succeeded (see AuditEvent::vendor_frozen).
    std::optional<bool> vendor_frozen;
    std::string vendor_restore;
    // What Warden recorded when it froze the wallet there: a freeze already
    // in place is not taken again (it would record the frozen state as the
    // one to restore), and an unfreeze puts back what it recorded.
    absl::StatusOr<std::optional<VendorFrozenWallet>> recorded =
        freezes_->VendorFrozen(org, id);
    absl::Status st = recorded.status();
    if (st.ok() && frozen && recorded->has_value()) {
      r.reason = "already frozen there by Warden";
    } else if (st.ok() && frozen) {
      // The adapter retries what is worth retrying.
      absl::StatusOr<VendorFreeze> done =
          hooks_.vendor_freezer->Freeze(wallet, reason);
      st = done.status();
      if (st.ok() && done->restore.size() > kMaxVendorRestoreBytes) {
        st = absl::FailedPreconditionError(absl::StrCat(
            "the state to restore is ", done->restore.size(),
            " bytes, over the ", kMaxVendorRestoreBytes, " Warden keeps"));
      }
      if (st.ok()) {
        // Durable before it is reported, so that no restart can lose it.
        st = freezes_->SetVendorFrozen(
            org, {id, wallet.vendor, done->restore, clock_->Now()});
      }
      if (st.ok()) {
        if (done->strength == VendorFreeze::Strength::kOwnerApproval) {
          r.outcome = VendorFreezeResult::Outcome::kOwnerApproval;
          r.reason =
              "the vendor cannot refuse: every spend now waits for the "
              "wallet owner's approval";
        }
        vendor_frozen = true;
        vendor_restore = done->restore;
      }
    } else if (st.ok()) {
      st = hooks_.vendor_freezer->Unfreeze(
          wallet, recorded->has_value() ? (*recorded)->restore : "", reason);
      if (st.ok()) st = freezes_->ClearVendorFrozen(org, id);
      if (st.ok()) vendor_frozen = false;
    }
    if (!st.ok()) {
      r.outcome = absl::IsUnimplemented(st)
                      ? VendorFreezeResult::Outcome::kUnsupported
                      : VendorFreezeResult::Outcome::kFailed;
      r.reason = std::string(st.message());
    }
    const AuditEvent event = AuditEvent::ForVendorFreeze(
        clock_->Now(), org, actor, id,
        absl::StrCat("wallet/", id, " ", frozen ? "freeze" : "unfreeze", " at ",
                     wallet.vendor, ": ", VendorFreezeOutcomeName(r.outcome),
                     r.reason.empty() ? "" : ": ", r.reason, " (", reason, ")"),
        vendor_frozen, std::move(vendor_restore));
    if (absl::Status logged = audit_->Append(event); !logged.ok()) {
      // Warden's own freeze is recorded; say that this step's record is not.
      absl::StrAppend(&r.reason, r.reason.empty() ? "" : "; ",
                      "not in the audit trail: ", logged.message());
    }
    out->vendor_results.push_back(std::move(r));
  }
}

const char* VendorFreezeOutcomeName(VendorFreezeResult::Outcome outcome) {
  switch (outcome) {
    case VendorFreezeResult::Outcome::kDone:
      return "done";
    case VendorFreezeResult::Outcome::kUnsupported:
      return "unsupported";
    case VendorFreezeResult::Outcome::kFailed:
      return "failed";
    case VendorFreezeResult::Outcome::kOwnerApproval:
      return "owner approval";
  }
  return "unknown";
}

absl::StatusOr<FreezeOutcome> Engine::DecommissionAgent(
    const std::string& org_id, const std::string& agent_id,
    const std::string& reason, const std::string& actor) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(org_id));
  auto agent = policy->agents.find(agent_id);
  if (agent == policy->agents.end()) {
    return FieldError(absl::StatusCode::kNotFound, "agent_id",
                      absl::StrCat("unknown agent ", Quote(agent_id),
                                   " in org ", policy->org.id));
  }
  // Wallets first, then the agent: each step alone already stops spend.
  FreezeOutcome total;
  for (const std::string& wallet : agent->second.wallet_ids) {
    WARDEN_ASSIGN_OR_RETURN(FreezeOutcome w,
                            Freeze(*policy, absl::StrCat("wallet/", wallet),
                                   reason, actor, /*decommission=*/true));
    total.holds_voided += w.holds_voided;
    WARDEN_RETURN_IF_ERROR(
        RetireAddress(*policy, policy->wallets.at(wallet), reason, actor));
  }
  WARDEN_ASSIGN_OR_RETURN(
      FreezeOutcome a, Freeze(*policy, absl::StrCat("agent/", agent_id), reason,
                              actor, /*decommission=*/true));
  total.scope = a.scope;
  total.wallets_frozen = a.wallets_frozen;
  total.holds_voided += a.holds_voided;
  FreezeAtVendors(*policy, agent->second.wallet_ids, true, reason, actor,
                  &total);
  return total;
}

absl::StatusOr<FreezeOutcome> Engine::UnfreezeScope(const std::string& org_id,
                                                    const std::string& scope,
                                                    const std::string& reason,
                                                    const std::string& actor) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(org_id));
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> wallets,
                          WalletsUnder(*policy, scope));
  const std::string& org = policy->org.id;
  absl::Status st = freezes_->Unfreeze(org, scope);
  if (absl::IsNotFound(st)) {
    // Not frozen durably: clear a flag an earlier unfreeze may have left
    // when it failed between its two steps, so that a retry repairs it.
    (void)budgets_->SetFrozen(org, scope, false);
  }
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat("scope: ", st.message()));
  }
  WARDEN_RETURN_IF_ERROR(budgets_->SetFrozen(org, scope, false));
  WARDEN_RETURN_IF_ERROR(audit_->Append(
      AuditEvent::ForScope(AuditEvent::Type::kScopeUnfrozen, clock_->Now(), org,
                           actor, scope, reason)));
  FreezeOutcome out{scope, static_cast<int64_t>(wallets.size()), 0};
  // At the vendors, only the wallets no other freeze still covers.
  WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> still, freezes_->List(org));
  std::vector<std::string> lift;
  for (const std::string& w : wallets) {
    bool covered = false;
    for (const FrozenScope& f : still) {
      absl::StatusOr<std::vector<std::string>> under =
          WalletsUnder(*policy, f.scope);
      covered = covered ||
                (under.ok() &&
                 std::find(under->begin(), under->end(), w) != under->end());
    }
    if (!covered) lift.push_back(w);
  }
  FreezeAtVendors(*policy, lift, false, reason, actor, &out);
  return out;
}

}  // namespace warden
