#include "services/proto_convert.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace warden {
namespace {

v1::Decision ToProto(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return v1::DECISION_ALLOW;
    case Decision::kDeny:
      return v1::DECISION_DENY;
    case Decision::kPendingApproval:
      return v1::DECISION_PENDING_APPROVAL;
    case Decision::kDelayed:
      return v1::DECISION_DELAYED;
    case Decision::kUnspecified:
      break;
  }
  return v1::DECISION_UNSPECIFIED;
}

v1::AuthorizationStatus ToProto(AuthorizationStatus s) {
  switch (s) {
    case AuthorizationStatus::kHeld:
      return v1::AUTHORIZATION_STATUS_HELD;
    case AuthorizationStatus::kSettled:
      return v1::AUTHORIZATION_STATUS_SETTLED;
    case AuthorizationStatus::kVoided:
      return v1::AUTHORIZATION_STATUS_VOIDED;
    case AuthorizationStatus::kExpired:
      return v1::AUTHORIZATION_STATUS_EXPIRED;
    case AuthorizationStatus::kDenied:
      return v1::AUTHORIZATION_STATUS_DENIED;
  }
  return v1::AUTHORIZATION_STATUS_UNSPECIFIED;
}

}  // namespace

void ToProto(const Violation& v, v1::Violation* out) {
  out->set_code(v.code);
  out->set_scope(v.scope);
  out->set_limit(v.limit);
  if (v.limit_usd) out->set_limit_usd(FormatUsdDecimal(*v.limit_usd));
  if (v.limit_count) out->set_limit_count(*v.limit_count);
  out->set_window(v.window);
  out->set_spent(v.spent);
  out->set_requested(v.requested);
  out->set_remaining(v.remaining);
  out->set_message(v.message);
  out->set_pending(v.pending);
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  const timespec spec = absl::ToTimespec(t);
  ts.set_seconds(spec.tv_sec);
  ts.set_nanos(static_cast<int32_t>(spec.tv_nsec));
  return ts;
}

absl::StatusOr<absl::Time> TimeFromProto(const google::protobuf::Timestamp& ts,
                                         absl::string_view field,
                                         absl::Time unset) {
  // google/protobuf/timestamp.proto's range.
  constexpr int64_t kMinSeconds = -62'135'596'800;  // 0001-01-01T00:00:00Z
  constexpr int64_t kMaxSeconds = 253'402'300'799;  // 9999-12-31T23:59:59Z
  if (ts.seconds() == 0 && ts.nanos() == 0) return unset;
  if (ts.seconds() < kMinSeconds || ts.seconds() > kMaxSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": seconds ", ts.seconds(),
                     " is outside 0001-01-01 to 9999-12-31 (", kMinSeconds,
                     " to ", kMaxSeconds, ")"));
  }
  if (ts.nanos() < 0 || ts.nanos() > 999'999'999) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": nanos ", ts.nanos(), " is outside 0 to 999,999,999"));
  }
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

void ToProto(const Authorization& a, v1::Authorization* out) {
  out->set_authorization_id(a.id);
  out->set_org_id(a.org_id);
  out->set_agent_id(a.agent_id);
  out->set_wallet_id(a.wallet_id);
  out->set_chain(a.chain);
  out->set_asset(a.asset);
  out->set_amount(FormatBaseUnits(a.amount));
  out->set_amount_usd(FormatUsdDecimal(a.amount_usd));
  out->set_price_usd(a.price_usd);
  if (!a.price_source.empty()) {
    out->set_price_source(a.price_source);
    *out->mutable_price_at() = ToTimestamp(a.price_at);
  }
  for (const std::string& code : a.anomalies) out->add_anomalies(code);
  out->set_destination(a.destination);
  out->set_contract(a.contract);
  out->set_method(a.method);
  out->set_calldata_hash(a.calldata_hash);
  out->set_memo(a.memo);
  out->set_traceparent(a.traceparent);
  out->set_idempotency_key(a.idempotency_key);
  out->set_decision(ToProto(a.decision));
  out->set_status(ToProto(a.status));
  out->set_reason(a.reason);
  for (const Violation& v : a.violations) ToProto(v, out->add_violations());
  *out->mutable_created_at() = ToTimestamp(a.created_at);
  if (a.status != AuthorizationStatus::kDenied) {
    *out->mutable_hold_expires_at() = ToTimestamp(a.hold_expires_at);
  }
  if (a.settled_amount) {
    out->set_settled_amount(FormatBaseUnits(*a.settled_amount));
    out->set_settled_amount_usd(FormatUsdDecimal(a.settled_usd));
    out->set_tx_hash(a.tx_hash);
  }
  out->set_policy_version(a.policy_version);
  out->set_expired_counted(a.expired_counted);
  if (a.release_at != absl::InfinitePast()) {
    *out->mutable_release_at() = ToTimestamp(a.release_at);
  }
  out->set_approvals_required(a.approvals_required);
  for (const std::string& approver : a.approvers) out->add_approvers(approver);
  for (const ApprovalVote& v : a.votes) {
    v1::ApprovalVote* pv = out->add_votes();
    pv->set_approver(v.approver);
    pv->set_approve(v.approve);
    pv->set_comment(v.comment);
    *pv->mutable_at() = ToTimestamp(v.at);
  }
}

