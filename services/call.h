#ifndef WARDEN_SERVICES_CALL_H_
#define WARDEN_SERVICES_CALL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "services/proto_convert.h"

// Helpers shared by the service classes for unary callback calls.
namespace warden {

// Finishes a unary call with `result`; fill(value) writes the response when
// it is OK.
template <typename T, typename Fill>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      const absl::StatusOr<T>& result,
                                      Fill fill) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (result.ok()) fill(*result);
  reactor->Finish(ToGrpcStatus(result.status()));
  return reactor;
}

// Who made the call, for the audit trail. Until authentication lands this is
// the peer address.
inline std::string CallerOf(const grpc::CallbackServerContext& context) {
  return absl::StrCat("anonymous@", context.peer());
}

}  // namespace warden

#endif  // WARDEN_SERVICES_CALL_H_
