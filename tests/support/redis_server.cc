#include "tests/support/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace warden::testing {

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return absl::InternalError("bind");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

bool PortFree(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool free =
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return free;
}

// A cluster node listens on its port and on port + 10000 (the cluster
// bus): both free, below the ephemeral range.
absl::StatusOr<int> FreeClusterPort() {
  static std::atomic<int> next{20000 + static_cast<int>(::getpid() % 5000)};
  for (int i = 0; i < 5000; ++i) {
    const int port = 20000 + (next++ - 20000) % 10000;
    if (PortFree(port) && PortFree(port + 10000)) return port;
  }
  return absl::InternalError("no free port pair for a cluster node");
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(
    std::vector<std::string> extra_args) {
  const bool cluster = std::find(extra_args.begin(), extra_args.end(),
                                 "--cluster-enabled") != extra_args.end();
  // A port found free can be taken by another test before Redis binds it:
  // then another port.
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    char dir[] = "/tmp/warden-redis-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp");
    absl::StatusOr<int> port = cluster ? FreeClusterPort() : FreeLoopbackPort();
    if (!port.ok()) return port.status();
    std::unique_ptr<RedisServer> server(
        new RedisServer(*port, dir, extra_args));
    last = server->Launch();
    if (last.ok()) return server;
    if (!absl::IsAlreadyExists(last)) return last;
  }
  return last;
}

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::StartTls(
    bool client_certs, std::vector<std::string> extra_args) {
  char dir[] = "/tmp/warden-redis-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp");
  absl::StatusOr<int> port = FreeLoopbackPort();
  absl::StatusOr<int> tls_port = FreeLoopbackPort();
  if (!port.ok() || !tls_port.ok()) return absl::InternalError("no port");
  const std::string certs = absl::StrCat(dir, "/certs");
  absl::StatusOr<CommandResult> made = RunCommand(
      {"/bin/bash", WARDEN_MAKE_CERTS, certs, "redis-test"}, absl::Seconds(60));
  if (!made.ok() || made->exit_code != 0) {
    return absl::InternalError(absl::StrCat(
        "make-certs.sh: ", made.ok() ? made->err : made.status().ToString()));
  }
  extra_args.insert(
      extra_args.begin(),
      {"--tls-port", absl::StrCat(*tls_port), "--tls-cert-file",
       certs + "/server.pem", "--tls-key-file", certs + "/server.key",
       "--tls-ca-cert-file", certs + "/ca.pem", "--tls-auth-clients",
       client_certs ? "yes" : "no"});
  std::unique_ptr<RedisServer> server(
      new RedisServer(*port, dir, std::move(extra_args)));
  server->tls_port_ = *tls_port;
  if (absl::Status st = server->Launch(); !st.ok()) return st;
  return server;
}

absl::StatusOr<std::unique_ptr<RedisCluster>> RedisCluster::Start(
    int primaries) {
  auto cluster = std::make_unique<RedisCluster>();
  std::vector<std::string> create = {"/usr/bin/redis-cli", "--cluster",
                                     "create"};
  for (int i = 0; i < 2 * primaries; ++i) {
    absl::StatusOr<std::unique_ptr<RedisServer>> node =
        RedisServer::Start({"--cluster-enabled", "yes", "--cluster-config-file",
                            "nodes.conf", "--cluster-node-timeout", "1000",
                            // The other shards keep serving while one has
                            // no primary (as docs/operations.md advises).
                            "--cluster-require-full-coverage", "no",
                            // A replica takes over however long ago it last
                            // heard its primary: under FailoverTest's load on
                            // two cores, Redis 7 otherwise refused for good
                            // ("Disconnected from master for longer than
                            // allowed").
                            "--cluster-replica-validity-factor", "0"});
    if (!node.ok()) return node.status();
    create.push_back(absl::StrCat("127.0.0.1:", (*node)->port()));
    cluster->nodes_.push_back(*std::move(node));
  }
  create.insert(create.end(), {"--cluster-replicas", "1", "--cluster-yes"});
  absl::StatusOr<CommandResult> made = RunCommand(create, absl::Seconds(60));
  if (!made.ok() || made->exit_code != 0) {
    return absl::InternalError(absl::StrCat(
        "redis-cli --cluster create: ",
        made.ok() ? made->out + made->err : made.status().ToString()));
  }
  if (absl::Status st = cluster->WaitHealthy(absl::Seconds(60)); !st.ok()) {
    return st;
  }
  return cluster;
}

std::string RedisCluster::urls() const {
  std::vector<std::string> out;
  for (const std::unique_ptr<RedisServer>& n : nodes_) out.push_back(n->url());
  return absl::StrJoin(out, ",");
}

