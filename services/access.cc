#include "services/access.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "spdlog/spdlog.h"

namespace warden {
namespace {

constexpr char kBearer[] = "Bearer ";
// How many failing sources are tracked before stale ones are dropped.
constexpr size_t kMaxTracked = 100000;

std::vector<Role> AllRoles() {
  return {Role::kAgent, Role::kApprover, Role::kAuditor, Role::kAdmin,
          Role::kOperator};
}

// "ipv4:10.0.0.7" from "ipv4:10.0.0.7:53211": failures of one caller count
// together whatever its source port.
std::string PeerHost(const std::string& peer) {
  return peer.substr(0, peer.rfind(':'));
}

// The principal a client certificate names in its SAN URI
// warden://<org>/<kind>/<id>[?roles=a+b]: an agent holds the agent role
// (and any listed), a user the listed roles. The chain was verified by the
// TLS handshake against the client CA.
absl::StatusOr<Principal> PrincipalFromCertificate(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert =
      bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (cert == nullptr) {
    return absl::UnauthenticatedError("client certificate: unreadable");
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  X509_free(cert);
  std::string uri;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_STRING* s = name->d.uniformResourceIdentifier;
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<size_t>(ASN1_STRING_length(s)));
    if (absl::StartsWith(value, "warden://")) uri = std::move(value);
  }
  GENERAL_NAMES_free(names);
  absl::string_view rest = uri;
  if (!absl::ConsumePrefix(&rest, "warden://")) {
    return absl::UnauthenticatedError(
        "client certificate: no SAN URI warden://<org>/<kind>/<id>");
  }
  std::pair<absl::string_view, absl::string_view> path_query =
      absl::StrSplit(rest, absl::MaxSplits('?', 1));
  std::pair<std::string, std::string> org_name =
      absl::StrSplit(path_query.first, absl::MaxSplits('/', 1));
  Principal p{org_name.first, org_name.second, {}};
  if (p.org_id.empty() ||
      !ValidatePrincipalName("client certificate", p.name).ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "client certificate: \"", uri, "\" is not warden://<org>/<kind>/<id>"));
  }
  if (p.Kind() == "agent") p.roles.push_back(Role::kAgent);
  absl::string_view query = path_query.second;
  if (absl::ConsumePrefix(&query, "roles=")) {
    for (absl::string_view name : absl::StrSplit(query, '+')) {
      absl::StatusOr<Role> role = ParseRole(name);
      if (!role.ok() || !RoleFits(p.name, *role)) {
        return absl::UnauthenticatedError(absl::StrCat(
            "client certificate: role \"", name, "\" in \"", uri, "\""));
      }
      if (!p.Has(*role)) p.roles.push_back(*role);
    }
  }
  return p;
}

std::string RoleList(const std::vector<Role>& roles) {
  std::vector<std::string> names;
  for (Role r : roles) names.push_back(RoleName(r));
  return absl::StrJoin(names, " or ");
}

}  // namespace

const std::vector<RpcRule>& RpcRules() {
  static const auto* rules = new std::vector<RpcRule>{
      {"AuthorizationService.Authorize", {Role::kAgent}, true},
      {"AuthorizationService.Settle", {Role::kAgent}, true},
      {"AuthorizationService.Void", {Role::kAgent}, true},
      {"AuthorizationService.GetAuthorization", {Role::kAgent}, true},
      {"AuthorizationService.WatchAuthorization", {Role::kAgent}, true},
      {"AuthorizationService.SubmitTransaction", {Role::kAgent}, true},
      {"AuthorizationService.GetOperation", {Role::kAgent}, true},
      {"AuthorizationService.PayX402", {Role::kAgent}, true},
      // An agent reads only its own; the service checks the scope.
      {"AuthorizationService.BudgetStatus",
       {Role::kAgent, Role::kAuditor, Role::kApprover, Role::kAdmin}},
      {"AuthorizationService.WhoAmI",
       {Role::kAgent, Role::kAuditor, Role::kApprover, Role::kAdmin}},
      {"AdminService.ApplyBundle", {Role::kAdmin}},
      {"AdminService.GetBundle", {Role::kAdmin}},
      {"AdminService.RollbackBundle", {Role::kAdmin}},
      {"AdminService.ListPolicyChanges",
       {Role::kAdmin, Role::kApprover, Role::kAuditor}},
      // Who may answer is the change's own list of approvers.
      {"AdminService.ApprovePolicyChange", {Role::kAdmin, Role::kApprover}},
      {"AdminService.RejectPolicyChange", {Role::kAdmin, Role::kApprover}},
      {"AdminService.DecommissionAgent", {Role::kAdmin}},
      {"AdminService.FreezeScope", {Role::kAdmin}},
      {"AdminService.UnfreezeScope", {Role::kAdmin}},
      {"AdminService.ListFrozenScopes", {Role::kAdmin, Role::kAuditor}},
      {"AdminService.ListPendingApprovals", {Role::kApprover, Role::kAdmin}},
      {"AdminService.Approve", {Role::kApprover}},
      // An admin cancels a delayed spend with Reject.
      {"AdminService.Reject", {Role::kApprover, Role::kAdmin}},
      {"AdminService.CreateToken", {Role::kAdmin}},
      {"AdminService.ListTokens", {Role::kAdmin}},
      {"AdminService.RevokeToken", {Role::kAdmin}},
      {"AuditService.QueryEvents", {Role::kAuditor}},
      {"AuditService.SpendSummary", {Role::kAuditor}},
      {"AuditService.VerifyChain", {Role::kAuditor}},
      {"AuditService.SecurityReport", {Role::kAuditor, Role::kAdmin}},
      // It records its findings in the audit trail.
      {"AuditService.Reconcile", {Role::kAuditor, Role::kAdmin}},
  };
  return *rules;
}

