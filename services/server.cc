#include "services/server.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "adapters/cdp/cdp_adapter.h"
#include "adapters/evm/balances.h"
#include "adapters/evm/chains.h"
#include "adapters/evm/prices.h"
#include "adapters/local/keystore.h"
#include "adapters/local/local_adapter.h"
#include "adapters/metamask/metamask_adapter.h"
#include "adapters/privy/privy_adapter.h"
#include "governance/bundle.h"
#include "governance/memory/embedded_recovery.h"
#include "governance/memory/file_audit_index.h"
#include "governance/memory/file_audit_log.h"
#include "governance/memory/memory_budget_store.h"
#include "governance/memory/memory_config_store.h"
#include "governance/memory/memory_credential_store.h"
#include "governance/memory/memory_freeze_store.h"
#include "governance/memory/memory_operation_store.h"
#include "governance/postgres/migrations.h"
#include "governance/postgres/pg.h"
#include "governance/postgres/postgres_audit_log.h"
#include "governance/postgres/postgres_audit_reader.h"
#include "governance/postgres/postgres_config_store.h"
#include "governance/postgres/postgres_credential_store.h"
#include "governance/postgres/postgres_freeze_store.h"
#include "governance/postgres/postgres_operation_store.h"
#include "governance/redis/redis_budget_store.h"
#include "governance/status_macros.h"
#include "governance/telemetry.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "services/http_gateway.h"
#include "services/logging.h"
#include "services/server_config.h"
#include "spdlog/spdlog.h"

namespace warden {
namespace {

// The contents of the file `flag` names.
absl::StatusOr<std::string> ReadFile(const char* flag,
                                     const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read \"", path, "\""));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<std::string> ReadPem(const char* flag, const std::string& path) {
  WARDEN_ASSIGN_OR_RETURN(std::string text, ReadFile(flag, path));
  if (text.find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", path, "\" is not a PEM file"));
  }
  return text;
}

// TLS (and mTLS with a client CA) as the options ask, else plaintext.
// gRPC's TLS stack negotiates TLS 1.2 or 1.3 only.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerOptions& options, bool loopback) {
  if (options.tls_cert_path.empty()) {
    if (!loopback) {
      spdlog::warn("--insecure-plaintext: serving {} without TLS",
                   options.listen);
    }
    return grpc::InsecureServerCredentials();
  }
  WARDEN_ASSIGN_OR_RETURN(std::string cert,
                          ReadPem("--tls-cert", options.tls_cert_path));
  WARDEN_ASSIGN_OR_RETURN(std::string key,
                          ReadPem("--tls-key", options.tls_key_path));
  grpc::SslServerCredentialsOptions ssl(
      options.tls_client_ca_path.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!options.tls_client_ca_path.empty()) {
    WARDEN_ASSIGN_OR_RETURN(
        ssl.pem_root_certs,
        ReadPem("--tls-client-ca", options.tls_client_ca_path));
  }
  ssl.pem_key_cert_pairs.push_back({key, cert});
  spdlog::info("serving TLS{}", options.tls_client_ca_path.empty()
                                    ? ""
                                    : " with client certificates required");
  return grpc::SslServerCredentials(ssl);
}

// The Redis client's options from --redis and the redis.* settings;
// INVALID_ARGUMENT naming the flag.
absl::StatusOr<RedisOptions> RedisOptionsOf(const ServerOptions& options) {
  if (!options.redis_cluster &&
      options.redis_url.find(',') != std::string::npos) {
    return absl::InvalidArgumentError(
        "--redis: several URLs name the seed nodes of a Redis Cluster; add "
        "--redis-cluster");
  }
  absl::StatusOr<RedisOptions> redis =
      options.redis_cluster ? ParseRedisClusterUrls(options.redis_url)
                            : ParseRedisUrl(options.redis_url);
  if (!redis.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--redis: ", redis.status().message()));
  }
  redis->pool_size = options.redis_pool_size;
  redis->connect_timeout = options.redis_connect_timeout;
  redis->command_timeout = options.redis_command_timeout;
  redis->tls.ca_file = options.redis_tls_ca_path;
  redis->tls.cert_file = options.redis_tls_cert_path;
  redis->tls.key_file = options.redis_tls_key_path;
  redis->tls.server_name = options.redis_tls_server_name;
  const bool tls_set = !options.redis_tls_ca_path.empty() ||
                       !options.redis_tls_cert_path.empty() ||
                       !options.redis_tls_key_path.empty() ||
                       !options.redis_tls_server_name.empty();
  if (tls_set && !redis->tls.enabled) {
    return absl::InvalidArgumentError(
        "--redis-tls-ca, --redis-tls-cert, --redis-tls-key and "
        "--redis-tls-server-name need a rediss:// URL in --redis");
  }
  const std::string& name = options.redis_tls_server_name;
  if (name.size() > 253 || std::any_of(name.begin(), name.end(), [](char c) {
        return !absl::ascii_isalnum(c) && c != '.' && c != '-' && c != ':';
      })) {
    return absl::InvalidArgumentError(
        "--redis-tls-server-name: a DNS name or an IP address (letters, "
        "digits, '.', '-', ':'; at most 253 bytes)");
  }
  if (redis->tls.enabled) {
    if (absl::Status st = MakeRedisTlsContext(redis->tls).status(); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--redis-tls-ca/--redis-tls-cert/--redis-tls-key: ", st.message()));
    }
  }
  return redis;
}

