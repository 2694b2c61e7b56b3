#ifndef WARDEN_SERVICES_CALL_H_
#define WARDEN_SERVICES_CALL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "services/executor.h"
#include "services/proto_convert.h"

// Helpers shared by the service classes for unary callback calls.
namespace warden {

// Runs `work` (which returns an absl::StatusOr<T>) on `executor`, off
// gRPC's callback thread, and finishes the call with its result; fill(value)
// writes the response when it is OK. A full executor queue finishes the call
// at once with UNAVAILABLE, so overload sheds calls instead of queueing
// without bound.
template <typename Work, typename Fill>
grpc::ServerUnaryReactor* RunUnary(Executor* executor,
                                   grpc::CallbackServerContext* context,
                                   Work work, Fill fill) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool queued = executor->Submit(
      [reactor, work = std::move(work), fill = std::move(fill)]() mutable {
        auto result = work();
        if (result.ok()) fill(*result);
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "server overloaded: request queue full"));
  }
  return reactor;
}

// Who made the call, for the audit trail. Until authentication lands this is
// the peer address.
inline std::string CallerOf(const grpc::CallbackServerContext& context) {
  return absl::StrCat("anonymous@", context.peer());
}

}  // namespace warden

#endif  // WARDEN_SERVICES_CALL_H_
