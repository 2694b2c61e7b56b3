#ifndef WARDEN_GOVERNANCE_REDIS_REDIS_CLIENT_H_
#define WARDEN_GOVERNANCE_REDIS_REDIS_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "governance/redis/redis_connection.h"

namespace warden {

struct RedisOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  // AUTH on every new connection when a password is set: `AUTH password`
  // (requirepass), or `AUTH user password` (an ACL user) when user is set.
  std::string user;
  std::string password;
  RedisTls tls;  // enabled by a rediss:// URL
  // Every bound has a default; each is documented in docs/configuration.md.
  absl::Duration connect_timeout = absl::Milliseconds(500);
  absl::Duration command_timeout = absl::Seconds(1);
  // Connections kept open. Each is pipelined: calls made while one batch
  // is out queue on its connection and go together in the next (one write,
  // replies read in order), so a few connections carry any number of
  // concurrent callers. A call that no batch took within command_timeout
  // fails. In a cluster, per node.
  size_t pool_size = 4;
  // Redis Cluster: host:port above is the first of `seeds`, the nodes the
  // slot map is first read from (CLUSTER SLOTS).
  bool cluster = false;
  std::vector<std::pair<std::string, int>> seeds;
};

// Parses redis://[[USER]:PASSWORD@]HOST:PORT[/DB] (HOST may be [v6]; USER
// and PASSWORD percent-encoded where they hold reserved characters), or
// rediss://... for TLS.
// INVALID_ARGUMENT naming what is wrong, never quoting the password.
absl::StatusOr<RedisOptions> ParseRedisUrl(absl::string_view url);
// Several such URLs, comma-separated, for the seed nodes of a cluster: the
// same scheme and credentials in each, database 0. Sets `cluster`.
absl::StatusOr<RedisOptions> ParseRedisClusterUrls(absl::string_view urls);

// The cluster hash slot of `key` (CRC16 of its {hash tag}, mod 16384).
int RedisKeySlot(absl::string_view key);

// A reply, copied out of hiredis so it outlives the connection.
struct RedisReply {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError.
  int64_t integer = 0;
  std::vector<RedisReply> elements;

  bool IsError() const { return type == Type::kError; }
};

// A fixed set of pipelined connections per Redis node with connect and
// command timeouts. Calls are spread over them in turn. On each, the first
// caller to find it idle sends every queued call in one batch and reads the
// replies in order, then hands on to the next caller waiting (leader and
// followers: no thread of its own, and one write and a few reads per batch
// instead of per call, for Redis as for this process). A connection that
// fails fails its whole batch and is replaced on next use, so the client
// recovers by itself once Redis is back. Thread-safe.
//
// With `cluster`, each call goes to the primary of its key's slot (the
// first key of a script): the slot map is read with CLUSTER SLOTS, a MOVED
// reply updates it and the call follows, an ASK reply is followed once
// (ASKING), and the map is read again after a failure or a redirection. A
// slot with no reachable primary fails closed (UNAVAILABLE). Scripts are
// loaded on each primary as it first answers NOSCRIPT.
//
// Every failure (connect, I/O, timeout, no batch in time) is UNAVAILABLE with
// the operation named, and so is a Redis error reply (NOAUTH, OOM,
// READONLY, ...): a refused write never passes for a done one.
class RedisClient {
 public:
  explicit RedisClient(RedisOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Never a kError reply (see above).
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& argv);

  // EVALSHA of `script` (loaded with SCRIPT LOAD on first use and again
  // after NOSCRIPT, e.g. when Redis restarted).
  absl::StatusOr<RedisReply> Eval(const std::string& script,
                                  const std::vector<std::string>& keys,
                                  const std::vector<std::string>& args);
  // Eval whose last argument (a placeholder in `args`) is replaced, once a
  // connection is in hand and just before sending, by a deadline on Redis's
  // own clock (unix microseconds, "0" while Redis's clock is unknown): the
  // moment after which this client may have given up waiting for the
  // answer. A script that Redis runs later than that (it was stalled,
  // SIGSTOPped, or the network held the request) can see that its caller
  // may have been told it failed, and refuse to act. Redis's clock is read
  // with TIME on every new connection (the error is at most half a round
  // trip).
  // The deadline is earlier when `not_after` is: the caller stops waiting
  // then, and a call not sent by then fails without being sent.
  absl::StatusOr<RedisReply> EvalWithDeadline(
      const std::string& script, const std::vector<std::string>& keys,
      const std::vector<std::string>& args,
      absl::Time not_after = absl::InfiniteFuture());

  // Whether a failed call is known never to have reached Redis (it waited
  // in the queue too long, or no connection could be made): nothing it
  // would have done can have happened.
  static bool NeverSent(const absl::Status& status);
  // `status`, marked as never sent.
  static absl::Status Unsent(absl::Status status);

  const RedisOptions& options() const { return options_; }