bool IsLoopback(const std::string& listen) {
  const std::string host = listen.substr(0, listen.rfind(':'));
  return host == "127.0.0.1" || host == "[::1]" || host == "localhost";
}

}  // namespace

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.embedded == !options.redis_url.empty()) {
    return absl::InvalidArgumentError(
        options.embedded
            ? "--embedded and --redis exclude each other: pick one"
            : "no backend selected: pass --embedded, or --redis URL (or "
              "WARDEN_REDIS_URL)");
  }
  if (!options.postgres_url.empty() && options.embedded) {
    return absl::InvalidArgumentError(
        "--postgres needs --redis: replicas share budgets through Redis");
  }
  if (!options.embedded) {
    WARDEN_RETURN_IF_ERROR(RedisOptionsOf(options).status());
  }
  if (!options.postgres_read_url.empty() && options.postgres_url.empty()) {
    return absl::InvalidArgumentError(
        "--postgres-read-url: a read replica of what? It needs --postgres");
  }
  if (options.bundle_path.empty() && options.postgres_url.empty()) {
    return absl::InvalidArgumentError(
        "--bundle: required (a policy bundle YAML file) unless --postgres "
        "holds the configuration");
  }
  const bool loopback = IsLoopback(options.listen);
  if (options.tls_cert_path.empty() != options.tls_key_path.empty()) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key: give both, or neither");
  }
  if (!options.tls_client_ca_path.empty() && options.tls_cert_path.empty()) {
    return absl::InvalidArgumentError(
        "--tls-client-ca: needs --tls-cert and --tls-key (mTLS is TLS)");
  }
  if (options.tls_cert_path.empty() && !loopback &&
      !options.insecure_plaintext) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen ", options.listen,
        ": plaintext is served on loopback only; pass --tls-cert and "
        "--tls-key (or, knowingly, --insecure-plaintext)"));
  }
  if (!options.http_listen.empty() && options.tls_cert_path.empty() &&
      !IsLoopback(options.http_listen) && !options.insecure_plaintext) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http-listen ", options.http_listen,
        ": plaintext is served on loopback only; pass --tls-cert and "
        "--tls-key (or, knowingly, --insecure-plaintext)"));
  }
  if (!options.auth_required && !loopback) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--insecure-no-auth: refused on ", options.listen,
        "; calls without credentials are allowed on loopback only"));
  }
  return ValidateLogging(options.log_format, options.log_level);
}

