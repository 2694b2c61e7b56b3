#include "adapters/metamask/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace warden::metamask {
namespace {

// Closes the descriptors it holds when it goes out of scope.
class Fds {
 public:
  Fds() = default;
  Fds(const Fds&) = delete;
  Fds& operator=(const Fds&) = delete;
  ~Fds() {
    for (int& fd : fds_) Close(fd);
  }
  int& operator[](size_t i) { return fds_[i]; }
  static void Close(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

 private:
  int fds_[4] = {-1, -1, -1, -1};  // out read, out write, err read, err write.
};

// After the process ends, how long output from what it started is still
// read before the group is killed.
constexpr absl::Duration kDrainAfterExit = absl::Milliseconds(200);
// While it runs, how often the read loop checks whether it has ended.
constexpr int kExitCheckMillis = 20;

int MillisLeft(absl::Time deadline) {
  const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1 << 30));
}

// Whether the child has ended, without reaping it: while it is unreaped
// its pid (and so its process group id) cannot be reused, so signalling
// the group stays safe.
bool Ended(pid_t pid) {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info,
                  WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno != EINTR) return true;  // Gone already (ECHILD).
  }
  return info.si_pid != 0;
}

// Whether the child is still ours to reap (running, or a zombie): only
// then is its process group id safe to signal.
bool Unreaped(pid_t pid) {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info,
                  WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

// Signals the child's process group, unless the child was reaped elsewhere
// (its id may belong to another process by now).
void KillGroup(pid_t pid, int sig) {
  if (Unreaped(pid)) ::kill(-pid, sig);
}

// Waits until the child ended or `deadline`; true if it ended.
bool WaitEnded(pid_t pid, absl::Time deadline) {
  absl::Duration nap = absl::Milliseconds(1);
  while (!Ended(pid)) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(std::min(nap, deadline - absl::Now()));
    nap = std::min(nap * 2, absl::Milliseconds(20));
  }
  return true;
}

// Reaps the child; its wait status, or the errno of a failed waitpid
// (ECHILD when someone else reaped it, say with SIGCHLD ignored): then how
// it ended is not known, and must not read as exit code 0.
absl::StatusOr<int> Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      const int err = errno;
      // INTERNAL, not one of NeverStarted's codes: it ran, and may have
      // acted.
      return absl::InternalError(
          absl::StrCat("waitpid: ", std::strerror(err),
                       "; how the process ended is not known"));
    }
  }
  return status;
}

// The inherited environment with `overrides` applied, as "NAME=value".
std::vector<std::string> Environment(
    const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (!overrides.contains(name)) out.push_back(entry);
  }
  for (const auto& [name, value] : overrides) {
    out.push_back(absl::StrCat(name, "=", value));
  }
  return out;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// posix_spawn's own objects, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

absl::Status NotStarted(const std::string& program, int err) {
  const std::string what =
      absl::StrCat("could not start ", program, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case EACCES:
    case ENOEXEC:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case EISDIR:
    case EPERM:
      return absl::FailedPreconditionError(what);
    default:
      return absl::UnavailableError(what);
  }
}

}  // namespace

