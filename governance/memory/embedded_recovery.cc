#include "governance/memory/embedded_recovery.h"

#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "governance/memory/file_audit_log.h"

namespace warden {

absl::StatusOr<size_t> RestoreBudgetsFromAuditFile(const std::string& path,
                                                   absl::Time now,
                                                   absl::Duration retention,
                                                   MemoryBudgetStore* store) {
  // Last state of each record, by (org, id).
  std::map<std::pair<std::string, std::string>, Authorization> latest;
  absl::Status st = FileAuditLog::Replay(path, [&](const AuditEvent& event) {
    if (event.authorization &&
        event.authorization->created_at >= now - retention) {
      const Authorization& a = *event.authorization;
      latest[{a.org_id, a.id}] = a;
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  for (const auto& [key, a] : latest) {
    store->Replace(a, a.created_at + retention);
  }
  return latest.size();
}

absl::Status RestoreFreezesFromAuditFile(const std::string& path,
                                         FreezeStore* freezes) {
  return FileAuditLog::Replay(path, [&](const AuditEvent& event) {
    if (event.type == AuditEvent::Type::kScopeFrozen) {
      return freezes->Freeze(
          event.org_id, {event.scope, event.time, event.actor, event.reason,
                         event.decommissioned});
    }
    if (event.type == AuditEvent::Type::kScopeUnfrozen) {
      absl::Status st = freezes->Unfreeze(event.org_id, event.scope);
      return absl::IsNotFound(st) ? absl::OkStatus() : st;
    }
    if (event.type == AuditEvent::Type::kVendorFreeze && event.vendor_frozen &&
        absl::StartsWith(event.scope, "wallet/")) {
      const std::string wallet = event.scope.substr(7);
      if (!*event.vendor_frozen) {
        return freezes->ClearVendorFrozen(event.org_id, wallet);
      }
      return freezes->SetVendorFrozen(
          event.org_id, {wallet, "", event.vendor_restore, event.time});
    }
    return absl::OkStatus();
  });
}

}  // namespace warden