absl::StatusOr<std::unique_ptr<WardenServer>> WardenServer::Start(
    const ServerOptions& options, const Clock* clock) {
  WARDEN_RETURN_IF_ERROR(ValidateOptions(options));
  const bool loopback = IsLoopback(options.listen);
  std::unique_ptr<WardenServer> s(new WardenServer);
  s->options_ = options;
  // Backend calls report from here on.
  SetTelemetryObserver(&s->metrics_);
  SetProcessMetrics(&s->metrics_);

  if (!options.postgres_url.empty()) {
    // The client-side bound, for a server that stopped answering: the
    // server's own statement timeout plus a second for the round trip.
    pg::SetCallTimeout(options.postgres_statement_timeout + absl::Seconds(1));
    const std::string pg_url =
        pg::WithTimeouts(options.postgres_url, options.postgres_connect_timeout,
                         options.postgres_statement_timeout);
    WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> c,
                            pg::Connect(pg_url));
    WARDEN_RETURN_IF_ERROR(RequireSchema(*c));
    WARDEN_ASSIGN_OR_RETURN(
        s->config_,
        PostgresConfigStore::Open(pg_url, options.config_refresh_interval));
    std::unique_ptr<Ed25519Signer> signer;
    if (!options.audit_signing_key_path.empty()) {
      absl::StatusOr<std::unique_ptr<Ed25519Signer>> key =
          Ed25519Signer::FromPemFile(options.audit_signing_key_path);
      if (!key.ok()) {
        return absl::Status(
            key.status().code(),
            absl::StrCat("audit signing key: ", key.status().message()));
      }
      signer = *std::move(key);
    } else {
      spdlog::warn("no --audit-signing-key: audit checkpoints are not signed");
    }
    s->audit_ = std::make_unique<PostgresAuditLog>(
        PostgresAuditOptions{.url = pg_url,
                             .batch_max_rows = options.audit_batch_max_rows,
                             .max_queued = options.audit_max_queued},
        std::move(signer));
    s->audit_reader_ = std::make_unique<PostgresAuditReader>(
        pg_url, options.postgres_read_url);
    s->freezes_ = std::make_unique<PostgresFreezeStore>(pg_url);
    s->credentials_ = std::make_unique<PostgresCredentialStore>(pg_url);
    s->operations_ = std::make_unique<PostgresOperationStore>(pg_url);
  } else {
    s->operations_ = std::make_unique<MemoryOperationStore>();
    s->credentials_ = std::make_unique<MemoryCredentialStore>();
    WARDEN_ASSIGN_OR_RETURN(s->audit_, FileAuditLog::Open(options.audit_path));
    s->file_index_ = std::make_unique<FileAuditIndex>(options.audit_path);
    s->config_ = std::make_unique<MemoryConfigStore>();
    // Without Postgres, this replica's audit file is the record of its
    // freezes (and only of its own).
    auto freezes = std::make_unique<MemoryFreezeStore>();
    WARDEN_RETURN_IF_ERROR(
        RestoreFreezesFromAuditFile(options.audit_path, freezes.get()));
    s->freezes_ = std::move(freezes);
  }
  MemoryBudgetStore* memory = nullptr;
  if (options.embedded) {
    auto budgets = std::make_unique<MemoryBudgetStore>();
    memory = budgets.get();
    s->budgets_ = std::move(budgets);
  } else {
    WARDEN_ASSIGN_OR_RETURN(RedisOptions redis, RedisOptionsOf(options));
    auto client = std::make_unique<RedisClient>(std::move(redis));
    // Starting while Redis is down is allowed: spends fail closed with
    // UNAVAILABLE until it is back.
    if (absl::StatusOr<RedisReply> pong = client->Command({"PING"});
        !pong.ok()) {
      spdlog::warn("redis not reachable yet, spends will be refused: {}",
                   pong.status().ToString());
    }
    s->budgets_ = std::make_unique<RedisBudgetStore>(std::move(client));
  }

  std::vector<NotificationSink*> sinks = {&s->log_sink_};
  if (!options.webhook.url.empty()) {
    WARDEN_ASSIGN_OR_RETURN(s->webhook_sink_,
                            WebhookNotificationSink::Create(options.webhook));
    sinks.push_back(s->webhook_sink_.get());
  }
  s->notifications_ = std::make_unique<FanoutNotificationSink>(sinks);
  WARDEN_RETURN_IF_ERROR(s->AddAdapters());
  s->engine_ = std::make_unique<Engine>(
      s->config_.get(), s->budgets_.get(), s->audit_.get(), s->freezes_.get(),
      clock,
      EngineHooks{.history = s->audit_reader_.get(),
                  .notifications = s->notifications_.get(),
                  .vendor_freezer = &s->adapters_,
                  .balances = s->balances_.get(),
                  .prices = s->prices_.get()});
  s->submitter_ = std::make_unique<Submitter>(
      s->engine_.get(), s->operations_.get(), &s->adapters_, s->audit_.get(),
      clock, /*durable_operations=*/!options.postgres_url.empty());
  if (!options.bundle_path.empty()) {
    WARDEN_ASSIGN_OR_RETURN(std::string yaml,
                            ReadFile("--bundle", options.bundle_path));
    absl::StatusOr<ApplyResult> applied = s->engine_->ApplyAtStart(
        yaml, absl::StrCat("wardend --bundle ", options.bundle_path));
    if (!applied.ok()) {
      return absl::Status(
          applied.status().code(),
          absl::StrCat(options.bundle_path, ": ", applied.status().message()));
    }
    if (applied->held_back > 0) {
      spdlog::warn(
          "org {}: --bundle {} differs from policy v{} in force, but {} "
          "policy change(s) await approval, which a restart does not "
          "supersede: not applied (wardenctl apply it, or settle them)",
          applied->org_id, options.bundle_path, applied->version,
          applied->held_back);
    }
    spdlog::info("org {} at policy v{}{}", applied->org_id, applied->version,
                 applied->changed ? " (applied from --bundle)" : "");
    if (memory != nullptr) {
      WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<const Policy> policy,
                              s->config_->Active(applied->org_id));
      WARDEN_ASSIGN_OR_RETURN(
          size_t restored,
          RestoreBudgetsFromAuditFile(options.audit_path, clock->Now(),
                                      RecordRetention(*policy), memory));
      spdlog::info("embedded mode: {} authorizations restored from {}",
                   restored, options.audit_path);
    }
  }
  // Frozen flags follow the durable record, whatever the budget store holds;
  // a store that lost its state (or a new one) is rebuilt before serving.
  // A budget store that is down now is not fatal: spends are refused and
  // the sweeper retries both.
  if (absl::Status st = s->engine_->SyncFrozen(); !st.ok()) {
    spdlog::warn("setting frozen flags failed, will retry: {}", st.ToString());
  }
  const absl::Status ready = s->EnsureReady();
  if (!ready.ok()) {
    spdlog::warn("the budget store is not ready, will retry: {}",
                 ready.ToString());
  }
  spdlog::info("budgets in {}, configuration and audit in {}",
               options.embedded ? "memory" : Redacted(options.redis_url),
               options.postgres_url.empty() ? options.audit_path : "postgres");

  WARDEN_RETURN_IF_ERROR(s->Bootstrap(clock));
  s->gate_ = std::make_unique<Gatekeeper>(
      s->credentials_.get(), s->audit_.get(), clock,
      AccessOptions{.required = options.auth_required});
  s->executor_ = std::make_unique<Executor>(options.worker_threads,
                                            options.max_queued_calls);
  s->authorization_service_ = std::make_unique<AuthorizationService>(
      s->engine_.get(), s->submitter_.get(), s->executor_.get(),
      s->gate_.get());
  s->admin_service_ = std::make_unique<AdminService>(
      s->engine_.get(), s->executor_.get(), s->gate_.get(),
      s->credentials_.get(), s->audit_.get(), clock);
  s->reconciler_ = std::make_unique<Reconciler>(
      s->engine_.get(), &s->adapters_, s->audit_reader_.get(),
      s->operations_.get(), s->audit_.get(), clock);
  s->audit_service_ = std::make_unique<AuditService>(
      s->engine_.get(),
      s->audit_reader_ ? s->audit_reader_.get() : s->file_index_.get(),
      s->reconciler_.get(), s->credentials_.get(), &s->adapters_,
      s->executor_.get(), s->gate_.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
                          ServerCredentialsFor(options, loopback));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, creds, &s->port_);
  // The largest request is a bundle at its size limit.
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxRequestBytes));
  builder.RegisterService(s->authorization_service_.get());
  builder.RegisterService(s->admin_service_.get());
  builder.RegisterService(s->audit_service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("--listen: cannot serve on ", options.listen));
  }
  if (!options.http_listen.empty()) {
    WARDEN_ASSIGN_OR_RETURN(
        s->http_server_,
        StartHttpGateway(
            {.listen = options.http_listen,
             .tls_cert_path = options.tls_cert_path,
             .tls_key_path = options.tls_key_path,
             .gateway_key = s->gate_->gateway_key()},
            s->server_->InProcessChannel(grpc::ChannelArguments())));
  }
  if (!options.health_listen.empty()) {
    grpc::ServerBuilder health;
    health.AddListeningPort(options.health_listen,
                            grpc::InsecureServerCredentials(),
                            &s->health_port_);
    s->health_server_ = health.BuildAndStart();
    if (s->health_server_ == nullptr || s->health_port_ == 0) {
      return absl::UnavailableError(absl::StrCat(
          "health.listen: cannot serve on ", options.health_listen));
    }
    spdlog::info("health probes also on {} (plaintext, health only)",
                 options.health_listen);
  }
  s->SetReady(ready, s->CheckPostgres());
  if (!options.metrics_listen.empty()) {
    s->AddGauges();
    WARDEN_ASSIGN_OR_RETURN(
        s->metrics_server_,
        StartMetricsServer(&s->metrics_, options.metrics_listen));
    spdlog::info(
        "metrics on http://{}:{}/metrics",
        options.metrics_listen.substr(0, options.metrics_listen.rfind(':')),
        s->metrics_server_->port());
  }
  s->sweeper_ = std::thread([raw = s.get()] { raw->SweepLoop(); });
  if (options.reconcile_interval > absl::ZeroDuration()) {
    if (s->audit_reader_ == nullptr) {
      spdlog::warn(
          "reconcile.interval_ms: periodic reconciliation needs "
          "Postgres; it is off");
    } else {
      s->reconcile_thread_ =
          std::thread([raw = s.get(), clock] { raw->ReconcileLoop(clock); });
    }
  }
  return s;
}