void ToProto(const Authorization& a, bool replayed,
             v1::AuthorizeResponse* out) {
  out->set_decision(ToProto(a.decision));
  out->set_authorization_id(a.id);
  out->set_amount_usd(FormatUsdDecimal(a.amount_usd));
  out->set_reason(a.reason);
  for (const Violation& v : a.violations) ToProto(v, out->add_violations());
  // A hold's expiry only means something while it may be used.
  if (a.status == AuthorizationStatus::kHeld && a.decision != Decision::kDeny) {
    *out->mutable_hold_expires_at() = ToTimestamp(a.hold_expires_at);
  }
  out->set_status(ToProto(a.status));
  out->set_policy_version(a.policy_version);
  out->set_replayed(replayed);
  if (a.release_at != absl::InfinitePast()) {
    *out->mutable_release_at() = ToTimestamp(a.release_at);
  }
  out->set_approvals_required(a.approvals_required);
}

void ToProto(const LimitStatus& s, v1::LimitStatus* out) {
  out->set_scope(s.scope);
  out->set_name(s.limit.name);
  out->set_window(s.limit.window.spec);
  out->set_on_violation(OnViolationName(s.limit.on_violation));
  if (s.limit.kind == Limit::Kind::kUsd) {
    out->set_limit_usd(FormatUsdDecimal(s.limit.usd));
    out->set_used_usd(FormatUsdDecimal(s.used));
    out->set_settled_usd(FormatUsdDecimal(s.settled));
    out->set_held_usd(FormatUsdDecimal(s.held));
    out->set_pending_usd(FormatUsdDecimal(s.pending));
    out->set_remaining_usd(FormatUsdDecimal(s.remaining));
  } else {
    out->set_limit_count(s.limit.count);
    out->set_used_count(s.used);
    out->set_settled_count(s.settled);
    out->set_held_count(s.held);
    out->set_pending_count(s.pending);
    out->set_remaining_count(s.remaining);
  }
  out->set_utilization(s.Utilization());
  *out->mutable_window_start() = ToTimestamp(s.interval.start);
  if (s.limit.window.kind == Window::Kind::kCalendar) {
    *out->mutable_window_end() = ToTimestamp(s.interval.end);
  }
  if (s.rolls_off_at)
    *out->mutable_rolls_off_at() = ToTimestamp(*s.rolls_off_at);
}

void ToProto(const Operation& op, v1::Operation* out) {
  // The enums list the same states in the same order, after UNSPECIFIED.
  out->set_state(
      static_cast<v1::OperationState>(static_cast<int>(op.state) + 1));
  out->set_operation_id(op.id);
  out->set_authorization_id(op.authorization_id);
  out->set_wallet_id(op.wallet_id);
  out->set_tx_hash(op.tx_hash);
  out->set_vendor_ref(op.vendor_ref);
  out->set_error(op.error);
  *out->mutable_created_at() = ToTimestamp(op.created_at);
  *out->mutable_updated_at() = ToTimestamp(op.updated_at);
}

}  // namespace warden