Gatekeeper::Gatekeeper(CredentialStore* credentials, AuditLog* audit,
                       const Clock* clock, AccessOptions options)
    : credentials_(credentials),
      audit_(audit),
      clock_(clock),
      options_(std::move(options)) {}

std::string Gatekeeper::CallerOf(
    const grpc::CallbackServerContext& context) const {
  const auto& metadata = context.client_metadata();
  auto key = metadata.find(kGatewayKeyMetadata);
  auto peer = metadata.find(kHttpPeerMetadata);
  if (key == metadata.end() || peer == metadata.end() ||
      key->second.size() != gateway_key_.size() ||
      CRYPTO_memcmp(key->second.data(), gateway_key_.data(),
                    gateway_key_.size()) != 0) {
    return context.peer();
  }
  return absl::StrCat("http:", absl::CHexEscape(absl::string_view(
                                   peer->second.data(),
                                   std::min<size_t>(peer->second.size(), 64))));
}

absl::StatusOr<Principal> Gatekeeper::Admit(
    const grpc::CallbackServerContext& context, const std::string& rpc,
    const CallTarget& target) {
  auto rule = std::find_if(RpcRules().begin(), RpcRules().end(),
                           [&](const RpcRule& r) { return rpc == r.rpc; });
  if (rule == RpcRules().end()) {
    // A new RPC without a row in the table is refused, never open.
    return absl::InternalError(absl::StrCat("no access rule for ", rpc));
  }
  if (!options_.required) {
    return Principal{target.org_id, kAnonymous, AllRoles()};
  }
  const std::string address = CallerOf(context);
  const std::string source = PeerHost(address);
  const std::string from = absl::StrCat(" from ", address);
  std::string org, token_id;
  absl::StatusOr<Principal> who = Authenticate(context, &org, &token_id);
  if (!who.ok()) {
    absl::Status refusal = who.status();
    const std::string caller =
        absl::StrCat(token_id.empty() ? "unknown" : token_id, from);
    if (!absl::IsUnauthenticated(refusal)) {
      return Refuse(refusal, org, caller, rpc);
    }
    if (Throttled(source)) {
      spdlog::debug("access: refused {} from throttled {}: {}", rpc, source,
                    refusal.ToString());
      return refusal;
    }
    if (absl::Duration t = Fail(source); t > absl::ZeroDuration()) {
      refusal = absl::UnauthenticatedError(
          absl::StrCat(refusal.message(), "; ", source, " is throttled for ",
                       absl::FormatDuration(t), " after repeated failures"));
    }
    return Refuse(refusal, org, caller, rpc);
  }
  const std::string actor = absl::StrCat(who->name, from);
  if (!target.org_id.empty() && target.org_id != who->org_id) {
    return Refuse(absl::PermissionDeniedError(absl::StrCat(
                      "org_id: ", who->name, " of org ", who->org_id,
                      " may not act in org ", target.org_id)),
                  who->org_id, actor, rpc);
  }
  if (std::none_of(rule->roles.begin(), rule->roles.end(),
                   [&](Role r) { return who->Has(r); })) {
    return Refuse(absl::PermissionDeniedError(
                      absl::StrCat(rpc, " needs the ", RoleList(rule->roles),
                                   " role; ", who->name, " does not have it")),
                  who->org_id, actor, rpc);
  }
  if (rule->self && !target.agent_id.empty() &&
      who->name != absl::StrCat("agent/", target.agent_id)) {
    return Refuse(absl::PermissionDeniedError(
                      absl::StrCat("agent_id: ", who->name,
                                   " may act only for itself, not "
                                   "for agent ",
                                   target.agent_id)),
                  who->org_id, actor, rpc);
  }
  who->address = address;
  return who;
}

bool Gatekeeper::Throttled(const std::string& source) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = sources_.find(source);
  return it != sources_.end() && now < it->second.throttled_until;
}

