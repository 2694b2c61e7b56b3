#ifndef WARDEN_TESTS_SUPPORT_TCP_FORWARDER_H_
#define WARDEN_TESTS_SUPPORT_TCP_FORWARDER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace warden::testing {

// Forwards loopback TCP connections to `target_port` on 127.0.0.1 from
// another source address (e.g. 127.0.0.2), so that a test can be two
// different callers to a server that tells callers apart by address. Every
// connection is pumped by its own thread; all stop when this object dies.
class TcpForwarder {
 public:
  static absl::StatusOr<std::unique_ptr<TcpForwarder>> Start(
      int target_port, const std::string& source_address);
  ~TcpForwarder();

  // The loopback port to connect to instead of the target's.
  int port() const { return port_; }

  // Once: the next connection whose client sends `marker` (e.g. a
  // Postgres "COMMIT") has every later reply from the target dropped, as if
  // the network lost the answer to a request the target did act on.
  void LoseRepliesAfter(const std::string& marker);

 private:
  TcpForwarder(int listen_fd, int port, int target_port, std::string source);
  void AcceptLoop();
  // Copies bytes both ways until either side closes or stop_ is set.
  void Pump(int client, int target);

  const int listen_fd_;
  const int port_;
  const int target_port_;
  const std::string source_;
  std::atomic<bool> stop_{false};
  absl::Mutex mu_;
  std::string marker_ ABSL_GUARDED_BY(mu_);  // Armed when not empty.
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // Touched by the acceptor only.
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_TCP_FORWARDER_H_
