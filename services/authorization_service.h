#ifndef WARDEN_SERVICES_AUTHORIZATION_SERVICE_H_
#define WARDEN_SERVICES_AUTHORIZATION_SERVICE_H_

#include "absl/time/time.h"
#include "governance/engine.h"
#include "services/access.h"
#include "services/executor.h"
#include "services/raw_methods.h"
#include "services/stream_slots.h"
#include "services/submitter.h"
#include "warden/v1/authorization.grpc.pb.h"

namespace warden {

// warden.v1.AuthorizationService: translates requests to Engine calls and
// results back. Holds no business rules.
class AuthorizationService final
    : public RawService<AuthorizationService,
                        v1::AuthorizationService::CallbackService> {
 public:
  // `engine`, `submitter`, `executor` (which runs the engine's blocking
  // calls off gRPC's threads) and `gate` are not owned and must outlive the
  // service. `gate` admits each call (services/access.h).
  AuthorizationService(Engine* engine, Submitter* submitter, Executor* executor,
                       Gatekeeper* gate);

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
  // WatchAuthorization.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(
      grpc::CallbackServerContext* context,
      v1::GetAuthorizationRequest request);
  grpc::ServerUnaryReactor* SubmitTransaction(
      grpc::CallbackServerContext* context,
      const v1::SubmitTransactionRequest* request,
      v1::SubmitTransactionResponse* response) override;
  grpc::ServerUnaryReactor* PayX402(grpc::CallbackServerContext* context,
                                    const v1::PayX402Request* request,
                                    v1::PayX402Response* response) override;
  grpc::ServerUnaryReactor* GetOperation(grpc::CallbackServerContext* context,
                                         const v1::GetOperationRequest* request,
                                         v1::Operation* response) override;
  grpc::ServerUnaryReactor* BudgetStatus(
      grpc::CallbackServerContext* context,
      const v1::BudgetStatusRequest* request,
      v1::BudgetStatusResponse* response) override;
  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const v1::WhoAmIRequest* request,
                                   v1::WhoAmIResponse* response) override;

  // How often a watch reads the record.
  static constexpr absl::Duration kWatchPollInterval = absl::Milliseconds(200);
  // Watches open at once: per caller (org and principal), and in all.
  static constexpr size_t kMaxWatchesPerCaller = 16;
  static constexpr size_t kMaxWatches = 1024;
  // GetOperation calls asking a vendor at once, per caller and in all;
  // past them a call answers the operation as stored.
  static constexpr size_t kMaxPollsPerCaller = 4;
  static constexpr size_t kMaxPolls = 32;

 private:
  // `result`, with a refusal of another agent's record audited.
  absl::StatusOr<Authorization> Audited(const Principal& who, const char* rpc,
                                        absl::StatusOr<Authorization> result);

  Engine* const engine_;
  Submitter* const submitter_;
  Executor* const executor_;
  Gatekeeper* const gate_;
  StreamSlots watches_{kMaxWatchesPerCaller, kMaxWatches};
  StreamSlots polls_{kMaxPollsPerCaller, kMaxPolls, "vendor polls running"};
};

}  // namespace warden

#endif  // WARDEN_SERVICES_AUTHORIZATION_SERVICE_H_
