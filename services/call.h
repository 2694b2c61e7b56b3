#ifndef WARDEN_SERVICES_CALL_H_
#define WARDEN_SERVICES_CALL_H_

#include <algorithm>
#include <chrono>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "services/access.h"
#include "services/executor.h"
#include "services/logging.h"
#include "services/metrics.h"
#include "services/proto_convert.h"
#include "services/raw_methods.h"
#include "spdlog/spdlog.h"

// Helpers shared by the service classes for unary callback calls.
namespace warden {

// How long a call may take, queue included, when its caller set no
// deadline (or a longer one).
inline constexpr absl::Duration kDefaultCallDeadline = absl::Seconds(30);

// When the call must be over: its own deadline, at most kDefaultCallDeadline
// after `arrived`.
inline absl::Time CallDeadline(const grpc::CallbackServerContext& context,
                               absl::Time arrived) {
  const auto deadline = context.deadline();
  const absl::Time own =
      deadline == std::chrono::system_clock::time_point::max()
          ? absl::InfiniteFuture()
          : absl::FromChrono(deadline);
  return std::min(own, arrived + kDefaultCallDeadline);
}

// Runs `work` on `executor`, off gRPC's callback thread, once `gate`
// admitted the caller to `rpc` on `target`; work(principal, done) answers
// through done(absl::StatusOr<T>), on any thread, and the call finishes
// with that result (fill(value) writes the response when it is OK). A full
// executor queue finishes the call at once with UNAVAILABLE, so overload
// sheds calls instead of queueing without bound; a call that waited in the
// queue past its CallDeadline finishes DEADLINE_EXCEEDED without running.
template <typename T, typename Work, typename Fill>
grpc::ServerUnaryReactor* RunUnaryAsync(Executor* executor, Gatekeeper* gate,
                                        grpc::CallbackServerContext* context,
                                        const char* rpc, CallTarget target,
                                        Work work, Fill fill) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time arrived = absl::Now();
  const absl::Time deadline = CallDeadline(*context, arrived);
  // A method served from raw bytes encodes its response when it finishes.
  RawResponse* raw = std::exchange(RawResponse::Current(), nullptr);
  // Finishes the call, and counts it in the metrics.
  auto finish = [reactor, rpc, arrived, raw](const absl::Status& status) {
    if (Metrics* m = ProcessMetrics()) {
      m->ObserveRpc(rpc, absl::StatusCodeToString(status.code()),
                    absl::Now() - arrived);
    }
    if (raw != nullptr) raw->EncodeAndRelease(status.ok());
    reactor->Finish(ToGrpcStatus(status));
  };
  const bool queued =
      executor->Submit([finish, executor, gate, context, rpc, arrived, deadline,
                        target = std::move(target), work = std::move(work),
                        fill = std::move(fill)]() mutable {
        // Refusals are logged with the request id too.
        LogContext log(RequestIdOf(*context), "", rpc);
        if (absl::Now() >= deadline) {
          finish(absl::DeadlineExceededError(absl::StrCat(
              "the call waited ", absl::FormatDuration(absl::Now() - arrived),
              " in the queue, past its deadline; it was not run")));
          return;
        }
        absl::StatusOr<Principal> who = gate->Admit(*context, rpc, target);
        if (!who.ok()) {
          finish(who.status());
          return;
        }
        log.set_principal(who->name);
        executor->Await();
        work(*who,
             [finish, executor, context, rpc, arrived, principal = who->name,
              fill = std::move(fill)](absl::StatusOr<T> result) mutable {
               executor->Answered();
               LogContext done_log(RequestIdOf(*context), principal, rpc);
               if (result.ok()) {
                 fill(*result);
                 // Formatted only when debug lines are kept: this is every
                 // call.
                 if (spdlog::should_log(spdlog::level::debug)) {
                   spdlog::debug("call OK in {}",
                                 absl::FormatDuration(absl::Now() - arrived));
                 }
               } else {
                 spdlog::info("call failed: {}", result.status().ToString());
               }
               finish(result.status());
             });
      });
  if (!queued) {
    finish(absl::UnavailableError(
        executor->closed() ? "server shutting down: retry on another replica"
                           : "server overloaded: request queue full"));
  }
  return reactor;
}

// RunUnaryAsync for `work` that takes the caller's Principal and returns
// its absl::StatusOr<T> on the executor's thread.
template <typename Work, typename Fill>
grpc::ServerUnaryReactor* RunUnary(Executor* executor, Gatekeeper* gate,
                                   grpc::CallbackServerContext* context,
                                   const char* rpc, CallTarget target,
                                   Work work, Fill fill) {
  using Result = std::invoke_result_t<Work&, const Principal&>;
  return RunUnaryAsync<typename Result::value_type>(
      executor, gate, context, rpc, std::move(target),
      [work = std::move(work)](const Principal& who, auto done) mutable {
        done(work(who));
      },
      std::move(fill));
}

}  // namespace warden

#endif  // WARDEN_SERVICES_CALL_H_
