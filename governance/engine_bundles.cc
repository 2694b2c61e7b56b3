// Policy bundles: applying, rolling back and reading versions.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "governance/bundle.h"
#include "governance/credentials.h"
#include "governance/engine.h"
#include "governance/engine_internal.h"
#include "governance/explain.h"
#include "governance/quote.h"
#include "governance/status_macros.h"

namespace warden {

using engine_internal::CheckId;
using engine_internal::CheckLength;
using engine_internal::FieldError;
using engine_internal::NewId;

absl::StatusOr<ApplyResult> Engine::ApplyAtStart(const std::string& yaml,
                                                 const std::string& actor) {
  WARDEN_ASSIGN_OR_RETURN(ApplyResult dry,
                          ApplyBundle(yaml, /*dry_run=*/true, actor));
  if (dry.changed) {
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<PolicyChange> waiting,
        ListPolicyChanges(dry.org_id, /*pending_only=*/true));
    if (!waiting.empty()) {
      dry.changed = false;
      dry.held_back = waiting.size();
      return dry;
    }
  }
  return ApplyBundle(yaml, /*dry_run=*/false, actor);
}

absl::StatusOr<ApplyResult> Engine::ApplyBundle(const std::string& yaml,
                                                bool dry_run,
                                                const std::string& actor,
                                                const std::string& caller_org) {
  return Apply(yaml, dry_run, actor, actor, caller_org);
}

absl::StatusOr<ApplyResult> Engine::Apply(const std::string& yaml, bool dry_run,
                                          const std::string& author,
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
  if (result.changed && before.org.policy_changes) {
    result.loosenings = BoundedDiff(Loosenings(before, next));
  }
  if (dry_run || !result.changed) return result;

  const absl::Time now = clock_->Now();
  if (!result.loosenings.empty()) {
    // Four eyes: it waits for the approvers of the policy in force.
    PolicyChange c;
    c.id = NewId("pc_");
    c.org_id = next.org.id;
    c.yaml = yaml;
    c.base_version = before.version;
    c.diff = result.diff;
    c.loosenings = result.loosenings;
    c.author = author;
    c.requested_at = now;
    c.rule = *before.org.policy_changes;
    c.expires_at = now + c.rule.expires_after;
    const int others = static_cast<int>(
        std::count_if(c.rule.approvers.begin(), c.rule.approvers.end(),
                      [&](const std::string& a) { return a != author; }));
    if (others < c.rule.approvals_required) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the bundle loosens the policy (", absl::StrJoin(c.loosenings, "; "),
          ") and needs ", c.rule.approvals_required,
          " approvers other than its author, ", author,
          ", but org.policy_changes.approvers has only ", others));
    }
    WARDEN_RETURN_IF_ERROR(SupersedeChanges(c.org_id, c.id));
    WARDEN_RETURN_IF_ERROR(
        SaveChange(c, actor,
                   absl::StrCat("requested against v", c.base_version,
                                "; needs ", c.rule.approvals_required, " of [",
                                absl::StrJoin(c.rule.approvers, ", "),
                                "] other than its author; loosens: ",
                                absl::StrJoin(c.loosenings, "; "))));
    result.version = before.version;
    result.pending = std::move(c);
    return result;
  }
  next.version = result.version;
  next.yaml = yaml;
  next.applied_at = now;
  next.applied_by = actor;
  const std::string org = next.org.id;
  WARDEN_RETURN_IF_ERROR(PutInForce(std::move(next), result.diff));
  // A newer apply supersedes whatever waited for approval.
  WARDEN_RETURN_IF_ERROR(
      SupersedeChanges(org, absl::StrCat("v", result.version)));
  return result;
}

absl::Status Engine::PutInForce(Policy next, std::vector<std::string> diff) {
  const std::string org = next.org.id;
  const std::string actor = next.applied_by;
  const int64_t version = next.version;
  // Audit first, so that the trail never misses a version that took effect.
  if (absl::Status st = audit_->Append(AuditEvent::ForBundle(
          next.applied_at, org, actor, version, std::move(diff)));
      !st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("audit log unavailable, so the bundle was not applied: ",
                     st.message()));
  }
  absl::Status applied =
      config_->Apply(std::make_shared<const Policy>(std::move(next)));
  if (absl::IsAborted(applied)) {
    // Another replica put its own version `version` in force first: the
    // record above stands void, and the trail says so.
    if (absl::Status st = audit_->Append(AuditEvent::ForReason(
            AuditEvent::Type::kBundleNotApplied, clock_->Now(), org, actor,
            absl::StrCat("v", version, " by ", actor,
                         " did not take effect: another replica put its own "
                         "v",
                         version,
                         " in force first; the bundle.applied "
                         "record of this attempt is void")));
        !st.ok()) {
      return absl::UnavailableError(absl::StrCat(
          applied.message(),
          "; recording that it did not take effect failed: ", st.message()));
    }
  }
  return applied;
}