absl::Status WardenServer::AddAdapters() {
  AdapterServerOptions& options = options_.adapters;
  // Chains: the built-in table, plus ids and endpoints from --chain-rpc.
  std::vector<EvmChain> chains;
  std::map<std::string, uint64_t> chain_ids;
  std::map<std::string, std::string> rpc_urls;
  for (const std::string& spec : options.local.chain_rpcs) {
    WARDEN_ASSIGN_OR_RETURN(EvmChain chain, ParseChainRpc(spec));
    chain_ids[chain.name] = chain.chain_id;
    rpc_urls[chain.name] = chain.rpc_url;
    chains.push_back(std::move(chain));
  }
  using ChainIdMap = std::map<std::string, uint64_t>;
  WARDEN_ASSIGN_OR_RETURN(ChainIdMap all_chain_ids,
                          evm::ChainIds({}, "--chain-rpc"));
  for (const auto& [name, id] : chain_ids) all_chain_ids[name] = id;
  // Balance and price reads sit on an agent's decision: a node that hangs
  // fails it closed within 2 s, however long sends may take.
  auto nodes = [&] {
    std::map<std::string, std::unique_ptr<evm::JsonRpcClient>> out;
    for (const auto& [name, url] : rpc_urls) {
      out[name] = std::make_unique<evm::JsonRpcClient>(
          url, std::min(options.local.rpc_timeout, absl::Seconds(2)));
    }
    return out;
  };
  if (!rpc_urls.empty()) {
    balances_ = std::make_unique<evm::NodeBalances>(nodes());
  }
  prices_ = std::make_unique<evm::LivePrices>(nodes(), options.price_file,
                                              options.price_refresh);
  const http::RetryPolicy retry{.timeout = options.vendor_timeout};

  if (!options.local.keystore_dir.empty()) {
    if (options.local.password.empty()) {
      return absl::InvalidArgumentError(
          "--keystore: no password; set WARDEN_KEYSTORE_PASSWORD or pass "
          "--keystore-password-file");
    }
    absl::StatusOr<evm::Keystore> keystore =
        evm::Keystore::Open(options.local.keystore_dir, options.local.password);
    evm::Wipe(&options.local.password);  // Only needed to open it.
    if (!keystore.ok()) {
      return absl::Status(
          keystore.status().code(),
          absl::StrCat("--keystore: ", keystore.status().message()));
    }
    spdlog::info("local wallet adapter: {} key(s) from {}, {} chain(s)",
                 keystore->size(), options.local.keystore_dir, chains.size());
    WARDEN_RETURN_IF_ERROR(adapters_.Add(std::make_unique<LocalAdapter>(
        *std::move(keystore), chains, options.local.rpc_timeout)));
  }
  if (!options.metamask.mm_path.empty()) {
    MetaMaskOptions metamask = options.metamask;
    metamask.chain_ids = all_chain_ids;
    metamask.retry = retry;
    absl::StatusOr<std::unique_ptr<MetaMaskAdapter>> mm =
        MetaMaskAdapter::Create(std::move(metamask));
    if (!mm.ok()) {
      return absl::Status(
          mm.status().code(),
          absl::StrCat("adapters.metamask: ", mm.status().message()));
    }
    spdlog::info("metamask wallet adapter: {}", options.metamask.mm_path);
    WARDEN_RETURN_IF_ERROR(adapters_.Add(*std::move(mm)));
  }
  if (!options.cdp.api.api_key_id.empty()) {
    CdpOptions cdp = options.cdp.api;
    cdp.rpc_urls = rpc_urls;
    cdp.retry = retry;
    absl::StatusOr<std::unique_ptr<CdpAdapter>> adapter =
        CdpAdapter::Create(std::move(cdp));
    if (!adapter.ok()) {
      return absl::Status(
          adapter.status().code(),
          absl::StrCat("adapters.cdp: ", adapter.status().message()));
    }
    spdlog::info("cdp wallet adapter: {}", options.cdp.api.base_url);
    WARDEN_RETURN_IF_ERROR(adapters_.Add(*std::move(adapter)));
  }
  if (!options.privy.api.app_id.empty()) {
    PrivyOptions privy = options.privy.api;
    privy.chain_ids = all_chain_ids;
    privy.retry = retry;
    for (const std::string& entry : options.privy.list_tokens) {
      const size_t eq = entry.find('=');
      privy.list_tokens[entry.substr(0, eq)].push_back(entry.substr(eq + 1));
    }
    absl::StatusOr<std::unique_ptr<PrivyAdapter>> adapter =
        PrivyAdapter::Create(std::move(privy));
    if (!adapter.ok()) {
      return absl::Status(
          adapter.status().code(),
          absl::StrCat("adapters.privy: ", adapter.status().message()));
    }
    spdlog::info("privy wallet adapter: {}", options.privy.api.base_url);
    WARDEN_RETURN_IF_ERROR(adapters_.Add(*std::move(adapter)));
  }
  return absl::OkStatus();
}