namespace {
// `redis-cli -p PORT ARGS...`'s output, or "" when it fails.
std::string Cli(int port, std::vector<std::string> args) {
  args.insert(args.begin(), {"/usr/bin/redis-cli", "-p", absl::StrCat(port)});
  absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(10));
  return r.ok() && r->exit_code == 0 ? r->out : "";
}
}  // namespace

RedisServer* RedisCluster::PrimaryOf(const std::string& key) {
  for (const std::unique_ptr<RedisServer>& asked : nodes_) {
    if (!asked->running()) continue;
    int slot = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(
                              Cli(asked->port(), {"cluster", "keyslot", key})),
                          &slot)) {
      continue;
    }
    // <id> <ip:port@cport> <flags> <primary> <ping> <pong> <epoch> <state>
    // <slot ranges>...
    for (absl::string_view line :
         absl::StrSplit(Cli(asked->port(), {"cluster", "nodes"}), '\n')) {
      const std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
      if (f.size() < 9 || !absl::StrContains(f[2], "master") ||
          absl::StrContains(f[2], "fail")) {
        continue;
      }
      for (size_t i = 8; i < f.size(); ++i) {
        const std::vector<absl::string_view> range = absl::StrSplit(f[i], '-');
        int from = 0, to = 0;
        if (!absl::SimpleAtoi(range[0], &from)) continue;
        to = from;
        if (range.size() == 2 && !absl::SimpleAtoi(range[1], &to)) continue;
        if (slot < from || slot > to) continue;
        const absl::string_view address = f[1].substr(0, f[1].find('@'));
        for (const std::unique_ptr<RedisServer>& n : nodes_) {
          if (address == absl::StrCat("127.0.0.1:", n->port())) return n.get();
        }
      }
    }
    return nullptr;
  }
  return nullptr;
}

absl::Status RedisCluster::WaitHealthy(absl::Duration timeout) {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    bool healthy = true;
    for (const std::unique_ptr<RedisServer>& n : nodes_) {
      if (!n->running()) continue;
      const std::string info = Cli(n->port(), {"cluster", "info"});
      healthy = healthy && absl::StrContains(info, "cluster_state:ok") &&
                absl::StrContains(info, "cluster_slots_ok:16384");
      // A replica that has not finished its first sync holds nothing: were
      // its primary killed, it would take over empty.
      const std::string replication = Cli(n->port(), {"info", "replication"});
      healthy =
          healthy && (absl::StrContains(replication, "role:master") ||
                      absl::StrContains(replication, "master_link_status:up"));
    }
    if (healthy) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError("the Redis cluster did not settle");
}

std::string RedisServer::tls_url() const {
  return absl::StrCat("rediss://127.0.0.1:", tls_port_);
}

absl::Status RedisServer::Launch() {
  // A log per start, so that a restart waits for its own "Ready" line.
  const std::string log = absl::StrCat(dir_, "/redis-", ++launches_, ".log");
  std::vector<std::string> argv = {
      "/usr/bin/redis-server", "--port", absl::StrCat(port_), "--bind",
      "127.0.0.1", "--dir", dir_, "--save", "", "--appendonly", "yes",
      "--appendfsync", "always", "--loglevel", "notice",
      // A file, not stdout: nobody reads stdout
      // once it started, and a full pipe would
      // hang a server that logs a lot (a replica
      // retrying its primary).
      "--logfile", log,
      // A replica's first sync starts at once, not after Redis 7's 5 s wait
      // for more replicas to join it.
      "--repl-diskless-sync-delay", "0"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(argv);
  if (!p.ok()) return p.status();
  process_ = *std::move(p);
  for (int i = 0; i < 200; ++i) {  // Bounded: 20 s at most.
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    if (absl::StrContains(text, "Ready to accept connections")) {
      return absl::OkStatus();
    }
    if (absl::StrContains(text, "bind: Address already in use")) {
      return absl::AlreadyExistsError(
          absl::StrCat("redis-server's port ", port_, " is taken"));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::UnavailableError(
      absl::StrCat("redis-server did not start within 20 s; see ", log));
}

std::string RedisServer::url() const {
  return absl::StrCat("redis://127.0.0.1:", port_);
}

void RedisServer::Kill() { process_.reset(); }

void RedisServer::Pause() { process_->Signal(SIGSTOP); }

void RedisServer::Resume() { process_->Signal(SIGCONT); }

absl::Status RedisServer::Restart() { return Launch(); }

RedisServer::~RedisServer() {
  process_.reset();
  std::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
}

}  // namespace warden::testing
