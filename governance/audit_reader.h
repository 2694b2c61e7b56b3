#ifndef WARDEN_GOVERNANCE_AUDIT_READER_H_
#define WARDEN_GOVERNANCE_AUDIT_READER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "governance/audit_codec.h"
#include "governance/authorization.h"
#include "governance/money.h"

namespace warden {

// One stored audit event with its place in the org's chain.
struct AuditRecord {
  std::string org_id;
  int64_t seq = 0;
  absl::Time time;
  std::string type;
  std::string actor;
  std::string gateway;
  std::string authorization_id;
  std::string agent_id;
  std::string department_id;
  std::string wallet_id;
  std::string decision;
  std::string status;
  UsdMicros charged_usd = 0;
  std::string body;  // EncodeAuditEvent: what the hash covers.
  std::string prev_hash;
  std::string hash;
};

struct AuditQuery {
  std::string org_id;
  // Empty strings match anything.
  std::string department_id, agent_id, wallet_id, chain, asset, decision, type;
  absl::Time from = absl::InfinitePast();  // Event time in [from, to).
  absl::Time to = absl::InfiniteFuture();
  int64_t after_seq = 0;
  size_t limit = 500;
};

inline constexpr size_t kMaxAuditPage = 5000;

enum class SpendGroup { kDepartment, kAgent, kWallet, kChain, kAsset };

struct SpendRow {
  std::string key;
  UsdMicros settled_usd = 0;
  UsdMicros held_usd = 0;  // Held, or expired and still counted.
  int64_t count = 0;
};

// The outcome of walking an org's chain.
struct ChainVerification {
  bool ok = true;
  int64_t records = 0;
  int64_t checkpoints = 0;
  // False for a trail that cannot carry signed checkpoints (an audit file).
  bool signable = true;
  // When !ok: the first bad record's seq and what is wrong with it.
  int64_t first_bad_seq = 0;
  std::string problem;
};

// Reads the audit trail for finance and auditors. Thread-safe.
class AuditReader {
 public:
  AuditReader() = default;
  AuditReader(const AuditReader&) = delete;
  AuditReader& operator=(const AuditReader&) = delete;
  virtual ~AuditReader() = default;

  // Calls fn for each matching record in seq order, at most q.limit (capped
  // at kMaxAuditPage). A false from fn stops early.
  virtual absl::Status Query(
      const AuditQuery& q,
      const std::function<bool(const AuditRecord&)>& fn) = 0;

  // Spend of authorizations created in [from, to) as their latest event
  // leaves it, grouped; rows sorted by key.
  virtual absl::StatusOr<std::vector<SpendRow>> SpendSummary(
      const std::string& org_id, SpendGroup group, absl::Time from,
      absl::Time to) = 0;

  // Calls fn with the latest recorded state of every authorization of the
  // org created at or after `since`: what a budget store rebuilds from.
  virtual absl::Status LatestAuthorizations(
      const std::string& org_id, absl::Time since,
      const std::function<absl::Status(const Authorization&)>& fn) = 0;

  // Walks the org's chain and checkpoints; see VerifyAuditChain.
  virtual absl::StatusOr<ChainVerification> Verify(
      const std::string& org_id) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_AUDIT_READER_H_
