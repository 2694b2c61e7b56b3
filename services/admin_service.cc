#include "services/admin_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "governance/address.h"
#include "governance/quote.h"
#include "governance/status_macros.h"
#include "services/call.h"

namespace warden {

namespace {

void ToProto(const PolicyChange& c, v1::PolicyChange* out) {
  out->set_change_id(c.id);
  out->set_org_id(c.org_id);
  out->set_state(PolicyChangeStateName(c.state));
  out->set_author(c.author);
  out->set_base_version(c.base_version);
  for (const std::string& line : c.diff) out->add_diff(line);
  for (const std::string& line : c.loosenings) out->add_loosenings(line);
  *out->mutable_requested_at() = ToTimestamp(c.requested_at);
  *out->mutable_expires_at() = ToTimestamp(c.expires_at);
  out->set_approvals_required(c.rule.approvals_required);
  for (const std::string& a : c.rule.approvers) out->add_approvers(a);
  for (const std::string& a : c.approvals) out->add_approvals(a);
  out->set_closed_by(c.closed_by);
  if (c.state != PolicyChange::State::kPending) {
    *out->mutable_closed_at() = ToTimestamp(c.closed_at);
  }
  out->set_close_reason(c.close_reason);
  out->set_yaml(c.yaml);
}

void ToProto(const ApplyResult& r, bool dry_run,
             v1::ApplyBundleResponse* response) {
  response->set_org_id(r.org_id);
  response->set_version(r.version);
  response->set_changed(r.changed);
  response->set_dry_run(dry_run);
  for (const std::string& line : r.diff) response->add_diff(line);
  for (const std::string& line : r.loosenings) response->add_loosenings(line);
  if (r.pending) ToProto(*r.pending, response->mutable_pending_change());
}

}  // namespace

AdminService::AdminService(Engine* engine, Executor* executor, Gatekeeper* gate,
                           CredentialStore* credentials, AuditLog* audit,
                           const Clock* clock)
    : RawService("warden.v1.AdminService"),
      engine_(engine),
      executor_(executor),
      gate_(gate),
      credentials_(credentials),
      audit_(audit),
      clock_(clock) {
  Serve("ApplyBundle", &AdminService::ApplyBundle);
  Serve("GetBundle", &AdminService::GetBundle);
  Serve("ListPolicyChanges", &AdminService::ListPolicyChanges);
  Serve("ApprovePolicyChange", &AdminService::ApprovePolicyChange);
  Serve("RejectPolicyChange", &AdminService::RejectPolicyChange);
  Serve("RollbackBundle", &AdminService::RollbackBundle);
  Serve("DecommissionAgent", &AdminService::DecommissionAgent);
  Serve("FreezeScope", &AdminService::FreezeScope);
  Serve("UnfreezeScope", &AdminService::UnfreezeScope);
  Serve("ListFrozenScopes", &AdminService::ListFrozenScopes);
  Serve("ListPendingApprovals", &AdminService::ListPendingApprovals);
  Serve("Approve", &AdminService::Approve);
  Serve("Reject", &AdminService::Reject);
  Serve("CreateToken", &AdminService::CreateToken);
  Serve("ListTokens", &AdminService::ListTokens);
  Serve("RevokeToken", &AdminService::RevokeToken);
  CheckAllServed();
}

grpc::ServerUnaryReactor* AdminService::ApplyBundle(
    grpc::CallbackServerContext* context, const v1::ApplyBundleRequest* request,
    v1::ApplyBundleResponse* response) {
  static constexpr char kRpc[] = "AdminService.ApplyBundle";
  return RunUnary(
      executor_, gate_, context, kRpc, {},
      [this, request](const Principal& who) -> absl::StatusOr<ApplyResult> {
        absl::StatusOr<ApplyResult> r = engine_->ApplyBundle(
            request->yaml(), request->dry_run(), who.name, who.org_id);
        if (absl::IsPermissionDenied(r.status())) {
          return gate_->Deny(who, kRpc, std::string(r.status().message()));
        }
        return r;
      },
      [request, response](const ApplyResult& r) {
        ToProto(r, request->dry_run(), response);
      });
}

grpc::ServerUnaryReactor* AdminService::RollbackBundle(
    grpc::CallbackServerContext* context,
    const v1::RollbackBundleRequest* request,
    v1::ApplyBundleResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AdminService.RollbackBundle",
      {request->org_id()},
      [this, request](const Principal& who) {
        return engine_->RollbackBundle(
            Gatekeeper::OrgOf(who, {request->org_id()}), request->version(),
            who.name);
      },
      [response](const ApplyResult& r) {
        ToProto(r, /*dry_run=*/false, response);
      });
}

