#ifndef WARDEN_SERVICES_RECONCILER_H_
#define WARDEN_SERVICES_RECONCILER_H_

#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "adapters/wallet_adapter.h"
#include "governance/audit_log.h"
#include "governance/audit_reader.h"
#include "governance/clock.h"
#include "governance/engine.h"
#include "governance/operation.h"

namespace warden {

// One disagreement between a vendor's record and Warden's.
struct ReconcileFinding {
  enum class Kind {
    // A vendor transaction no Warden authorization accounts for: someone
    // spent from the wallet around the gateway.
    kShadowSpend,
    // A vendor transaction of a Warden authorization that Warden has not
    // settled (still held, voided or expired): the spend happened but the
    // budgets do not carry it as final.
    kMissingSettlement,
  };
  Kind kind = Kind::kShadowSpend;
  std::string wallet_id;
  std::string vendor;
  VendorTransaction transaction;
  std::string asset;             // The bundle's symbol, or the token contract.
  std::string authorization_id;  // For kMissingSettlement.
  std::string authorization_status;
  std::string description;  // One line, as audited.
};
const char* ReconcileFindingKindName(ReconcileFinding::Kind kind);

struct ReconcileReport {
  std::string org_id;
  absl::Time since;
  // Wallets whose vendor listed their transactions, and how many.
  int64_t wallets_checked = 0;
  int64_t vendor_transactions = 0;
  // Wallets that could not be checked: "wallet/<id> at <vendor>: why".
  std::vector<std::string> unchecked;
  std::vector<ReconcileFinding> findings;
  // Findings recorded in the audit trail by this run (the rest were
  // recorded by an earlier one).
  int64_t audited = 0;
};

// Compares each wallet's vendor-side transactions with Warden's
// authorizations: the control that catches an agent spending around the
// gateway. Matching is by transaction hash, against the authorizations'
// settled hashes and their operations' hashes. Every finding becomes one
// `reconcile.finding` audit record, once: a finding already in the trail
// (from an earlier run, on any replica) is reported but not recorded
// again. Thread-safe.
class Reconciler {
 public:
  // None is owned. `history` (the audit trail's reader) is required by
  // Run.
  Reconciler(Engine* engine, AdapterRegistry* adapters, AuditReader* history,
             OperationStore* operations, AuditLog* audit, const Clock* clock)
      : engine_(engine),
        adapters_(adapters),
        history_(history),
        operations_(operations),
        audit_(audit),
        clock_(clock) {}

  // Vendor transactions since `since`, in the org (empty: the only org).
  // Authorizations created up to kMatchWindow before `since` are matched.
  // `actor` is recorded as who ran it. CANCELLED, recording nothing, once
  // `stop` (if given) is notified: it is checked before each wallet.
  absl::StatusOr<ReconcileReport> Run(const std::string& org_id,
                                      absl::Time since,
                                      const std::string& actor,
                                      const absl::Notification* stop = nullptr);

  // How far before `since` an authorization may have been created and still
  // account for a vendor transaction after it (holds last at most a day).
  static constexpr absl::Duration kMatchWindow = absl::Hours(48);

 private:
  // The findings' keys already in the audit trail since `since`.
  absl::StatusOr<std::vector<std::string>> RecordedKeys(const std::string& org,
                                                        absl::Time since);

  Engine* const engine_;
  AdapterRegistry* const adapters_;
  AuditReader* const history_;
  OperationStore* const operations_;
  AuditLog* const audit_;
  const Clock* const clock_;
};

}  // namespace warden

#endif  // WARDEN_SERVICES_RECONCILER_H_
