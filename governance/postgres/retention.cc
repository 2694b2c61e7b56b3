#include "governance/postgres/retention.h"

#include <fstream>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "governance/audit_chain.h"
#include "governance/postgres/pg.h"
#include "governance/status_macros.h"
#include "nlohmann/json.hpp"
#include "openssl/evp.h"

namespace warden {
namespace {

struct Partition {
  std::string name;
  absl::Time end;  // Exclusive upper bound of its range.
};

}  // namespace

// The bound on exporting one partition, far above the per-call default.
constexpr absl::Duration kExportTimeout = absl::Hours(1);

absl::StatusOr<RetentionReport> ApplyRetention(
    const RetentionOptions& options) {
  WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> c,
                          pg::Connect(options.url));
  // Monthly partitions (not the default) with their upper bounds.
  std::vector<Partition> due;
  WARDEN_RETURN_IF_ERROR(
      pg::Transact(*c, "list partitions", [&](pqxx::work& w) {
        for (const pqxx::row& r : w.exec(
                 "SELECT c.relname, (extract(epoch FROM substring("
                 "pg_get_expr(c.relpartbound, c.oid) FROM 'TO \\(''([^'']+)''')"
                 "::timestamptz))::bigint FROM pg_inherits i JOIN pg_class c "
                 "ON "
                 "c.oid = i.inhrelid WHERE i.inhparent = "
                 "'audit_events'::regclass"
                 " AND c.relname <> 'audit_events_default' ORDER BY 2")) {
          const absl::Time end = absl::FromUnixSeconds(r[1].as<int64_t>());
          if (end <= options.now - options.retention) {
            due.push_back({r[0].as<std::string>(), end});
          }
        }
      }));
  RetentionReport report;
  for (const Partition& p : due) {
    // Export each org's records, unless already exported.
    WARDEN_RETURN_IF_ERROR(pg::Transact(
        *c, "export partition",
        [&](pqxx::work& w) {
          std::map<std::string, std::string> files;  // org -> contents
          std::map<std::string, int64_t> rows;
          for (const pqxx::row& r : w.exec(absl::StrCat(
                   "SELECT org_id, seq, prev_hash, hash, body FROM ", p.name,
                   " e WHERE NOT EXISTS (SELECT 1 FROM audit_exports x WHERE "
                   "x.partition_name = '",
                   p.name,
                   "' AND x.org_id = e.org_id) ORDER BY org_id, seq"))) {
            const std::string org = r[0].as<std::string>();
            absl::StrAppend(
                &files[org],
                nlohmann::json{{"org_id", org},
                               {"seq", r[1].as<int64_t>()},
                               {"prev_hash", r[2].as<std::string>()},
                               {"hash", r[3].as<std::string>()},
                               {"body", r[4].as<std::string>()}}
                    .dump(),
                "\n");
            ++rows[org];
          }
          for (const auto& [org, contents] : files) {
            const std::string path = absl::StrCat(options.export_dir, "/",
                                                  p.name, "_", org, ".jsonl");
            std::ofstream out(path, std::ios::trunc);
            out << contents;
            out.close();
            if (!out) {
              throw pg::Refused(absl::StrCat("cannot write export ", path));
            }
            w.exec_params(
                "INSERT INTO audit_exports (partition_name, org_id, "
                "exported_at, "
                "path, sha256, rows) VALUES ($1, $2, now(), $3, $4, $5)",
                p.name, org, path, Sha256Hex(contents), rows[org]);
            report.exported.push_back(absl::StrCat(
                p.name, " ", org, ": ", rows[org], " rows -> ", path));
          }
        },
        // A month of records is read and written in one transaction.
        kExportTimeout));
    if (options.export_only) continue;
    WARDEN_RETURN_IF_ERROR(
        pg::Transact(*c, "drop partition", [&](pqxx::work& w) {
          // Every org in the partition must be exported, and every record in it
          // older in its chain than every record kept.
          for (const pqxx::row& r : w.exec(absl::StrCat(
                   "SELECT e.org_id, max(e.seq), "
                   "bool_and(x.org_id IS NOT NULL) FROM ",
                   p.name,
                   " e LEFT JOIN audit_exports x ON x.partition_name = '",
                   p.name, "' AND x.org_id = e.org_id GROUP BY e.org_id"))) {
            const std::string org = r[0].as<std::string>();
            const int64_t last = r[1].as<int64_t>();
            if (!r[2].as<bool>()) {
              throw pg::Refused(absl::StrCat("partition ", p.name,
                                             " is not exported for org ", org,
                                             "; refusing to drop it"));
            }
            const pqxx::row later = w.exec_params1(
                absl::StrCat(
                    "SELECT count(*) FROM audit_events WHERE org_id = $1"
                    " AND seq <= $2 AND tableoid <> '",
                    p.name, "'::regclass"),
                org, last);
            if (later[0].as<int64_t>() > 0) {
              throw pg::Refused(absl::StrCat(
                  "partition ", p.name, " holds records of org ", org,
                  " that are newer in the chain than records kept elsewhere; "
                  "refusing to drop it"));
            }
            const pqxx::row hash =
                w.exec_params1(absl::StrCat("SELECT hash FROM ", p.name,
                                            " WHERE org_id = $1 AND seq = $2"),
                               org, last);
            w.exec_params(
                "INSERT INTO audit_anchors (org_id, seq, hash, partition_name, "
                "dropped_at) VALUES ($1, $2, $3, $4, now()) ON CONFLICT "
                "(org_id) "
                "DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
                "partition_name = excluded.partition_name, dropped_at = now() "
                "WHERE audit_anchors.seq < excluded.seq",
                org, last, hash[0].as<std::string>(), p.name);
          }
          w.exec(absl::StrCat("ALTER TABLE audit_events DETACH PARTITION ",
                              p.name));
          w.exec(absl::StrCat("DROP TABLE ", p.name));
        }));
    report.dropped.push_back(p.name);
  }
  return report;
}

}  // namespace warden
