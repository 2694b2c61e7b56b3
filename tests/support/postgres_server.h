#ifndef WARDEN_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define WARDEN_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/support/subprocess.h"

namespace warden::testing {

// A private PostgreSQL 15 for one test binary: initdb in a fresh temp dir,
// served on a free loopback port with trust auth. As root (CI) it runs as
// the postgres user, since Postgres refuses root. Stopped when this object
// dies; Kill and Restart simulate a crash and recovery.
class PostgresServer {
 public:
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start();
  // A hot standby of `primary`, streaming from it (pg_basebackup -R), on
  // its own port: read-only, `url()` names the same database.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> StartReplicaOf(
      const PostgresServer& primary);
  ~PostgresServer();

  int port() const { return port_; }
  // postgresql://USER@127.0.0.1:PORT/warden (the database is created).
  std::string url(const std::string& user = "postgres") const;

  // Stops the server the way a crash would (pg_ctl -m immediate).
  void Kill();
  // SIGSTOPs the postmaster and every backend: the server is there (the
  // kernel still accepts connections and acknowledges data) but never
  // answers, as a hung host would. Resume SIGCONTs them.
  void Pause();
  void Resume();
  absl::Status Restart();

 private:
  PostgresServer(int port, std::string dir)
      : port_(port), dir_(std::move(dir)) {}
  // A fresh data directory (owned by postgres when root) and a free port.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Unstarted();
  absl::Status Launch();

  int port_;
  std::string dir_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace warden::testing

#endif  // WARDEN_TESTS_SUPPORT_POSTGRES_SERVER_H_
