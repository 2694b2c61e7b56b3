#ifndef WARDEN_GOVERNANCE_POSTGRES_POSTGRES_CREDENTIAL_STORE_H_
#define WARDEN_GOVERNANCE_POSTGRES_POSTGRES_CREDENTIAL_STORE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "governance/credentials.h"
#include "governance/postgres/pg.h"

namespace warden {

struct TokenCacheOptions {
  // False: no cache and no listening connection, every lookup reads
  // Postgres (a one-off command).
  bool cache = true;
  // How often the listening connection proves it is alive (a round trip).
  absl::Duration heartbeat = absl::Seconds(1);
  // The cache is trusted only while the last heartbeat is this recent.
  absl::Duration trust_for = absl::Seconds(3);
  // Past this many tokens the cache starts over.
  size_t max_entries = 100'000;
  // A cached token is read again once this old, whatever was heard: a
  // backstop for changes that fire no trigger (a restore with triggers
  // disabled, say).
  absl::Duration max_age = absl::Minutes(5);
};

// API tokens in the api_tokens table; every write is one transaction.
//
// FindToken answers from a per-replica cache, so that authenticating a call
// reads Postgres once per token, not once per call. Revocation stays
// immediate on every replica: every change to a token's row is announced
// (a trigger NOTIFYs warden_tokens with its id) and a dedicated connection
// LISTENs, dropping that token on arrival. The cache is trusted only while
// that connection is known to be alive: it round-trips every `heartbeat`,
// and a round trip older than `trust_for` (a stopped server, a partition, a
// lost connection) makes every lookup read Postgres again, failing
// UNAVAILABLE if it cannot, until the listener is back; on reconnecting the
// cache starts empty, since notifications sent meanwhile were lost. A
// TRUNCATE empties it. Liveness is measured on a monotonic clock, so a step
// of the wall clock cannot stretch the trust.
class PostgresCredentialStore final : public CredentialStore {
 public:
  explicit PostgresCredentialStore(std::string url,
                                   TokenCacheOptions options = {});
  ~PostgresCredentialStore() override;

  absl::Status CreateToken(const ApiToken& token) override;
  absl::StatusOr<ApiToken> FindToken(const std::string& token_id) override;
  absl::StatusOr<std::vector<ApiToken>> ListTokens(
      const std::string& org_id) override;
  absl::Status RevokeToken(const std::string& org_id,
                           const std::string& token_id,
                           absl::Time now) override;
  absl::Status RecordUses(
      const std::map<std::string, absl::Time>& last_use) override;

  // How many FindToken calls read Postgres (the rest came from the cache).
  int64_t database_reads() const { return database_reads_.load(); }
  // Whether lookups may be answered from the cache now.
  bool CacheTrusted();

 private:
  void ListenLoop();
  using Clock = std::chrono::steady_clock;
  bool TrustedLocked(Clock::time_point now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops one token (its row changed), or with "*" every token (the table
  // was truncated).
  void Forget(const std::string& token_id);
  // Drops every token and stops trusting the cache (the listener lost its
  // connection, or has a new one that may have missed notifications).
  void ForgetAll();

  const std::string url_;
  const TokenCacheOptions options_;
  pg::Session session_;
  std::atomic<int64_t> database_reads_{0};

  absl::Mutex mu_;
  struct Entry {
    ApiToken token;
    Clock::time_point read_at;
  };
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  // Bumped by every Forget, so that a lookup that read Postgres before a
  // notification arrived does not put its older row into the cache.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  // When the last heartbeat that succeeded was sent; unset while the
  // listener has no connection.
  std::optional<Clock::time_point> alive_at_ ABSL_GUARDED_BY(mu_);

  absl::Notification stop_;
  std::thread listener_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_POSTGRES_POSTGRES_CREDENTIAL_STORE_H_
