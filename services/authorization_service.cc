#include "services/authorization_service.h"

#include "services/call.h"
#include "services/proto_convert.h"

namespace warden {

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

}  // namespace warden