bool NeverStarted(const absl::Status& status) {
  return absl::IsInvalidArgument(status) ||
         absl::IsFailedPrecondition(status) || absl::IsUnavailable(status);
}

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const ProcessOptions& options) {
  if (argv.empty() || argv[0].empty()) {
    return absl::InvalidArgumentError("argv: no program to run");
  }
  const std::string& program = argv[0];
  Fds fds;
  int out_pipe[2], err_pipe[2];
  // Close-on-exec, so that no other thread's child inherits our write ends
  // (which would keep our reads from ever seeing end of file).
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return NotStarted(program, errno);
  fds[0] = out_pipe[0];
  fds[1] = out_pipe[1];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return NotStarted(program, errno);
  fds[2] = err_pipe[0];
  fds[3] = err_pipe[1];

  SpawnSetup setup;
  // dup2 clears close-on-exec on the child's copies.
  posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&setup.actions, fds[3], STDERR_FILENO);
  // A process group of its own, so a timeout kills what it started too;
  // default signal handling and no blocked signals, whatever ours are.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setpgroup(&setup.attr, 0);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setsigdefault(&setup.attr, &all);
  posix_spawnattr_setflags(&setup.attr, POSIX_SPAWN_SETPGROUP |
                                            POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args = argv;
  std::vector<std::string> env = Environment(options.env);
  std::vector<char*> arg_ptrs = Pointers(args);
  std::vector<char*> env_ptrs = Pointers(env);
  pid_t pid = -1;
  // glibc's posix_spawnp reports a failed exec as its result (and reaps
  // that child), so a missing program is told apart from one that ran.
  const int spawned =
      ::posix_spawnp(&pid, program.c_str(), &setup.actions, &setup.attr,
                     arg_ptrs.data(), env_ptrs.data());
  if (spawned != 0) return NotStarted(program, spawned);
  Fds::Close(fds[1]);
  Fds::Close(fds[3]);

  const absl::Time deadline = absl::Now() + options.timeout;
  ProcessResult result;
  std::string* sinks[2] = {&result.out, &result.err};
  pollfd polls[2] = {{fds[0], POLLIN, 0}, {fds[2], POLLIN, 0}};
  int open = 2;
  bool timed_out = false;
  bool overflowed = false;
  // Set once the process itself has ended: what it started may still hold
  // the pipes open, so they are drained until then and no longer.
  std::optional<absl::Time> drain_until;
  while (open > 0 && !overflowed) {
    if (!drain_until.has_value() && Ended(pid)) {
      drain_until = std::min(deadline, absl::Now() + kDrainAfterExit);
    }
    const absl::Time until = drain_until.value_or(deadline);
    const int left_ms = MillisLeft(until);
    if (left_ms == 0) {
      // Past the drain, the process has ended: not a timeout.
      timed_out = !drain_until.has_value();
      break;
    }
    // Until the process ends, wake now and then to notice that it has.
    const int wait_ms =
        drain_until.has_value() ? left_ms : std::min(left_ms, kExitCheckMillis);
    const int ready = ::poll(polls, 2, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      timed_out = true;  // Cannot read on: end it like a timeout.
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (polls[i].fd < 0 || polls[i].revents == 0) continue;
      char chunk[1 << 16];
      const ssize_t n = ::read(polls[i].fd, chunk, sizeof(chunk));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        Fds::Close(fds[i * 2]);
        polls[i].fd = -1;
        --open;
        continue;
      }
      sinks[i]->append(chunk, static_cast<size_t>(n));
      if (sinks[i]->size() > options.max_output_bytes) overflowed = true;
    }
  }
  const bool streams_held = open > 0;
  Fds::Close(fds[0]);
  Fds::Close(fds[2]);
  // The streams are closed (or given up on); the process may still be
  // running.
  if (!timed_out && !overflowed && !WaitEnded(pid, deadline)) {
    timed_out = true;
  }
  if (timed_out || overflowed) {
    KillGroup(pid, SIGTERM);
    WaitEnded(pid, absl::Now() + options.kill_grace);
    // Whatever is left of the group (the leader, or what it started).
    KillGroup(pid, SIGKILL);
    // Reaped on every path; how it ended matters no more.
    (void)Reap(pid);
    if (overflowed) {
      return absl::ResourceExhaustedError(
          absl::StrCat(program, " wrote more than ", options.max_output_bytes,
                       " bytes to one stream and was killed"));
    }
    return absl::DeadlineExceededError(
        absl::StrCat(program, " did not finish in ",
                     absl::FormatDuration(options.timeout), " and was killed"));
  }
  // The process ended, but what it started kept its streams open: end
  // those too (the unreaped leader keeps the group id from being reused).
  if (streams_held) KillGroup(pid, SIGKILL);
  absl::StatusOr<int> status = Reap(pid);
  if (!status.ok()) {
    return absl::Status(status.status().code(),
                        absl::StrCat(program, ": ", status.status().message()));
  }
  if (WIFSIGNALED(*status)) {
    result.term_signal = WTERMSIG(*status);
  } else {
    result.exit_code = WEXITSTATUS(*status);
  }
  return result;
}

}  // namespace warden::metamask
