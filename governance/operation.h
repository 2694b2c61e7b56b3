#ifndef WARDEN_GOVERNANCE_OPERATION_H_
#define WARDEN_GOVERNANCE_OPERATION_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden {

// Where a transaction handed to Warden (SubmitTransaction) stands.
//   kPending: accepted, not yet sent (waiting for Warden's own approval or
//     delay, or about to be sent).
//   kSending: one replica is handing it to the wallet's vendor now.
//   kAwaitingApproval: the vendor holds it for its own approval (MFA).
//   kSubmitted: broadcast, with a tx hash; not yet final.
//   kConfirmed: final, mined and successful: the authorization is settled.
//   kFailed: final, nothing was spent (never sent, refused, or reverted):
//     the authorization is voided.
//   kUnknown: the send may or may not have happened (a timeout after the
//     request left). The hold is kept; polling resolves it.
enum class OperationState {
  kPending,
  kSending,
  kAwaitingApproval,
  kSubmitted,
  kConfirmed,
  kFailed,
  kUnknown,
};

const char* OperationStateName(OperationState s);  // "PENDING", ...
inline bool IsFinal(OperationState s) {
  return s == OperationState::kConfirmed || s == OperationState::kFailed;
}

// What Warden signs for an x402 payment (PayX402) once its authorization
// is allowed: an EIP-3009 TransferWithAuthorization of the authorization's
// amount of its asset to its destination, in the token's EIP-712 domain,
// valid for `valid_for` from the signing. The chain is the wallet's, and
// the token the asset's contract on it.
struct X402Terms {
  std::string token_name;     // The EIP-712 domain's name.
  std::string token_version;  // And version.
  uint64_t chain_id = 0;      // The network the requirement named.
  absl::Duration valid_for;

  friend bool operator==(const X402Terms&, const X402Terms&) = default;
};
// A compact JSON object, for the operation's storage; DecodeX402Terms
// refuses anything else with INVALID_ARGUMENT.
std::string EncodeX402Terms(const X402Terms& terms);
absl::StatusOr<X402Terms> DecodeX402Terms(absl::string_view json);

// One SubmitTransaction or PayX402: at most one per authorization, so a
// retried
// Submit (same idempotency key, hence the same authorization) finds the
// first one instead of sending again.
struct Operation {
  std::string id;  // OperationIdFor(authorization_id).
  std::string org_id;
  std::string authorization_id;
  std::string agent_id;
  std::string wallet_id;
  // Calldata sent with the transfer (bytes); empty for a plain transfer.
  std::string data;
  // Set for an x402 payment: signed rather than sent. Its vendor_ref is
  // then the signed authorization (evm::EncodeX402Ref), its tx_hash the
  // transaction that used it, once seen.
  std::optional<X402Terms> x402;
  OperationState state = OperationState::kPending;
  std::string tx_hash;     // 0x-hex, once known.
  std::string vendor_ref;  // The vendor's handle for async operations.
  std::string error;       // Why it failed or is unknown.
  absl::Time created_at;
  absl::Time updated_at;

  friend bool operator==(const Operation&, const Operation&) = default;
};

// "op_" + the authorization's id.
std::string OperationIdFor(const std::string& authorization_id);

// Where operations are kept: Postgres when the gateway has it, else
// memory. Thread-safe.
class OperationStore {
 public:
  OperationStore() = default;
  OperationStore(const OperationStore&) = delete;
  OperationStore& operator=(const OperationStore&) = delete;
  virtual ~OperationStore() = default;

  // ALREADY_EXISTS when the id is taken.
  virtual absl::Status Create(const Operation& op) = 0;
  // NOT_FOUND naming the id.
  virtual absl::StatusOr<Operation> Get(const std::string& org_id,
                                        const std::string& id) = 0;
  // Replaces the record only if its state is still `from`: true if it did,
  // false if another caller moved it on first (compare and set, so that of
  // two replicas only one sends).
  virtual absl::StatusOr<bool> Update(const Operation& op,
                                      OperationState from) = 0;
  // Up to `limit` operations not in a final state, least recently updated
  // first, across orgs.
  virtual absl::StatusOr<std::vector<Operation>> ListOpen(size_t limit) = 0;
  // How many operations are in each state that is not final, by org.
  using OpenCounts = std::map<std::pair<std::string, OperationState>, int64_t>;
  virtual absl::StatusOr<OpenCounts> CountOpen() = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_OPERATION_H_
