#include "services/server_config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "adapters/local/keystore.h"
#include "governance/postgres/pg.h"
#include "governance/quote.h"
#include "governance/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace warden {
namespace {

template <typename T>
using Field = std::function<T*(ServerOptions*)>;

Setting Text(std::string path, std::string flag, std::string env,
             std::string help, Field<std::string> field) {
  return Setting{
      .path = std::move(path),
      .flag = std::move(flag),
      .env = std::move(env),
      .help = std::move(help),
      .set =
          [field](const std::string& v, ServerOptions* o) {
            *field(o) = v;
            return absl::OkStatus();
          },
      .get =
          [field](const ServerOptions& o) {
            return *field(const_cast<ServerOptions*>(&o));
          },
  };
}

Setting Switch(std::string path, std::string flag, std::string help,
               Field<bool> field, bool inverted = false) {
  return Setting{
      .path = std::move(path),
      .flag = std::move(flag),
      .help = std::move(help),
      .is_flag = true,
      .set =
          [field, inverted](const std::string& v, ServerOptions* o) {
            if (v != "true" && v != "false") {
              return absl::InvalidArgumentError(
                  absl::StrCat("\"", v, "\" must be true or false"));
            }
            *field(o) = (v == "true") != inverted;
            return absl::OkStatus();
          },
      .get = [field, inverted](const ServerOptions& o) -> std::string {
        return *field(const_cast<ServerOptions*>(&o)) != inverted ? "true"
                                                                  : "false";
      },
  };
}

absl::StatusOr<int64_t> Whole(const std::string& v, int64_t min, int64_t max) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(v, &n) || n < min || n > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", v, "\" must be a whole number from ", min, " to ", max));
  }
  return n;
}

template <typename T>
Setting Number(std::string path, std::string flag, std::string help,
               Field<T> field, int64_t min, int64_t max) {
  return Setting{
      .path = std::move(path),
      .flag = std::move(flag),
      .help = std::move(help),
      .set =
          [field, min, max](const std::string& v, ServerOptions* o) {
            absl::StatusOr<int64_t> n = Whole(v, min, max);
            if (!n.ok()) return n.status();
            *field(o) = static_cast<T>(*n);
            return absl::OkStatus();
          },
      .get =
          [field](const ServerOptions& o) {
            return absl::StrCat(*field(const_cast<ServerOptions*>(&o)));
          },
  };
}

Setting Millis(std::string path, std::string flag, std::string help,
               Field<absl::Duration> field, int64_t min, int64_t max) {
  return Setting{
      .path = std::move(path),
      .flag = std::move(flag),
      .help = std::move(help),
      .set =
          [field, min, max](const std::string& v, ServerOptions* o) {
            absl::StatusOr<int64_t> n = Whole(v, min, max);
            if (!n.ok()) return n.status();
            *field(o) = absl::Milliseconds(*n);
            return absl::OkStatus();
          },
      .get =
          [field](const ServerOptions& o) {
            return absl::StrCat(absl::ToInt64Milliseconds(
                *field(const_cast<ServerOptions*>(&o))));
          },
  };
}

