#ifndef WARDEN_SERVICES_SERVER_H_
#define WARDEN_SERVICES_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "adapters/cdp/cdp_adapter.h"
#include "adapters/metamask/metamask_adapter.h"
#include "adapters/privy/privy_adapter.h"
#include "adapters/wallet_adapter.h"
#include "governance/audit_log.h"
#include "governance/budget_store.h"
#include "governance/clock.h"
#include "governance/config_store.h"
#include "governance/credentials.h"
#include "governance/engine.h"
#include "governance/freeze_store.h"
#include "governance/operation.h"
#include "grpcpp/grpcpp.h"
#include "services/access.h"
#include "services/admin_service.h"
#include "services/audit_service.h"
#include "services/authorization_service.h"
#include "services/metrics.h"
#include "services/notification_sinks.h"
#include "services/submitter.h"

namespace warden {

// A connection that checks the Postgres schema (defined in server.cc).
struct PostgresProbe;

// The largest request message accepted: a bundle at its size limit, with
// room for the rest of the request. Larger ones are RESOURCE_EXHAUSTED.
inline constexpr size_t kMaxRequestBytes = (1 << 20) + (64 << 10);

// The wallet adapters wardend runs, each with its own options; a vendor's
// secrets are read from their files (or environment) by ResolveSecrets.
struct AdapterServerOptions {
  // The local wallet (vendor "local", on when keystore_dir is set): the
  // keystore, its password (WARDEN_KEYSTORE_PASSWORD or password_file,
  // never the bundle) and each chain's JSON-RPC endpoint (CHAIN=URL).
  struct Local {
    std::string keystore_dir;
    std::string password_file;
    std::string password;
    std::vector<std::string> chain_rpcs;
    // More chain_rpcs, one per line.
    std::string chain_rpc_file;
    absl::Duration rpc_timeout = absl::Seconds(10);
  } local;
  // Live prices: the signed price file (bundle feeds with source: file)
  // and how long one reading of a source answers decisions.
  std::string price_file;
  absl::Duration price_refresh = absl::Seconds(5);
  // The MetaMask Agent Wallet, on when mm_path is set (chain ids and
  // retries are filled in at start).
  MetaMaskOptions metamask{.mm_path = ""};
  // Coinbase CDP, on when api.api_key_id is set; the secrets from their
  // files or WARDEN_CDP_API_KEY_SECRET / WARDEN_CDP_WALLET_SECRET.
  struct Cdp {
    CdpOptions api;
    std::string api_key_secret_file;
    std::string wallet_secret_file;
  } cdp;
  // Privy, on when api.app_id is set; the secrets from their files or
  // WARDEN_PRIVY_APP_SECRET / WARDEN_PRIVY_AUTHORIZATION_KEY.
  struct Privy {
    PrivyOptions api;
    std::string app_secret_file;
    std::string authorization_key_file;
    // CHAIN=CONTRACT: token contracts whose transfers reconciliation lists
    // at Privy (which lists one asset per query); the native coin always.
    std::vector<std::string> list_tokens;
  } privy;
  // Each HTTP request to a vendor's API (one attempt).
  absl::Duration vendor_timeout = absl::Seconds(10);
};

struct ServerOptions {
  // host:port to serve gRPC on; port 0 picks a free one.
  std::string listen = "127.0.0.1:7400";
  // In-memory budgets and a JSONL audit file; no Redis or Postgres.
  bool embedded = false;
  // Budgets in Redis, shared by every replica: redis://HOST:PORT[/DB].
  std::string redis_url;
  size_t redis_pool_size = 4;
  absl::Duration redis_connect_timeout = absl::Milliseconds(500);
  absl::Duration redis_command_timeout = absl::Seconds(1);
  // TLS to Redis (a rediss:// URL): the CA, a client certificate and key
  // for mutual TLS, and the name the server's certificate must carry.
  // --redis names the seed nodes of a Redis Cluster (comma-separated).
  bool redis_cluster = false;
  std::string redis_tls_ca_path;
  std::string redis_tls_cert_path;
  std::string redis_tls_key_path;
  std::string redis_tls_server_name;
  // A streaming replica of postgres_url for finance queries (audit query,
  // spend summary, reports); empty: the primary.
  std::string postgres_read_url;
  // Configuration and the audit trail in Postgres (needs redis_url):
  // postgresql://USER@HOST:PORT/DB.
  std::string postgres_url;
  // Ed25519 private key (PEM) that signs audit checkpoints; optional.
  std::string audit_signing_key_path;
  // Longest time a replica serves an older bundle when a NOTIFY is missed.
  absl::Duration config_refresh_interval = absl::Seconds(5);
  // Bounds on every Postgres connection and statement (pg::WithTimeouts).
  absl::Duration postgres_connect_timeout = absl::Seconds(5);
  absl::Duration postgres_statement_timeout = absl::Seconds(30);
  // Policy bundle applied at start (required unless Postgres holds config).
  std::string bundle_path;
  // The audit trail when Postgres is not used (a JSONL file).
  std::string audit_path = "warden-audit.jsonl";
  // How often expired holds are swept.
  absl::Duration sweep_interval = absl::Seconds(1);
  // Threads running engine calls, and how many calls may wait for one.
  size_t worker_threads = 64;
  size_t max_queued_calls = 10000;
  // How long Shutdown waits for in-flight calls before cancelling them.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // TLS: the server's certificate chain and key (PEM). With a client CA,
  // every client must present a certificate it signed (mTLS); its SAN URI
  // warden://<org>/<kind>/<id>[?roles=a+b] is then the caller's principal.
  std::string tls_cert_path;
  std::string tls_key_path;
  std::string tls_client_ca_path;
  // Serve plaintext on a non-loopback address anyway (logs a warning).
  bool insecure_plaintext = false;
  // Every call must carry a credential (a token or a client certificate). Off
  // (--insecure-no-auth) only when listening on loopback.
  bool auth_required = true;
  // Without Postgres: where the bootstrap admin token(s) minted at start
  // are written (mode 0600) instead of stderr.
  std::string bootstrap_token_file;
  // Notifications (notify, delay and approval events) go to the log and,
  // when webhook.url is set, to that webhook.
  WebhookOptions webhook;
  // Where the webhook's HMAC key is read from (ResolveSecrets).
  std::string webhook_secret_file;
  // json or slack (WebhookOptions::slack).
  std::string webhook_format = "json";
  AdapterServerOptions adapters;
  // Periodic reconciliation (needs Postgres): every interval (zero: off),
  // the vendors' transactions of the last `lookback`.
  absl::Duration reconcile_interval = absl::ZeroDuration();
  absl::Duration reconcile_lookback = absl::Hours(24);
  // How many open operations one sweep polls.
  size_t operations_per_sweep = 100;
  // With Postgres: the audit trail's group commit.
  size_t audit_batch_max_rows = 512;
  size_t audit_max_queued = 20000;
  // On shutdown: how long health reports NOT_SERVING before new calls are
  // refused, so that load balancers stop sending first.
  absl::Duration drain_delay = absl::Seconds(2);
  // Prometheus metrics at http://<metrics_listen>/metrics; empty: off.
  std::string metrics_listen;
  // The HTTP/JSON API (services/http_gateway.h) on host:port; empty: off.
  std::string http_listen;
  // A second, plaintext gRPC port serving only grpc.health.v1 (Kubernetes
  // gRPC probes cannot speak TLS); empty: health on the main port only.
  std::string health_listen;
  // "json" (one object per line) or "text".
  std::string log_format = "json";
  // "debug" (adds a line per call served), "info", "warn" or "error".
  std::string log_level = "info";
};

// The options' own consistency: backends, TLS, auth and listen address.
// INVALID_ARGUMENT naming the setting.
absl::Status ValidateOptions(const ServerOptions& options);

// The health service name that reports only that the process serves (the
// liveness probe). The readiness probe asks for "" (or any service name),
// which reports NOT_SERVING while Redis or Postgres is unreachable, the
// schema is older than this binary needs, or the server is shutting down.
inline constexpr char kLivenessService[] = "liveness";

// On shutdown, after the drain delay: how long new calls are refused with
// UNAVAILABLE (so that clients move to another replica) before the gRPC
// server stops listening.
inline constexpr absl::Duration kRefuseWindow = absl::Milliseconds(500);

// The bootstrap: the only place that picks backends. Builds the stores the
// options ask for, the engine on top of them and the gRPC server in front,
// with grpc.health.v1 and server reflection.
class WardenServer {
 public:
  // `clock` is not owned and must outlive the server.
  static absl::StatusOr<std::unique_ptr<WardenServer>> Start(
      const ServerOptions& options, const Clock* clock);
  ~WardenServer();

