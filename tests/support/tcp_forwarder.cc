#include "tests/support/tcp_forwarder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace warden::testing {
namespace {

sockaddr_in Loopback(const char* address, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, address, &a.sin_addr);
  return a;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpForwarder>> TcpForwarder::Start(
    int target_port, const std::string& source_address) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in any = Loopback("127.0.0.1", 0);
  socklen_t len = sizeof(any);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0 ||
      listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&any), &len) != 0) {
    if (fd >= 0) close(fd);
    return absl::InternalError(
        absl::StrCat("forwarder listen: ", std::strerror(errno)));
  }
  return std::unique_ptr<TcpForwarder>(
      new TcpForwarder(fd, ntohs(any.sin_port), target_port, source_address));
}

TcpForwarder::TcpForwarder(int listen_fd, int port, int target_port,
                           std::string source)
    : listen_fd_(listen_fd),
      port_(port),
      target_port_(target_port),
      source_(std::move(source)) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

void TcpForwarder::LoseRepliesAfter(const std::string& marker) {
  absl::MutexLock lock(&mu_);
  marker_ = marker;
}

// Polls with a short timeout so that it notices stop_.
void TcpForwarder::Pump(int client, int target) {
  char buffer[16384];
  pollfd fds[2] = {{client, POLLIN, 0}, {target, POLLIN, 0}};
  bool lose_replies = false;
  while (!stop_.load()) {
    if (poll(fds, 2, 100) < 0 && errno != EINTR) break;
    bool closed = false;
    for (int i = 0; i < 2 && !closed; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n <= 0) {
        closed = true;
        break;
      }
      if (i == 0 && !lose_replies) {
        absl::MutexLock lock(&mu_);
        if (!marker_.empty() &&
            std::string_view(buffer, n).find(marker_) != std::string::npos) {
          lose_replies = true;
          marker_.clear();
        }
      }
      if (i == 1 && lose_replies) continue;
      for (ssize_t sent = 0; sent < n;) {
        const ssize_t w = write(fds[1 - i].fd, buffer + sent, n - sent);
        if (w <= 0) {
          closed = true;
          break;
        }
        sent += w;
      }
    }
    if (closed) break;
  }
  close(client);
  close(target);
}

TcpForwarder::~TcpForwarder() {
  stop_ = true;
  acceptor_.join();
  for (std::thread& t : pumps_) t.join();
  close(listen_fd_);
}

void TcpForwarder::AcceptLoop() {
  pollfd listening{listen_fd_, POLLIN, 0};
  while (!stop_.load()) {
    if (poll(&listening, 1, 100) <= 0) continue;
    const int in = accept(listen_fd_, nullptr, nullptr);
    if (in < 0) continue;
    const int out = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from = Loopback(source_.c_str(), 0);
    sockaddr_in to = Loopback("127.0.0.1", target_port_);
    if (out < 0 ||
        bind(out, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0 ||
        connect(out, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
      close(in);
      if (out >= 0) close(out);
      continue;
    }
    pumps_.emplace_back([this, in, out] { Pump(in, out); });
  }
}

}  // namespace warden::testing
