#include "governance/postgres/postgres_config_store.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "governance/bundle.h"
#include "governance/postgres/pg.h"
#include "governance/status_macros.h"
#include "nlohmann/json.hpp"

namespace warden {
namespace {

constexpr const char* kBundlesChannel = "warden_bundles";

absl::StatusOr<std::shared_ptr<const Policy>> Load(const pqxx::row& r) {
  // Columns: org_id, version, yaml, applied_at (unix micros), applied_by.
  absl::StatusOr<Policy> p = ParseBundle(r[2].as<std::string>());
  if (!p.ok()) {
    return absl::DataLossError(absl::StrCat(
        "stored bundle ", r[0].as<std::string>(), " v", r[1].as<int64_t>(),
        " no longer parses: ", p.status().message()));
  }
  p->version = r[1].as<int64_t>();
  p->yaml = r[2].as<std::string>();
  p->applied_at = absl::FromUnixMicros(r[3].as<int64_t>());
  p->applied_by = r[4].as<std::string>();
  return std::make_shared<const Policy>(*std::move(p));
}

constexpr const char* kSelect =
    "SELECT org_id, version, yaml, "
    "(extract(epoch FROM applied_at) * 1000000)::bigint, applied_by "
    "FROM bundles ";

void InsertLimits(pqxx::work& w, const Policy& p, const std::string& scope,
                  const std::vector<Limit>& limits) {
  for (const Limit& l : limits) {
    w.exec_params(
        "INSERT INTO limits (org_id, version, scope, name, usd_micros, count,"
        " \"window\") VALUES ($1, $2, $3, $4, $5, $6, $7)",
        p.org.id, p.version, scope, l.name,
        l.kind == Limit::Kind::kUsd ? std::optional<int64_t>(l.usd)
                                    : std::nullopt,
        l.kind == Limit::Kind::kCount ? std::optional<int64_t>(l.count)
                                      : std::nullopt,
        l.window.spec);
  }
}

nlohmann::json RulesJson(const AgentRules& r) {
  nlohmann::json j = nlohmann::json::object();
  if (r.per_tx_max_usd)
    j["per_tx_max_usd"] = FormatUsdDecimal(*r.per_tx_max_usd);
  if (r.chains) j["chains"] = *r.chains;
  if (r.assets) j["assets"] = *r.assets;
  if (r.destinations_allow) j["destinations_allow"] = *r.destinations_allow;
  return j;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresConfigStore>> PostgresConfigStore::Open(
    const std::string& url, absl::Duration refresh_interval) {
  std::unique_ptr<PostgresConfigStore> s(
      new PostgresConfigStore(url, refresh_interval));
  WARDEN_RETURN_IF_ERROR(s->Refresh());
  s->listener_ = std::thread([raw = s.get()] { raw->ListenLoop(); });
  return s;
}

PostgresConfigStore::~PostgresConfigStore() {
  stop_.Notify();
  if (listener_.joinable()) listener_.join();
}

absl::Status PostgresConfigStore::Refresh() {
  std::vector<std::shared_ptr<const Policy>> loaded;
  std::map<std::string, int64_t> known;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [org, p] : active_) known[org] = p->version;
  }
  absl::Status parse_error;
  absl::Status st = session_.Run("load bundles", [&](pqxx::work& w) {
    for (const pqxx::row& head :
         w.exec("SELECT org_id, max(version) FROM bundles GROUP BY org_id")) {
      const std::string org = head[0].as<std::string>();
      const int64_t version = head[1].as<int64_t>();
      auto it = known.find(org);
      if (it != known.end() && it->second == version) continue;
      pqxx::row r = w.exec_params1(
          absl::StrCat(kSelect, "WHERE org_id = $1 AND version = $2"), org,
          version);
      absl::StatusOr<std::shared_ptr<const Policy>> p = Load(r);
      if (!p.ok()) {
        parse_error = p.status();
        continue;
      }
      loaded.push_back(*std::move(p));
    }
  });
  WARDEN_RETURN_IF_ERROR(st);
  absl::MutexLock lock(&mu_);
  for (auto& p : loaded) {
    auto& slot = active_[p->org.id];
    if (slot == nullptr || slot->version < p->version) slot = std::move(p);
  }
  return parse_error;
}

void PostgresConfigStore::ListenLoop() {
  // A dedicated connection that LISTENs; every notification, and every
  // refresh_interval regardless, triggers a Refresh.
  class Receiver final : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection& c, bool* flag)
        : pqxx::notification_receiver(c, kBundlesChannel), flag_(flag) {}
    void operator()(const std::string&, int) override { *flag_ = true; }

