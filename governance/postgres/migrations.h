#ifndef WARDEN_GOVERNANCE_POSTGRES_MIGRATIONS_H_
#define WARDEN_GOVERNANCE_POSTGRES_MIGRATIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pqxx/pqxx"

namespace warden {

// The schema version this build needs; wardend refuses an older database.
inline constexpr int kSchemaVersion = 9;

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Every migration, in order, from governance/postgres/migrations/*.sql
// (compiled in, so a deployed wardenctl needs no files).
const std::vector<Migration>& Migrations();

// Applies every migration newer than the database's version, each in its
// own transaction under an advisory lock (so concurrent runs are safe), and
// creates the audit trail's monthly partitions for this month and the next
// 12. Returns the resulting version.
absl::StatusOr<int> ApplyMigrations(const std::string& url);

// The database's schema version (0 if never migrated).
absl::StatusOr<int> SchemaVersion(pqxx::connection& c);

// FAILED_PRECONDITION naming the command to run if the database is older
// than kSchemaVersion.
absl::Status RequireSchema(pqxx::connection& c);

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_MIGRATIONS_H_
