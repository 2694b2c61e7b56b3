#ifndef WARDEN_GOVERNANCE_MEMORY_FILE_AUDIT_LOG_H_
#define WARDEN_GOVERNANCE_MEMORY_FILE_AUDIT_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "governance/audit_log.h"
#include "governance/file_lock.h"

namespace warden {

// One line of an audit file: the canonical body and its place in the chain,
// hash = ChainHash(prev_hash, body). Postgres exports use the same shape.
struct ChainLine {
  int64_t seq = 0;
  std::string prev_hash;
  std::string hash;
  std::string body;
};
absl::StatusOr<ChainLine> ParseChainLine(absl::string_view text);

// The embedded mode's audit trail: an append-only JSONL file, one
// {seq, prev_hash, hash, body} line per event, hash-chained like the
// Postgres trail, fdatasync'd before Append returns.
//
// Group commit: appends queue their lines and a syncer thread writes and
// syncs all that are queued at once, so N concurrent callers share one
// fdatasync; AppendAsync returns at once and is called back when the line
// is durable, so no caller's thread waits on the disk.
class FileAuditLog final : public AuditLog {
 public:
  // Opens (creating if needed) the file for appending, holding the lock file
  // `path`.lock for its life: FAILED_PRECONDITION naming the process that
  // holds it already. A torn last line from a crash is cut off, so that the
  // next event starts on its own line. At most `max_queued` lines wait for
  // a sync; an append beyond them (a disk that stalls) is refused with
  // UNAVAILABLE rather than held in memory without bound.
  static absl::StatusOr<std::unique_ptr<FileAuditLog>> Open(
      const std::string& path, size_t max_queued = kDefaultMaxQueued);
  static constexpr size_t kDefaultMaxQueued = 16384;
  ~FileAuditLog() override;

  absl::Status Append(const AuditEvent& event) override;
  // Chains the line and returns; `done` runs on the syncer thread once the
  // line's group is synced (or failed).
  void AppendAsync(const AuditEvent& event,
                   std::function<void(absl::Status)> done) override;
  void Drain() override;

  // Calls `fn` for each event in the file at `path`, in order, verifying
  // the chain as it goes. Stops at and returns the first error (DATA_LOSS
  // naming the line where the file does not parse or the chain breaks, or
  // fn's).
  static absl::Status Replay(
      const std::string& path,
      const std::function<absl::Status(const AuditEvent&)>& fn);
  // Walks the file at `path` line by line, checking each line's seq, its
  // link to the line before and its hash, and calls `fn` with each good
  // line and its number. DATA_LOSS "path:N: why" at the first bad line
  // (setting *bad_line to N), or fn's error. No file: an empty trail.
  static absl::Status WalkChain(
      const std::string& path,
      const std::function<absl::Status(int64_t, const ChainLine&)>& fn,
      int64_t* bad_line = nullptr);

 private:
  FileAuditLog(std::string path, std::unique_ptr<FileLock> lock, int fd,
               int64_t seq, std::string last_hash, size_t max_queued);
  // The syncer thread: writes and syncs every queued line at once, then
  // calls their callbacks, until the log closes.
  void SyncLoop();

  const std::string path_;
  const std::unique_ptr<FileLock> lock_;
  const int fd_;
  const size_t max_queued_;
  absl::Mutex mu_;
  int64_t seq_ ABSL_GUARDED_BY(mu_);
  std::string last_hash_ ABSL_GUARDED_BY(mu_);
  // Lines chained but not yet written, and their callbacks in order: the
  // syncer writes them all with one write and one fdatasync (group commit).
  std::string pending_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void(absl::Status)>> waiting_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The syncer is writing a group or calling its callbacks back.
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  // Once a write or sync fails, the file's tail is unknown; every later
  // append fails too, until a restart truncates and reopens it.
  absl::Status broken_ ABSL_GUARDED_BY(mu_);
  std::thread syncer_;  // Last: it starts once the rest is set.
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_MEMORY_FILE_AUDIT_LOG_H_