   private:
    bool* flag_;
  };
  while (!stop_.HasBeenNotified()) {
    absl::StatusOr<std::unique_ptr<pqxx::connection>> c = pg::Connect(url_);
    if (!c.ok()) {
      stop_.WaitForNotificationWithTimeout(refresh_interval_);
      (void)Refresh();
      continue;
    }
    try {
      bool notified = false;
      Receiver receiver(**c, &notified);
      // Catch up with whatever was applied before LISTEN took effect.
      (void)Refresh();
      absl::Time next_refresh = absl::Now() + refresh_interval_;
      while (!stop_.HasBeenNotified()) {
        // Wake at least every 200ms to notice stop_.
        (*c)->await_notification(0, 200'000);
        if (notified || absl::Now() >= next_refresh) {
          notified = false;
          next_refresh = absl::Now() + refresh_interval_;
          (void)Refresh();
        }
      }
    } catch (const std::exception&) {
      // The connection broke: reconnect after a pause.
      stop_.WaitForNotificationWithTimeout(absl::Seconds(1));
    }
  }
}

absl::StatusOr<std::shared_ptr<const Policy>> PostgresConfigStore::Active(
    const std::string& org_id) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(org_id);
  if (it == active_.end()) {
    return absl::NotFoundError(absl::StrCat("unknown org \"", org_id, "\""));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<const Policy>> PostgresConfigStore::Version(
    const std::string& org_id, int64_t version) {
  absl::StatusOr<std::shared_ptr<const Policy>> out = absl::NotFoundError(
      absl::StrCat("org ", org_id, " has no version ", version));
  absl::Status st = session_.Run("load bundle", [&](pqxx::work& w) {
    pqxx::result r = w.exec_params(
        absl::StrCat(kSelect, "WHERE org_id = $1 AND version = $2"), org_id,
        version);
    if (!r.empty()) out = Load(r[0]);
  });
  if (!st.ok()) return st;
  return out;
}

absl::StatusOr<std::vector<std::string>> PostgresConfigStore::Orgs() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> orgs;
  for (const auto& [org, unused] : active_) orgs.push_back(org);
  return orgs;
}

absl::Status PostgresConfigStore::Apply(std::shared_ptr<const Policy> policy) {
  const Policy& p = *policy;
  int64_t current = 0;
  absl::Status st = session_.Run("apply bundle", [&](pqxx::work& w) {
    w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", p.org.id);
    current = w.exec_params1(
                   "SELECT coalesce(max(version), 0) FROM bundles "
                   "WHERE org_id = $1",
                   p.org.id)[0]
                  .as<int64_t>();
    if (current != p.version - 1) return;  // Reported below; nothing written.
    w.exec_params(
        "INSERT INTO bundles (org_id, version, yaml, applied_at, applied_by) "
        "VALUES ($1, $2, $3, to_timestamp($4::double precision / 1000000), "
        "$5)",
        p.org.id, p.version, p.yaml, absl::ToUnixMicros(p.applied_at),
        p.applied_by);
    w.exec_params(
        "INSERT INTO orgs (org_id, version, timezone, expired_holds, "
        "hold_ttl_s) VALUES ($1, $2, $3, $4, $5)",
        p.org.id, p.version, p.org.timezone_name,
        p.org.expired_holds == ExpiredHolds::kCount ? "count" : "release",
        absl::ToInt64Seconds(p.org.hold_ttl));
    InsertLimits(w, p, absl::StrCat("org/", p.org.id), p.org.limits);
    for (const auto& [id, d] : p.departments) {
      w.exec_params("INSERT INTO departments VALUES ($1, $2, $3)", p.org.id,
                    p.version, id);
      InsertLimits(w, p, absl::StrCat("department/", id), d.limits);
    }
    for (const auto& [id, a] : p.agents) {
      w.exec_params("INSERT INTO agents VALUES ($1, $2, $3, $4, $5::jsonb)",
                    p.org.id, p.version, id, a.department,
                    RulesJson(a.rules).dump());
      InsertLimits(w, p, absl::StrCat("agent/", id), a.limits);
    }
    for (const auto& [id, wl] : p.wallets) {
      w.exec_params("INSERT INTO wallets VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    p.org.id, p.version, id, wl.agent_id, wl.vendor, wl.chain,
                    wl.address);
    }
    for (const auto& [symbol, asset] : p.assets) {
      w.exec_params("INSERT INTO assets VALUES ($1, $2, $3, $4, $5::numeric)",
                    p.org.id, p.version, symbol, asset.decimals,
                    asset.price_usd ? std::optional<std::string>(
                                          FormatPrice(*asset.price_usd))
                                    : std::nullopt);
    }
    w.exec_params("SELECT pg_notify($1, $2)", kBundlesChannel, p.org.id);
  });
  if (!st.ok()) return st;
  if (current != p.version - 1) {
    return absl::AbortedError(absl::StrCat(
        "org ", p.org.id, " is at version ", current, "; cannot apply version ",
        p.version, " (applied concurrently?)"));
  }
  absl::MutexLock lock(&mu_);
  auto& slot = active_[p.org.id];
  if (slot == nullptr || slot->version < p.version) slot = std::move(policy);
  return absl::OkStatus();
}

