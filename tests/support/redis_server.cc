#include "tests/support/redis_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

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

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(
    std::vector<std::string> extra_args) {
  char dir[] = "/tmp/warden-redis-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp");
  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  std::unique_ptr<RedisServer> server(
      new RedisServer(*port, dir, std::move(extra_args)));
  if (absl::Status st = server->Launch(); !st.ok()) return st;
  return server;
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

std::string RedisServer::tls_url() const {
  return absl::StrCat("rediss://127.0.0.1:", tls_port_);
}

absl::Status RedisServer::Launch() {
  std::vector<std::string> argv = {"/usr/bin/redis-server",
                                   "--port",
                                   absl::StrCat(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "yes",
                                   "--appendfsync",
                                   "always",
                                   "--loglevel",
                                   "notice"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(argv);
  if (!p.ok()) return p.status();
  process_ = *std::move(p);
  absl::StatusOr<std::string> ready =
      process_->WaitForLine("Ready to accept connections", absl::Seconds(20));
  if (!ready.ok()) {
    return absl::UnavailableError(
        absl::StrCat("redis-server did not start: ", ready.status().message()));
  }
  return absl::OkStatus();
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