std::vector<Setting> MakeSettings() {
  using O = ServerOptions;
  std::vector<Setting> s = {
      Text("listen", "--listen", "WARDEN_LISTEN",
           "gRPC address, host:port; port 0 picks a free one",
           [](O* o) { return &o->listen; }),
      Switch("embedded", "--embedded",
             "In-memory budgets and a JSONL audit file; no servers needed",
             [](O* o) { return &o->embedded; }),
      Text("bundle", "--bundle", "WARDEN_BUNDLE",
           "Policy bundle (YAML) applied at start",
           [](O* o) { return &o->bundle_path; }),
      Text("redis.url", "--redis", "WARDEN_REDIS_URL",
           "Budgets in Redis, shared by replicas: "
           "redis://[[USER]:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS",
           [](O* o) { return &o->redis_url; }),
      Switch("redis.cluster", "--redis-cluster",
             "Redis Cluster: --redis lists seed nodes, comma-separated; each "
             "org's scripts go to its slot's primary",
             [](O* o) { return &o->redis_cluster; }),
      Number<size_t>(
          "redis.pool_size", "--redis-pool-size",
          "Redis connections per process, each pipelined (calls made "
          "while one batch is out go in the next)",
          [](O* o) { return &o->redis_pool_size; }, 1, 1024),
      Millis(
          "redis.connect_timeout_ms", "--redis-connect-timeout-ms",
          "Per Redis connection attempt",
          [](O* o) { return &o->redis_connect_timeout; }, 1, 60'000),
      Millis(
          "redis.command_timeout_ms", "--redis-command-timeout-ms",
          "Per Redis command, and the longest a call waits in the queue",
          [](O* o) { return &o->redis_command_timeout; }, 1, 60'000),
      Text("redis.tls.ca_file", "--redis-tls-ca", "",
           "With a rediss:// URL: the CA (PEM) Redis's certificate must "
           "chain to (default: the system's trust store)",
           [](O* o) { return &o->redis_tls_ca_path; }),
      Text("redis.tls.cert_file", "--redis-tls-cert", "",
           "Client certificate (PEM) for Redis's mutual TLS",
           [](O* o) { return &o->redis_tls_cert_path; }),
      Text("redis.tls.key_file", "--redis-tls-key", "",
           "The client certificate's private key (PEM)",
           [](O* o) { return &o->redis_tls_key_path; }),
      Text("redis.tls.server_name", "--redis-tls-server-name", "",
           "The name Redis's certificate must carry, and the SNI sent "
           "(default: the URL's host)",
           [](O* o) { return &o->redis_tls_server_name; }),
      Text("postgres.url", "--postgres", "WARDEN_POSTGRES_URL",
           "Configuration and audit trail in Postgres (with redis.url)",
           [](O* o) { return &o->postgres_url; }),
      Text("postgres.read_url", "--postgres-read-url",
           "WARDEN_POSTGRES_READ_URL",
           "A read replica for finance queries (audit query, spend summary, "
           "reports); writes, chain checks and rebuilds stay on the primary",
           [](O* o) { return &o->postgres_read_url; }),
      Millis(
          "postgres.config_refresh_ms", "--config-refresh-ms",
          "Longest a replica serves an older bundle if a NOTIFY is missed",
          [](O* o) { return &o->config_refresh_interval; }, 100, 3'600'000),
      Millis(
          "postgres.connect_timeout_ms", "--postgres-connect-timeout-ms",
          "Per Postgres connection attempt (whole seconds, at least 2)",
          [](O* o) { return &o->postgres_connect_timeout; }, 1, 600'000),
      Millis(
          "postgres.statement_timeout_ms", "--postgres-statement-timeout-ms",
          "Longest any Postgres statement may run (audit commits included)",
          [](O* o) { return &o->postgres_statement_timeout; }, 100, 3'600'000),
      Text("audit.file", "--audit-file", "",
           "Without postgres: the append-only audit trail (JSONL)",
           [](O* o) { return &o->audit_path; }),
      Text("audit.signing_key_file", "--audit-signing-key", "",
           "Ed25519 private key (PEM) signing audit checkpoints",
           [](O* o) { return &o->audit_signing_key_path; }),
      Number<size_t>(
          "audit.batch_max_rows", "--audit-batch-max-rows",
          "With postgres: most audit records per commit",
          [](O* o) { return &o->audit_batch_max_rows; }, 1, 10'000),
      Number<size_t>(
          "audit.max_queued", "--audit-max-queued",
          "With postgres: audit records waiting for a commit "
          "before calls get UNAVAILABLE",
          [](O* o) { return &o->audit_max_queued; }, 1, 1'000'000),
      Number<size_t>(
          "workers.threads", "--worker-threads",
          "Threads running engine calls, off gRPC's",
          [](O* o) { return &o->worker_threads; }, 1, 1024),
      Number<size_t>(
          "workers.max_queued_calls", "--max-queued-calls",
          "Calls waiting for a worker before new ones get "
          "UNAVAILABLE",
          [](O* o) { return &o->max_queued_calls; }, 1, 1'000'000),
      Millis(
          "sweep_interval_ms", "--sweep-interval-ms",
          "How often expired holds are swept and open operations polled",
          [](O* o) { return &o->sweep_interval; }, 10, 3'600'000),
      Millis(
          "shutdown.drain_delay_ms", "--drain-delay-ms",
          "On SIGTERM: how long readiness reports NOT_SERVING before new "
          "calls are refused",
          [](O* o) { return &o->drain_delay; }, 0, 600'000),
      Millis(
          "shutdown.grace_ms", "--shutdown-grace-ms",
          "On SIGTERM: how long in-flight calls may run after the drain",
          [](O* o) { return &o->shutdown_grace; }, 0, 600'000),
      Text("tls.cert_file", "--tls-cert", "",
           "Server certificate chain (PEM): serve TLS 1.2+",
           [](O* o) { return &o->tls_cert_path; }),
      Text("tls.key_file", "--tls-key", "", "Server private key (PEM)",
           [](O* o) { return &o->tls_key_path; }),
      Text("tls.client_ca_file", "--tls-client-ca", "",
           "Require client certificates signed by this CA (mTLS)",
           [](O* o) { return &o->tls_client_ca_path; }),
      Switch("tls.insecure_plaintext", "--insecure-plaintext",
             "Serve without TLS on a non-loopback address (warns)",
             [](O* o) { return &o->insecure_plaintext; }),
      Switch(
          "auth.insecure_no_auth", "--insecure-no-auth",
          "Accept calls without credentials (loopback only; for development)",
          [](O* o) { return &o->auth_required; }, /*inverted=*/true),
      Text("auth.bootstrap_token_file", "--bootstrap-token-file", "",
           "Without postgres: write the bootstrap admin token here (0600)",
           [](O* o) { return &o->bootstrap_token_file; }),
      Text("webhook.url", "--webhook-url", "WARDEN_WEBHOOK_URL",
           "POST notify, delay and approval events here (http or https)",
           [](O* o) { return &o->webhook.url; }),
      Text("webhook.format", "--webhook-format", "",
           "Webhook body: json (the notification) or slack (a "
           "Slack-compatible {\"text\": ...} message)",
           [](O* o) { return &o->webhook_format; }),
      Text("webhook.secret_file", "--webhook-secret-file", "",
           "File holding the webhook's HMAC key (or WARDEN_WEBHOOK_SECRET)",
           [](O* o) { return &o->webhook_secret_file; }),
      Text("adapters.local.keystore", "--keystore", "",
           "Local wallet keystore directory",
           [](O* o) { return &o->adapters.local.keystore_dir; }),
      Text("adapters.local.password_file", "--keystore-password-file", "",
           "File whose first line is the keystore password (or "
           "WARDEN_KEYSTORE_PASSWORD)",
           [](O* o) { return &o->adapters.local.password_file; }),
      Text("adapters.local.chain_rpc_file", "--chain-rpc-file", "",
           "File of chain_rpc entries, one CHAIN=URL per line (for URLs that "
           "hold a provider's key: keep them out of the config)",
           [](O* o) { return &o->adapters.local.chain_rpc_file; }),
      Millis(
          "adapters.local.rpc_timeout_ms", "--chain-rpc-timeout-ms",
          "Each JSON-RPC call to a chain's node",
          [](O* o) { return &o->adapters.local.rpc_timeout; }, 100, 600'000),
      Text("prices.file", "--price-file", "",
           "The signed price file, for assets priced by source: file",
           [](O* o) { return &o->adapters.price_file; }),
      Millis(
          "prices.refresh_ms", "--price-refresh-ms",
          "How long one reading of a live price source answers decisions",
          [](O* o) { return &o->adapters.price_refresh; }, 0, 60'000),
      Text("adapters.metamask.mm_path", "--metamask-mm", "",
           "The MetaMask Agent Wallet CLI (mm) to run (empty: no MetaMask "
           "adapter)",
           [](O* o) { return &o->adapters.metamask.mm_path; }),
      Text("adapters.metamask.home", "--metamask-home", "",
           "HOME for mm, where its session lives (empty: wardend's)",
           [](O* o) { return &o->adapters.metamask.home; }),
      Millis(
          "adapters.metamask.timeout_ms", "--metamask-timeout-ms",
          "Longest one mm command may run",
          [](O* o) { return &o->adapters.metamask.timeout; }, 100, 600'000),
      Text("adapters.cdp.base_url", "--cdp-base-url", "",
           "Coinbase CDP API base URL",
           [](O* o) { return &o->adapters.cdp.api.base_url; }),
      Text("adapters.cdp.api_key_id", "--cdp-api-key-id",
           "WARDEN_CDP_API_KEY_ID", "CDP API key id (empty: no CDP adapter)",
           [](O* o) { return &o->adapters.cdp.api.api_key_id; }),
      Text("adapters.cdp.api_key_secret_file", "--cdp-api-key-secret-file", "",
           "File holding the CDP API key secret (or "
           "WARDEN_CDP_API_KEY_SECRET)",
           [](O* o) { return &o->adapters.cdp.api_key_secret_file; }),
      Text("adapters.cdp.wallet_secret_file", "--cdp-wallet-secret-file", "",
           "File holding the CDP wallet secret (or WARDEN_CDP_WALLET_SECRET)",
           [](O* o) { return &o->adapters.cdp.wallet_secret_file; }),
      Text("adapters.privy.base_url", "--privy-base-url", "",
           "Privy API base URL",
           [](O* o) { return &o->adapters.privy.api.base_url; }),
      Text("adapters.privy.app_id", "--privy-app-id", "WARDEN_PRIVY_APP_ID",
           "Privy app id (empty: no Privy adapter)",
           [](O* o) { return &o->adapters.privy.api.app_id; }),
      Text("adapters.privy.app_secret_file", "--privy-app-secret-file", "",
           "File holding the Privy app secret (or WARDEN_PRIVY_APP_SECRET)",
           [](O* o) { return &o->adapters.privy.app_secret_file; }),
      Text("adapters.privy.authorization_key_file",
           "--privy-authorization-key-file", "",
           "File holding the Privy authorization key (or "
           "WARDEN_PRIVY_AUTHORIZATION_KEY)",
           [](O* o) { return &o->adapters.privy.authorization_key_file; }),
      Millis(
          "adapters.vendor_timeout_ms", "--vendor-timeout-ms",
          "Each HTTP request to a vendor's API (one attempt; retries "
          "aside)",
          [](O* o) { return &o->adapters.vendor_timeout; }, 100, 600'000),
      Millis(
          "reconcile.interval_ms", "--reconcile-interval-ms",
          "With postgres: compare vendors' transactions with Warden's "
          "this often (0: off)",
          [](O* o) { return &o->reconcile_interval; }, 0, 86'400'000),
      Millis(
          "reconcile.lookback_ms", "--reconcile-lookback-ms",
          "How far back each periodic reconciliation looks",
          [](O* o) { return &o->reconcile_lookback; }, 60'000,
          30LL * 86'400'000),
      Text("metrics.listen", "--metrics-listen", "WARDEN_METRICS_LISTEN",
           "Serve Prometheus metrics on host:port at /metrics (empty: off)",
           [](O* o) { return &o->metrics_listen; }),
      Text("http.listen", "--http-listen", "WARDEN_HTTP_LISTEN",
           "Serve the HTTP/JSON API on host:port (HTTPS with --tls-cert; "
           "empty: off)",
           [](O* o) { return &o->http_listen; }),
      Text("health.listen", "--health-listen", "",
           "A plaintext port serving only the gRPC health service, for "
           "probes that cannot speak TLS (empty: off)",
           [](O* o) { return &o->health_listen; }),
      Text("log.format", "--log-format", "WARDEN_LOG_FORMAT",
           "json (one object per line) or text",
           [](O* o) { return &o->log_format; }),
      Text("log.level", "--log-level", "WARDEN_LOG_LEVEL",
           "debug, info, warn or error", [](O* o) { return &o->log_level; }),
  };
  // The one repeated setting.
  s.push_back(Setting{
      .path = "adapters.local.chain_rpc",
      .flag = "--chain-rpc",
      .help = "A chain's JSON-RPC endpoint: CHAIN=URL or CHAIN:ID=URL",
      .repeated = true,
      .clear = [](O* o) { o->adapters.local.chain_rpcs.clear(); },
      .set =
          [](const std::string& v, O* o) {
            o->adapters.local.chain_rpcs.push_back(v);
            return absl::OkStatus();
          },
      .get =
          [](const O& o) {
            return absl::StrJoin(o.adapters.local.chain_rpcs, ", ");
          },
  });
  s.push_back(Setting{
      .path = "adapters.privy.list_token",
      .flag = "--privy-list-token",
      .help = "A token whose Privy transfers reconciliation lists: "
              "CHAIN=CONTRACT",
      .repeated = true,
      .clear = [](O* o) { o->adapters.privy.list_tokens.clear(); },
      .set =
          [](const std::string& v, O* o) {
            const size_t eq = v.find('=');
            if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
              return absl::InvalidArgumentError(
                  absl::StrCat("\"", v, "\": expected CHAIN=CONTRACT"));
            }
            o->adapters.privy.list_tokens.push_back(v);
            return absl::OkStatus();
          },
      .get =
          [](const O& o) {
            return absl::StrJoin(o.adapters.privy.list_tokens, ", ");
          },
  });
  return s;
}

// The keys allowed under `prefix` ("" for the top level).
std::set<std::string> KeysUnder(const std::string& prefix) {
  std::set<std::string> keys;
  for (const Setting& s : Settings()) {
    if (!prefix.empty() && s.path.rfind(prefix + ".", 0) != 0) continue;
    const std::string rest =
        prefix.empty() ? s.path : s.path.substr(prefix.size() + 1);
    keys.insert(rest.substr(0, rest.find('.')));
  }
  return keys;
}

const Setting* SettingAt(const std::string& path) {
  for (const Setting& s : Settings()) {
    if (s.path == path) return &s;
  }
  return nullptr;
}

void Walk(const YAML::Node& node, const std::string& prefix,
          ServerOptions* options, std::vector<std::string>* errors) {
  const std::set<std::string> allowed = KeysUnder(prefix);
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (!allowed.contains(key)) {
      errors->push_back(absl::StrCat(
          path, ": unknown key (allowed: ", absl::StrJoin(allowed, ", "), ")"));
      continue;
    }
    const Setting* setting = SettingAt(path);
    const YAML::Node& value = entry.second;
    if (setting == nullptr) {
      if (!value.IsMap()) {
        errors->push_back(absl::StrCat(path, ": must be a mapping"));
      } else {
        Walk(value, path, options, errors);
      }
      continue;
    }
    std::vector<std::string> values;
    if (setting->repeated && value.IsSequence()) {
      for (const auto& item : value) {
        if (!item.IsScalar()) {
          errors->push_back(absl::StrCat(path, ": must be a list of strings"));
          return;
        }
        values.push_back(item.as<std::string>());
      }
    } else if (value.IsScalar()) {
      values.push_back(value.as<std::string>());
    } else if (!value.IsNull()) {
      errors->push_back(absl::StrCat(
          path, setting->repeated ? ": must be a list" : ": must be a value"));
      continue;
    }
    for (const std::string& v : values) {
      if (absl::Status st = setting->set(v, options); !st.ok()) {
        errors->push_back(absl::StrCat(path, ": ", st.message()));
      }
    }
  }
}

// A keyword/value connection string (libpq's "host=pg password=x") with
// the password's value masked.
std::string RedactKeywords(absl::string_view value) {
  std::string out;
  for (;;) {
    const auto [at, end] = pg::KeywordValue(value, "password");
    if (at == absl::string_view::npos) break;
    absl::StrAppend(&out, value.substr(0, at), "***");
    value.remove_prefix(end);
  }
  absl::StrAppend(&out, value);
  return out;
}

// One URL with its credentials masked: everything before the last '@' but
// the user (parsers split there, so a password may hold '/' or '@'), and,
// except for database URLs (whose path is a database name), any path or
// query, since node providers and chat webhooks put their keys there
// (https://mainnet.infura.io/v3/KEY); a database URL's query too (libpq
// takes password= there).
std::string RedactUrl(absl::string_view url) {
  const size_t sep = url.find("://");
  const absl::string_view scheme = url.substr(0, sep);
  absl::string_view rest = url.substr(sep + 3);
  std::string out = absl::StrCat(scheme, "://");
  if (const size_t at = rest.rfind('@'); at != absl::string_view::npos) {
    const absl::string_view userinfo = rest.substr(0, at);
    const size_t colon = userinfo.find(':');
    absl::string_view user = userinfo.substr(0, colon);
    if (user.find_first_of("/?#") != absl::string_view::npos) user = "***";
    absl::StrAppend(&out, user, colon == absl::string_view::npos ? "" : ":***",
                    "@");
    rest.remove_prefix(at + 1);
  }
  const size_t path_at = std::min(rest.find_first_of("/?#"), rest.size());
  absl::StrAppend(&out, rest.substr(0, path_at));
  const absl::string_view path = rest.substr(path_at);
  const bool database = scheme == "redis" || scheme == "rediss" ||
                        scheme == "postgres" || scheme == "postgresql";
  if (database) {
    const size_t query_at = path.find_first_of("?#");
    absl::StrAppend(&out, path.substr(0, query_at),
                    query_at == absl::string_view::npos ? "" : "?***");
  } else if (path.empty() || path == "/") {
    absl::StrAppend(&out, path);
  } else {
    absl::StrAppend(&out, "/***");
  }
  return out;
}

}  // namespace

std::string Redacted(absl::string_view value) {
  const size_t sep = value.find("://");
  if (sep == absl::string_view::npos) return RedactKeywords(value);
  // Several URLs (a Redis Cluster's seeds): each masked.
  if (value.find("://", sep + 3) != absl::string_view::npos &&
      value.find(',') != absl::string_view::npos) {
    std::vector<std::string> each;
    for (absl::string_view part : absl::StrSplit(value, ',')) {
      each.push_back(Redacted(part));
    }
    return absl::StrJoin(each, ",");
  }
  // What precedes the scheme ("base:8453=" in a chain_rpc entry) stays.
  size_t start = sep;
  while (start > 0 &&
         (absl::ascii_isalnum(value[start - 1]) || value[start - 1] == '+' ||
          value[start - 1] == '-' || value[start - 1] == '.')) {
    --start;
  }
  return absl::StrCat(value.substr(0, start), RedactUrl(value.substr(start)));
}

const std::vector<Setting>& Settings() {
  static const auto* settings = new std::vector<Setting>(MakeSettings());
  return *settings;
}

absl::Status ApplyConfigFile(const std::string& file, const std::string& yaml,
                             ServerOptions* options) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": not YAML: ", e.what()));
  }
  if (root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": must be a mapping of settings"));
  }
  std::vector<std::string> errors;
  try {
    Walk(root, "", options, &errors);
  } catch (const YAML::Exception& e) {
    // A key that is not a plain value, for one.
    errors.push_back(absl::StrCat("not a mapping of settings: ", e.what()));
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(file, ": ", absl::StrJoin(errors, "; ")));
}

absl::Status ApplyEnvironment(ServerOptions* options) {
  for (const Setting& s : Settings()) {
    if (s.env.empty()) continue;
    const char* value = std::getenv(s.env.c_str());
    if (value == nullptr || *value == '\0') continue;
    if (absl::Status st = s.set(value, options); !st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(s.env, ": ", st.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyFlags(
    const std::map<std::string, std::vector<std::string>>& flags,
    ServerOptions* options) {
  for (const Setting& s : Settings()) {
    auto it = flags.find(s.flag);
    if (it == flags.end()) continue;
    if (s.repeated) s.clear(options);  // Flags replace the file's list.
    for (const std::string& v : it->second) {
      if (absl::Status st = s.set(v, options); !st.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(s.flag, ": ", st.message()));
      }
    }
  }
  return absl::OkStatus();
}

namespace {

// A secret: the whole file (surrounding whitespace trimmed), else the
// environment variable. INVALID_ARGUMENT naming the setting when it cannot
// be read, or is `required` and nowhere.
absl::StatusOr<std::string> ReadSecret(const std::string& file, const char* env,
                                       const std::string& setting,
                                       bool required) {
  std::string secret;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat(setting, ": cannot read \"", file, "\""));
    }
    secret = std::string(absl::StripAsciiWhitespace(text.str()));
    if (secret.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(setting, ": \"", file, "\" is empty"));
    }
  } else if (const char* value = std::getenv(env)) {
    secret = std::string(absl::StripAsciiWhitespace(value));
  }
  if (secret.empty() && required) {
    return absl::InvalidArgumentError(
        absl::StrCat(setting, ": a secret is required: set it or ", env));
  }
  return secret;
}

}  // namespace