  // The port actually bound.
  int port() const { return port_; }
  // The metrics port bound, or 0 without metrics.
  int metrics_port() const {
    return metrics_server_ ? metrics_server_->port() : 0;
  }
  // The HTTP/JSON API's port bound, or 0 without it.
  int http_port() const { return http_server_ ? http_server_->port() : 0; }
  // The health-only port bound, or 0 without one.
  int health_port() const { return health_port_; }
  // Stops accepting calls, lets in-flight ones finish (up to the grace
  // period) and stops the background sweeper. Idempotent.
  void Shutdown();

 private:
  WardenServer() = default;
  // Configures the wallet adapters the options ask for.
  absl::Status AddAdapters();
  // Mints the bootstrap admin tokens of the modes without Postgres.
  absl::Status Bootstrap(const Clock* clock);
  // Engine::EnsureReady, saying what it did in the log; the first org's
  // failure, if any.
  absl::Status EnsureReady();
  void SweepLoop();
  void FlushTokenUses();
  // Periodic reconciliation (options.reconcile_interval), on its own thread
  // since vendors may be slow.
  void ReconcileLoop(const Clock* clock);
  // Postgres reachable with a current schema (OK without Postgres).
  absl::Status CheckPostgres();
  // The gauges read at each scrape.
  void AddGauges();
  // Sets the health service's statuses from the backends' checks.
  void SetReady(const absl::Status& budgets, const absl::Status& postgres);

