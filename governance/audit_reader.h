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
#include "governance/window.h"

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

struct SpendQuery {
  std::string org_id;
  SpendGroup group = SpendGroup::kAgent;
  // Authorizations created in [from, to).
  absl::Time from = absl::InfinitePast();
  absl::Time to = absl::InfiniteFuture();
  // When set, rows are per calendar period of `zone` (weeks from Monday) as
  // well as per key.
  std::optional<Window::Period> period;
  absl::TimeZone zone = absl::UTCTimeZone();
};

// With a period, at most this many periods between from and to, so that an
// answer stays a page (three years of days).
inline constexpr int64_t kMaxSpendPeriods = 1100;

// The start of the calendar period holding t in zone.
inline absl::Time PeriodStart(Window::Period period, absl::Time t,
                              const absl::TimeZone& zone) {
  return WindowAt({.kind = Window::Kind::kCalendar, .period = period}, t, zone)
      .start;
}

struct SpendRow {
  std::string key;
  // The row's period when the query had one; InfinitePast otherwise.
  absl::Time period_start = absl::InfinitePast();
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

  // Spend of authorizations created in [q.from, q.to) as their latest event
  // leaves it, grouped; rows sorted by period, then key.
  virtual absl::StatusOr<std::vector<SpendRow>> SpendSummary(
      const SpendQuery& q) = 0;

  // Calls fn with the latest recorded state of every authorization of the
  // org created at or after `since`: what a budget store rebuilds from.
  virtual absl::Status LatestAuthorizations(
      const std::string& org_id, absl::Time since,
      const std::function<absl::Status(const Authorization&)>& fn) = 0;

  // The `limit` authorizations of the org, created at or after `since`,
  // that held money when decided (ALLOW, PENDING_APPROVAL, DELAYED) and
  // were recorded last (a decision, settle, void, expiry or vote), the
  // latest first, each with its latest recorded status; read where every
  // record is (the primary).
  struct RecordedStatus {
    std::string authorization_id;
    AuthorizationStatus status = AuthorizationStatus::kHeld;
  };
  virtual absl::StatusOr<std::vector<RecordedStatus>> NewestHolds(
      const std::string& org_id, absl::Time since, int limit) = 0;

  // Walks the org's chain and checkpoints; see VerifyAuditChain.
  virtual absl::StatusOr<ChainVerification> Verify(
      const std::string& org_id) = 0;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_AUDIT_READER_H_