absl::Status ResolveSecrets(ServerOptions* options) {
  if (options->webhook_format != "json" && options->webhook_format != "slack") {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook.format: ", Quote(options->webhook_format),
                     " must be json or slack"));
  }
  options->webhook.slack = options->webhook_format == "slack";
  if (!options->webhook.url.empty()) {
    if (!options->webhook_secret_file.empty()) {
      std::ifstream in(options->webhook_secret_file);
      std::getline(in, options->webhook.secret);
      if (!in && options->webhook.secret.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("webhook.secret_file: cannot read \"",
                         options->webhook_secret_file, "\""));
      }
    } else if (const char* env = std::getenv("WARDEN_WEBHOOK_SECRET")) {
      options->webhook.secret = env;
    }
    if (options->webhook.secret.empty()) {
      return absl::InvalidArgumentError(
          "webhook.url needs a secret: webhook.secret_file "
          "(--webhook-secret-file) or WARDEN_WEBHOOK_SECRET");
    }
  }
  struct VendorSecret {
    bool needed;
    const std::string& file;
    const char* env;
    const char* setting;
    bool required;
    std::string* out;
  };
  for (const VendorSecret& v : {
           VendorSecret{!options->adapters.cdp.api.api_key_id.empty(),
                        options->adapters.cdp.api_key_secret_file,
                        "WARDEN_CDP_API_KEY_SECRET",
                        "adapters.cdp.api_key_secret_file", true,
                        &options->adapters.cdp.api.api_key_secret},
           VendorSecret{!options->adapters.cdp.api.api_key_id.empty(),
                        options->adapters.cdp.wallet_secret_file,
                        "WARDEN_CDP_WALLET_SECRET",
                        "adapters.cdp.wallet_secret_file", true,
                        &options->adapters.cdp.api.wallet_secret},
           VendorSecret{!options->adapters.privy.api.app_id.empty(),
                        options->adapters.privy.app_secret_file,
                        "WARDEN_PRIVY_APP_SECRET",
                        "adapters.privy.app_secret_file", true,
                        &options->adapters.privy.api.app_secret},
           VendorSecret{!options->adapters.privy.api.app_id.empty(),
                        options->adapters.privy.authorization_key_file,
                        "WARDEN_PRIVY_AUTHORIZATION_KEY",
                        "adapters.privy.authorization_key_file", false,
                        &options->adapters.privy.api.authorization_key},
       }) {
    if (!v.needed) continue;
    WARDEN_ASSIGN_OR_RETURN(*v.out,
                            ReadSecret(v.file, v.env, v.setting, v.required));
  }
  if (!options->adapters.local.keystore_dir.empty()) {
    absl::StatusOr<std::string> password = evm::KeystorePassword(
        options->adapters.local.password_file, "adapters.local.password_file");
    if (!password.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "adapters.local.keystore: ", password.status().message()));
    }
    options->adapters.local.password = *std::move(password);
  }
  if (!options->adapters.local.chain_rpc_file.empty()) {
    WARDEN_ASSIGN_OR_RETURN(
        std::string entries,
        ReadSecret(options->adapters.local.chain_rpc_file, "",
                   "adapters.local.chain_rpc_file", true));
    for (absl::string_view line : absl::StrSplit(entries, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (!line.empty() && line[0] != '#') {
        options->adapters.local.chain_rpcs.emplace_back(line);
      }
    }
  }
  return absl::OkStatus();
}

std::string DescribeConfig(const ServerOptions& options) {
  std::string out;
  for (const Setting& s : Settings()) {
    std::string value = s.get(options);
    if (s.repeated) {
      std::vector<std::string> items;
      for (absl::string_view item : absl::StrSplit(value, ", ")) {
        items.push_back(Redacted(item));
      }
      value = absl::StrJoin(items, ", ");
    } else {
      value = Redacted(value);
    }
    absl::StrAppend(&out, s.path, ": \"", value, "\"\n");
  }
  return out;
}

}  // namespace warden
