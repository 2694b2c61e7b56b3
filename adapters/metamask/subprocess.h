#ifndef WARDEN_ADAPTERS_METAMASK_SUBPROCESS_H_
#define WARDEN_ADAPTERS_METAMASK_SUBPROCESS_H_

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::metamask {

struct ProcessOptions {
  // Set on top of the inherited environment (an empty value sets the
  // variable to ""; it does not unset it).
  std::map<std::string, std::string> env;
  // From the start to the end of the process, output included.
  absl::Duration timeout = absl::Seconds(60);
  // After the timeout the process group gets SIGTERM, then SIGKILL once
  // this has passed.
  absl::Duration kill_grace = absl::Seconds(2);
  // Per stream; more ends the run like a timeout does.
  size_t max_output_bytes = 64 << 20;
};

// How a process that ran ended.
struct ProcessResult {
  int exit_code = -1;   // When it exited; -1 when a signal killed it.
  int term_signal = 0;  // The signal that killed it; 0 when it exited.
  std::string out;      // All of stdout.
  std::string err;      // All of stderr.
};

// Runs `argv` (argv[0] is a path, or a name looked up in PATH) directly,
// with no shell, in a process group of its own, stdin from /dev/null, and
// captures stdout and stderr whole. Always reaps the process.
//
// Errors say whether the program may have done anything:
//   INVALID_ARGUMENT     empty argv: nothing ran;
//   FAILED_PRECONDITION  the program could not be started (missing, not
//                        executable): nothing ran;
//   UNAVAILABLE          no resources to start it (pipes, processes):
//                        nothing ran;
//   DEADLINE_EXCEEDED    it ran past `timeout` and its process group was
//                        killed: it may have acted;
//   RESOURCE_EXHAUSTED   it wrote more than `max_output_bytes` and its
//                        process group was killed: it may have acted;
//   INTERNAL             it ran, but how it ended could not be learnt
//                        (waitpid failed, e.g. ECHILD when SIGCHLD is
//                        ignored): it may have acted.
// A process that ran and ended, however it ended, is OK with the result.
// When it ends while processes it started still hold its stdout or stderr
// open, their output is read for 200 ms more, then its process group is
// killed and the result (with the process's own exit status) returned.
// Thread-safe: pipes are close-on-exec, so one call's child never holds
// another call's pipe open.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const ProcessOptions& options);

// Whether an error from RunProcess means the program never ran.
bool NeverStarted(const absl::Status& status);

}  // namespace warden::metamask

#endif  // WARDEN_ADAPTERS_METAMASK_SUBPROCESS_H_
