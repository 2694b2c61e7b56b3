// wardend: the Warden gateway.
//
//   wardend --embedded --bundle deploy/examples/acme.yaml --listen
//   127.0.0.1:7400
//   wardend --config /etc/warden/wardend.yaml [--check-config]
//
// Settings come from defaults, then the --config file, then WARDEN_*
// environment variables, then flags (docs/configuration.md). Prints
// "wardend listening on HOST:PORT" once it serves (after "wardend HTTP/JSON
// API on URL" with --http-listen). SIGTERM or SIGINT
// drains in-flight calls and exits 0.

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "adapters/local/keystore.h"
#include "governance/clock.h"
#include "services/logging.h"
#include "services/server.h"
#include "services/server_config.h"
#include "spdlog/spdlog.h"

namespace {

// The options from every source, or an error naming the source and key.
absl::Status Configure(
    const std::string& config_file,
    const std::map<std::string, std::vector<std::string>>& flags,
    warden::ServerOptions* options) {
  if (!config_file.empty()) {
    std::ifstream in(config_file);
    if (!in) {
      return absl::InvalidArgumentError("--config: cannot read \"" +
                                        config_file + "\"");
    }
    std::stringstream text;
    text << in.rdbuf();
    absl::Status st = warden::ApplyConfigFile(config_file, text.str(), options);
    if (!st.ok()) return st;
  }
  absl::Status st = warden::ApplyEnvironment(options);
  if (!st.ok()) return st;
  st = warden::ApplyFlags(flags, options);
  if (!st.ok()) return st;
  st = warden::ResolveSecrets(options);
  if (!st.ok()) return st;
  return warden::ValidateOptions(*options);
}

}  // namespace

int main(int argc, char** argv) {
#ifdef NDEBUG
  // Debian's Abseil checks every Mutex acquisition for lock-order cycles
  // (a graph update per lock): a debugging aid that costs the hot path a few
  // percent. Debug and sanitizer builds keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  CLI::App app{"wardend: cross-wallet spend governance gateway"};
  std::string config_file;
  bool check_config = false;
  app.add_option("--config", config_file,
                 "YAML file of settings (docs/configuration.md); flags and "
                 "WARDEN_* variables override it")
      ->envname("WARDEN_CONFIG");
  app.add_flag("--check-config", check_config,
               "Validate the settings, print them and exit (0 if valid)");
  // One flag per setting; what was given is applied over the file.
  std::map<std::string, std::string> values;
  std::map<std::string, std::vector<std::string>> lists;
  for (const warden::Setting& s : warden::Settings()) {
    const std::string help =
        s.help + " [" + s.path + (s.env.empty() ? "" : ", " + s.env) + "]";
    if (s.is_flag) {
      app.add_flag(s.flag, help);
    } else if (s.repeated) {
      app.add_option(s.flag, lists[s.flag], help);
    } else {
      app.add_option(s.flag, values[s.flag], help);
    }
  }
  CLI11_PARSE(app, argc, argv);
  std::map<std::string, std::vector<std::string>> given;
  for (const warden::Setting& s : warden::Settings()) {
    if (app.count(s.flag) == 0) continue;
    given[s.flag] = s.is_flag    ? std::vector<std::string>{"true"}
                    : s.repeated ? lists[s.flag]
                                 : std::vector<std::string>{values[s.flag]};
  }

  warden::ServerOptions options;
  if (absl::Status st = Configure(config_file, given, &options); !st.ok()) {
    std::cerr << "wardend: " << st.message() << "\n";
    return 2;
  }
  if (check_config) {
    std::cout << warden::DescribeConfig(options)
              << "wardend: configuration is valid\n";
    return 0;
  }
  // Logs go to stderr; stdout carries only the "listening on" line.
  if (absl::Status st =
          warden::ConfigureLogging(options.log_format, options.log_level);
      !st.ok()) {
    std::cerr << "wardend: " << st.message() << "\n";
    return 2;
  }

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  warden::SystemClock clock;
  absl::StatusOr<std::unique_ptr<warden::WardenServer>> server =
      warden::WardenServer::Start(options, &clock);
  warden::evm::Wipe(&options.adapters.local.password);
  if (!server.ok()) {
    std::cerr << "wardend: " << server.status().message() << "\n";
    return 2;
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  if ((*server)->http_port() > 0) {
    std::cout << "wardend HTTP/JSON API on "
              << (options.tls_cert_path.empty() ? "http" : "https") << "://"
              << options.http_listen.substr(0, options.http_listen.rfind(':'))
              << ":" << (*server)->http_port() << std::endl;
  }
  std::cout << "wardend listening on " << host << ":" << (*server)->port()
            << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}, draining in-flight calls",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  // The drain waits for calls within the grace period; a call that overruns
  // it (a backend or vendor call stuck past its own timeout) is abandoned,
  // not waited for: the process ends at the deadline regardless, as it
  // would under the orchestrator's SIGKILL, and a second signal ends it at
  // once. Nothing is lost: a decision reaches its caller only once durable.
  const absl::Duration bound =
      options.drain_delay + options.shutdown_grace + absl::Seconds(1);
  std::thread([bound, stop_signals] {
    // EINTR is not the end: a tracer (LeakSanitizer's check at exit
    // stops every thread with ptrace) interrupts the wait.
    const absl::Time deadline = absl::Now() + bound;
    bool signalled = false;
    for (;;) {
      const timespec wait = absl::ToTimespec(
          std::max(deadline - absl::Now(), absl::ZeroDuration()));
      if (sigtimedwait(&stop_signals, nullptr, &wait) > 0) {
        signalled = true;
        break;
      }
      if (errno != EINTR) break;
    }
    spdlog::error("{}: exiting without waiting for the calls still running",
                  signalled ? "second stop signal"
                            : absl::StrCat("shutdown took longer than ",
                                           absl::FormatDuration(bound)));
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }).detach();
  (*server)->Shutdown();
  spdlog::info("stopped");
  return 0;
}