grpc::ServerUnaryReactor* AdminService::ListPolicyChanges(
    grpc::CallbackServerContext* context,
    const v1::ListPolicyChangesRequest* request,
    v1::ListPolicyChangesResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AdminService.ListPolicyChanges",
      {request->org_id()},
      [this, request](const Principal& who) {
        return engine_->ListPolicyChanges(
            Gatekeeper::OrgOf(who, {request->org_id()}),
            request->pending_only(), request->change_id());
      },
      [response](const std::vector<PolicyChange>& changes) {
        for (const PolicyChange& c : changes) {
          ToProto(c, response->add_changes());
        }
      });
}

grpc::ServerUnaryReactor* AdminService::ApprovePolicyChange(
    grpc::CallbackServerContext* context,
    const v1::PolicyChangeVoteRequest* request,
    v1::PolicyChangeVoteResponse* response) {
  return VoteOnChange(context, request, response, /*approve=*/true);
}

grpc::ServerUnaryReactor* AdminService::RejectPolicyChange(
    grpc::CallbackServerContext* context,
    const v1::PolicyChangeVoteRequest* request,
    v1::PolicyChangeVoteResponse* response) {
  return VoteOnChange(context, request, response, /*approve=*/false);
}

grpc::ServerUnaryReactor* AdminService::VoteOnChange(
    grpc::CallbackServerContext* context,
    const v1::PolicyChangeVoteRequest* request,
    v1::PolicyChangeVoteResponse* response, bool approve) {
  const char* rpc = approve ? "AdminService.ApprovePolicyChange"
                            : "AdminService.RejectPolicyChange";
  return RunUnary(
      executor_, gate_, context, rpc, {request->org_id()},
      [this, request, approve,
       rpc](const Principal& who) -> absl::StatusOr<PolicyChangeOutcome> {
        PolicyChangeVote in;
        in.org_id = Gatekeeper::OrgOf(who, {request->org_id()});
        in.change_id = request->change_id();
        WARDEN_ASSIGN_OR_RETURN(in.approver,
                                Approver(who, request->approver(), rpc));
        in.comment = request->comment();
        in.actor = who.name;
        absl::StatusOr<PolicyChangeOutcome> out =
            approve ? engine_->ApprovePolicyChange(in)
                    : engine_->RejectPolicyChange(in);
        if (absl::IsPermissionDenied(out.status())) {
          return gate_->Deny(who, rpc, std::string(out.status().message()));
        }
        return out;
      },
      [response](const PolicyChangeOutcome& out) {
        ToProto(out.change, response->mutable_change());
        response->set_counted(out.counted);
      });
}

grpc::ServerUnaryReactor* AdminService::GetBundle(
    grpc::CallbackServerContext* context, const v1::GetBundleRequest* request,
    v1::GetBundleResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AdminService.GetBundle", {request->org_id()},
      [this, request](const Principal& who) {
        return engine_->GetBundle(Gatekeeper::OrgOf(who, {request->org_id()}),
                                  request->version());
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
                                    const std::string& org_id, Engine& engine) {
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
    case v1::ScopeRef::kDestination:
      // Any chain's address: an EVM one, or a solana one.
      if (!ValidateAddress("", "ethereum", s.destination()).ok() &&
          !ValidateAddress("", "solana", s.destination()).ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("scope.destination: ", Quote(s.destination()),
                         " is not an address (0x and 40 hex digits, EIP-55 "
                         "checksummed if in mixed case; or base58 of 32 "
                         "bytes)"));
      }
      return absl::StrCat("destination/",
                          NormalizeDestination(s.destination()));
    case v1::ScopeRef::kOrg: {
      absl::StatusOr<std::string> org = engine.ResolveOrg(org_id);
      if (!org.ok()) return org.status();
      return absl::StrCat("org/", *org);
    }
    default:
      return absl::InvalidArgumentError(
          "scope: one of agent_id, department_id, wallet_id, destination or "
          "org is required");
  }
}

