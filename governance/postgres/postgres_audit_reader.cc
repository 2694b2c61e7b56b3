#include "governance/postgres/postgres_audit_reader.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "governance/audit_codec.h"
#include "governance/audit_log.h"
#include "governance/postgres/pg.h"
#include "governance/postgres/postgres_audit_log.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

const char* GroupColumn(SpendGroup g) {
  switch (g) {
    case SpendGroup::kDepartment:
      return "department_id";
    case SpendGroup::kAgent:
      return "agent_id";
    case SpendGroup::kWallet:
      return "wallet_id";
    case SpendGroup::kChain:
      return "chain";
    case SpendGroup::kAsset:
      return "asset";
  }
  return "agent_id";
}

const char* PeriodField(Window::Period p) {
  switch (p) {
    case Window::Period::kDay:
      return "day";
    case Window::Period::kWeek:
      return "week";
    case Window::Period::kMonth:
      return "month";
    case Window::Period::kQuarter:
      return "quarter";
  }
  return "day";
}

}  // namespace

absl::Status PostgresAuditReader::Query(
    const AuditQuery& q, const std::function<bool(const AuditRecord&)>& fn) {
  const size_t limit = std::clamp<size_t>(q.limit, 1, kMaxAuditPage);
  // Filters are "$n = '' OR column = $n", so one prepared shape serves all.
  return Finance().Run("query audit events", [&](pqxx::work& w) {
    pqxx::result rows = w.exec_params(
        "SELECT org_id, seq, (extract(epoch FROM time) * 1000000)::bigint, "
        "type, actor, gateway, coalesce(authorization_id, ''), "
        "coalesce(agent_id, ''), coalesce(department_id, ''), "
        "coalesce(wallet_id, ''), coalesce(decision, ''), "
        "coalesce(status, ''), coalesce(charged_usd, 0), body, prev_hash, "
        "hash FROM audit_events "
        "WHERE org_id = $1 AND seq > $2 AND time >= $3::timestamptz "
        "AND time < $4::timestamptz "
        "AND ($5 = '' OR department_id = $5) AND ($6 = '' OR agent_id = $6) "
        "AND ($7 = '' OR wallet_id = $7) AND ($8 = '' OR chain = $8) "
        "AND ($9 = '' OR asset = $9) AND ($10 = '' OR decision = $10) "
        "AND ($11 = '' OR type = $11) "
        "ORDER BY seq LIMIT $12",
        q.org_id, q.after_seq, pg::Time(q.from), pg::Time(q.to),
        q.department_id, q.agent_id, q.wallet_id, q.chain, q.asset, q.decision,
        q.type, static_cast<int64_t>(limit));
    for (const pqxx::row& r : rows) {
      AuditRecord a;
      a.org_id = r[0].as<std::string>();
      a.seq = r[1].as<int64_t>();
      a.time = absl::FromUnixMicros(r[2].as<int64_t>());
      a.type = r[3].as<std::string>();
      a.actor = r[4].as<std::string>();
      a.gateway = r[5].as<std::string>();
      a.authorization_id = r[6].as<std::string>();
      a.agent_id = r[7].as<std::string>();
      a.department_id = r[8].as<std::string>();
      a.wallet_id = r[9].as<std::string>();
      a.decision = r[10].as<std::string>();
      a.status = r[11].as<std::string>();
      a.charged_usd = r[12].as<int64_t>();
      a.body = r[13].as<std::string>();
      a.prev_hash = r[14].as<std::string>();
      a.hash = r[15].as<std::string>();
      if (!fn(a)) break;
    }
  });
}

