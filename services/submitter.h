#ifndef WARDEN_SERVICES_SUBMITTER_H_
#define WARDEN_SERVICES_SUBMITTER_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "adapters/wallet_adapter.h"
#include "governance/audit_log.h"
#include "governance/clock.h"
#include "governance/engine.h"
#include "governance/operation.h"

namespace warden {

struct SubmitInput {
  // With `calldata` (Submit's `data`) for a contract call.
  AuthorizeInput authorize;
};

// An x402 payment (PayX402): `authorize` with `x402_resource` and the
// pay-to address as `destination`; the asset is the one whose contract on
// the wallet's chain is `token_contract`.
struct PayInput {
  AuthorizeInput authorize;
  std::string token_contract;  // 0x-hex.
  X402Terms terms;
};

struct SubmitOutput {
  AuthorizeOutput authorized;
  std::optional<Operation> operation;  // Unset for a denial.
};

// SubmitTransaction: Authorize, then the wallet adapter's Send, then Settle
// with the tx hash once the vendor reports the transaction final (Void when
// it failed and nothing was spent).
//
// Exactly one send per authorization: the operation record is created once,
// by the call whose Authorize was not a replay (the budget store makes that
// one call unique across replicas), and moves between states by compare and
// set, so a retried Submit, a GetOperation and the sweeper on another
// replica never send it again. A send whose outcome is unknown keeps its
// hold and stays UNKNOWN until polling tells. Thread-safe.
class Submitter {
 public:
  // All are not owned and must outlive the submitter.
  // `durable_operations`: the store outlives the process (Postgres).
  Submitter(Engine* engine, OperationStore* operations,
            AdapterRegistry* adapters, AuditLog* audit, const Clock* clock,
            bool durable_operations = true)
      : engine_(engine),
        operations_(operations),
        adapters_(adapters),
        audit_(audit),
        clock_(clock),
        durable_operations_(durable_operations) {}

  absl::StatusOr<SubmitOutput> Submit(const SubmitInput& in);
  // PayX402: Authorize, then the wallet's adapter signs the EIP-3009
  // authorization once the authorization is allowed (the operation is
  // SUBMITTED with it as vendor_ref); polling settles the hold when the
  // token reports it used and voids it once it expired unused. Its
  // valid_before is at most the hold's expiry less kX402HoldMargin, so that
  // the hold outlives the payment. A signature made while the hold was
  // voided (a freeze during the signing) is discarded, never recorded. The
  // answer carries the authorization as it is now. When the chain's node
  // could not be reached nothing is signed, the hold is kept (the
  // operation stays PENDING, signed by a later call or sweep) and the
  // answer is UNAVAILABLE: retry with the same key. Without durable
  // operations an org whose expired holds are released is refused
  // (FAILED_PRECONDITION): a payment whose operation a restart lost would
  // be released unpaid-for.
  absl::StatusOr<SubmitOutput> Pay(const PayInput& in);
  // The operation, advanced as far as it can go now (sent once its
  // authorization is allowed; polled at its vendor while not final), or
  // as stored when `advance` is false. With `owner` (an agent id) set,
  // another agent's operation is PERMISSION_DENIED.
  absl::StatusOr<Operation> Get(const std::string& org_id,
                                const std::string& operation_id,
                                const std::string& owner = "",
                                bool advance = true);
  // FAILED_PRECONDITION when the authorization has an operation: Warden
  // settles or voids it when the vendor reports the outcome, so a caller's
  // Settle or Void (which could release a hold whose transaction is on its
  // way) is refused.
  absl::Status CheckNotSubmitted(const std::string& org_id,
                                 const std::string& authorization_id);
  // Advances up to `limit` open operations once (the server's sweeper);
  // returns how many changed state. Each one polled is moved to the back of
  // the line, so that a backlog of waiting operations never starves the
  // rest. Stops early, between operations, once `stop` (if given) is
  // notified.
  absl::StatusOr<size_t> AdvanceOpen(size_t limit,
                                     const absl::Notification* stop = nullptr);

  // A SENDING operation not updated for this long belongs to a replica that
  // stopped mid-send: it becomes UNKNOWN. Longer than any one send can take
  // (the local adapter's retries included); should the send still finish,
  // its result replaces the UNKNOWN.
  static constexpr absl::Duration kSendingStale = absl::Minutes(15);
  // How long a retried Submit waits for the first call to record its
  // operation.
  static constexpr absl::Duration kReplayWait = absl::Seconds(2);
  // How long Submit waits for an operation another caller is sending (a
  // retry's first call, or a sweep that claimed it first) to record what
  // the vendor said, before answering SENDING.
  static constexpr absl::Duration kSendWait = absl::Seconds(10);
  // How long before its hold expires an x402 authorization stops being
  // valid: time for a poll to see its use while the hold still stands.
  static constexpr absl::Duration kX402HoldMargin = absl::Seconds(60);

 private:
  // Authorize, create the operation (the first call) or find it (a
  // replay), and send it once allowed.
  absl::StatusOr<SubmitOutput> Start(AuthorizeInput authorize, std::string data,
                                     std::optional<X402Terms> x402);
  absl::StatusOr<Operation> Advance(Operation op);
  // `op`, or once it has left SENDING (for at most kSendWait), its state.
  absl::StatusOr<Operation> AwaitSend(Operation op);
  // Sends a PENDING operation whose authorization is allowed.
  absl::StatusOr<Operation> Send(Operation op, const Authorization& a);
  // Moves `op` (now in `from`) to `next`'s state; false if another caller
  // moved it first. Audits the change.
  absl::StatusOr<bool> Move(const Operation& next, OperationState from);
  // An x402 payment just signed: kept if its authorization is still a live
  // hold, else FAILED with the signature dropped (a freeze voided it while
  // it was being signed).
  absl::Status KeepIfStillHeld(Operation* signed_op);
  // Records the operation's new state in the audit trail.
  void AuditOperation(const Operation& op);
  // Settles or voids the authorization of an operation that became final.
  // A confirmed one whose authorization is no longer held (voided by a
  // freeze, or expired) gets an error saying the spend is not charged.
  absl::Status Finish(Operation* op, const Authorization& a);

  Engine* const engine_;
  OperationStore* const operations_;
  AdapterRegistry* const adapters_;
  AuditLog* const audit_;
  const Clock* const clock_;
  const bool durable_operations_;
};

}  // namespace warden

#endif  // WARDEN_SERVICES_SUBMITTER_H_
