#ifndef WARDEN_GOVERNANCE_POSTGRES_PG_H_
#define WARDEN_GOVERNANCE_POSTGRES_PG_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pqxx/pqxx"

// libpqxx stays inside governance/postgres: every call goes through these
// helpers, which turn its exceptions into a Status naming the operation.
namespace warden::pg {

// Opens a connection. UNAVAILABLE naming the operation on failure.
absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(
    const std::string& url);

// Runs fn(work) in one transaction and commits it. Exceptions become
// UNAVAILABLE (connection or server problems) or INTERNAL (SQL errors),
// prefixed with `op`.
absl::Status Transact(pqxx::connection& c, absl::string_view op,
                      const std::function<void(pqxx::work&)>& fn);

}  // namespace warden::pg

#endif  // WARDEN_GOVERNANCE_POSTGRES_PG_H_
