#ifndef WARDEN_GOVERNANCE_POSTGRES_PG_H_
#define WARDEN_GOVERNANCE_POSTGRES_PG_H_

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
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

// Opens a connection. UNAVAILABLE naming the operation on failure.
absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(
    const std::string& url);

// Thrown inside a transaction to refuse an operation on purpose; becomes
// FAILED_PRECONDITION with its message.
struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs fn(work) in one transaction and commits it. Exceptions become
// FAILED_PRECONDITION (Refused), UNAVAILABLE (connection or server
// problems) or INTERNAL (SQL errors), prefixed with `op`; the transaction
// is rolled back.
absl::Status Transact(pqxx::connection& c, absl::string_view op,
                      const std::function<void(pqxx::work&)>& fn);

// One lazily opened connection, used one transaction at a time and replaced
// after a connection failure. For the stores whose calls are not on the hot
// path. Thread-safe.
class Session {
 public:
  explicit Session(std::string url) : url_(std::move(url)) {}
  // Runs fn in one transaction, as Transact does.
  absl::Status Run(absl::string_view op,
                   const std::function<void(pqxx::work&)>& fn);

 private:
  const std::string url_;
  absl::Mutex mu_;
  std::unique_ptr<pqxx::connection> conn_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::pg

#endif  // WARDEN_GOVERNANCE_POSTGRES_PG_H_
