#include "governance/postgres/postgres_credential_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "governance/status_macros.h"

namespace warden {
namespace {

constexpr char kTokenColumns[] =
    "token_id, org_id, principal, array_to_string(roles, ','), "
    "secret_sha256, (extract(epoch FROM created_at) * 1000000)::bigint, "
    "created_by, (extract(epoch FROM expires_at) * 1000000)::bigint, "
    "(extract(epoch FROM revoked_at) * 1000000)::bigint";

std::string RolesArray(const std::vector<Role>& roles) {
  std::vector<std::string> names;
  for (Role r : roles) names.push_back(RoleName(r));
  return absl::StrCat("{", absl::StrJoin(names, ","), "}");
}

ApiToken TokenFromRow(const pqxx::row& r) {
  ApiToken t;
  t.token_id = r[0].as<std::string>();
  t.org_id = r[1].as<std::string>();
  t.principal = r[2].as<std::string>();
  for (absl::string_view name :
       absl::StrSplit(r[3].as<std::string>(), ',', absl::SkipEmpty())) {
    // Written by this code from the enum, so every name parses.
    if (absl::StatusOr<Role> role = ParseRole(name); role.ok()) {
      t.roles.push_back(*role);
    }
  }
  t.secret_sha256 = r[4].as<std::string>();
  t.created_at = absl::FromUnixMicros(r[5].as<int64_t>());
  t.created_by = r[6].as<std::string>();
  t.expires_at = absl::FromUnixMicros(r[7].as<int64_t>());
  if (!r[8].is_null()) t.revoked_at = absl::FromUnixMicros(r[8].as<int64_t>());
  return t;
}

constexpr const char* kTokensChannel = "warden_tokens";

}  // namespace

PostgresCredentialStore::PostgresCredentialStore(std::string url,
                                                 TokenCacheOptions options)
    : url_(std::move(url)), options_(options), session_(url_) {
  if (options_.cache) listener_ = std::thread([this] { ListenLoop(); });
}

PostgresCredentialStore::~PostgresCredentialStore() {
  stop_.Notify();
  if (listener_.joinable()) listener_.join();
}

bool PostgresCredentialStore::TrustedLocked(Clock::time_point now) const {
  return alive_at_ &&
         now - *alive_at_ < absl::ToChronoNanoseconds(options_.trust_for);
}

bool PostgresCredentialStore::CacheTrusted() {
  absl::MutexLock lock(&mu_);
  return TrustedLocked(Clock::now());
}

void PostgresCredentialStore::Forget(const std::string& token_id) {
  absl::MutexLock lock(&mu_);
  if (token_id == "*") {
    cache_.clear();
  } else {
    cache_.erase(token_id);
  }
  ++generation_;
}

void PostgresCredentialStore::ForgetAll() {
  absl::MutexLock lock(&mu_);
  cache_.clear();
  ++generation_;
  alive_at_.reset();
}

void PostgresCredentialStore::ListenLoop() {
  class Receiver final : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection& c, PostgresCredentialStore* store)
        : pqxx::notification_receiver(c, kTokensChannel), store_(store) {}
    void operator()(const std::string& token_id, int) override {
      store_->Forget(token_id);
    }

   private:
    PostgresCredentialStore* store_;
  };
  while (!stop_.HasBeenNotified()) {
    absl::StatusOr<std::unique_ptr<pqxx::connection>> c = pg::Connect(url_);
    if (c.ok()) {
      try {
        Receiver receiver(**c, this);
        // LISTEN is in effect from here (libpqxx swallows a failure to issue
        // it, hence the check): what was cached before may have missed a
        // notification.
        if (!(*c)->is_open()) throw pqxx::broken_connection();
        // libpqxx would quietly reopen a lost connection on the next
        // transaction, LISTENing again but having missed what came
        // meanwhile: a heartbeat on another backend starts over.
        const int backend = (*c)->backendpid();
        ForgetAll();
        Clock::time_point next_beat = Clock::now();
        const auto heartbeat = absl::ToChronoNanoseconds(options_.heartbeat);
        while (!stop_.HasBeenNotified()) {
          if (Clock::now() >= next_beat) {
            // Notifications committed before this round trip arrive before
            // its answer, so once it is back the cache is as fresh as `sent`.
            const Clock::time_point sent = Clock::now();
            if (!pg::Transact(
                     **c, "token listener heartbeat",
                     [](pqxx::work& w) { w.exec("SELECT 1"); },
                     options_.trust_for)
                     .ok() ||
                (*c)->backendpid() != backend) {
              break;
            }
            (*c)->get_notifs();
            absl::MutexLock lock(&mu_);
            alive_at_ = sent;
            next_beat = sent + heartbeat;
          }
          // Wake at least every 200ms to notice stop_.
          const auto wait = std::clamp<Clock::duration>(
              next_beat - Clock::now(), Clock::duration::zero(),
              std::chrono::milliseconds(200));
          (*c)->await_notification(
              0, static_cast<long>(
                     std::chrono::duration_cast<std::chrono::microseconds>(wait)
                         .count()));
        }
      } catch (const std::exception&) {
        // The connection broke: below, reconnect after a pause.
      }
    }
    ForgetAll();
    stop_.WaitForNotificationWithTimeout(absl::Seconds(1));
  }
}

