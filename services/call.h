#ifndef WARDEN_SERVICES_CALL_H_
#define WARDEN_SERVICES_CALL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "services/access.h"
#include "services/executor.h"
#include "services/proto_convert.h"

// Helpers shared by the service classes for unary callback calls.
namespace warden {

// Runs `work` (which takes the caller's Principal and returns an
// absl::StatusOr<T>) on `executor`, off gRPC's callback thread, once `gate`
// admitted the caller to `rpc` on `target`, and finishes the call with its
// result; fill(value) writes the response when it is OK. A full executor
// queue finishes the call at once with UNAVAILABLE, so overload sheds calls
// instead of queueing without bound.
template <typename Work, typename Fill>
grpc::ServerUnaryReactor* RunUnary(Executor* executor, Gatekeeper* gate,
                                   grpc::CallbackServerContext* context,
                                   const char* rpc, CallTarget target,
                                   Work work, Fill fill) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const bool queued = executor->Submit(
      [reactor, gate, context, rpc, target = std::move(target),
       work = std::move(work), fill = std::move(fill)]() mutable {
        absl::StatusOr<Principal> who = gate->Admit(*context, rpc, target);
        if (!who.ok()) {
          reactor->Finish(ToGrpcStatus(who.status()));
          return;
        }
        auto result = work(*who);
        if (result.ok()) fill(*result);
        reactor->Finish(ToGrpcStatus(result.status()));
      });
  if (!queued) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "server overloaded: request queue full"));
  }
  return reactor;
}

}  // namespace warden

#endif  // WARDEN_SERVICES_CALL_H_
