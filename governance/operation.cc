#include "governance/operation.h"

namespace warden {

const char* OperationStateName(OperationState s) {
  switch (s) {
    case OperationState::kPending:
      return "PENDING";
    case OperationState::kSending:
      return "SENDING";
    case OperationState::kAwaitingApproval:
      return "AWAITING_APPROVAL";
    case OperationState::kSubmitted:
      return "SUBMITTED";
    case OperationState::kConfirmed:
      return "CONFIRMED";
    case OperationState::kFailed:
      return "FAILED";
    case OperationState::kUnknown:
      return "UNKNOWN";
  }
  return "UNKNOWN";
}

std::string OperationIdFor(const std::string& authorization_id) {
  return "op_" + authorization_id;
}

}  // namespace warden