void Fill(const FreezeOutcome& o, v1::FreezeResponse* out) {
  out->set_scope(o.scope);
  out->set_wallets_frozen(o.wallets_frozen);
  out->set_holds_voided(o.holds_voided);
  for (const VendorFreezeResult& r : o.vendor_results) {
    v1::VendorFreeze* v = out->add_vendor_results();
    v->set_wallet_id(r.wallet_id);
    v->set_vendor(r.vendor);
    switch (r.outcome) {
      case VendorFreezeResult::Outcome::kDone:
        v->set_outcome(v1::VendorFreeze::DONE);
        break;
      case VendorFreezeResult::Outcome::kUnsupported:
        v->set_outcome(v1::VendorFreeze::UNSUPPORTED);
        break;
      case VendorFreezeResult::Outcome::kFailed:
        v->set_outcome(v1::VendorFreeze::FAILED);
        break;
      case VendorFreezeResult::Outcome::kOwnerApproval:
        v->set_outcome(v1::VendorFreeze::OWNER_APPROVAL);
        break;
    }
    v->set_reason(r.reason);
  }
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::DecommissionAgent(
    grpc::CallbackServerContext* context,
    const v1::DecommissionAgentRequest* request, v1::FreezeResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AdminService.DecommissionAgent",
      {request->org_id()},
      [this, request](const Principal& who) -> absl::StatusOr<FreezeOutcome> {
        if (request->reason().empty()) {
          return absl::InvalidArgumentError("reason: is required");
        }
        return engine_->DecommissionAgent(
            Gatekeeper::OrgOf(who, {request->org_id()}), request->agent_id(),
            request->reason(), who.name);
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
      executor_, gate_, context,
      freeze ? "AdminService.FreezeScope" : "AdminService.UnfreezeScope",
      {request->org_id()},
      [this, request,
       freeze](const Principal& who) -> absl::StatusOr<FreezeOutcome> {
        const std::string org = Gatekeeper::OrgOf(who, {request->org_id()});
        absl::StatusOr<std::string> scope = ScopeOf(*request, org, *engine_);
        if (!scope.ok()) return scope.status();
        return freeze ? engine_->FreezeScope(org, *scope, request->reason(),
                                             who.name)
                      : engine_->UnfreezeScope(org, *scope, request->reason(),
                                               who.name);
      },
      [response](const FreezeOutcome& o) { Fill(o, response); });
}

grpc::ServerUnaryReactor* AdminService::ListFrozenScopes(
    grpc::CallbackServerContext* context,
    const v1::ListFrozenScopesRequest* request,
    v1::ListFrozenScopesResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AdminService.ListFrozenScopes",
      {request->org_id()},
      [this, request](const Principal& who) {
        return engine_->ListFrozen(Gatekeeper::OrgOf(who, {request->org_id()}));
      },
      [response](const std::vector<FrozenScope>& frozen) {
        for (const FrozenScope& f : frozen) {
          v1::FrozenScope* out = response->add_scopes();
          out->set_scope(f.scope);
          *out->mutable_frozen_at() = ToTimestamp(f.frozen_at);
          out->set_actor(f.actor);
          out->set_reason(f.reason);
          out->set_decommissioned(f.decommissioned);
        }
      });
}