absl::Status Engine::SaveChange(PolicyChange& c, const std::string& actor,
                                const std::string& reason) {
  ++c.revision;
  if (absl::Status st = audit_->Append(AuditEvent::ForReason(
          AuditEvent::Type::kPolicyChange, clock_->Now(), c.org_id, actor,
          absl::StrCat("policy change ", c.id, " by ", c.author, ": ",
                       PolicyChangeStateName(c.state), ": ", reason)));
      !st.ok()) {
    return absl::UnavailableError(
        absl::StrCat("audit log unavailable, so the policy change ", c.id,
                     " was not recorded: ", st.message()));
  }
  return config_->SaveChange(c);
}

absl::Status Engine::SupersedeChanges(const std::string& org,
                                      const std::string& by) {
  WARDEN_ASSIGN_OR_RETURN(std::vector<PolicyChange> pending,
                          config_->Changes(org, /*pending_only=*/true, 100));
  for (PolicyChange& c : pending) {
    c.state = PolicyChange::State::kSuperseded;
    c.closed_by = by;
    c.closed_at = clock_->Now();
    c.close_reason = absl::StrCat("superseded by ", by);
    WARDEN_RETURN_IF_ERROR(SaveChange(c, "system", c.close_reason));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PolicyChange>> Engine::ListPolicyChanges(
    const std::string& org_id, bool pending_only,
    const std::string& change_id) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  std::vector<PolicyChange> changes;
  if (!change_id.empty()) {
    WARDEN_RETURN_IF_ERROR(CheckId("change_id", change_id));
    absl::StatusOr<PolicyChange> c = config_->Change(org, change_id);
    if (absl::IsNotFound(c.status())) {
      return FieldError(absl::StatusCode::kNotFound, "change_id",
                        absl::StrCat("org ", org, " has no policy change ",
                                     Quote(change_id)));
    }
    WARDEN_RETURN_IF_ERROR(c.status());
    changes.push_back(*std::move(c));
  } else {
    WARDEN_ASSIGN_OR_RETURN(
        changes, config_->Changes(org, pending_only, kMaxListedChanges));
    for (PolicyChange& c : changes) c.yaml.clear();  // Bounds the answer.
  }
  const absl::Time now = clock_->Now();
  std::vector<PolicyChange> out;
  for (PolicyChange& c : changes) {
    if (c.state == PolicyChange::State::kPending && now >= c.expires_at) {
      c.state = PolicyChange::State::kExpired;
      c.closed_at = c.expires_at;
      if (pending_only) continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<PolicyChangeOutcome> Engine::ApprovePolicyChange(
    const PolicyChangeVote& vote) {
  return VoteOnChange(vote, /*approve=*/true);
}

absl::StatusOr<PolicyChangeOutcome> Engine::RejectPolicyChange(
    const PolicyChangeVote& vote) {
  return VoteOnChange(vote, /*approve=*/false);
}

absl::StatusOr<PolicyChangeOutcome> Engine::VoteOnChange(
    const PolicyChangeVote& in, bool approve) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(in.org_id));
  if (in.approver.empty()) {
    return FieldError(absl::StatusCode::kInvalidArgument, "approver",
                      "is required (a principal such as user/alice)");
  }
  WARDEN_RETURN_IF_ERROR(ValidatePrincipalName("approver", in.approver));
  WARDEN_RETURN_IF_ERROR(CheckLength("comment", in.comment, kMaxMemoBytes));
  WARDEN_RETURN_IF_ERROR(CheckId("change_id", in.change_id));
  absl::MutexLock lock(&apply_mu_);
  absl::StatusOr<PolicyChange> found = config_->Change(org, in.change_id);
  if (absl::IsNotFound(found.status())) {
    return FieldError(absl::StatusCode::kNotFound, "change_id",
                      absl::StrCat("org ", org, " has no policy change ",
                                   Quote(in.change_id)));
  }
  WARDEN_RETURN_IF_ERROR(found.status());
  PolicyChange c = *std::move(found);
  const absl::Time now = clock_->Now();
  if (c.state == PolicyChange::State::kPending && now >= c.expires_at) {
    c.state = PolicyChange::State::kExpired;
    c.closed_at = now;
    c.close_reason = absl::StrCat(
        "expired at ",
        absl::FormatTime(absl::RFC3339_sec, c.expires_at, absl::UTCTimeZone()));
    WARDEN_RETURN_IF_ERROR(SaveChange(c, "system", c.close_reason));
  }
  if (c.state != PolicyChange::State::kPending) {
    return FieldError(
        absl::StatusCode::kFailedPrecondition, "change_id",
        absl::StrCat(c.id, " is ", PolicyChangeStateName(c.state),
                     c.close_reason.empty()
                         ? ""
                         : absl::StrCat(" (", c.close_reason, ")"),
                     "; apply the bundle again to request a new change"));
  }
  if (std::find(c.rule.approvers.begin(), c.rule.approvers.end(),
                in.approver) == c.rule.approvers.end()) {
    return FieldError(
        absl::StatusCode::kPermissionDenied, "approver",
        absl::StrCat(in.approver, " is not among the approvers of ", c.id, " [",
                     absl::StrJoin(c.rule.approvers, ", "), "]"));
  }
  if (approve && in.approver == c.author) {
    return FieldError(absl::StatusCode::kPermissionDenied, "approver",
                      absl::StrCat(in.approver,
                                   " requested this change and cannot "
                                   "approve it"));
  }
  if (approve && std::find(c.approvals.begin(), c.approvals.end(),
                           in.approver) != c.approvals.end()) {
    return PolicyChangeOutcome{std::move(c), false};
  }
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> active,
                          config_->Active(org));
  if (active->version != c.base_version) {
    c.state = PolicyChange::State::kSuperseded;
    c.closed_at = now;
    c.closed_by = absl::StrCat("v", active->version);
    c.close_reason = absl::StrCat("v", active->version,
                                  " took effect after it was requested");
    WARDEN_RETURN_IF_ERROR(SaveChange(c, "system", c.close_reason));
    return FieldError(absl::StatusCode::kFailedPrecondition, "change_id",
                      absl::StrCat(c.id, " is superseded: ", c.close_reason,
                                   "; apply the bundle again"));
  }
  const std::string comment =
      in.comment.empty() ? "" : absl::StrCat(": ", in.comment);
  if (!approve) {
    c.state = PolicyChange::State::kRejected;
    c.closed_at = now;
    c.closed_by = in.approver;
    c.close_reason = absl::StrCat("rejected by ", in.approver, comment);
    WARDEN_RETURN_IF_ERROR(SaveChange(c, in.actor, c.close_reason));
    return PolicyChangeOutcome{std::move(c), true};
  }
  c.approvals.push_back(in.approver);
  const std::string votes =
      absl::StrCat("approved by ", in.approver, " (", c.approvals.size(),
                   " of ", c.rule.approvals_required, ")", comment);
  if (static_cast<int>(c.approvals.size()) < c.rule.approvals_required) {
    WARDEN_RETURN_IF_ERROR(SaveChange(c, in.actor, votes));
    return PolicyChangeOutcome{std::move(c), true};
  }
  // The quorum: in force as the next version, exactly as requested.
  WARDEN_ASSIGN_OR_RETURN(Policy next, ParseBundle(c.yaml));
  next.version = c.base_version + 1;
  next.yaml = c.yaml;
  next.applied_at = now;
  next.applied_by = absl::StrCat(c.author, " (approved by ",
                                 absl::StrJoin(c.approvals, ", "), ")");
  const int64_t version = next.version;
  // In force if the version in force is still its base (of two replicas
  // completing the quorum at once, one wins; the other is ABORTED), then
  // the change closed.
  std::vector<std::string> diff = BoundedDiff(DiffPolicies(*active, next));
  WARDEN_RETURN_IF_ERROR(PutInForce(std::move(next), std::move(diff)));
  c.state = PolicyChange::State::kApplied;
  c.closed_at = now;
  c.closed_by = absl::StrCat("v", version);
  c.close_reason = absl::StrCat("in force as v", version);
  WARDEN_RETURN_IF_ERROR(
      SaveChange(c, in.actor, absl::StrCat(votes, "; ", c.close_reason)));
  return PolicyChangeOutcome{std::move(c), true};
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
  // A rollback to a looser version is a loosening like any other.
  return Apply(earlier->yaml, /*dry_run=*/false, actor,
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
