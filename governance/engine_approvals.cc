// Approvals: listing what awaits a vote, and the votes themselves.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "governance/engine.h"
#include "governance/engine_internal.h"
#include "governance/evaluation.h"
#include "governance/explain.h"
#include "governance/quote.h"
#include "governance/status_macros.h"

namespace warden {

using engine_internal::CheckLength;
using engine_internal::FieldError;
using eval::MayApprove;

absl::StatusOr<std::vector<Authorization>> Engine::ListPendingApprovals(
    const std::string& org_id) {
  WARDEN_ASSIGN_OR_RETURN(std::string org, ResolveOrg(org_id));
  WARDEN_ASSIGN_OR_RETURN(std::vector<Authorization> awaiting,
                          budgets_->ListAwaiting(org, kMaxListed));
  std::vector<Authorization> out;
  const absl::Time now = clock_->Now();
  for (Authorization& a : awaiting) {
    // Awaiting until it leaves HELD; a released delay no longer does.
    a = Present(std::move(a));
    if (a.status == AuthorizationStatus::kHeld && a.hold_expires_at > now &&
        a.decision != Decision::kAllow) {
      out.push_back(std::move(a));
    }
  }
  return out;
}

absl::StatusOr<VoteOutput> Engine::Approve(const VoteInput& in) {
  return Vote(in, /*approve=*/true);
}

absl::StatusOr<VoteOutput> Engine::Reject(const VoteInput& in) {
  return Vote(in, /*approve=*/false);
}

absl::StatusOr<VoteOutput> Engine::Vote(const VoteInput& in, bool approve) {
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                          ResolvePolicy(in.org_id));
  const std::string& org = policy->org.id;
  if (in.approver.empty()) {
    return FieldError(absl::StatusCode::kInvalidArgument, "approver",
                      "is required (a principal such as user/alice or "
                      "agent/agent_b)");
  }
  WARDEN_RETURN_IF_ERROR(ValidatePrincipalName("approver", in.approver));
  WARDEN_RETURN_IF_ERROR(CheckLength("comment", in.comment, kMaxMemoBytes));
  WARDEN_ASSIGN_OR_RETURN(Authorization a, Get(org, in.authorization_id));
  if (a.status != AuthorizationStatus::kHeld ||
      (a.decision != Decision::kPendingApproval &&
       a.decision != Decision::kDelayed)) {
    return FieldError(
        absl::StatusCode::kFailedPrecondition, "authorization_id",
        absl::StrCat(a.id, " is ", DecisionName(a.decision), " and ",
                     StatusName(a.status), ", not awaiting approval"));
  }
  if (in.approver == absl::StrCat("agent/", a.agent_id)) {
    return FieldError(absl::StatusCode::kPermissionDenied, "approver",
                      absl::StrCat(in.approver,
                                   " made this request and cannot approve or "
                                   "reject it"));
  }
  if (a.decision == Decision::kDelayed) {
    if (approve) {
      return FieldError(
          absl::StatusCode::kFailedPrecondition, "authorization_id",
          absl::StrCat(a.id,
                       " is delayed, not awaiting approval: it is "
                       "allowed at ",
                       FormatInstant(a.release_at),
                       " unless rejected (cancelled) before"));
    }
  } else if (!MayApprove(a, in.approver, *policy)) {
    return FieldError(
        absl::StatusCode::kPermissionDenied, "approver",
        absl::StrCat(in.approver, " is not an approver of ", a.id,
                     " (approvers: ", ListText(a.approvers),
                     "; second_agent means another agent of department ",
                     a.department_id, ")"));
  }
  const absl::Time now = clock_->Now();
  // An approval allows the spend at the USD value it was held at: not once
  // its live price is older than the asset's max_age (the tokens may be
  // worth much more by now).
  if (auto asset = policy->assets.find(a.asset);
      approve && !a.price_source.empty() && asset != policy->assets.end() &&
      asset->second.feed.kind != PriceFeed::Kind::kFixed &&
      now - a.price_at > asset->second.feed.max_age) {
    return FieldError(
        absl::StatusCode::kFailedPrecondition, "authorization_id",
        absl::StrCat(a.id, " was valued at ", a.asset, " ", a.price_usd,
                     " from ", a.price_source, ", a price now ",
                     absl::FormatDuration(
                         absl::Trunc(now - a.price_at, absl::Seconds(1))),
                     " old, over its max_age of ",
                     absl::FormatDuration(asset->second.feed.max_age),
                     ": reject it, and the agent asks again at a fresh "
                     "price"));
  }
  WARDEN_ASSIGN_OR_RETURN(
      VoteResult result,
      budgets_->Vote(org, a.id,
                     ApprovalVote{in.approver, approve, in.comment, now},
                     now + policy->org.hold_ttl, policy->org.expired_holds));
  // Audited even when not counted, so that a retry after an audit failure
  // still records the vote.
  WARDEN_RETURN_IF_ERROR(AuditTransition(AuditEvent::Type::kAuthorizationVoted,
                                         result.authorization, in.actor));
  if (result.counted) {
    const Authorization& after = result.authorization;
    const char* event = !approve ? "approval.rejected"
                        : after.decision == Decision::kAllow
                            ? "approval.granted"
                            : "approval.voted";
    Notify(event, after, in.approver,
           absl::StrCat(in.approver, approve ? " approved " : " rejected ",
                        after.id, " (", after.Approvals(), " of ",
                        after.approvals_required, " approvals)",
                        in.comment.empty() ? "" : ": ", in.comment));
  }
  return VoteOutput{Present(std::move(result.authorization)), result.counted};
}

}  // namespace warden
