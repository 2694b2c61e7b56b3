#ifndef WARDEN_TESTS_SUPPORT_REDIS_SERVER_H_
#define WARDEN_TESTS_SUPPORT_REDIS_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/subprocess.h"

namespace warden::testing {

// A private redis-server for one test binary, on a free loopback port with
// its data in a fresh temp dir. Append-only persistence with fsync on every
// write, so Kill + Restart loses nothing: fault tests can tell a wrong
// allow from a budget Redis forgot. Killed when this object dies, or when
// the test process dies (PR_SET_PDEATHSIG).
class RedisServer {
 public:
  // `extra_args` go on redis-server's command line (e.g. --requirepass).
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(
      std::vector<std::string> extra_args = {});
  // The same, also serving TLS on a second port with a fresh development
  // CA (deploy/dev/make-certs.sh) in cert_dir(): ca.pem, server.pem (for
  // localhost and 127.0.0.1) and redis-client.pem/.key. With
  // `client_certs`, a TLS client must present a certificate of that CA.
  static absl::StatusOr<std::unique_ptr<RedisServer>> StartTls(
      bool client_certs, std::vector<std::string> extra_args = {});
  ~RedisServer();

  int port() const { return port_; }
  bool running() const { return process_ != nullptr; }
  std::string url() const;      // redis://127.0.0.1:PORT
  std::string tls_url() const;  // rediss://127.0.0.1:TLS_PORT
  std::string cert_dir() const { return dir_ + "/certs"; }

  // SIGKILLs the server (as a crash would).
  void Kill();
  // SIGSTOPs it: connections are still accepted by the kernel, nothing
  // answers (a hung host). Resume SIGCONTs it.
  void Pause();
  void Resume();
  // Starts it again on the same port and data.
  absl::Status Restart();

 private:
  RedisServer(int port, std::string dir, std::vector<std::string> extra_args)
      : port_(port), dir_(std::move(dir)), extra_args_(std::move(extra_args)) {}
  absl::Status Launch();

  int port_;
  int tls_port_ = 0;
  int launches_ = 0;
  std::string dir_;
  std::vector<std::string> extra_args_;
  std::unique_ptr<Subprocess> process_;
};

// A Redis Cluster on loopback: `primaries` primaries with one replica each
// (redis-cli --cluster create), a node timeout of 1 s so that a replica
// takes over a killed primary within a few seconds.
class RedisCluster {
 public:
  static absl::StatusOr<std::unique_ptr<RedisCluster>> Start(int primaries);

  // redis://127.0.0.1:P1,redis://127.0.0.1:P2,... (every node).
  std::string urls() const;
  std::vector<std::unique_ptr<RedisServer>>& nodes() { return nodes_; }
  // The node serving `key`'s slot as primary now (CLUSTER SLOTS), or null.
  RedisServer* PrimaryOf(const std::string& key);
  // Waits (at most `timeout`) until every live node reports
  // cluster_state:ok, every slot has a primary and every replica has
  // finished its first sync.
  absl::Status WaitHealthy(absl::Duration timeout);

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

// A port that was free a moment ago on 127.0.0.1.
absl::StatusOr<int> FreeLoopbackPort();

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_REDIS_SERVER_H_