  ServerOptions options_;
  // First, so that it outlives every thread that reports to it.
  Metrics metrics_;
  std::unique_ptr<HttpListener> metrics_server_;
  std::unique_ptr<HttpListener> http_server_;  // The HTTP/JSON API; null: off.
  std::unique_ptr<ConfigStore> config_;
  std::unique_ptr<BudgetStore> budgets_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<FreezeStore> freezes_;
  std::unique_ptr<CredentialStore> credentials_;
  std::unique_ptr<Gatekeeper> gate_;
  LogNotificationSink log_sink_;
  std::unique_ptr<WebhookNotificationSink> webhook_sink_;
  std::unique_ptr<NotificationSink> notifications_;
  AdapterRegistry adapters_;
  // Each --chain-rpc node, for the drain_all guard line; null without one.
  std::unique_ptr<BalanceSource> balances_;
  // Live prices from the same nodes and --price-file.
  std::unique_ptr<PriceSource> prices_;
  std::unique_ptr<OperationStore> operations_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Submitter> submitter_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<AuthorizationService> authorization_service_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<AuditReader> audit_reader_;  // Null without Postgres.
  // Without Postgres: the audit file's index, for the finance queries only
  // (rebuilds and reconciliation read Postgres).
  std::unique_ptr<AuditReader> file_index_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<AuditService> audit_service_;
  std::unique_ptr<grpc::Server> server_;
  // Only grpc.health.v1, plaintext (options.health_listen), or null.
  std::unique_ptr<grpc::Server> health_server_;
  int port_ = 0;
  int health_port_ = 0;
  absl::Notification stop_;
  std::thread sweeper_;
  std::thread reconcile_thread_;
  bool shut_down_ = false;
  // Used by the sweeper thread only (and Start, before it runs).
  std::unique_ptr<PostgresProbe> probe_;
  std::atomic<bool> ready_{false};
};

}  // namespace warden

#endif  // WARDEN_SERVICES_SERVER_H_
