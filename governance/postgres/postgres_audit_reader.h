#ifndef WARDEN_GOVERNANCE_POSTGRES_POSTGRES_AUDIT_READER_H_
#define WARDEN_GOVERNANCE_POSTGRES_POSTGRES_AUDIT_READER_H_

#include <memory>
#include <string>

#include "governance/audit_reader.h"
#include "governance/postgres/pg.h"

namespace warden {

// AuditReader over the Postgres trail. One connection, one query at a time
// (finance queries are not on the hot path); reconnects after a failure.
class PostgresAuditReader final : public AuditReader {
 public:
  explicit PostgresAuditReader(std::string url)
      : url_(url), session_(std::move(url)) {}

  absl::Status Query(
      const AuditQuery& q,
      const std::function<bool(const AuditRecord&)>& fn) override;
  absl::StatusOr<std::vector<SpendRow>> SpendSummary(
      const SpendQuery& q) override;
  absl::StatusOr<ChainVerification> Verify(const std::string& org_id) override;
  absl::Status LatestAuthorizations(
      const std::string& org_id, absl::Time since,
      const std::function<absl::Status(const Authorization&)>& fn) override;

 private:
  const std::string url_;
  pg::Session session_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_POSTGRES_AUDIT_READER_H_
