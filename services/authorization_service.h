#ifndef WARDEN_SERVICES_AUTHORIZATION_SERVICE_H_
#define WARDEN_SERVICES_AUTHORIZATION_SERVICE_H_

#include "governance/engine.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace warden {

// warden.v1.AuthorizationService: translates requests to Engine calls and
// results back. Holds no business rules.
class AuthorizationService final
    : public v1::AuthorizationService::CallbackService {
 public:
  // `engine` is not owned and must outlive the service.
  explicit AuthorizationService(Engine* engine) : engine_(engine) {}

  grpc::ServerUnaryReactor* Authorize(grpc::CallbackServerContext* context,
                                      const v1::AuthorizeRequest* request,
                                      v1::AuthorizeResponse* response) override;
  grpc::ServerUnaryReactor* Settle(grpc::CallbackServerContext* context,
                                   const v1::SettleRequest* request,
                                   v1::Authorization* response) override;
  grpc::ServerUnaryReactor* Void(grpc::CallbackServerContext* context,
                                 const v1::VoidRequest* request,
                                 v1::Authorization* response) override;
  grpc::ServerUnaryReactor* GetAuthorization(
      grpc::CallbackServerContext* context,
      const v1::GetAuthorizationRequest* request,
      v1::Authorization* response) override;

 private:
  Engine* const engine_;
};

}  // namespace warden

#endif  // WARDEN_SERVICES_AUTHORIZATION_SERVICE_H_
