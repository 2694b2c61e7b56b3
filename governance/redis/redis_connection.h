#ifndef WARDEN_GOVERNANCE_REDIS_REDIS_CONNECTION_H_
#define WARDEN_GOVERNANCE_REDIS_REDIS_CONNECTION_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct redisReader;
struct redisReply;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace warden {

// TLS to Redis (rediss:// URLs), on OpenSSL.
struct RedisTls {
  bool enabled = false;
  // PEM CA bundle the server's certificate must chain to; empty: the
  // system's trust store.
  std::string ca_file;
  // A client certificate and its key, for Redis's `tls-auth-clients`
  // (mutual TLS); both or neither.
  std::string cert_file;
  std::string key_file;
  // The name the server's certificate must carry (DNS name or IP address)
  // and the SNI sent; empty: the URL's host.
  std::string server_name;
};

// The TLS client context for `tls`: the CA, the client certificate and key
// read and checked (INVALID_ARGUMENT naming the file and the problem), TLS
// 1.2 at least, the server's certificate verified. Shared by every
// connection of a client.
absl::StatusOr<std::shared_ptr<SSL_CTX>> MakeRedisTlsContext(
    const RedisTls& tls);

// One connection to a Redis node, over TCP or TLS: commands encoded and
// replies parsed by hiredis (its protocol code only; its own connections
// speak no TLS), the socket driven here with poll, so that every step is
// bounded. Not thread-safe: RedisClient gives each to one caller at a time.
class RedisConnection {
 public:
  // Connects to host:port within `connect_timeout` (TCP, then the TLS
  // handshake and the certificate check when `tls` is set). Reads and
  // writes then wait at most `io_timeout` for the socket to move.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Open(
      const std::string& host, int port, const RedisTls& tls,
      std::shared_ptr<SSL_CTX> tls_context, absl::Duration connect_timeout,
      absl::Duration io_timeout);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Queues a command; Send writes everything queued by `deadline`.
  void Append(const std::vector<const char*>& args,
              const std::vector<size_t>& lens);
  absl::Status Send(absl::Time deadline);
  // The next reply, whole by `deadline` (the caller frees it with
  // freeReplyObject); a reply past kMaxReplyBytes fails.
  absl::StatusOr<redisReply*> Read(absl::Time deadline);
  // Append, Send and Read of one command, within the I/O timeout.
  absl::StatusOr<redisReply*> Call(const std::vector<std::string>& argv);

  // The largest reply read: what Warden asks for is far smaller (a page of
  // records), and a larger one costs tens of times its size in memory.
  static constexpr size_t kMaxReplyBytes = 16 << 20;

  bool tls() const { return ssl_ != nullptr; }

 private:
  RedisConnection(int fd, absl::Duration io_timeout);
  // Waits until the socket is readable (or writable) or `timeout` passes.
  absl::Status Wait(bool for_write, absl::Time deadline, const char* doing);
  absl::Status Handshake(const std::string& host, const RedisTls& tls,
                         SSL_CTX* context, absl::Time deadline);

  int fd_;
  const absl::Duration io_timeout_;
  std::shared_ptr<SSL_CTX> context_;  // Outlives ssl_.
  SSL* ssl_ = nullptr;
  redisReader* reader_;
  std::string out_;
};

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_REDIS_REDIS_CONNECTION_H_
