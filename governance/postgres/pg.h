#ifndef WARDEN_GOVERNANCE_POSTGRES_PG_H_
#define WARDEN_GOVERNANCE_POSTGRES_PG_H_

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "pqxx/pqxx"

// libpqxx stays inside governance/postgres: every call goes through these
// helpers, which turn its exceptions into a Status naming the operation.
namespace warden::pg {

// Where a libpq keyword/value string ("host=pg password='x y'") sets `key`:
// the start of its value and the end of it (past a closing quote); both
// npos when it does not.
std::pair<size_t, size_t> KeywordValue(absl::string_view conninfo,
                                       absl::string_view key);

// `url` (a postgresql:// URI or a keyword/value string) with libpq's
// connect_timeout (whole seconds, at least 2) and the server's
// statement_timeout set, so that a stalled server fails calls instead of
// hanging them.
std::string WithTimeouts(const std::string& url, absl::Duration connect,
                         absl::Duration statement);

// How long one call may take (a transaction, including the wait for a
// Session's connection) before it is abandoned. A server-side
// statement_timeout cannot fire on a server that stopped answering
// (SIGSTOP, a dead host, a partition that drops packets; the kernel may
// still acknowledge them), so past this bound the call's socket is shut down
// from the client and the call fails UNAVAILABLE. Process-wide; the server
// bootstrap sets it from postgres.statement_timeout_ms plus a second.
// Default 31 s.
void SetCallTimeout(absl::Duration timeout);
absl::Duration CallTimeout();

// `t` as a Postgres timestamptz literal (UTC, microseconds); the infinite
// times as its -infinity / infinity.
std::string Time(absl::Time t);

// Opens a connection. UNAVAILABLE naming the operation on failure.
absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(
    const std::string& url);

// Thrown inside a transaction to refuse an operation on purpose; becomes
// FAILED_PRECONDITION with its message.
struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs fn(work) in one transaction and commits it, within `timeout` (see
// SetCallTimeout). Exceptions become FAILED_PRECONDITION (Refused),
// UNAVAILABLE (connection or server problems, or no answer within the
// timeout: the connection is then closed) or INTERNAL (SQL errors), prefixed
// with `op`; the transaction is rolled back.
absl::Status Transact(pqxx::connection& c, absl::string_view op,
                      const std::function<void(pqxx::work&)>& fn,
                      absl::Duration timeout = CallTimeout());

// Up to `size` lazily opened connections, each used one transaction at a
// time and replaced after a connection failure. A call waits for a free
// one within CallTimeout, which also bounds the call itself. Thread-safe.
class Session {
 public:
  explicit Session(std::string url, int size = 1)
      : url_(std::move(url)), free_(static_cast<size_t>(size)) {}
  // Runs fn in one transaction, as Transact does. A read-only `fn` may set
  // `read_only`: if a connection kept from before fails at once (the server
  // restarted since), it runs again on a new one.
  absl::Status Run(absl::string_view op,
                   const std::function<void(pqxx::work&)>& fn,
                   bool read_only = false);

 private:
  const std::string url_;
  absl::Mutex mu_;
  // Idle slots; a null one has no connection yet (or lost it).
  std::vector<std::unique_ptr<pqxx::connection>> free_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::pg

#endif  // WARDEN_GOVERNANCE_POSTGRES_PG_H_
