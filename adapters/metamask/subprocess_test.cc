#include "adapters/metamask/subprocess.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::metamask {
namespace {

using ::testing::HasSubstr;

ProcessOptions Quick() {
  ProcessOptions o;
  o.timeout = absl::Seconds(20);
  o.kill_grace = absl::Milliseconds(200);
  return o;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/warden_subprocess_",
                      ::getpid(), "_", name);
}

// Whether `pid` is running (not gone, not a zombie nobody reaps).
bool Running(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat) return false;
  std::string line;
  std::getline(stat, line);
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() &&
         line[paren + 2] != 'Z';
}

// Arguments with spaces, quotes and shell characters arrive verbatim.
TEST(RunProcessTest, PassesArgumentsVerbatim) {
  const std::vector<std::string> args = {
      "a b", "c'd", "\"e\"", "$HOME", "; rm -rf /", "", "tab\there"};
  std::vector<std::string> argv = {"printf", "[%s]\\n"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<ProcessResult> r = RunProcess(argv, Quick());
  ASSERT_TRUE(r.ok()) << r.status();
  std::string expected;
  for (const std::string& a : args) absl::StrAppend(&expected, "[", a, "]\n");
  EXPECT_EQ(r->out, expected);
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->term_signal, 0);
}

// Over a megabyte on each of stdout and stderr is captured whole, with no
// deadlock between the two pipes.
TEST(RunProcessTest, CapturesLargeOutputOnBothStreams) {
  absl::StatusOr<ProcessResult> r = RunProcess(
      {"sh", "-c",
       "i=0; while [ $i -lt 4 ]; do head -c 700000 /dev/zero | tr '\\0' a; "
       "head -c 600000 /dev/zero | tr '\\0' b >&2; i=$((i+1)); done"},
      Quick());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, std::string(2800000, 'a'));
  EXPECT_EQ(r->err, std::string(2400000, 'b'));
}

// Exit codes and killing signals are reported as they are.
TEST(RunProcessTest, ReportsExitCodeAndSignal) {
  absl::StatusOr<ProcessResult> exited =
      RunProcess({"sh", "-c", "echo out; echo err >&2; exit 7"}, Quick());
  ASSERT_TRUE(exited.ok()) << exited.status();
  EXPECT_EQ(exited->exit_code, 7);
  EXPECT_EQ(exited->term_signal, 0);
  EXPECT_EQ(exited->out, "out\n");
  EXPECT_EQ(exited->err, "err\n");

  absl::StatusOr<ProcessResult> killed =
      RunProcess({"sh", "-c", "printf partial; kill -9 $$"}, Quick());
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(killed->term_signal, SIGKILL);
  EXPECT_EQ(killed->exit_code, -1);
  EXPECT_EQ(killed->out, "partial");
}