 private:
  using Connection = RedisConnection;
  struct Pending;
  struct Lane;
  // One node: its address, its clock, its pipelined connections.
  struct Node {
    std::string host;
    int port = 0;
    // Redis's clock minus ours, in microseconds; set by each connection.
    std::atomic<int64_t> clock_offset_us{0};
    std::atomic<bool> clock_known{false};
    std::vector<std::unique_ptr<Lane>> lanes;
    std::atomic<size_t> next_lane{0};
  };
  // One pipelined connection and the calls queued on it.
  struct Lane {
    Node* node;
    absl::Mutex mu;
    std::deque<Pending*> queue ABSL_GUARDED_BY(mu);
    bool leading ABSL_GUARDED_BY(mu) = false;
    // Only the leader uses it; null until first used or after a failure.
    std::unique_ptr<Connection> connection;
  };
  // Command, with error replies as kError replies (Eval reacts to
  // NOSCRIPT).
  // `stamp_until`: replace argv's last element by the script deadline, no
  // later than that time (see EvalWithDeadline), as it is sent.
  // `route`: the key whose slot picks the node (else argv's own key).
  absl::StatusOr<RedisReply> Call(
      const std::vector<std::string>& argv,
      std::optional<absl::Time> stamp_until = std::nullopt,
      std::optional<absl::string_view> route = std::nullopt);
  // Call without the telemetry: to the node of the call's slot, following
  // redirections.
  absl::StatusOr<RedisReply> Route(const std::vector<std::string>& argv,
                                   std::optional<absl::Time> stamp_until,
                                   std::optional<absl::string_view> route);
  // One call to one node.
  absl::StatusOr<RedisReply> Send(Node& node,
                                  const std::vector<std::string>& argv,
                                  std::optional<absl::Time> stamp_until);
  // ASKING then the call, on a connection of its own to `node`.
  absl::StatusOr<RedisReply> SendAsking(Node& node,
                                        const std::vector<std::string>& argv,
                                        std::optional<absl::Time> stamp_until);
  // The primary of `key`'s slot (any known node for no key), reading the
  // slot map first when it is stale.
  absl::StatusOr<Node*> NodeFor(std::optional<absl::string_view> key);
  // The node at host:port, made if new (null past kMaxNodes).
  Node* NodeAt(const std::string& host, int port)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(map_mu_);
  Node* FindNode(const std::string& host, int port)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(map_mu_);
  // Reads the slot map again when a failure or a redirection made it
  // stale, at most every 100 ms, one caller at a time.
  void MaybeRefresh();
  absl::Status RefreshSlots();
  void MarkStale();
  absl::StatusOr<RedisReply> EvalImpl(const std::string& script,
                                      const std::vector<std::string>& keys,
                                      const std::vector<std::string>& args,
                                      std::optional<absl::Time> stamp_until);
  // Unix microseconds on Redis's clock by which a script sent now must run
  // for its answer to still be awaited, and no later than `not_after`; 0
  // before any connection.
  static int64_t ScriptDeadlineMicros(const Node& node, absl::Time not_after,
                                      absl::Duration command_timeout);
  // Sends the queued calls of `lane` (at most kMaxBatch) as one batch and
  // answers each; called by the caller that found the lane idle, which it
  // marks busy. Unlocks lane.mu for the I/O.
  void Lead(Lane& lane) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lane.mu);
  // The I/O of one batch: each call's reply, or the failure of the rest.
  void Exchange(Lane& lane, const std::vector<Pending*>& batch);
  absl::StatusOr<std::unique_ptr<Connection>> Connect(Node& node);
  absl::StatusOr<std::string> ShaOf(const std::string& script,
                                    std::optional<absl::string_view> route);

  const RedisOptions options_;
  // Built once from options_.tls; its error fails every connect.
  absl::StatusOr<std::shared_ptr<SSL_CTX>> tls_context_;
  static constexpr size_t kMaxBatch = 256;
  static constexpr int kSlots = 16384;
  static constexpr size_t kMaxNodes = 1000;
  absl::Mutex map_mu_;
  // Every node ever named (seeds, slot maps, redirections); never removed,
  // so Node pointers stay valid. Without `cluster`, the one node.
  std::vector<std::unique_ptr<Node>> nodes_ ABSL_GUARDED_BY(map_mu_);
  // Without `cluster`: that node (set once, before any call).
  Node* single_ = nullptr;
  // Cluster only: each slot's primary, null while unknown.
  std::vector<Node*> slots_ ABSL_GUARDED_BY(map_mu_);
  bool stale_ ABSL_GUARDED_BY(map_mu_) = true;
  bool refreshing_ ABSL_GUARDED_BY(map_mu_) = false;
  absl::Time refreshed_ ABSL_GUARDED_BY(map_mu_) = absl::InfinitePast();
  absl::Mutex mu_;
  // script text -> sha1, computed by SCRIPT LOAD.
  std::vector<std::pair<std::string, std::string>> shas_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_REDIS_REDIS_CLIENT_H_
