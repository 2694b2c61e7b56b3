#include "governance/postgres/postgres_freeze_store.h"

#include "absl/strings/str_cat.h"
#include "governance/postgres/pg.h"
#include "governance/status_macros.h"

namespace warden {

absl::Status PostgresFreezeStore::Freeze(const std::string& org_id,
                                         const FrozenScope& f) {
  return session_.Run("freeze", [&](pqxx::work& w) {
    w.exec_params(
        "INSERT INTO frozen_scopes (org_id, scope, frozen_at, actor, reason,"
        " decommissioned) VALUES ($1, $2, to_timestamp($3::double precision"
        " / 1000000), $4, $5, $6) ON CONFLICT (org_id, scope) DO UPDATE SET "
        "decommissioned = frozen_scopes.decommissioned OR "
        "excluded.decommissioned",
        org_id, f.scope, absl::ToUnixMicros(f.frozen_at), f.actor, f.reason,
        f.decommissioned);
  });
}

absl::Status PostgresFreezeStore::Unfreeze(const std::string& org_id,
                                           const std::string& scope) {
  bool found = true;
  WARDEN_RETURN_IF_ERROR(session_.Run("unfreeze", [&](pqxx::work& w) {
    pqxx::result r = w.exec_params(
        "SELECT decommissioned FROM frozen_scopes WHERE org_id = $1 AND "
        "scope = $2 FOR UPDATE",
        org_id, scope);
    if (r.empty()) {
      found = false;
      return;
    }
    if (r[0][0].as<bool>()) {
      throw pg::Refused(
          absl::StrCat(scope, " was decommissioned and cannot be unfrozen"));
    }
    w.exec_params("DELETE FROM frozen_scopes WHERE org_id = $1 AND scope = $2",
                  org_id, scope);
  }));
  if (!found) return absl::NotFoundError(absl::StrCat(scope, " is not frozen"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<FrozenScope>> PostgresFreezeStore::List(
    const std::string& org_id) {
  std::vector<FrozenScope> out;
  WARDEN_RETURN_IF_ERROR(session_.Run("list frozen", [&](pqxx::work& w) {
    for (const pqxx::row& r : w.exec_params(
             "SELECT scope, (extract(epoch FROM frozen_at) * 1000000)::bigint,"
             " actor, reason, decommissioned FROM frozen_scopes WHERE org_id ="
             " $1 ORDER BY scope",
             org_id)) {
      out.push_back(
          {r[0].as<std::string>(), absl::FromUnixMicros(r[1].as<int64_t>()),
           r[2].as<std::string>(), r[3].as<std::string>(), r[4].as<bool>()});
    }
  }));
  return out;
}

absl::Status PostgresFreezeStore::SetVendorFrozen(const std::string& org_id,
                                                  const VendorFrozenWallet& v) {
  return session_.Run("record vendor freeze", [&](pqxx::work& w) {
    w.exec_params(
        "INSERT INTO vendor_frozen_wallets (org_id, wallet_id, vendor, "
        "restore, frozen_at) VALUES ($1, $2, $3, $4, to_timestamp("
        "$5::double precision / 1000000)) ON CONFLICT (org_id, wallet_id) DO "
        "UPDATE SET vendor = excluded.vendor, restore = excluded.restore, "
        "frozen_at = excluded.frozen_at",
        org_id, v.wallet_id, v.vendor, v.restore,
        absl::ToUnixMicros(v.frozen_at));
  });
}

absl::StatusOr<std::optional<VendorFrozenWallet>>
PostgresFreezeStore::VendorFrozen(const std::string& org_id,
                                  const std::string& wallet_id) {
  std::optional<VendorFrozenWallet> out;
  WARDEN_RETURN_IF_ERROR(session_.Run("read vendor freeze", [&](pqxx::work& w) {
    pqxx::result r = w.exec_params(
        "SELECT vendor, restore, (extract(epoch FROM frozen_at) * "
        "1000000)::bigint FROM vendor_frozen_wallets WHERE org_id = $1 AND "
        "wallet_id = $2",
        org_id, wallet_id);
    if (r.empty()) return;
    out = VendorFrozenWallet{wallet_id, r[0][0].as<std::string>(),
                             r[0][1].as<std::string>(),
                             absl::FromUnixMicros(r[0][2].as<int64_t>())};
  }));
  return out;
}

absl::Status PostgresFreezeStore::ClearVendorFrozen(
    const std::string& org_id, const std::string& wallet_id) {
  return session_.Run("clear vendor freeze", [&](pqxx::work& w) {
    w.exec_params(
        "DELETE FROM vendor_frozen_wallets WHERE org_id = $1 AND "
        "wallet_id = $2",
        org_id, wallet_id);
  });
}

}  // namespace warden
