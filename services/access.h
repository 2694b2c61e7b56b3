#ifndef WARDEN_SERVICES_ACCESS_H_
#define WARDEN_SERVICES_ACCESS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "governance/audit_log.h"
#include "governance/clock.h"
#include "governance/credentials.h"
#include "grpcpp/grpcpp.h"

// Who may call what. Every RPC passes through Gatekeeper::Admit before any
// work: it authenticates the caller and checks the RPC's rule (the table in
// docs/security.md).
namespace warden {

// The principal of every call while auth is off (development only).
inline constexpr char kAnonymous[] = "user/anonymous";

// The metadata by which the HTTP gateway's calls name their HTTP client
// ("ip:port"): honoured only with the gatekeeper's gateway key beside it,
// a secret of this process, so no network caller can claim an address.
inline constexpr char kHttpPeerMetadata[] = "x-warden-http-peer";
inline constexpr char kGatewayKeyMetadata[] = "x-warden-gateway-key";

// What an RPC requires: one of `roles`, within the caller's org; with
// `self`, an agent may act only for itself.
struct RpcRule {
  const char* rpc;  // "AuthorizationService.Authorize"
  std::vector<Role> roles;
  bool self = false;
};

// Every RPC of warden.v1 with its rule.
const std::vector<RpcRule>& RpcRules();

struct AccessOptions {
  // Off only on loopback, for development; see --insecure-no-auth.
  bool required = true;
  // Failed authentications from one source address (never per token: a
  // token id is public, so a lock keyed on it would let anyone lock any
  // principal out) before the source is throttled ...
  int max_failures = 5;
  absl::Duration failure_window = absl::Minutes(5);
  // ... for this long, doubling each time up to the maximum. A throttled
  // source's failures are no longer audited one by one (one record when the
  // throttle begins), so a flood cannot grow the audit trail. Every
  // credential is still checked: a valid one is admitted from any source,
  // throttled or not, since a source address may be shared.
  absl::Duration throttle = absl::Seconds(30);
  absl::Duration max_throttle = absl::Hours(1);
};

// What the call is about, for the rule's checks.
struct CallTarget {
  std::string org_id;    // As requested; empty = the caller's org.
  std::string agent_id;  // For agent-self RPCs that name the agent.
};

class Gatekeeper {
 public:
  // `credentials`, `audit` and `clock` are not owned and must outlive it.
  Gatekeeper(CredentialStore* credentials, AuditLog* audit, const Clock* clock,
             AccessOptions options);

  // The caller's principal if it may make the call `rpc` on `target`:
  // UNAUTHENTICATED without a valid credential, PERMISSION_DENIED without
  // the role or outside its org or self. Every refusal is logged, and audited
  // (who, what, from where) in the org it concerns when that is known,
  // except the failures of a throttled source (one record when the throttle
  // begins). With auth off: "user/anonymous" of the target's org, with every
  // role.
  absl::StatusOr<Principal> Admit(const grpc::CallbackServerContext& context,
                                  const std::string& rpc,
                                  const CallTarget& target);

  // Refuses `who` the call `rpc` after admission (a check that needed the
  // record, such as an agent reading another's): PERMISSION_DENIED with
  // `message`, audited and logged.
  absl::Status Deny(const Principal& who, const std::string& rpc,
                    const std::string& message);

  // Writes the tokens used since the last flush, with when each was last
  // used, to the credential store (ApiToken::last_used_at); wardend calls
  // it about once a minute and at shutdown. What a failed write held is
  // kept for the next flush.
  absl::Status FlushUses() ABSL_LOCKS_EXCLUDED(uses_mu_);

  // The secret the HTTP gateway sends with kGatewayKeyMetadata.
  const std::string& gateway_key() const { return gateway_key_; }

  // The org a call acts in: the requested one, or the caller's.
  static std::string OrgOf(const Principal& p, const CallTarget& target) {
    return target.org_id.empty() ? p.org_id : target.org_id;
  }

 private:
  // What one source address did lately.
  struct Source {
    std::vector<absl::Time> failures;  // Within failure_window.
    absl::Time throttled_until;
    int throttles = 0;
  };

  // Whether `source` is throttled now.
  bool Throttled(const std::string& source) ABSL_LOCKS_EXCLUDED(mu_);
  // The principal of the call's credential. Sets `org` when the credential
  // names one, and `presented` to the token id it presented, if any.
  absl::StatusOr<Principal> Authenticate(
      const grpc::CallbackServerContext& context, std::string* org,
      std::string* presented);
  // Counts a failure from `source`; past the limit throttles it and returns
  // for how long, else zero.
  absl::Duration Fail(const std::string& source) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Refuse(absl::Status status, const std::string& org,
                      const std::string& who, const std::string& rpc);

  // Where a call comes from: its gRPC peer, or for the HTTP gateway's
  // calls "http:" and the HTTP client it names.
  std::string CallerOf(const grpc::CallbackServerContext& context) const;

  CredentialStore* const credentials_;
  const std::string gateway_key_ = RandomHex(32);
  // Tokens that authenticated calls since the last FlushUses, bounded.
  absl::Mutex uses_mu_;
  std::map<std::string, absl::Time> uses_ ABSL_GUARDED_BY(uses_mu_);
  AuditLog* const audit_;
  const Clock* const clock_;
  const AccessOptions options_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Source> sources_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_SERVICES_ACCESS_H_