// A program that is not there could not start: nothing ran.
TEST(RunProcessTest, MissingProgramCouldNotStart) {
  absl::StatusOr<ProcessResult> r =
      RunProcess({"/nonexistent/warden-no-such-program", "x"}, Quick());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("could not start"));
  EXPECT_TRUE(NeverStarted(r.status()));

  absl::StatusOr<ProcessResult> by_name =
      RunProcess({"warden-no-such-program-in-path"}, Quick());
  EXPECT_EQ(by_name.status().code(), absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(RunProcess({}, Quick()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Overrides are set on top of the inherited environment.
TEST(RunProcessTest, AppliesEnvironmentOverrides) {
  ProcessOptions o = Quick();
  o.env["WARDEN_TEST_VAR"] = "with space";
  o.env["HOME"] = "/elsewhere";
  absl::StatusOr<ProcessResult> r = RunProcess(
      {"sh", "-c", "echo \"$WARDEN_TEST_VAR|$HOME|${PATH:+path}\""}, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "with space|/elsewhere|path\n");
}

// A timeout kills the whole process group, grandchildren included, and
// says the program may have acted.
TEST(RunProcessTest, TimeoutKillsTheProcessGroup) {
  const std::string pid_file = TempPath("grandchild");
  ProcessOptions o = Quick();
  o.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<ProcessResult> r = RunProcess(
      {"sh", "-c", absl::StrCat("sleep 30 & echo $! > ", pid_file, "; wait")},
      o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(NeverStarted(r.status()));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  std::ifstream in(pid_file);
  pid_t grandchild = 0;
  in >> grandchild;
  ASSERT_GT(grandchild, 0);
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(Running(grandchild));
  std::remove(pid_file.c_str());
}

// A process group that ignores SIGTERM is killed with SIGKILL after the
// grace period.
TEST(RunProcessTest, TimeoutEscalatesToSigkill) {
  ProcessOptions o = Quick();
  o.timeout = absl::Milliseconds(200);
  o.kill_grace = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<ProcessResult> r =
      RunProcess({"sh", "-c", "trap '' TERM; sleep 30"}, o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(450));
  EXPECT_LT(took, absl::Seconds(5));
}

// A child that closes its streams but keeps running still times out.
TEST(RunProcessTest, TimesOutWhenStreamsCloseEarly) {
  ProcessOptions o = Quick();
  o.timeout = absl::Milliseconds(300);
  absl::StatusOr<ProcessResult> r =
      RunProcess({"sh", "-c", "exec >&- 2>&-; sleep 30"}, o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
}

// A process that exits while a background child keeps its streams open
// is not waited on until the timeout: its output and exit code come back
// at once, and the child is killed.
TEST(RunProcessTest, ExitWithBackgroundChildHoldingThePipes) {
  const std::string pid_file = TempPath("holder");
  const absl::Time start = absl::Now();
  absl::StatusOr<ProcessResult> r = RunProcess(
      {"sh", "-c",
       absl::StrCat("sleep 30 & echo $! > ", pid_file, "; echo done; exit 3")},
      Quick());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "done\n");
  std::ifstream in(pid_file);
  pid_t holder = 0;
  in >> holder;
  ASSERT_GT(holder, 0);
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(Running(holder));
  std::remove(pid_file.c_str());
}

// When the child cannot be reaped (SIGCHLD ignored, so the kernel reaps
// it), the run is an error that says it ran, never exit code 0.
TEST(RunProcessTest, UnreapableChildIsAnErrorNotExitZero) {
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ASSERT_EQ(::sigaction(SIGCHLD, &ignore, &old), 0);
  absl::StatusOr<ProcessResult> r = RunProcess({"sh", "-c", "exit 7"}, Quick());
  ::sigaction(SIGCHLD, &old, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_FALSE(NeverStarted(r.status()));
}

// Too much output ends the run, with an error that says it ran.
TEST(RunProcessTest, OutputLimit) {
  ProcessOptions o = Quick();
  o.max_output_bytes = 100000;
  absl::StatusOr<ProcessResult> r =
      RunProcess({"sh", "-c", "yes | head -c 10000000; sleep 30"}, o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(NeverStarted(r.status()));
}

// Concurrent runs do not hold each other's pipes open: a quick command
// finishes at once while a slow one runs on another thread, and no zombie
// is left behind.
TEST(RunProcessTest, ConcurrentRunsAreIndependent) {
  std::thread slow([] {
    absl::StatusOr<ProcessResult> r =
        RunProcess({"sh", "-c", "sleep 2"}, Quick());
    EXPECT_TRUE(r.ok()) << r.status();
  });
  absl::SleepFor(absl::Milliseconds(100));
  std::vector<std::thread> quick;
  for (int i = 0; i < 8; ++i) {
    quick.emplace_back([i] {
      const absl::Time start = absl::Now();
      absl::StatusOr<ProcessResult> r =
          RunProcess({"echo", absl::StrCat("run ", i)}, Quick());
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->out, absl::StrCat("run ", i, "\n"));
      EXPECT_LT(absl::Now() - start, absl::Seconds(1));
    });
  }
  for (std::thread& t : quick) t.join();
  slow.join();
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

}  // namespace
}  // namespace warden::metamask
