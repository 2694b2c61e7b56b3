#ifndef WARDEN_GOVERNANCE_MEMORY_FILE_AUDIT_INDEX_H_
#define WARDEN_GOVERNANCE_MEMORY_FILE_AUDIT_INDEX_H_

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "governance/audit_reader.h"

namespace warden {

// The audit queries of embedded and Redis-only modes, over the audit file
// (FileAuditLog): an index of each line's place in the file and the fields
// queries filter and group on, built at the first read and brought up to
// date at each read from where it stopped, so the file is read once; a
// page's bodies are read back from the file. Answers as the Postgres
// reader does for the same events, except that the file holds one chain
// for all its orgs (seq and Verify are the file's) and records no
// gateway. Thread-safe.
class FileAuditIndex final : public AuditReader {
 public:
  explicit FileAuditIndex(std::string path) : path_(std::move(path)) {}

  absl::Status Query(const AuditQuery& q,
                     const std::function<bool(const AuditRecord&)>& fn) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<SpendRow>> SpendSummary(
      const SpendQuery& q) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status LatestAuthorizations(
      const std::string& org_id, absl::Time since,
      const std::function<absl::Status(const Authorization&)>& fn) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<RecordedStatus>> NewestHolds(
      const std::string& org_id, absl::Time since, int limit) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // Walks the whole file again (not the index): each line's hash, link and
  // seq. The file has no signed checkpoints.
  absl::StatusOr<ChainVerification> Verify(const std::string& org_id) override;

 private:
  // Small strings many lines share (orgs, agents, types ...), stored once.
  using Name = uint32_t;
  struct Entry {
    int64_t seq = 0;
    int64_t offset = 0;  // Of its line in the file.
    int64_t length = 0;
    absl::Time time;
    absl::Time created_at;  // Authorization events.
    UsdMicros charged_usd = 0;
    Name org = 0, type = 0, agent = 0, department = 0, wallet = 0, chain = 0,
         asset = 0, decision = 0, status = 0;
    std::string authorization_id;  // Empty for other events.
  };

  Name Intern(const std::string& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The interned name of `s`, or 0 (the empty name) when nothing has it:
  // a filter no entry can match then matches only empty fields.
  bool Find(const std::string& s, Name* out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const std::string& NameOf(Name n) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return names_[n];
  }
  // Indexes the whole lines appended since the last call (all of the file
  // if it shrank: a failed group commit cuts its lines off).
  absl::Status CatchUpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The event of `e`'s line, read back from the file through `in` (one
  // stream for a whole page).
  absl::StatusOr<AuditEvent> ReadLocked(std::ifstream& in, const Entry& e,
                                        std::string* line)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The index of each authorization's latest event whose authorization was
  // created in [from, to), in seq order.
  std::vector<size_t> LatestLocked(Name org, absl::Time from, absl::Time to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  int64_t indexed_to_ ABSL_GUARDED_BY(mu_) = 0;  // Bytes of the file.
  std::vector<std::string> names_ ABSL_GUARDED_BY(mu_) = {""};
  absl::flat_hash_map<std::string, Name> name_ids_ ABSL_GUARDED_BY(mu_) = {
      {"", 0}};
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MEMORY_FILE_AUDIT_INDEX_H_
