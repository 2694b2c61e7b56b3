// The simulator's audit trail: the embedded mode's FileAuditLog (a real
// hash-chained, fdatasync'd file; kept in /dev/shm when there is one, so a
// sync costs microseconds), read back three ways: tailed by the oracle after
// every step, replayed as the engine's `history` (AuditReader) when a budget
// store is rebuilt, and verified end to end by FileAuditLog::Replay.

#ifndef WARDEN_TESTS_SIM_AUDIT_TRAIL_H_
#define WARDEN_TESTS_SIM_AUDIT_TRAIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "governance/audit_log.h"
#include "governance/audit_reader.h"
#include "governance/memory/file_audit_log.h"

namespace warden::sim {

struct TrailEvent {
  int64_t seq = 0;
  AuditEvent event;
};

class SimAuditTrail final : public AuditReader {
 public:
  // A fresh, empty trail in a new temp file, removed with this object.
  static absl::StatusOr<std::unique_ptr<SimAuditTrail>> Create();
  ~SimAuditTrail() override;

  AuditLog* log() { return log_.get(); }
  const std::string& path() const { return path_; }

  // The events appended since the last call. Checks the chain of every new
  // line on its own terms (seq + 1, prev_hash = the previous hash, hash =
  // SHA-256 of prev_hash and body); DATA_LOSS naming the seq otherwise.
  absl::StatusOr<std::vector<TrailEvent>> ReadNew();

  // Walks the whole file with FileAuditLog::Replay (the production
  // verifier); returns the number of records.
  absl::StatusOr<int64_t> VerifyAll() const;

  // AuditReader. Only what a rebuild needs is implemented.
  absl::Status Query(
      const AuditQuery& q,
      const std::function<bool(const AuditRecord&)>& fn) override;
  absl::StatusOr<std::vector<SpendRow>> SpendSummary(
      const SpendQuery& q) override;
  absl::Status LatestAuthorizations(
      const std::string& org_id, absl::Time since,
      const std::function<absl::Status(const Authorization&)>& fn) override;
  absl::StatusOr<std::vector<RecordedStatus>> NewestHolds(
      const std::string& org_id, absl::Time since, int limit) override;
  absl::StatusOr<ChainVerification> Verify(const std::string& org_id) override;

 private:
  SimAuditTrail(std::string dir, std::string path,
                std::unique_ptr<FileAuditLog> log)
      : dir_(std::move(dir)), path_(std::move(path)), log_(std::move(log)) {}

  const std::string dir_;
  const std::string path_;
  std::unique_ptr<FileAuditLog> log_;
  // How far ReadNew has read, and the chain there.
  int64_t offset_ = 0;
  int64_t seq_ = 0;
  std::string last_hash_;
};

}  // namespace warden::sim

#endif  // WARDEN_TESTS_SIM_AUDIT_TRAIL_H_
