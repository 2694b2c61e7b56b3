#ifndef WARDEN_TESTS_SUPPORT_SUBPROCESS_H_
#define WARDEN_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden::testing {

// A child process for tests that run real binaries (wardend, wardenctl,
// redis-server, ...). Its stdout is captured line by line; stderr passes
// through to the test's stderr. The destructor SIGKILLs a child still
// running, so a failing test never leaks processes.
class Subprocess {
 public:
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv);
  ~Subprocess();

  // Reads stdout until a line containing `needle` arrives; returns it.
  // DEADLINE_EXCEEDED after `timeout`, FAILED_PRECONDITION if stdout closes.
  absl::StatusOr<std::string> WaitForLine(absl::string_view needle,
                                          absl::Duration timeout);
  void Signal(int signal_number);
  // Waits for exit and returns the raw wait status. On timeout the child is
  // killed and DEADLINE_EXCEEDED returned.
  absl::StatusOr<int> Wait(absl::Duration timeout);
  pid_t pid() const { return pid_; }

 private:
  Subprocess(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}

  pid_t pid_;
  int stdout_fd_;
  bool reaped_ = false;
  std::string buffer_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal.
  std::string out;
  std::string err;
};

// Runs argv to completion, capturing stdout and stderr. Kills it after
// `timeout` and returns DEADLINE_EXCEEDED.
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout);

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_SUBPROCESS_H_