absl::StatusOr<Principal> Gatekeeper::Authenticate(
    const grpc::CallbackServerContext& context, std::string* org,
    std::string* presented) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  absl::string_view value;
  if (it != metadata.end()) value = {it->second.data(), it->second.size()};
  const bool bearer = absl::ConsumePrefix(&value, kBearer);
  const std::optional<std::string> token_id =
      bearer ? TokenIdOf(value) : std::nullopt;
  if (token_id) *presented = *token_id;
  const absl::Time now = clock_->Now();
  if (it == metadata.end()) {
    // A client certificate the TLS handshake verified.
    const std::vector<grpc::string_ref> pem =
        context.auth_context()->FindPropertyValues(
            GRPC_X509_PEM_CERT_PROPERTY_NAME);
    if (!pem.empty()) {
      return PrincipalFromCertificate(
          std::string(pem[0].data(), pem[0].size()));
    }
    return absl::UnauthenticatedError(
        "no credential: send the metadata `authorization: Bearer <token>` or "
        "a client certificate");
  }
  if (!bearer) {
    return absl::UnauthenticatedError(
        "authorization: must be `Bearer <token>`");
  }
  if (!token_id) {
    return absl::UnauthenticatedError("authorization: not a Warden token");
  }
  absl::StatusOr<ApiToken> record = credentials_->FindToken(*token_id);
  if (absl::IsNotFound(record.status())) {
    return absl::UnauthenticatedError("authorization: unknown token");
  }
  if (!record.ok()) {
    // The credential store is down: fail closed, but not the caller's fault.
    return absl::UnavailableError(
        absl::StrCat("cannot check credentials: ", record.status().message()));
  }
  *org = record->org_id;
  if (!TokenMatches(*record, value)) {
    return absl::UnauthenticatedError("authorization: wrong token secret");
  }
  if (record->revoked_at) {
    return absl::UnauthenticatedError(
        absl::StrCat("authorization: token ", *token_id, " was revoked"));
  }
  if (now >= record->expires_at) {
    return absl::UnauthenticatedError(
        absl::StrCat("authorization: token ", *token_id, " expired"));
  }
  {
    absl::MutexLock lock(&uses_mu_);
    // Past the bound (a flood of distinct valid tokens), the newest uses
    // wait for the next flush to find room.
    if (uses_.size() < kMaxTracked || uses_.contains(*token_id)) {
      uses_[*token_id] = now;
    }
  }
  return Principal{record->org_id, record->principal, record->roles};
}

absl::Status Gatekeeper::FlushUses() {
  std::map<std::string, absl::Time> batch;
  {
    absl::MutexLock lock(&uses_mu_);
    batch.swap(uses_);
  }
  absl::Status written = credentials_->RecordUses(batch);
  if (!written.ok()) {
    absl::MutexLock lock(&uses_mu_);
    for (const auto& [id, at] : batch) {
      if (uses_.size() >= kMaxTracked) break;
      uses_.emplace(id, at);  // A newer use, if any, stays.
    }
  }
  return written;
}

absl::Duration Gatekeeper::Fail(const std::string& source) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  // Bounded: past kMaxTracked sources, forget those neither throttled nor
  // recently failing.
  if (sources_.size() >= kMaxTracked) {
    absl::erase_if(sources_, [&](const auto& entry) {
      const Source& e = entry.second;
      return now >= e.throttled_until &&
             (e.failures.empty() ||
              e.failures.back() <= now - options_.failure_window);
    });
  }
  Source& s = sources_[source];
  std::erase_if(s.failures, [&](absl::Time t) {
    return t <= now - options_.failure_window;
  });
  s.failures.push_back(now);
  if (static_cast<int>(s.failures.size()) < options_.max_failures) {
    return absl::ZeroDuration();
  }
  s.failures.clear();
  const absl::Duration throttle_for =
      std::min(options_.throttle * (int64_t{1} << std::min(s.throttles, 20)),
               options_.max_throttle);
  ++s.throttles;
  s.throttled_until = now + throttle_for;
  spdlog::warn("access: {} throttled for {} after {} failed authentications",
               source, absl::FormatDuration(throttle_for),
               options_.max_failures);
  return throttle_for;
}

absl::Status Gatekeeper::Deny(const Principal& who, const std::string& rpc,
                              const std::string& message) {
  return Refuse(absl::PermissionDeniedError(message), who.org_id,
                who.address.empty()
                    ? who.name
                    : absl::StrCat(who.name, " from ", who.address),
                rpc);
}

absl::Status Gatekeeper::Refuse(absl::Status status, const std::string& org,
                                const std::string& who,
                                const std::string& rpc) {
  spdlog::warn("access: refused {} to {}: {}", rpc, who, status.ToString());
  if (!org.empty() && !absl::IsUnavailable(status)) {
    if (absl::Status st = audit_->Append(AuditEvent::ForReason(
            AuditEvent::Type::kAccessDenied, clock_->Now(), org, who,
            absl::StrCat(rpc, ": ", status.ToString())));
        !st.ok()) {
      spdlog::error("access: could not audit a refusal: {}", st.ToString());
    }
  }
  return status;
}

}  // namespace warden