absl::Status PostgresConfigStore::SaveChange(const PolicyChange& change) {
  bool saved = false;
  WARDEN_RETURN_IF_ERROR(session_.Run("save policy change", [&](pqxx::work& w) {
    const std::string body = EncodePolicyChange(change);
    const char* state = PolicyChangeStateName(change.state);
    if (change.revision == 1) {
      saved = !w.exec_params(
                    "INSERT INTO policy_changes (org_id, change_id, revision, "
                    "state, requested_at, body) VALUES ($1, $2, 1, $3, "
                    "to_timestamp($4::double precision / 1000000), $5) "
                    "ON CONFLICT DO NOTHING RETURNING 1",
                    change.org_id, change.id, state,
                    absl::ToUnixMicros(change.requested_at), body)
                   .empty();
    } else {
      saved = !w.exec_params(
                    "UPDATE policy_changes SET revision = $3, state = $4, "
                    "body = $5 WHERE org_id = $1 AND change_id = $2 AND "
                    "revision = $3 - 1 RETURNING 1",
                    change.org_id, change.id, change.revision, state, body)
                   .empty();
    }
  }));
  if (!saved) {
    return absl::AbortedError(absl::StrCat("policy change ", change.id,
                                           " was updated by another replica"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PolicyChange> PostgresConfigStore::Change(
    const std::string& org_id, const std::string& id) {
  std::optional<std::string> body;
  WARDEN_RETURN_IF_ERROR(session_.Run(
      "read policy change",
      [&](pqxx::work& w) {
        pqxx::result r = w.exec_params(
            "SELECT body FROM policy_changes WHERE org_id = $1 AND "
            "change_id = $2",
            org_id, id);
        if (!r.empty()) body = r[0][0].as<std::string>();
      },
      /*read_only=*/true));
  if (!body) {
    return absl::NotFoundError(
        absl::StrCat("org ", org_id, " has no policy change ", id));
  }
  return DecodePolicyChange(*body);
}

absl::StatusOr<std::vector<PolicyChange>> PostgresConfigStore::Changes(
    const std::string& org_id, bool pending_only, size_t max) {
  std::vector<std::string> bodies;
  WARDEN_RETURN_IF_ERROR(session_.Run(
      "list policy changes",
      [&](pqxx::work& w) {
        for (const pqxx::row& r : w.exec_params(
                 "SELECT body FROM policy_changes WHERE org_id = $1 AND "
                 "(NOT $2 OR state = 'pending') ORDER BY requested_at DESC, "
                 "change_id DESC LIMIT $3",
                 org_id, pending_only, static_cast<int64_t>(max))) {
          bodies.push_back(r[0].as<std::string>());
        }
      },
      /*read_only=*/true));
  std::vector<PolicyChange> out;
  for (const std::string& b : bodies) {
    WARDEN_ASSIGN_OR_RETURN(PolicyChange c, DecodePolicyChange(b));
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace warden