absl::Status WardenServer::Bootstrap(const Clock* clock) {
  if (!options_.auth_required) {
    spdlog::warn(
        "--insecure-no-auth: every call is accepted without a credential, as "
        "user/anonymous with every role; for development on loopback only");
    return absl::OkStatus();
  }
  // Without Postgres tokens live in memory: each start mints a fresh admin
  // token for each org, from which the others are made. With Postgres the
  // first admin token comes from `wardenctl token create --postgres`.
  if (!options_.postgres_url.empty()) return absl::OkStatus();
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> orgs, config_->Orgs());
  std::string lines;
  for (const std::string& org : orgs) {
    WARDEN_ASSIGN_OR_RETURN(
        MintedToken admin,
        IssueToken(*credentials_, org, "user/admin", {"admin"},
                   absl::ZeroDuration(), "wardend (bootstrap)", clock->Now()));
    absl::StrAppend(&lines, admin.token, "\n");
    if (options_.bootstrap_token_file.empty()) {
      // Shown once, here; never logged elsewhere.
      std::cerr << "wardend: bootstrap admin token for org " << org << ": "
                << admin.token << std::endl;
    }
  }
  if (!options_.bootstrap_token_file.empty()) {
    const std::string tmp = options_.bootstrap_token_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << lines;
      if (!out.flush()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--bootstrap-token-file: cannot write \"", tmp, "\""));
      }
    }
    ::chmod(tmp.c_str(), 0600);
    if (std::rename(tmp.c_str(), options_.bootstrap_token_file.c_str()) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--bootstrap-token-file: cannot write \"",
                       options_.bootstrap_token_file, "\""));
    }
    spdlog::info("bootstrap admin token written to {} (mode 0600)",
                 options_.bootstrap_token_file);
  }
  return absl::OkStatus();
}

