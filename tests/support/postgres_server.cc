#include "tests/support/postgres_server.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/redis_server.h"

namespace warden::testing {
namespace {

constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

// argv prefix that runs a command as the postgres user when we are root.
std::vector<std::string> AsPostgres(std::vector<std::string> argv) {
  if (::geteuid() != 0) return argv;
  std::vector<std::string> out = {"/usr/bin/setpriv", "--reuid=postgres",
                                  "--regid=postgres", "--init-groups", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

// `root` and its children (a postmaster's backends), from /proc.
std::vector<pid_t> ProcessTree(pid_t root) {
  std::vector<pid_t> out = {root};
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    // pid (comm) state ppid ...; comm may hold spaces, so parse after ')'.
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == root) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace

void PostgresServer::Pause() {
  for (pid_t p : ProcessTree(process_->pid())) ::kill(p, SIGSTOP);
}

void PostgresServer::Resume() {
  for (pid_t p : ProcessTree(process_->pid())) ::kill(p, SIGCONT);
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Unstarted() {
  char dir[] = "/tmp/warden-pg-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp");
  if (::geteuid() == 0 &&
      std::system(absl::StrCat("chown postgres: '", dir, "'").c_str()) != 0) {
    return absl::InternalError("chown of the data dir to postgres failed");
  }
  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  return std::unique_ptr<PostgresServer>(new PostgresServer(*port, dir));
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  absl::StatusOr<std::unique_ptr<PostgresServer>> made = Unstarted();
  if (!made.ok()) return made.status();
  std::unique_ptr<PostgresServer> s = *std::move(made);
  const std::string dir = s->dir_;
  const int port = s->port_;
  absl::StatusOr<CommandResult> init =
      RunCommand(AsPostgres({absl::StrCat(kBin, "/initdb"), "-D",
                             absl::StrCat(dir, "/data"), "-U", "postgres",
                             "--auth=trust", "-E", "UTF8", "--no-sync"}),
                 absl::Seconds(120));
  if (!init.ok() || init->exit_code != 0) {
    return absl::InternalError(absl::StrCat(
        "initdb failed: ", init.ok() ? init->err : init.status().ToString()));
  }
  if (absl::Status st = s->Launch(); !st.ok()) return st;
  absl::StatusOr<CommandResult> created =
      RunCommand({"/usr/bin/psql", "-h", "127.0.0.1", "-p", absl::StrCat(port),
                  "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
                  "-c", "CREATE DATABASE warden"},
                 absl::Seconds(60));
  if (!created.ok() || created->exit_code != 0) {
    return absl::InternalError(absl::StrCat(
        "CREATE DATABASE failed: ",
        created.ok() ? created->err : created.status().ToString()));
  }
  return s;
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::StartReplicaOf(
    const PostgresServer& primary) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> made = Unstarted();
  if (!made.ok()) return made.status();
  std::unique_ptr<PostgresServer> s = *std::move(made);
  absl::StatusOr<CommandResult> copied =
      RunCommand(AsPostgres({absl::StrCat(kBin, "/pg_basebackup"), "-h",
                             "127.0.0.1", "-p", absl::StrCat(primary.port()),
                             "-U", "postgres", "-D", s->dir_ + "/data", "-R",
                             "-X", "stream", "-c", "fast", "--no-sync"}),
                 absl::Seconds(120));
  if (!copied.ok() || copied->exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("pg_basebackup failed: ",
                     copied.ok() ? copied->err : copied.status().ToString()));
  }
  if (absl::Status st = s->Launch(); !st.ok()) return st;
  return s;
}

absl::Status PostgresServer::Launch() {
  // stderr carries "ready to accept connections"; exec keeps the pid.
  // fsync=off: the tests kill and stop Postgres's processes, never the
  // machine, and a killed server's committed writes are still in the page
  // cache; what it saves is most of a bulk load's time.
  std::string command;
  for (const std::string& a :
       AsPostgres({absl::StrCat(kBin, "/postgres"), "-D", dir_ + "/data", "-p",
                   absl::StrCat(port_), "-k", dir_, "-c",
                   "listen_addresses=127.0.0.1", "-c", "max_connections=200",
                   "-c", "shared_buffers=64MB", "-c", "fsync=off"})) {
    absl::StrAppend(&command, "'", a, "' ");
  }
  absl::StatusOr<std::unique_ptr<Subprocess>> p =
      Subprocess::Start({"/bin/sh", "-c", "exec " + command + "2>&1"});
  if (!p.ok()) return p.status();
  process_ = *std::move(p);
  absl::StatusOr<std::string> ready =
      // "... connections", or "... read-only connections" for a standby.
      process_->WaitForLine("ready to accept", absl::Seconds(60));
  if (!ready.ok()) {
    return absl::UnavailableError(
        absl::StrCat("postgres did not start: ", ready.status().message()));
  }
  return absl::OkStatus();
}

std::string PostgresServer::url(const std::string& user) const {
  return absl::StrCat("postgresql://", user, "@127.0.0.1:", port_, "/warden");
}

void PostgresServer::Kill() {
  // Immediate shutdown is a crash as far as clients and WAL are concerned
  // (no checkpoint), but unlike a SIGKILL of the postmaster it returns only
  // once every backend is gone, so no query can still succeed afterwards.
  (void)RunCommand(
      AsPostgres({absl::StrCat(kBin, "/pg_ctl"), "-D", dir_ + "/data", "-m",
                  "immediate", "-w", "stop"}),
      absl::Seconds(60));
  process_.reset();
}

absl::Status PostgresServer::Restart() {
  // Backends of the killed postmaster notice its death and exit within
  // moments; until then the data dir is still locked.
  absl::Status st;
  for (int attempt = 0; attempt < 20; ++attempt) {
    st = Launch();
    if (st.ok()) return st;
    absl::SleepFor(absl::Milliseconds(500));
  }
  return st;
}

PostgresServer::~PostgresServer() {
  process_.reset();
  std::system(absl::StrCat("rm -rf '", dir_, "'").c_str());
}

}  // namespace warden::testing
