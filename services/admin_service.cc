#include "services/admin_service.h"

#include "absl/strings/str_cat.h"
#include "services/call.h"

namespace warden {

grpc::ServerUnaryReactor* AdminService::ApplyBundle(
    grpc::CallbackServerContext* context, const v1::ApplyBundleRequest* request,
    v1::ApplyBundleResponse* response) {
  return RunUnary(
      executor_, context,
      [this, request, actor = CallerOf(*context)] {
        return engine_->ApplyBundle(request->yaml(), request->dry_run(), actor);
      },
      [request, response](const ApplyResult& r) {
        response->set_org_id(r.org_id);
        response->set_version(r.version);
        response->set_changed(r.changed);
        response->set_dry_run(request->dry_run());
        for (const std::string& line : r.diff) response->add_diff(line);
      });
}

grpc::ServerUnaryReactor* AdminService::GetBundle(
    grpc::CallbackServerContext* context, const v1::GetBundleRequest* request,
    v1::GetBundleResponse* response) {
  return RunUnary(
      executor_, context,
      [this, request] {
        return engine_->GetBundle(request->org_id(), request->version());
      },
      [response](const std::shared_ptr<const Policy>& p) {
        response->set_org_id(p->org.id);
        response->set_version(p->version);
        response->set_yaml(p->yaml);
        *response->mutable_applied_at() = ToTimestamp(p->applied_at);
        response->set_applied_by(p->applied_by);
      });
}

namespace {

// "agent/<id>" and friends from the request; INVALID_ARGUMENT naming the
// field when it is missing.
absl::StatusOr<std::string> ScopeOf(const v1::FreezeScopeRequest& r,
                                    Engine& engine) {
  if (r.reason().empty()) {
    return absl::InvalidArgumentError("reason: is required");
  }
  const v1::ScopeRef& s = r.scope();
  switch (s.target_case()) {
    case v1::ScopeRef::kAgentId:
      return absl::StrCat("agent/", s.agent_id());
    case v1::ScopeRef::kDepartmentId:
      return absl::StrCat("department/", s.department_id());
    case v1::ScopeRef::kWalletId:
      return absl::StrCat("wallet/", s.wallet_id());
    case v1::ScopeRef::kOrg: {
      absl::StatusOr<std::string> org = engine.ResolveOrg(r.org_id());
      if (!org.ok()) return org.status();
      return absl::StrCat("org/", *org);
    }
    default:
      return absl::InvalidArgumentError(
          "scope: one of agent_id, department_id, wallet_id or org is "
          "required");
  }
}

void Fill(const FreezeOutcome& o, v1::FreezeResponse* out) {
  out->set_scope(o.scope);
  out->set_wallets_frozen(o.wallets_frozen);
  out->set_holds_voided(o.holds_voided);
  out->set_vendor_wallets(o.vendor_wallets);
  for (const std::string& e : o.vendor_errors) out->add_vendor_errors(e);
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::DecommissionAgent(
    grpc::CallbackServerContext* context,
    const v1::DecommissionAgentRequest* request, v1::FreezeResponse* response) {
  return RunUnary(
      executor_, context,
      [this, request,
       actor = CallerOf(*context)]() -> absl::StatusOr<FreezeOutcome> {
        if (request->reason().empty()) {
          return absl::InvalidArgumentError("reason: is required");
        }
        return engine_->DecommissionAgent(
            request->org_id(), request->agent_id(), request->reason(), actor);
      },
      [response](const FreezeOutcome& o) { Fill(o, response); });
}

grpc::ServerUnaryReactor* AdminService::FreezeScope(
    grpc::CallbackServerContext* context, const v1::FreezeScopeRequest* request,
    v1::FreezeResponse* response) {
  return Freeze(context, request, response, /*freeze=*/true);
}

grpc::ServerUnaryReactor* AdminService::UnfreezeScope(
    grpc::CallbackServerContext* context, const v1::FreezeScopeRequest* request,
    v1::FreezeResponse* response) {
  return Freeze(context, request, response, /*freeze=*/false);
}

grpc::ServerUnaryReactor* AdminService::Freeze(
    grpc::CallbackServerContext* context, const v1::FreezeScopeRequest* request,
    v1::FreezeResponse* response, bool freeze) {
  return RunUnary(
      executor_, context,
      [this, request, freeze,
       actor = CallerOf(*context)]() -> absl::StatusOr<FreezeOutcome> {
        absl::StatusOr<std::string> scope = ScopeOf(*request, *engine_);
        if (!scope.ok()) return scope.status();
        return freeze ? engine_->FreezeScope(request->org_id(), *scope,
                                             request->reason(), actor)
                      : engine_->UnfreezeScope(request->org_id(), *scope,
                                               request->reason(), actor);
      },
      [response](const FreezeOutcome& o) { Fill(o, response); });
}

grpc::ServerUnaryReactor* AdminService::ListPendingApprovals(
    grpc::CallbackServerContext* context,
    const v1::ListPendingApprovalsRequest* request,
    v1::ListPendingApprovalsResponse* response) {
  return RunUnary(
      executor_, context,
      [this, request] {
        return engine_->ListPendingApprovals(request->org_id());
      },
      [response](const std::vector<Authorization>& pending) {
        for (const Authorization& a : pending) {
          ToProto(a, response->add_approvals());
        }
      });
}

grpc::ServerUnaryReactor* AdminService::Approve(
    grpc::CallbackServerContext* context, const v1::ApprovalRequest* request,
    v1::ApprovalResponse* response) {
  return Vote(context, request, response, /*approve=*/true);
}

grpc::ServerUnaryReactor* AdminService::Reject(
    grpc::CallbackServerContext* context, const v1::ApprovalRequest* request,
    v1::ApprovalResponse* response) {
  return Vote(context, request, response, /*approve=*/false);
}

grpc::ServerUnaryReactor* AdminService::Vote(
    grpc::CallbackServerContext* context, const v1::ApprovalRequest* request,
    v1::ApprovalResponse* response, bool approve) {
  VoteInput in;
  in.org_id = request->org_id();
  in.authorization_id = request->authorization_id();
  in.approver = request->approver();
  in.comment = request->comment();
  in.actor = CallerOf(*context);
  return RunUnary(
      executor_, context,
      [this, in = std::move(in), approve] {
        return approve ? engine_->Approve(in) : engine_->Reject(in);
      },
      [response](const VoteOutput& out) {
        ToProto(out.authorization, response->mutable_authorization());
        response->set_counted(out.counted);
      });
}

}  // namespace warden
