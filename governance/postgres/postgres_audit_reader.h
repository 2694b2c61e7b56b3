#ifndef WARDEN_GOVERNANCE_POSTGRES_POSTGRES_AUDIT_READER_H_
#define WARDEN_GOVERNANCE_POSTGRES_POSTGRES_AUDIT_READER_H_

#include <memory>
#include <string>

#include "governance/audit_reader.h"
#include "governance/postgres/pg.h"

namespace warden {

// AuditReader over the Postgres trail. One connection, one query at a time
// (finance queries are not on the hot path); reconnects after a failure.
//
// With a `read_url` (a streaming replica), Query and SpendSummary, the
// finance queries, read there; Verify and LatestAuthorizations, which must
// see every record (a rebuild from a lagging replica would forget spends),
// stay on the primary.
class PostgresAuditReader final : public AuditReader {
 public:
  explicit PostgresAuditReader(std::string url, std::string read_url = "")
      : url_(url),
        session_(std::move(url)),
        read_session_(read_url.empty() ? nullptr
                                       : std::make_unique<pg::Session>(
                                             std::move(read_url))) {}

  absl::Status Query(
      const AuditQuery& q,
      const std::function<bool(const AuditRecord&)>& fn) override;
  absl::StatusOr<std::vector<SpendRow>> SpendSummary(
      const SpendQuery& q) override;
  absl::StatusOr<ChainVerification> Verify(const std::string& org_id) override;
  absl::StatusOr<std::vector<RecordedStatus>> NewestHolds(
      const std::string& org_id, absl::Time since, int limit) override;
  absl::Status LatestAuthorizations(
      const std::string& org_id, absl::Time since,
      const std::function<absl::Status(const Authorization&)>& fn) override;

 private:
  // Where finance queries read.
  pg::Session& Finance() { return read_session_ ? *read_session_ : session_; }

  const std::string url_;
  pg::Session session_;
  std::unique_ptr<pg::Session> read_session_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_POSTGRES_AUDIT_READER_H_