struct PostgresProbe {
  std::unique_ptr<pqxx::connection> connection;
};

absl::Status WardenServer::CheckPostgres() {
  if (options_.postgres_url.empty()) return absl::OkStatus();
  if (probe_ == nullptr) {
    // Tightly bounded, so that a partition cannot hang the sweeper.
    WARDEN_ASSIGN_OR_RETURN(
        std::unique_ptr<pqxx::connection> c,
        pg::Connect(pg::WithTimeouts(options_.postgres_url, absl::Seconds(2),
                                     absl::Seconds(2))));
    probe_ = std::make_unique<PostgresProbe>(PostgresProbe{std::move(c)});
  }
  absl::Status st = RequireSchema(*probe_->connection);
  if (!st.ok()) probe_.reset();  // Reconnect next time.
  return st;
}

void WardenServer::AddGauges() {
  // One series per org; an org whose backend fails is left out of that
  // scrape (and the backend error counters say why).
  auto per_org =
      [this](std::function<absl::StatusOr<int64_t>(const std::string&)> read) {
        return [this, read = std::move(read)] {
          std::vector<std::pair<Labels, double>> out;
          absl::StatusOr<std::vector<std::string>> orgs = config_->Orgs();
          if (!orgs.ok()) return out;
          for (const std::string& org : *orgs) {
            absl::StatusOr<int64_t> n = read(org);
            if (n.ok())
              out.push_back({{{"org", org}}, static_cast<double>(*n)});
          }
          return out;
        };
      };
  metrics_.AddGauge(
      "warden_pending_approvals",
      "Requests awaiting approval or a delay, per org.",
      per_org([this](const std::string& org) -> absl::StatusOr<int64_t> {
        WARDEN_ASSIGN_OR_RETURN(std::vector<Authorization> pending,
                                engine_->ListPendingApprovals(org));
        return static_cast<int64_t>(pending.size());
      }));
  metrics_.AddGauge("warden_holds_outstanding",
                    "Authorizations HELD now, per org.",
                    per_org([this](const std::string& org) {
                      return budgets_->CountHeld(org);
                    }));
  metrics_.AddGauge(
      "warden_workers", "The engine's worker pool: calls running and waiting.",
      [this] {
        const Executor::Load load = executor_->load();
        return std::vector<std::pair<Labels, double>>{
            {{{"state", "running"}}, static_cast<double>(load.running)},
            {{{"state", "queued"}}, static_cast<double>(load.queued)}};
      });
  metrics_.AddGauge(
      "warden_operations_open",
      "Submitted operations not yet CONFIRMED or FAILED, per org and state "
      "(UNKNOWN ones keep their holds until polling resolves them).",
      [this] {
        std::vector<std::pair<Labels, double>> out;
        absl::StatusOr<OperationStore::OpenCounts> counts =
            operations_->CountOpen();
        if (!counts.ok()) return out;
        for (const auto& [key, n] : *counts) {
          out.push_back(
              {{{"org", key.first}, {"state", OperationStateName(key.second)}},
               static_cast<double>(n)});
        }
        return out;
      });
  metrics_.AddGauge(
      "warden_frozen_scopes", "Frozen scopes (kill switch), per org.",
      per_org([this](const std::string& org) -> absl::StatusOr<int64_t> {
        WARDEN_ASSIGN_OR_RETURN(std::vector<FrozenScope> frozen,
                                freezes_->List(org));
        return static_cast<int64_t>(frozen.size());
      }));
  metrics_.AddGauge(
      "warden_ready",
      "1 while Redis and Postgres are reachable and the "
      "schema is current (the readiness probe), else 0.",
      [this] {
        return std::vector<std::pair<Labels, double>>{{{}, ready_ ? 1.0 : 0.0}};
      });
}

