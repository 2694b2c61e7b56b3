// wardend: the Warden gateway.
//
//   wardend --embedded --bundle deploy/examples/acme.yaml --listen
//   127.0.0.1:7400
//
// Prints "wardend listening on HOST:PORT" once it serves. SIGTERM or SIGINT
// drains in-flight calls and exits 0.

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "adapters/local/keystore.h"
#include "governance/clock.h"
#include "services/server.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  warden::ServerOptions options;
  int64_t sweep_interval_ms = 1000;
  int64_t shutdown_grace_ms = 10000;
  CLI::App app{"wardend: cross-wallet spend governance gateway"};
  app.add_flag("--embedded", options.embedded,
               "In-memory budgets and a JSONL audit file; no servers needed");
  app.add_option("--redis", options.redis_url,
                 "Budgets in Redis, shared by replicas: redis://HOST:PORT[/DB]")
      ->envname("WARDEN_REDIS_URL");
  int64_t redis_pool_size = 16;
  int64_t redis_connect_timeout_ms = 500;
  int64_t redis_command_timeout_ms = 1000;
  app.add_option("--redis-pool-size", redis_pool_size,
                 "Redis connections per process")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--redis-connect-timeout-ms", redis_connect_timeout_ms)
      ->capture_default_str()
      ->check(CLI::Range(1, 60'000));
  app.add_option("--redis-command-timeout-ms", redis_command_timeout_ms,
                 "Also the longest wait for a free pooled connection")
      ->capture_default_str()
      ->check(CLI::Range(1, 60'000));
  app.add_option("--postgres", options.postgres_url,
                 "Configuration and audit trail in Postgres (with --redis)")
      ->envname("WARDEN_POSTGRES_URL");
  app.add_option("--audit-signing-key", options.audit_signing_key_path,
                 "Ed25519 private key (PEM) signing audit checkpoints")
      ->check(CLI::ExistingFile);
  int64_t config_refresh_ms = 5000;
  app.add_option("--config-refresh-ms", config_refresh_ms,
                 "Longest a replica serves an older bundle if a NOTIFY is "
                 "missed")
      ->capture_default_str()
      ->check(CLI::Range(100, 3'600'000));
  app.add_option("--bundle", options.bundle_path,
                 "Policy bundle (YAML) to apply at start")
      ->check(CLI::ExistingFile);
  app.add_option("--listen", options.listen, "gRPC address, host:port")
      ->capture_default_str();
  app.add_option("--audit-file", options.audit_path,
                 "Append-only audit trail (JSONL)")
      ->capture_default_str();
  app.add_option("--worker-threads", options.worker_threads,
                 "Threads running engine calls (Redis, audit), off gRPC's")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--max-queued-calls", options.max_queued_calls,
                 "Calls waiting for a worker before new ones get UNAVAILABLE")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--sweep-interval-ms", sweep_interval_ms,
                 "How often expired holds are swept")
      ->capture_default_str()
      ->check(CLI::Range(10, 3'600'000));
  app.add_option("--shutdown-grace-ms", shutdown_grace_ms,
                 "How long SIGTERM waits for in-flight calls")
      ->capture_default_str()
      ->check(CLI::Range(0, 600'000));
  app.add_option("--webhook-url", options.webhook.url,
                 "POST notify, delay and approval events here (http or "
                 "https)")
      ->envname("WARDEN_WEBHOOK_URL");
  std::string webhook_secret_file;
  app.add_option("--webhook-secret-file", webhook_secret_file,
                 "File holding the webhook's HMAC-SHA256 key (or set "
                 "WARDEN_WEBHOOK_SECRET)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", options.tls_cert_path,
                 "Server certificate chain (PEM): serve TLS 1.2+")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", options.tls_key_path, "Server private key (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", options.tls_client_ca_path,
                 "Require client certificates signed by this CA (mTLS)")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure-plaintext", options.insecure_plaintext,
               "Serve without TLS on a non-loopback address (warns)");
  bool insecure_no_auth = false;
  app.add_flag("--insecure-no-auth", insecure_no_auth,
               "Accept calls without credentials (loopback only; for "
               "development)");
  app.add_option("--bootstrap-token-file", options.bootstrap_token_file,
                 "Without --postgres: write the bootstrap admin token here "
                 "(mode 0600) instead of stderr");
  app.add_option("--keystore", options.keystore_dir,
                 "Local wallet keystore directory (wardenctl wallet "
                 "create-local); its password comes from "
                 "--keystore-password-file or WARDEN_KEYSTORE_PASSWORD")
      ->check(CLI::ExistingDirectory);
  std::string keystore_password_file;
  app.add_option("--keystore-password-file", keystore_password_file,
                 "File whose first line is the keystore password")
      ->check(CLI::ExistingFile);
  app.add_option("--chain-rpc", options.chain_rpcs,
                 "A chain's JSON-RPC endpoint for the local adapter: "
                 "CHAIN=URL (ethereum, optimism, polygon, base, arbitrum, "
                 "sepolia, base-sepolia, anvil) or CHAIN:ID=URL; repeatable");
  int64_t chain_rpc_timeout_ms = 10000;
  app.add_option("--chain-rpc-timeout-ms", chain_rpc_timeout_ms,
                 "Timeout of each JSON-RPC call to a chain's node")
      ->capture_default_str()
      ->check(CLI::Range(100, 600'000));
  CLI11_PARSE(app, argc, argv);
  options.auth_required = !insecure_no_auth;
  options.chain_rpc_timeout = absl::Milliseconds(chain_rpc_timeout_ms);
  if (!options.keystore_dir.empty()) {
    absl::StatusOr<std::string> password = warden::evm::KeystorePassword(
        keystore_password_file, "--keystore-password-file");
    if (!password.ok()) {
      std::cerr << "wardend: --keystore: " << password.status().message()
                << "\n";
      return 2;
    }
    options.keystore_password = *std::move(password);
  }
  if (!options.webhook.url.empty()) {
    if (!webhook_secret_file.empty()) {
      std::ifstream in(webhook_secret_file);
      std::getline(in, options.webhook.secret);
    } else if (const char* env = std::getenv("WARDEN_WEBHOOK_SECRET")) {
      options.webhook.secret = env;
    }
    if (options.webhook.secret.empty()) {
      std::cerr << "wardend: --webhook-url needs a secret: "
                   "--webhook-secret-file or WARDEN_WEBHOOK_SECRET\n";
      return 2;
    }
  }
  // Logs go to stderr; stdout carries only the "listening on" line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("wardend"));
  options.sweep_interval = absl::Milliseconds(sweep_interval_ms);
  options.config_refresh_interval = absl::Milliseconds(config_refresh_ms);
  options.redis_pool_size = static_cast<size_t>(redis_pool_size);
  options.redis_connect_timeout = absl::Milliseconds(redis_connect_timeout_ms);
  options.redis_command_timeout = absl::Milliseconds(redis_command_timeout_ms);
  options.shutdown_grace = absl::Milliseconds(shutdown_grace_ms);

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
  if (!server.ok()) {
    std::cerr << "wardend: " << server.status().message() << "\n";
    return 2;
  }
  const std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::cout << "wardend listening on " << host << ":" << (*server)->port()
            << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}, draining in-flight calls",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  spdlog::info("stopped");
  return 0;
}
