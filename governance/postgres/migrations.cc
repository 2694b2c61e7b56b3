#include "governance/postgres/migrations.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "governance/postgres/pg.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

constexpr int kPartitionMonthsAhead = 12;
// Any constant works; it only has to be the same for every migrator.
constexpr int64_t kMigrationLockKey = 0x57415244454e;

std::string PartitionName(absl::CivilMonth m) {
  return absl::StrFormat("audit_events_y%04dm%02d", m.year(), m.month());
}

}  // namespace

absl::StatusOr<int> SchemaVersion(pqxx::connection& c) {
  int version = 0;
  WARDEN_RETURN_IF_ERROR(pg::Transact(c, "schema version", [&](pqxx::work& w) {
    pqxx::result exists =
        w.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0][0].as<bool>()) return;
    version =
        w.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0]
            .as<int>();
  }));
  return version;
}

absl::Status RequireSchema(pqxx::connection& c) {
  WARDEN_ASSIGN_OR_RETURN(int version, SchemaVersion(c));
  if (version >= kSchemaVersion) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "postgres schema is at version ", version, ", this wardend needs ",
      kSchemaVersion, ": run `wardenctl migrate --postgres URL` first"));
}

absl::StatusOr<int> ApplyMigrations(const std::string& url) {
  WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> c,
                          pg::Connect(url));
  int version = 0;
  WARDEN_RETURN_IF_ERROR(pg::Transact(*c, "migrate", [&](pqxx::work& w) {
    w.exec(
        absl::StrCat("SELECT pg_advisory_xact_lock(", kMigrationLockKey, ")"));
    w.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    version =
        w.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0]
            .as<int>();
    for (const Migration& m : Migrations()) {
      if (m.version <= version) continue;
      w.exec(m.sql);
      w.exec_params(
          "INSERT INTO schema_migrations (version, name) "
          "VALUES ($1, $2)",
          m.version, m.name);
      version = m.version;
    }
  }));
  // Monthly partitions ahead of time; a month whose rows already sit in the
  // default partition keeps them there.
  const absl::CivilMonth now(
      absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()));
  for (int i = 0; i <= kPartitionMonthsAhead; ++i) {
    const absl::CivilMonth m = now + i;
    const std::string name = PartitionName(m);
    absl::Status st = pg::Transact(*c, "create partition", [&](pqxx::work& w) {
      if (!w.exec_params("SELECT to_regclass($1) IS NULL", name)[0][0]
               .as<bool>()) {
        return;
      }
      w.exec(absl::StrFormat(
          "CREATE TABLE %s PARTITION OF audit_events FOR VALUES FROM "
          "('%04d-%02d-01 00:00:00+00') TO ('%04d-%02d-01 00:00:00+00')",
          name, m.year(), m.month(), (m + 1).year(), (m + 1).month()));
      w.exec(absl::StrCat("CREATE TRIGGER ", name,
                          "_no_truncate BEFORE TRUNCATE ON ", name,
                          " FOR EACH STATEMENT EXECUTE FUNCTION "
                          "audit_refuse_change()"));
    });
    if (!st.ok() && absl::IsUnavailable(st)) return st;
  }
  WARDEN_RETURN_IF_ERROR(
      pg::Transact(*c, "protect default partition", [&](pqxx::work& w) {
        if (w.exec("SELECT count(*) FROM pg_trigger WHERE tgname = "
                   "'audit_events_default_no_truncate'")[0][0]
                .as<int>() == 0) {
          w.exec(
              "CREATE TRIGGER audit_events_default_no_truncate BEFORE "
              "TRUNCATE ON audit_events_default FOR EACH STATEMENT EXECUTE "
              "FUNCTION audit_refuse_change()");
        }
      }));
  return version;
}

}  // namespace warden