grpc::ServerUnaryReactor* AdminService::ListPendingApprovals(
    grpc::CallbackServerContext* context,
    const v1::ListPendingApprovalsRequest* request,
    v1::ListPendingApprovalsResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AdminService.ListPendingApprovals",
      {request->org_id()},
      [this, request](const Principal& who) {
        return engine_->ListPendingApprovals(
            Gatekeeper::OrgOf(who, {request->org_id()}));
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

absl::StatusOr<std::string> AdminService::Approver(const Principal& who,
                                                   const std::string& named,
                                                   const char* rpc) {
  if (who.name == kAnonymous) return named;
  if (!named.empty() && named != who.name) {
    return gate_->Deny(
        who, rpc,
        absl::StrCat("approver: ", who.name,
                     " may answer only as itself, not as ", named));
  }
  return who.name;
}

grpc::ServerUnaryReactor* AdminService::Vote(
    grpc::CallbackServerContext* context, const v1::ApprovalRequest* request,
    v1::ApprovalResponse* response, bool approve) {
  const char* rpc = approve ? "AdminService.Approve" : "AdminService.Reject";
  return RunUnary(
      executor_, gate_, context, rpc, {request->org_id()},
      [this, request, approve,
       rpc](const Principal& who) -> absl::StatusOr<VoteOutput> {
        VoteInput in;
        in.org_id = Gatekeeper::OrgOf(who, {request->org_id()});
        in.authorization_id = request->authorization_id();
        WARDEN_ASSIGN_OR_RETURN(in.approver,
                                Approver(who, request->approver(), rpc));
        in.comment = request->comment();
        in.actor = who.name;
        return approve ? engine_->Approve(in) : engine_->Reject(in);
      },
      [response](const VoteOutput& out) {
        ToProto(out.authorization, response->mutable_authorization());
        response->set_counted(out.counted);
      });
}

namespace {

void ToProto(const ApiToken& t, v1::ApiToken* out) {
  out->set_token_id(t.token_id);
  out->set_org_id(t.org_id);
  out->set_principal(t.principal);
  for (Role r : t.roles) out->add_roles(RoleName(r));
  *out->mutable_created_at() = ToTimestamp(t.created_at);
  out->set_created_by(t.created_by);
  *out->mutable_expires_at() = ToTimestamp(t.expires_at);
  if (t.revoked_at) *out->mutable_revoked_at() = ToTimestamp(*t.revoked_at);
  if (t.last_used_at) {
    *out->mutable_last_used_at() = ToTimestamp(*t.last_used_at);
  }
}

}  // namespace

absl::Status AdminService::AuditToken(AuditEvent::Type type, const ApiToken& t,
                                      const std::string& actor) {
  std::vector<std::string> roles;
  for (Role r : t.roles) roles.push_back(RoleName(r));
  return audit_->Append(
      AuditEvent::ForReason(type, clock_->Now(), t.org_id, actor,
                            absl::StrCat(t.token_id, " for ", t.principal, " (",
                                         absl::StrJoin(roles, ", "), ") until ",
                                         absl::FormatTime(t.expires_at))));
}

grpc::ServerUnaryReactor* AdminService::CreateToken(
    grpc::CallbackServerContext* context, const v1::CreateTokenRequest* request,
    v1::CreateTokenResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AdminService.CreateToken",
      {request->org_id()},
      [this, request](const Principal& who) -> absl::StatusOr<MintedToken> {
        WARDEN_ASSIGN_OR_RETURN(
            std::string org,
            engine_->ResolveOrg(Gatekeeper::OrgOf(who, {request->org_id()})));
        // An admin who could mint an approver's token could answer for it:
        // while four eyes are on, approvers make their own tokens.
        if (absl::StatusOr<std::shared_ptr<const Policy>> policy =
                engine_->GetBundle(org, 0);
            policy.ok() && (*policy)->org.policy_changes &&
            request->principal() != who.name) {
          const std::vector<std::string>& approvers =
              (*policy)->org.policy_changes->approvers;
          if (std::find(approvers.begin(), approvers.end(),
                        request->principal()) != approvers.end()) {
            return gate_->Deny(
                who, "AdminService.CreateToken",
                absl::StrCat("principal: ", request->principal(),
                             " approves policy changes (org.policy_changes); "
                             "only it may create tokens for itself"));
          }
        }
        WARDEN_ASSIGN_OR_RETURN(
            MintedToken minted,
            IssueToken(*credentials_, org, request->principal(),
                       {request->roles().begin(), request->roles().end()},
                       absl::Seconds(request->ttl_seconds()), who.name,
                       clock_->Now()));
        WARDEN_RETURN_IF_ERROR(AuditToken(AuditEvent::Type::kTokenCreated,
                                          minted.record, who.name));
        return minted;
      },
      [response](const MintedToken& m) {
        ToProto(m.record, response->mutable_token());
        response->set_bearer_token(m.token);
      });
}

grpc::ServerUnaryReactor* AdminService::ListTokens(
    grpc::CallbackServerContext* context, const v1::ListTokensRequest* request,
    v1::ListTokensResponse* response) {
  return RunUnary(
      executor_, gate_, context, "AdminService.ListTokens", {request->org_id()},
      [this,
       request](const Principal& who) -> absl::StatusOr<std::vector<ApiToken>> {
        WARDEN_ASSIGN_OR_RETURN(
            std::string org,
            engine_->ResolveOrg(Gatekeeper::OrgOf(who, {request->org_id()})));
        return credentials_->ListTokens(org);
      },
      [response](const std::vector<ApiToken>& tokens) {
        for (const ApiToken& t : tokens) ToProto(t, response->add_tokens());
      });
}

grpc::ServerUnaryReactor* AdminService::RevokeToken(
    grpc::CallbackServerContext* context, const v1::RevokeTokenRequest* request,
    v1::ApiToken* response) {
  return RunUnary(
      executor_, gate_, context, "AdminService.RevokeToken",
      {request->org_id()},
      [this, request](const Principal& who) -> absl::StatusOr<ApiToken> {
        WARDEN_ASSIGN_OR_RETURN(
            std::string org,
            engine_->ResolveOrg(Gatekeeper::OrgOf(who, {request->org_id()})));
        WARDEN_RETURN_IF_ERROR(
            credentials_->RevokeToken(org, request->token_id(), clock_->Now()));
        WARDEN_ASSIGN_OR_RETURN(ApiToken t,
                                credentials_->FindToken(request->token_id()));
        WARDEN_RETURN_IF_ERROR(
            AuditToken(AuditEvent::Type::kTokenRevoked, t, who.name));
        return t;
      },
      [response](const ApiToken& t) { ToProto(t, response); });
}

}  // namespace warden
