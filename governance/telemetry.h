#ifndef WARDEN_GOVERNANCE_TELEMETRY_H_
#define WARDEN_GOVERNANCE_TELEMETRY_H_

#include <cstddef>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden {

// Where the stores and wallet adapters report their calls, for the server's
// metrics. They call the free functions below; without an observer installed
// these do nothing. Implementations must be thread-safe and cheap.
class TelemetryObserver {
 public:
  virtual ~TelemetryObserver() = default;
  // One call to a backend ("redis", "postgres") doing `op`, how long it
  // took and whether it succeeded.
  virtual void BackendCall(absl::string_view backend, absl::string_view op,
                           absl::Duration took, bool ok) = 0;
  // One audit commit: how many records it carried and how long it took.
  virtual void AuditCommit(size_t records, absl::Duration took, bool ok) = 0;
  // One wallet adapter call to a vendor ("local", "cdp", ...): `call`
  // (send, poll, freeze, unfreeze, list), its outcome (the operation state
  // the vendor reported, "OK", or the error's code name) and how long it
  // took.
  virtual void AdapterCall(absl::string_view vendor, absl::string_view call,
                           absl::string_view outcome, absl::Duration took) = 0;
};

// Installs `observer` (not owned; it must outlive every later report, so
// install it once at start). Null uninstalls.
void SetTelemetryObserver(TelemetryObserver* observer);

void ReportBackendCall(absl::string_view backend, absl::string_view op,
                       absl::Duration took, bool ok);
void ReportAuditCommit(size_t records, absl::Duration took, bool ok);
void ReportAdapterCall(absl::string_view vendor, absl::string_view call,
                       absl::string_view outcome, absl::Duration took);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_TELEMETRY_H_