absl::StatusOr<std::vector<SpendRow>> PostgresAuditReader::SpendSummary(
    const SpendQuery& q) {
  std::vector<SpendRow> out;
  // The period's start in the zone, as Unix micros: date_trunc of the local
  // time (weeks are ISO, from Monday), read back in the zone.
  const std::string period =
      q.period ? absl::StrCat("(extract(epoch from date_trunc('",
                              PeriodField(*q.period),
                              "', created_at AT TIME ZONE $4::text) AT TIME "
                              "ZONE $4::text) * 1000000)::bigint")
               : "NULL::bigint";
  // The latest event of each authorization says what it charges now.
  const std::string sql = absl::StrCat(
      "WITH latest AS (SELECT DISTINCT ON (authorization_id) ",
      GroupColumn(q.group), " AS key, ", period,
      " AS period, status, charged_usd FROM audit_events "
      "WHERE org_id = $1 AND authorization_id IS NOT NULL "
      "AND created_at >= $2::timestamptz AND created_at < $3::timestamptz "
      "ORDER BY authorization_id, seq DESC) "
      "SELECT coalesce(key, ''), period, "
      "coalesce(sum(charged_usd) FILTER (WHERE status = 'SETTLED'), 0), "
      "coalesce(sum(charged_usd) FILTER (WHERE status <> 'SETTLED'), 0), "
      "count(*) FROM latest WHERE charged_usd > 0 GROUP BY 1, 2 "
      "ORDER BY 2, coalesce(key, '') COLLATE \"C\"");
  WARDEN_RETURN_IF_ERROR(Finance().Run("spend summary", [&](pqxx::work& w) {
    const pqxx::result rows =
        q.period
            ? w.exec_params(sql, q.org_id, pg::Time(q.from), pg::Time(q.to),
                            q.zone.name())
            : w.exec_params(sql, q.org_id, pg::Time(q.from), pg::Time(q.to));
    for (const pqxx::row& r : rows) {
      out.push_back({.key = r[0].as<std::string>(),
                     .period_start = r[1].is_null() ? absl::InfinitePast()
                                                    : absl::FromUnixMicros(
                                                          r[1].as<int64_t>()),
                     .settled_usd = r[2].as<int64_t>(),
                     .held_usd = r[3].as<int64_t>(),
                     .count = r[4].as<int64_t>()});
    }
  }));
  return out;
}

absl::Status PostgresAuditReader::LatestAuthorizations(
    const std::string& org_id, absl::Time since,
    const std::function<absl::Status(const Authorization&)>& fn) {
  // In pages, each its own short transaction, and `fn` (a store's restore,
  // which may be slow) runs outside them: a rebuild of any size never holds
  // a transaction past the per-call bound.
  constexpr int kPage = 1000;
  std::string after;  // The last authorization id of the previous page.
  while (true) {
    std::vector<Authorization> page;
    absl::Status decoded;
    WARDEN_RETURN_IF_ERROR(
        session_.Run("latest authorizations", [&](pqxx::work& w) {
          page.clear();
          for (const pqxx::row& r : w.exec_params(
                   "SELECT DISTINCT ON (authorization_id) body FROM "
                   "audit_events WHERE org_id = $1 AND authorization_id > $3 "
                   "AND created_at >= $2::timestamptz ORDER BY "
                   "authorization_id, seq DESC LIMIT $4",
                   org_id, pg::Time(since), after, kPage)) {
            absl::StatusOr<AuditEvent> e =
                DecodeAuditEvent(r[0].as<std::string>());
            if (!e.ok() || !e->authorization) {
              decoded = absl::DataLossError(absl::StrCat(
                  "audit event does not decode: ",
                  e.ok() ? "no authorization" : e.status().message()));
              return;
            }
            page.push_back(*std::move(e->authorization));
          }
        }));
    WARDEN_RETURN_IF_ERROR(decoded);
    for (const Authorization& a : page) WARDEN_RETURN_IF_ERROR(fn(a));
    if (page.size() < kPage) return absl::OkStatus();
    after = page.back().id;
  }
}

absl::StatusOr<std::vector<AuditReader::RecordedStatus>>
PostgresAuditReader::NewestHolds(const std::string& org_id, absl::Time since,
                                 int limit) {
  // The newest events, read back until `limit` authorizations are met:
  // each one's first event met is its latest. An authorization has a few
  // events (decided, votes, settled or voided or expired), so four per
  // authorization are read at most.
  std::vector<RecordedStatus> out;
  absl::Status decoded;
  WARDEN_RETURN_IF_ERROR(session_.Run("newest holds", [&](pqxx::work& w) {
    out.clear();
    absl::flat_hash_set<std::string> seen;
    for (const pqxx::row& r : w.exec_params(
             "SELECT authorization_id, status FROM audit_events WHERE org_id "
             "= $1 AND authorization_id IS NOT NULL AND time >= "
             "$2::timestamptz AND created_at >= $2::timestamptz ORDER BY seq "
             "DESC LIMIT $3",
             org_id, pg::Time(since), int64_t{limit} * 4)) {
      if (out.size() >= size_t(limit)) break;
      std::string id = r[0].as<std::string>();
      if (!seen.insert(id).second) continue;
      RecordedStatus s{.authorization_id = std::move(id)};
      if (!ParseStatusName(r[1].as<std::string>(""), &s.status)) {
        decoded = absl::DataLossError(absl::StrCat(
            "audit record of ", s.authorization_id, " has an unknown status"));
        return;
      }
      // A denial held nothing.
      if (s.status != AuthorizationStatus::kDenied) out.push_back(std::move(s));
    }
  }));
  WARDEN_RETURN_IF_ERROR(decoded);
  return out;
}

absl::StatusOr<ChainVerification> PostgresAuditReader::Verify(
    const std::string& org_id) {
  return VerifyAuditChain(url_, org_id);
}

}  // namespace warden