absl::Status PostgresCredentialStore::CreateToken(const ApiToken& t) {
  return session_.Run("create token", [&](pqxx::work& w) {
    w.exec_params(
        "INSERT INTO api_tokens (token_id, org_id, principal, roles, "
        "secret_sha256, created_at, created_by, expires_at) VALUES ($1, $2, "
        "$3, $4::text[], $5, to_timestamp($6::double precision / 1000000), "
        "$7, to_timestamp($8::double precision / 1000000))",
        t.token_id, t.org_id, t.principal, RolesArray(t.roles), t.secret_sha256,
        absl::ToUnixMicros(t.created_at), t.created_by,
        absl::ToUnixMicros(t.expires_at));
  });
}

absl::StatusOr<ApiToken> PostgresCredentialStore::FindToken(
    const std::string& token_id) {
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    const Clock::time_point now = Clock::now();
    if (TrustedLocked(now)) {
      auto it = cache_.find(token_id);
      if (it != cache_.end() &&
          now - it->second.read_at <
              absl::ToChronoNanoseconds(options_.max_age)) {
        return it->second.token;
      }
    }
    generation = generation_;
  }
  const Clock::time_point read_at = Clock::now();
  ++database_reads_;
  std::optional<ApiToken> found;
  WARDEN_RETURN_IF_ERROR(session_.Run(
      "find token",
      [&](pqxx::work& w) {
        pqxx::result r =
            w.exec_params(absl::StrCat("SELECT ", kTokenColumns,
                                       " FROM api_tokens WHERE token_id = $1"),
                          token_id);
        if (!r.empty()) found = TokenFromRow(r[0]);
      },
      /*read_only=*/true));
  if (!found) return absl::NotFoundError(absl::StrCat("no token ", token_id));
  absl::MutexLock lock(&mu_);
  // Not if a notification arrived meanwhile: this row may predate it.
  if (generation == generation_ && TrustedLocked(Clock::now())) {
    if (cache_.size() >= options_.max_entries) cache_.clear();
    cache_.insert_or_assign(token_id, Entry{*found, read_at});
  }
  return *found;
}

absl::StatusOr<std::vector<ApiToken>> PostgresCredentialStore::ListTokens(
    const std::string& org_id) {
  std::vector<ApiToken> out;
  WARDEN_RETURN_IF_ERROR(session_.Run("list tokens", [&](pqxx::work& w) {
    for (const pqxx::row& r : w.exec_params(
             absl::StrCat("SELECT ", kTokenColumns,
                          ", (extract(epoch FROM u.last_used_at) * "
                          "1000000)::bigint FROM api_tokens LEFT JOIN "
                          "api_token_uses u USING (token_id) WHERE org_id = "
                          "$1 ORDER BY created_at, token_id"),
             org_id)) {
      out.push_back(TokenFromRow(r));
      if (!r[9].is_null()) {
        out.back().last_used_at = absl::FromUnixMicros(r[9].as<int64_t>());
      }
    }
  }));
  return out;
}

absl::Status PostgresCredentialStore::RecordUses(
    const std::map<std::string, absl::Time>& last_use) {
  if (last_use.empty()) return absl::OkStatus();
  return session_.Run("record token uses", [&](pqxx::work& w) {
    for (const auto& [id, at] : last_use) {
      w.exec_params(
          "INSERT INTO api_token_uses (token_id, last_used_at) VALUES ($1, "
          "to_timestamp($2::double precision / 1000000)) ON CONFLICT "
          "(token_id) DO UPDATE SET last_used_at = greatest("
          "api_token_uses.last_used_at, excluded.last_used_at)",
          id, absl::ToUnixMicros(at));
    }
  });
}

absl::Status PostgresCredentialStore::RevokeToken(const std::string& org_id,
                                                  const std::string& token_id,
                                                  absl::Time now) {
  bool found = false;
  WARDEN_RETURN_IF_ERROR(session_.Run("revoke token", [&](pqxx::work& w) {
    found = !w.exec_params(
                  "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, "
                  "to_timestamp($3::double precision / 1000000)) WHERE "
                  "org_id = $1 AND token_id = $2 RETURNING token_id",
                  org_id, token_id, absl::ToUnixMicros(now))
                 .empty();
  }));
  if (!found) {
    return absl::NotFoundError(
        absl::StrCat("token_id: no token ", token_id, " in org ", org_id));
  }
  // Every replica, this one included, also hears of it from the trigger.
  Forget(token_id);
  return absl::OkStatus();
}

}  // namespace warden
