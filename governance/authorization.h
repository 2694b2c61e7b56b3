#ifndef WARDEN_GOVERNANCE_AUTHORIZATION_H_
#define WARDEN_GOVERNANCE_AUTHORIZATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "governance/money.h"
#include "governance/policy.h"

namespace warden {

// kDelayed: allowed once `release_at` passes, unless cancelled before.
// kPendingApproval: reserved, waiting for a quorum of approvers.
enum class Decision { kUnspecified, kAllow, kDeny, kPendingApproval, kDelayed };

enum class AuthorizationStatus { kHeld, kSettled, kVoided, kExpired, kDenied };

const char* DecisionName(Decision d);           // "ALLOW", "DENY", ...
const char* StatusName(AuthorizationStatus s);  // "HELD", "SETTLED", ...
// StatusName's inverse; false for a name of no status.
bool ParseStatusName(absl::string_view name, AuthorizationStatus* out);

// Whether `value` is a W3C traceparent (https://www.w3.org/TR/trace-context/):
// "vv-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", lowercase, with
// non-zero ids and a version other than ff.
bool IsValidTraceparent(absl::string_view value);

// One reason a spend was not allowed, with its figures (see common.proto).
struct Violation {
  std::string code;
  std::string scope;  // "agent/procurement_bot"
  std::string limit;
  std::optional<UsdMicros> limit_usd;
  std::optional<int64_t> limit_count;
  std::string window;
  std::string spent;
  std::string requested;
  std::string remaining;
  // Of `spent`, the part reserved by requests still awaiting approval;
  // empty when none.
  std::string pending;
  std::string message;

  friend bool operator==(const Violation&, const Violation&) = default;
};

// One approver's answer to a PENDING_APPROVAL (or DELAYED) record.
struct ApprovalVote {
  std::string approver;  // A principal: "user/alice", "agent/agent_b".
  bool approve = false;
  std::string comment;
  absl::Time at;

  friend bool operator==(const ApprovalVote&, const ApprovalVote&) = default;
};

// The record of one Authorize call and what became of it.
struct Authorization {
  std::string id;
  std::string org_id;
  std::string department_id;
  std::string agent_id;
  std::string wallet_id;
  std::string chain;
  std::string asset;
  absl::uint128 amount = 0;  // Base units.
  UsdMicros amount_usd = 0;
  // The price the valuation used (USD per whole token); empty when the
  // asset had none.
  std::string price_usd;
  // A live price's source (PriceFeed::Describe) and when the source last
  // updated it; empty and InfinitePast for the bundle's fixed price.
  std::string price_source;
  absl::Time price_at = absl::InfinitePast();
  // The org's anomaly detectors this spend set off (SPLIT_ACROSS_WALLETS,
  // VOLUME_SPIKE, NEW_DESTINATIONS); the reason says why.
  std::vector<std::string> anomalies;
  // The counterparty: the recipient of a transfer (for a token transfer
  // made by calldata, the recipient the calldata names), the spender of an
  // approval, or the contract of any other call.
  std::string destination;
  // A contract call (Authorize with calldata): the contract called
  // (lowercase 0x-hex), its method ("transfer(address,uint256)", or the
  // selector as hex when unknown) and the keccak256 of the calldata (hex),
  // which a retry must match. Empty for a plain transfer.
  std::string contract;
  std::string method;
  std::string calldata_hash;
  // The scopes it charges (ScopePath), fixed at creation, when they are
  // more than the org, department, agent and wallet: the departments above
  // its own, or chain, asset and destination scopes that limits count in.
  std::vector<std::string> scope_path;
  // An x402 payment (PayX402): the URL of the resource paid for. Empty for
  // anything else.
  std::string x402_resource;
  std::string memo;
  std::string idempotency_key;
  // The W3C trace context (traceparent header) of the request that created
  // it, when the caller sent a valid one; recorded in the audit trail.
  std::string traceparent;

  Decision decision = Decision::kUnspecified;
  AuthorizationStatus status = AuthorizationStatus::kDenied;
  std::string reason;
  std::vector<Violation> violations;
  int64_t policy_version = 0;
  // Fixed at creation from the org's setting, so a later bundle change does
  // not alter how an existing hold expires.
  ExpiredHolds on_expiry = ExpiredHolds::kCount;

  absl::Time created_at;
  absl::Time hold_expires_at;

  // DELAYED: when it becomes an allow (if not cancelled before).
  absl::Time release_at = absl::InfinitePast();
  // PENDING_APPROVAL: how many distinct approvals allow it, and who may give
  // them (principals, or "second_agent": another agent of the department),
  // fixed at creation. `votes` holds every answer so far, in order.
  int approvals_required = 0;
  std::vector<std::string> approvers;
  std::vector<ApprovalVote> votes;

  std::optional<absl::uint128> settled_amount;  // Set once SETTLED.
  UsdMicros settled_usd = 0;
  std::string tx_hash;
  bool expired_counted = false;  // Set once EXPIRED.

  // What the hold currently charges against its limits: the held amount
  // while HELD, the final amount once SETTLED, the held amount if it EXPIRED
  // and counts, else nothing.
  UsdMicros ChargedUsd() const;
  bool Charges() const;
  // The decision as it stands at `now`: a DELAYED hold whose release time
  // has passed is an ALLOW.
  Decision DecisionAt(absl::Time now) const;
  // The number of distinct approvers who approved.
  int Approvals() const;

  friend bool operator==(const Authorization&, const Authorization&) = default;
};

// The scopes a spend charges: `scope_path` when set, else from the org
// down {"org/<org>", "department/<dept>", "agent/<agent>",
// "wallet/<wallet>"}.
std::vector<std::string> ScopePath(const Authorization& a);

// Whether `scope` is on ScopePath(a), without building the path.
bool OnScopePath(const Authorization& a, absl::string_view scope);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_AUTHORIZATION_H_
