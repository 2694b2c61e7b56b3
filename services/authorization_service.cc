#include "services/authorization_service.h"

#include <atomic>
#include <chrono>
#include <string>
#include <utility>

#include "grpcpp/alarm.h"
#include "services/call.h"
#include "services/proto_convert.h"

namespace warden {
namespace {

// Streams one record until it is decided: reads it on the executor, writes
// it when it changed, then waits kWatchPollInterval on an alarm. One step is
// outstanding at a time, and the step that finds the call over (decided,
// cancelled, failed) finishes it, so Finish runs exactly once and nothing
// touches the reactor after it.
class Watcher final : public grpc::ServerWriteReactor<v1::Authorization> {
 public:
  Watcher(Engine* engine, Executor* executor, std::string org_id,
          std::string id)
      : engine_(engine),
        executor_(executor),
        org_id_(std::move(org_id)),
        id_(std::move(id)) {
    Poll();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    } else if (decided_) {
      Finish(grpc::Status::OK);
    } else {
      Wait();
    }
  }
  void OnCancel() override {
    cancelled_ = true;
    alarm_.Cancel();
  }
  void OnDone() override { delete this; }

 private:
  void Poll() {
    const bool queued = executor_->Submit([this] {
      absl::StatusOr<Authorization> a = engine_->Get(org_id_, id_);
      if (cancelled_) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
        return;
      }
      if (!a.ok()) {
        Finish(ToGrpcStatus(a.status()));
        return;
      }
      decided_ = a->status != AuthorizationStatus::kHeld ||
                 a->decision == Decision::kAllow ||
                 a->decision == Decision::kDeny;
      v1::Authorization next;
      ToProto(*a, &next);
      std::string wire = next.SerializeAsString();
      if (wire == last_) {
        Wait();
        return;
      }
      last_ = std::move(wire);
      message_ = std::move(next);
      StartWrite(&message_);
    });
    if (!queued) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "server overloaded: request queue full"));
    }
  }
  void Wait() {
    alarm_.Set(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(
                       AuthorizationService::kWatchPollInterval),
               [this](bool ok) {
                 if (ok && !cancelled_) {
                   Poll();
                 } else {
                   Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                       "watch cancelled"));
                 }
               });
  }

  Engine* const engine_;
  Executor* const executor_;
  const std::string org_id_;
  const std::string id_;
  grpc::Alarm alarm_;
  std::atomic<bool> cancelled_{false};
  bool decided_ = false;
  std::string last_;  // The last record written, serialized.
  v1::Authorization message_;
};

}  // namespace

grpc::ServerUnaryReactor* AuthorizationService::Authorize(
    grpc::CallbackServerContext* context, const v1::AuthorizeRequest* request,
    v1::AuthorizeResponse* response) {
  AuthorizeInput in;
  in.org_id = request->org_id();
  in.agent_id = request->agent_id();
  in.wallet_id = request->wallet_id();
  in.asset = request->asset();
  in.amount = request->amount();
  in.destination = request->destination();
  in.idempotency_key = request->idempotency_key();
  in.memo = request->memo();
  in.actor = CallerOf(*context);
  return RunUnary(
      executor_, context,
      [this, in = std::move(in)] { return engine_->Authorize(in); },
      [response](const AuthorizeOutput& out) {
        ToProto(out.authorization, out.replayed, response);
      });
}

grpc::ServerUnaryReactor* AuthorizationService::Settle(
    grpc::CallbackServerContext* context, const v1::SettleRequest* request,
    v1::Authorization* response) {
  SettleInput in;
  in.org_id = request->org_id();
  in.authorization_id = request->authorization_id();
  in.amount = request->amount();
  in.tx_hash = request->tx_hash();
  in.actor = CallerOf(*context);
  return RunUnary(
      executor_, context,
      [this, in = std::move(in)] { return engine_->Settle(in); },
      [response](const Authorization& a) { ToProto(a, response); });
}

grpc::ServerUnaryReactor* AuthorizationService::Void(
    grpc::CallbackServerContext* context, const v1::VoidRequest* request,
    v1::Authorization* response) {
  return RunUnary(
      executor_, context,
      [this, request, actor = CallerOf(*context)] {
        return engine_->Void(request->org_id(), request->authorization_id(),
                             actor);
      },
      [response](const Authorization& a) { ToProto(a, response); });
}

grpc::ServerUnaryReactor* AuthorizationService::GetAuthorization(
    grpc::CallbackServerContext* context,
    const v1::GetAuthorizationRequest* request, v1::Authorization* response) {
  return RunUnary(
      executor_, context,
      [this, request] {
        return engine_->Get(request->org_id(), request->authorization_id());
      },
      [response](const Authorization& a) { ToProto(a, response); });
}

grpc::ServerWriteReactor<v1::Authorization>*
AuthorizationService::WatchAuthorization(
    grpc::CallbackServerContext* context,
    const v1::GetAuthorizationRequest* request) {
  return new Watcher(engine_, executor_, request->org_id(),
                     request->authorization_id());
}

}  // namespace warden