void WardenServer::SetReady(const absl::Status& budgets,
                            const absl::Status& postgres) {
  const bool ready = budgets.ok() && postgres.ok();
  if (ready != ready_) {
    if (ready) {
      spdlog::info("ready: backends reachable");
    } else {
      spdlog::warn("not ready: {}",
                   !budgets.ok() ? budgets.ToString() : postgres.ToString());
    }
  }
  ready_ = ready;
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server == nullptr) continue;
    grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
    health->SetServingStatus(ready);  // "" and every service.
    health->SetServingStatus(kLivenessService, true);
  }
}

// How often token uses are written for the security report.
constexpr absl::Duration kTokenUseFlushInterval = absl::Minutes(1);

void WardenServer::SweepLoop() {
  absl::Time flushed = absl::Now();
  // Token uses for the security report: about once a minute, and once more
  // on the way out.
  absl::Cleanup last_flush = [this] { FlushTokenUses(); };
  while (!stop_.WaitForNotificationWithTimeout(options_.sweep_interval)) {
    if (absl::Now() - flushed >= kTokenUseFlushInterval) {
      FlushTokenUses();
      flushed = absl::Now();
    }
    // Notices a budget store that lost its state, or failed over, and
    // rebuilds or checks it.
    const absl::Status ready = EnsureReady();
    SetReady(ready, CheckPostgres());
    if (!ready.ok()) {
      spdlog::warn("the budget store is not ready: {}", ready.ToString());
    }
    engine_->FlushBreachAlerts();
    absl::StatusOr<size_t> n = engine_->SweepExpired();
    if (!n.ok()) {
      spdlog::warn("expiring holds failed: {}", n.status().ToString());
    }
    // Sends operations whose approval came, and polls the rest.
    absl::StatusOr<size_t> advanced =
        submitter_->AdvanceOpen(options_.operations_per_sweep, &stop_);
    if (!advanced.ok()) {
      spdlog::warn("advancing operations failed: {}",
                   advanced.status().ToString());
    }
  }
}

absl::Status WardenServer::EnsureReady() {
  const absl::Time start = absl::Now();
  absl::StatusOr<Engine::ReadyReport> r = engine_->EnsureReady();
  if (!r.ok()) return r.status();
  absl::Status first_failure;
  for (const auto& [org, st] : r->failed) {
    spdlog::warn("org {}: checking the budget store failed, will retry: {}",
                 org, st.ToString());
    first_failure.Update(st);
  }
  if (!r->holding.empty()) {
    absl::Duration longest;
    for (const auto& [org, left] : r->holding)
      longest = std::max(longest, left);
    spdlog::warn(
        "{} org(s) refused after a Redis failover until the audit trail holds "
        "the old primary's last decisions (at most {} more), then checked; "
        "the first: {}",
        r->holding.size(), absl::FormatDuration(longest),
        r->holding.front().first);
  }
  for (const std::string& org : r->checked) {
    spdlog::warn(
        "org {}: the budget store failed over; it holds the newest decisions "
        "of the audit trail (none lost)",
        org);
  }
  for (const auto& [org, lost] : r->rebuilt) {
    if (lost > 0) {
      spdlog::error(
          "org {}: the budget store lacked {} of the newest decisions of the "
          "audit trail, or their settles, voids or expiries (a failover lost "
          "writes): rebuilt it",
          org, lost);
    } else {
      spdlog::info("org {}: the budget store held no state: rebuilt it", org);
    }
  }
  if (r->restored > 0) {
    spdlog::warn("rebuilt {} authorizations from the audit trail in {}",
                 r->restored, absl::FormatDuration(absl::Now() - start));
  }
  return first_failure;
}

