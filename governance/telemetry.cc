#include "governance/telemetry.h"

#include <atomic>

namespace warden {
namespace {

std::atomic<TelemetryObserver*> observer{nullptr};

}  // namespace

void SetTelemetryObserver(TelemetryObserver* o) { observer.store(o); }

void ReportBackendCall(absl::string_view backend, absl::string_view op,
                       absl::Duration took, bool ok) {
  if (TelemetryObserver* o = observer.load(std::memory_order_acquire)) {
    o->BackendCall(backend, op, took, ok);
  }
}

void ReportAuditCommit(size_t records, absl::Duration took, bool ok) {
  if (TelemetryObserver* o = observer.load(std::memory_order_acquire)) {
    o->AuditCommit(records, took, ok);
  }
}

void ReportAdapterCall(absl::string_view vendor, absl::string_view call,
                       absl::string_view outcome, absl::Duration took) {
  if (TelemetryObserver* o = observer.load(std::memory_order_acquire)) {
    o->AdapterCall(vendor, call, outcome, took);
  }
}

}  // namespace warden
