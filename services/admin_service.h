#ifndef WARDEN_SERVICES_ADMIN_SERVICE_H_
#define WARDEN_SERVICES_ADMIN_SERVICE_H_

#include "governance/credentials.h"
#include "governance/engine.h"
#include "services/access.h"
#include "services/executor.h"
#include "services/raw_methods.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden {

// warden.v1.AdminService: policy bundles, the kill switch and approvals.
// Translation only.
class AdminService final
    : public RawService<AdminService, v1::AdminService::CallbackService> {
 public:
  // `engine` and `executor` (which runs the engine's blocking calls off
  // gRPC's threads) are not owned and must outlive the service.
  // `gate` admits each call; `credentials` keeps the API tokens; `audit`
  // records token changes.
  AdminService(Engine* engine, Executor* executor, Gatekeeper* gate,
               CredentialStore* credentials, AuditLog* audit,
               const Clock* clock);

  grpc::ServerUnaryReactor* ApplyBundle(
      grpc::CallbackServerContext* context,
      const v1::ApplyBundleRequest* request,
      v1::ApplyBundleResponse* response) override;
  grpc::ServerUnaryReactor* RollbackBundle(
      grpc::CallbackServerContext* context,
      const v1::RollbackBundleRequest* request,
      v1::ApplyBundleResponse* response) override;
  grpc::ServerUnaryReactor* ListPolicyChanges(
      grpc::CallbackServerContext* context,
      const v1::ListPolicyChangesRequest* request,
      v1::ListPolicyChangesResponse* response) override;
  grpc::ServerUnaryReactor* ApprovePolicyChange(
      grpc::CallbackServerContext* context,
      const v1::PolicyChangeVoteRequest* request,
      v1::PolicyChangeVoteResponse* response) override;
  grpc::ServerUnaryReactor* RejectPolicyChange(
      grpc::CallbackServerContext* context,
      const v1::PolicyChangeVoteRequest* request,
      v1::PolicyChangeVoteResponse* response) override;
  grpc::ServerUnaryReactor* GetBundle(grpc::CallbackServerContext* context,
                                      const v1::GetBundleRequest* request,
                                      v1::GetBundleResponse* response) override;
  grpc::ServerUnaryReactor* DecommissionAgent(
      grpc::CallbackServerContext* context,
      const v1::DecommissionAgentRequest* request,
      v1::FreezeResponse* response) override;
  grpc::ServerUnaryReactor* FreezeScope(grpc::CallbackServerContext* context,
                                        const v1::FreezeScopeRequest* request,
                                        v1::FreezeResponse* response) override;
  grpc::ServerUnaryReactor* UnfreezeScope(
      grpc::CallbackServerContext* context,
      const v1::FreezeScopeRequest* request,
      v1::FreezeResponse* response) override;
  grpc::ServerUnaryReactor* ListFrozenScopes(
      grpc::CallbackServerContext* context,
      const v1::ListFrozenScopesRequest* request,
      v1::ListFrozenScopesResponse* response) override;
  grpc::ServerUnaryReactor* ListPendingApprovals(
      grpc::CallbackServerContext* context,
      const v1::ListPendingApprovalsRequest* request,
      v1::ListPendingApprovalsResponse* response) override;
  grpc::ServerUnaryReactor* Approve(grpc::CallbackServerContext* context,
                                    const v1::ApprovalRequest* request,
                                    v1::ApprovalResponse* response) override;
  grpc::ServerUnaryReactor* Reject(grpc::CallbackServerContext* context,
                                   const v1::ApprovalRequest* request,
                                   v1::ApprovalResponse* response) override;
  grpc::ServerUnaryReactor* CreateToken(
      grpc::CallbackServerContext* context,
      const v1::CreateTokenRequest* request,
      v1::CreateTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListTokens(
      grpc::CallbackServerContext* context,
      const v1::ListTokensRequest* request,
      v1::ListTokensResponse* response) override;
  grpc::ServerUnaryReactor* RevokeToken(grpc::CallbackServerContext* context,
                                        const v1::RevokeTokenRequest* request,
                                        v1::ApiToken* response) override;

 private:
  // Who answers an approval: the caller itself (`named`, if set, must be
  // it), or with authentication off, `named`. A caller naming someone else
  // is refused and audited.
  absl::StatusOr<std::string> Approver(const Principal& who,
                                       const std::string& named,
                                       const char* rpc);
  absl::Status AuditToken(AuditEvent::Type type, const ApiToken& t,
                          const std::string& actor);
  // Approve and Reject: the same translation.
  grpc::ServerUnaryReactor* Vote(grpc::CallbackServerContext* context,
                                 const v1::ApprovalRequest* request,
                                 v1::ApprovalResponse* response, bool approve);
  // ApprovePolicyChange and RejectPolicyChange: the same translation.
  grpc::ServerUnaryReactor* VoteOnChange(
      grpc::CallbackServerContext* context,
      const v1::PolicyChangeVoteRequest* request,
      v1::PolicyChangeVoteResponse* response, bool approve);
  // FreezeScope (freeze) and UnfreezeScope: the same translation.
  grpc::ServerUnaryReactor* Freeze(grpc::CallbackServerContext* context,
                                   const v1::FreezeScopeRequest* request,
                                   v1::FreezeResponse* response, bool freeze);

  Engine* const engine_;
  Executor* const executor_;
  Gatekeeper* const gate_;
  CredentialStore* const credentials_;
  AuditLog* const audit_;
  const Clock* const clock_;
};

}  // namespace warden

#endif  // WARDEN_SERVICES_ADMIN_SERVICE_H_
