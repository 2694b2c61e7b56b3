// Policy bundles: applying, rolling back and reading versions.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "governance/bundle.h"
#include "governance/engine.h"
#include "governance/engine_internal.h"
#include "governance/explain.h"
#include "governance/quote.h"
#include "governance/status_macros.h"

namespace warden {

using engine_internal::FieldError;

absl::StatusOr<ApplyResult> Engine::ApplyBundle(const std::string& yaml,
                                                bool dry_run,
                                                const std::string& actor,
                                                const std::string& caller_org) {
  WARDEN_ASSIGN_OR_RETURN(Policy next, ParseBundle(yaml));
  if (!caller_org.empty() && next.org.id != caller_org) {
    return absl::PermissionDeniedError(
        absl::StrCat("org.id: the bundle is for org ", next.org.id, "; ", actor,
                     " administers org ", caller_org));
  }
  absl::MutexLock lock(&apply_mu_);
  absl::StatusOr<std::shared_ptr<const Policy>> current =
      config_->Active(next.org.id);
  if (!current.ok() && !absl::IsNotFound(current.status())) {
    return current.status();
  }
  const Policy empty;
  const Policy& before = current.ok() ? **current : empty;
  WARDEN_RETURN_IF_ERROR(CheckNoRetiredAddress(next));
  if (const std::optional<int64_t> largest = budgets_->LargestExact()) {
    std::vector<std::string> over;
    for (const ComparedCap& c : ComparedCaps(next)) {
      if (c.cap <= *largest) continue;
      over.push_back(absl::StrCat(
          c.path, ": ", c.usd ? FormatUsd(c.cap) : absl::StrCat(c.cap),
          " is above the largest cap the budget store compares exactly, ",
          c.usd ? FormatUsd(*largest) : absl::StrCat(*largest)));
    }
    if (!over.empty()) {
      return absl::InvalidArgumentError(absl::StrJoin(over, "; "));
    }
  }
  ApplyResult result;
  result.org_id = next.org.id;
  result.diff = DiffPolicies(before, next);
  result.changed = !result.diff.empty();
  result.diff = BoundedDiff(std::move(result.diff));
  result.version = before.version + (result.changed ? 1 : 0);
  if (dry_run || !result.changed) return result;

  next.version = result.version;
  next.yaml = yaml;
  next.applied_at = clock_->Now();
  next.applied_by = actor;
  // Audit first: under apply_mu_ the apply below cannot lose a race, so the
  // trail never misses a version that took effect.
  if (absl::Status st = audit_->Append(AuditEvent::ForBundle(
          next.applied_at, next.org.id, actor, next.version, result.diff));
      !st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("audit log unavailable, so the bundle was not applied: ",
                     st.message()));
  }
  WARDEN_RETURN_IF_ERROR(
      config_->Apply(std::make_shared<const Policy>(std::move(next))));
  return result;
}

absl::StatusOr<ApplyResult> Engine::RollbackBundle(const std::string& org_id,
                                                   int64_t version,
                                                   const std::string& actor) {
  if (version < 1) {
    return FieldError(absl::StatusCode::kInvalidArgument, "version",
                      absl::StrCat(version, " is not a version (1, 2, ...)"));
  }
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> earlier,
                          GetBundle(org, version));
  return ApplyBundle(earlier->yaml, /*dry_run=*/false,
                     absl::StrCat(actor, " (rollback to v", version, ")"), org);
}

absl::StatusOr<std::shared_ptr<const Policy>> Engine::GetBundle(
    const std::string& org_id, int64_t version) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  absl::StatusOr<std::shared_ptr<const Policy>> policy =
      version == 0 ? config_->Active(org) : config_->Version(org, version);
  if (absl::IsNotFound(policy.status())) {
    return FieldError(
        absl::StatusCode::kNotFound, version == 0 ? "org_id" : "version",
        version == 0 ? absl::StrCat("unknown org ", Quote(org))
                     : absl::StrCat("org ", org, " has no version ", version));
  }
  return policy;
}

}  // namespace warden