void WardenServer::FlushTokenUses() {
  if (absl::Status st = gate_->FlushUses(); !st.ok()) {
    spdlog::warn("recording token uses failed (kept for the next try): {}",
                 st.ToString());
  }
}

void WardenServer::ReconcileLoop(const Clock* clock) {
  while (!stop_.WaitForNotificationWithTimeout(options_.reconcile_interval)) {
    absl::StatusOr<std::vector<std::string>> orgs = config_->Orgs();
    if (!orgs.ok()) {
      spdlog::warn("reconciliation: {}", orgs.status().ToString());
      continue;
    }
    for (const std::string& org : *orgs) {
      if (stop_.HasBeenNotified()) return;
      absl::StatusOr<ReconcileReport> r = reconciler_->Run(
          org, clock->Now() - options_.reconcile_lookback, "system", &stop_);
      if (!r.ok()) {
        spdlog::warn("reconciliation of org {}: {}", org,
                     r.status().ToString());
        continue;
      }
      for (const std::string& u : r->unchecked) {
        spdlog::debug("reconciliation of org {}: {}", org, u);
      }
      for (const ReconcileFinding& f : r->findings) {
        spdlog::warn("reconciliation of org {}: {}", org, f.description);
      }
      spdlog::info(
          "reconciliation of org {}: {} wallet(s), {} vendor transaction(s), "
          "{} finding(s), {} new",
          org, r->wallets_checked, r->vendor_transactions, r->findings.size(),
          r->audited);
    }
  }
}

void WardenServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time deadline =
      absl::Now() + options_.drain_delay + options_.shutdown_grace;
  if (server_ != nullptr) {
    // Probes see NOT_SERVING first, so that load balancers stop sending;
    // calls that still arrive meanwhile are served.
    server_->GetHealthCheckService()->Shutdown();
    if (health_server_ != nullptr) {
      health_server_->GetHealthCheckService()->Shutdown();
    }
  }
  // The sweeper and reconciler start nothing new: what they would start now
  // might not finish before the process is gone. The step each is in ends
  // during the drain.
  stop_.Notify();
  if (server_ != nullptr) {
    spdlog::info("health NOT_SERVING; draining for {}",
                 absl::FormatDuration(options_.drain_delay));
    absl::SleepFor(options_.drain_delay);
    // New calls now get UNAVAILABLE from us (never a half-started call), so
    // clients still sending here move to another replica; in-flight calls
    // finish within the grace period.
    executor_->Close();
    if (!executor_->WaitIdle(deadline)) {
      spdlog::warn("calls still running after the grace period; cancelling");
    }
    absl::SleepFor(std::min(kRefuseWindow, deadline - absl::Now()));
    server_->Shutdown(absl::ToChronoTime(deadline));
    if (health_server_ != nullptr) health_server_->Shutdown();
  }
  if (sweeper_.joinable()) sweeper_.join();
  if (reconcile_thread_.joinable()) reconcile_thread_.join();
  if (absl::Now() > deadline) {
    spdlog::warn(
        "shutdown overran the grace period by {}: a backend or vendor call "
        "was still running (it ends at its own timeout)",
        absl::FormatDuration(absl::Now() - deadline));
  }
  // Scrapes read the worker pool: stop serving them before it goes.
  metrics_server_.reset();
  // Run whatever the drain left queued, and wait for the answers still
  // awaited: decisions are answered from the audit log's callbacks, which
  // reach the pool and the engine, so they all run before either goes.
  if (executor_ != nullptr) executor_->WaitIdle(absl::InfiniteFuture());
  if (audit_ != nullptr) audit_->Drain();
  executor_.reset();
}

WardenServer::~WardenServer() {
  Shutdown();
  SetProcessMetrics(nullptr);
  SetTelemetryObserver(nullptr);
}

}  // namespace warden
