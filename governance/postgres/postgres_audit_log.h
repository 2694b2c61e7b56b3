#ifndef WARDEN_GOVERNANCE_POSTGRES_POSTGRES_AUDIT_LOG_H_
#define WARDEN_GOVERNANCE_POSTGRES_POSTGRES_AUDIT_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "governance/audit_chain.h"
#include "governance/audit_log.h"
#include "governance/audit_reader.h"
#include "governance/postgres/pg.h"
#include "pqxx/pqxx"

namespace warden {

struct PostgresAuditOptions {
  std::string url;
  // Who writes: recorded in every row ("host:pid" by default).
  std::string gateway;
  // Group commit: one transaction carries up to this many records.
  size_t batch_max_rows = 512;
  // Appends waiting for a commit; beyond it Append is UNAVAILABLE at once.
  size_t max_queued = 20000;
  // How long an append may take, at most (less if pg::CallTimeout is):
  // below the longest call deadline (30 s), so that a stalled Postgres is
  // answered UNAVAILABLE while its callers still wait.
  absl::Duration append_timeout = absl::Seconds(10);
  // Sign the chain head after this many records or this long, whichever
  // comes first (when a signer is given).
  int64_t checkpoint_every_records = 1000;
  absl::Duration checkpoint_every = absl::Seconds(60);
};

// The audit trail in Postgres: append-only (the app role may only INSERT
// and SELECT, and a trigger refuses UPDATE, DELETE and TRUNCATE for every
// role), partitioned by month, hash-chained per org.
//
// Group commit: appends queue their records; one writer thread takes
// everything queued (up to batch_max_rows) into one transaction, so one
// commit serves many callers, and calls each back once the commit that
// holds its record is made (AppendAsync) or failed. A record not taken into
// a transaction within pg::CallTimeout is answered UNAVAILABLE (certainly
// not recorded) by a second thread, so a stalled connect never holds a
// caller past its bound. Chain: per batch, the writer
// locks the org's row in audit_heads once, numbers the records seq+1,
// seq+2, ... and chains them with ChainHash, so several replicas append to
// one chain per org safely, serialized per batch rather than per record.
class PostgresAuditLog final : public AuditLog {
 public:
  // `signer` may be null (no checkpoints). Connects lazily; a broken
  // connection is replaced on the next batch.
  PostgresAuditLog(PostgresAuditOptions options,
                   std::unique_ptr<Ed25519Signer> signer);
  ~PostgresAuditLog() override;

  absl::Status Append(const AuditEvent& event) override;
  // Queues the record and returns; `done` runs on the writer thread once
  // its transaction committed or failed, or on the expiry thread when it
  // was not taken in time.
  void AppendAsync(const AuditEvent& event,
                   std::function<void(absl::Status)> done) override;
  absl::Duration LandingBound() const override;
  void Drain() override;
  absl::StatusOr<Recording> Recorded(const std::string& org_id,
                                     const std::string& authorization_id,
                                     absl::Time created_at) override;

 private:
  struct Pending {
    AuditEvent event;
    std::string body;
    absl::Time deadline;  // Answered UNAVAILABLE then, unless taken.
    std::function<void(absl::Status)> done;  // Null for the writer's own.
    std::string hash;  // Its chain hash in the last write (WriteBatch).
  };
  // A record whose transaction failed at a point where it may have
  // committed all the same (a COMMIT in a stalled server's socket). Its
  // caller was told UNAVAILABLE: nothing admitted.
  struct InDoubt {
    std::string hash;  // Its chain hash, had it landed; may be empty.
    AuditEvent event;
    // false: a decision that held money; if it landed, the trail owes it a
    // void. true: that void itself; if it did not land, it is owed still.
    bool compensation = false;
  };
  // The most records kept in doubt; past it the oldest are dropped (their
  // holds, if they landed, then show in the trail until they expire).
  static constexpr size_t kMaxInDoubt = 10000;

  void WriterLoop();
  // Answers the records that wait past their deadline, until stopping.
  void ExpiryLoop();
  // Settles what earlier failed writes left in doubt: each decision that
  // held money and landed after all gets an authorization.voided record,
  // so that the trail (and any rebuild from it) never counts a hold no
  // caller was given. Writer thread only, on a live connection.
  absl::Status ResolveInDoubt(absl::Duration timeout);
  void KeepInDoubt(InDoubt d);
  // Writes `batch` in one transaction bounded by `timeout`.
  absl::Status WriteBatch(const std::vector<Pending*>& batch,
                          absl::Duration timeout);

  const PostgresAuditOptions options_;
  const std::unique_ptr<Ed25519Signer> signer_;
  std::unique_ptr<pqxx::connection> conn_;  // Writer thread only.
  pg::Session reads_;                       // Recorded's.
  // Past it after an append was made, the append has landed or never will.
  absl::Duration AppendBound() const;
  int64_t since_checkpoint_ = 0;  // Writer thread only.
  absl::Time last_checkpoint_;    // Writer thread only.
  std::deque<InDoubt> in_doubt_;  // Writer thread only.

  absl::Mutex mu_;
  std::deque<std::unique_ptr<Pending>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Threads holding records taken off the queue but not yet answered.
  int answering_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread writer_;
  std::thread expiry_;
};

// Walks the org's records in seq order and checks that each is present
// (no gap), links to the previous hash (no reordering or insertion), hashes
// to its stored hash (no alteration of the body), and that its indexed
// columns agree with its body (no alteration of a column); that the chain
// ends at the head recorded in audit_heads (no truncation); and that every
// checkpoint's signature and hash hold.
absl::StatusOr<ChainVerification> VerifyAuditChain(const std::string& url,
                                                   const std::string& org_id);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_POSTGRES_AUDIT_LOG_H_
