// wardend's settings: the YAML config file (unknown keys and bad values
// named by path), environment variables and flags over it in that order,
// secrets read from files, every setting documented, and --check-config.

#include "services/server_config.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/wardend_process.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

TEST(ServerConfigTest, FileSetsNestedKeys) {
  ServerOptions o;
  ASSERT_TRUE(ApplyConfigFile("w.yaml", R"(
listen: 0.0.0.0:7400
redis: {url: "redis://r:6379", pool_size: 32, command_timeout_ms: 250}
postgres: {url: "postgresql://app@pg/warden"}
audit: {batch_max_rows: 256}
workers: {threads: 8}
shutdown: {drain_delay_ms: 5000, grace_ms: 20000}
tls: {cert_file: /certs/tls.crt, key_file: /certs/tls.key}
auth: {insecure_no_auth: false}
adapters:
  local:
    keystore: /keys
    chain_rpc: ["base=https://base.example", "devnet:31337=http://n:8545"]
metrics: {listen: "0.0.0.0:9464"}
log: {format: text}
)",
                              &o)
                  .ok());
  EXPECT_EQ(o.listen, "0.0.0.0:7400");
  EXPECT_EQ(o.redis_url, "redis://r:6379");
  EXPECT_EQ(o.redis_pool_size, 32u);
  EXPECT_EQ(o.redis_command_timeout, absl::Milliseconds(250));
  EXPECT_EQ(o.postgres_url, "postgresql://app@pg/warden");
  EXPECT_EQ(o.audit_batch_max_rows, 256u);
  EXPECT_EQ(o.worker_threads, 8u);
  EXPECT_EQ(o.drain_delay, absl::Seconds(5));
  EXPECT_EQ(o.shutdown_grace, absl::Seconds(20));
  EXPECT_EQ(o.tls_key_path, "/certs/tls.key");
  EXPECT_TRUE(o.auth_required);
  EXPECT_EQ(o.adapters.local.keystore_dir, "/keys");
  EXPECT_THAT(o.adapters.local.chain_rpcs,
              ::testing::ElementsAre("base=https://base.example",
                                     "devnet:31337=http://n:8545"));
  EXPECT_EQ(o.metrics_listen, "0.0.0.0:9464");
  EXPECT_EQ(o.log_format, "text");
  // What was not set keeps its default.
  EXPECT_EQ(o.max_queued_calls, ServerOptions().max_queued_calls);
}

TEST(ServerConfigTest, ErrorsNameTheKey) {
  struct Case {
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"redis: {pool_sise: 3}",
       "w.yaml: redis.pool_sise: unknown key (allowed: cluster, "
       "command_timeout_ms, "
       "connect_timeout_ms, pool_size, tls, url)"},
      {"listn: x", "listn: unknown key"},
      {"redis: {pool_size: 0}",
       "redis.pool_size: \"0\" must be a whole number from 1 to 1024"},
      {"shutdown: {grace_ms: soon}",
       "shutdown.grace_ms: \"soon\" must be a whole number"},
      {"embedded: yes", "embedded: \"yes\" must be true or false"},
      {"redis: redis://x", "redis: must be a mapping"},
      {"listen: [a, b]", "listen: must be a value"},
      {"adapters: {local: {chain_rpc: [[x]]}}",
       "adapters.local.chain_rpc: must be a list of strings"},
      {"- a", "w.yaml: must be a mapping of settings"},
      {"a: [", "w.yaml: not YAML"},
      {"? [a, b]\n: 1", "w.yaml: not a mapping of settings"},
  };
  for (const Case& c : cases) {
    ServerOptions o;
    absl::Status st = ApplyConfigFile("w.yaml", c.yaml, &o);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_THAT(st.message(), HasSubstr(c.error)) << c.yaml;
  }
  // Every problem is reported at once.
  ServerOptions o;
  absl::Status st = ApplyConfigFile("w.yaml", "a: 1\nb: 2\n", &o);
  EXPECT_THAT(st.message(), HasSubstr("a: unknown key"));
  EXPECT_THAT(st.message(), HasSubstr("b: unknown key"));
}

TEST(ServerConfigTest, EnvironmentOverridesFileAndFlagsOverrideBoth) {
  ServerOptions o;
  ASSERT_TRUE(ApplyConfigFile("w.yaml",
                              "redis: {url: redis://file}\nlisten: file:1\n"
                              "adapters: {local: {chain_rpc: [a=http://f]}}",
                              &o)
                  .ok());
  ::setenv("WARDEN_REDIS_URL", "redis://env", 1);
  ::setenv("WARDEN_LISTEN", "env:2", 1);
  ASSERT_TRUE(ApplyEnvironment(&o).ok());
  ::unsetenv("WARDEN_REDIS_URL");
  ::unsetenv("WARDEN_LISTEN");
  EXPECT_EQ(o.redis_url, "redis://env");
  EXPECT_EQ(o.listen, "env:2");
  ASSERT_TRUE(ApplyFlags({{"--listen", {"flag:3"}},
                          {"--chain-rpc", {"b=http://g", "c=http://h"}},
                          {"--insecure-no-auth", {"true"}}},
                         &o)
                  .ok());
  EXPECT_EQ(o.listen, "flag:3");
  EXPECT_EQ(o.redis_url, "redis://env");
  EXPECT_THAT(o.adapters.local.chain_rpcs,
              ::testing::ElementsAre("b=http://g", "c=http://h"));
  EXPECT_FALSE(o.auth_required);
  absl::Status bad = ApplyFlags({{"--worker-threads", {"0"}}}, &o);
  EXPECT_THAT(bad.message(), HasSubstr("--worker-threads: \"0\" must be"));
}

TEST(ServerConfigTest, SecretsComeFromFilesOrEnvironment) {
  testing::TempDir dir;
  ServerOptions o;
  o.webhook.url = "https://hooks.example/warden";
  EXPECT_THAT(ResolveSecrets(&o).message(),
              HasSubstr("webhook.url needs a secret"));
  o.webhook_secret_file = dir.Write("hook", "s3cret\n");
  ASSERT_TRUE(ResolveSecrets(&o).ok());
  EXPECT_EQ(o.webhook.secret, "s3cret");
  EXPECT_FALSE(o.webhook.slack);
  o.webhook_format = "slack";
  ASSERT_TRUE(ResolveSecrets(&o).ok());
  EXPECT_TRUE(o.webhook.slack);
  o.webhook_format = std::string("teams\n", 6);
  EXPECT_THAT(ResolveSecrets(&o).message(),
              HasSubstr("webhook.format: \"teams\\n\" must be json or slack"));
  o.webhook_format = "json";

  o.adapters.local.keystore_dir = dir.path();
  ::unsetenv("WARDEN_KEYSTORE_PASSWORD");
  EXPECT_THAT(ResolveSecrets(&o).message(),
              HasSubstr("keystore password is required"));
  ::setenv("WARDEN_KEYSTORE_PASSWORD", "pw", 1);
  ASSERT_TRUE(ResolveSecrets(&o).ok());
  ::unsetenv("WARDEN_KEYSTORE_PASSWORD");
  EXPECT_EQ(o.adapters.local.password, "pw");
  // Node URLs holding a provider's key come from a file.
  o.adapters.local.keystore_dir.clear();
  o.adapters.local.chain_rpcs = {"anvil=http://127.0.0.1:8545"};
  o.adapters.local.chain_rpc_file =
      dir.Write("rpc",
                "# providers\nethereum=https://mainnet.example/v3/KEY1\n\n"
                "  base=https://base.example/KEY2  \n");
  ASSERT_TRUE(ResolveSecrets(&o).ok());
  EXPECT_THAT(o.adapters.local.chain_rpcs,
              ::testing::ElementsAre("anvil=http://127.0.0.1:8545",
                                     "ethereum=https://mainnet.example/v3/KEY1",
                                     "base=https://base.example/KEY2"));
  o.adapters.local.chain_rpc_file = dir.path() + "/missing";
  EXPECT_THAT(ResolveSecrets(&o).message(),
              HasSubstr("adapters.local.chain_rpc_file: cannot read"));
  o.adapters.local.chain_rpc_file.clear();
  o.adapters.local.chain_rpcs.clear();
  // Secrets are not settings: never printed; nor are URL passwords.
  EXPECT_EQ(DescribeConfig(o).find("s3cret"), std::string::npos);
  o.postgres_url = "postgresql://warden_app:hunter2@pg:5432/warden";
  EXPECT_THAT(DescribeConfig(o),
              HasSubstr("postgresql://warden_app:***@pg:5432/warden"));
  EXPECT_EQ(DescribeConfig(o).find("hunter2"), std::string::npos);
  EXPECT_THAT(DescribeConfig(o), HasSubstr("webhook.secret_file: \""));
  // Node providers and chat webhooks keep their keys in the URL's path.
  o.adapters.local.chain_rpcs = {
      "ethereum=https://mainnet.infura.io/v3/KEY1",
      "base:8453=https://u:KEY2@base.example:8545/?key=KEY3",
      "anvil=http://127.0.0.1:8545"};
  o.webhook.url = "https://hooks.slack.com/services/T0/B0/KEY4";
  const std::string described = DescribeConfig(o);
  for (const char* key : {"KEY1", "KEY2", "KEY3", "KEY4"}) {
    EXPECT_EQ(described.find(key), std::string::npos) << key << described;
  }
  EXPECT_THAT(described,
              HasSubstr("chain_rpc: \"ethereum=https://mainnet.infura.io/***, "
                        "base:8453=https://u:***@base.example:8545/***, "
                        "anvil=http://127.0.0.1:8545\""));
  EXPECT_THAT(described,
              HasSubstr("webhook.url: \"https://hooks.slack.com/***\""));
}

// Passwords with the characters a URL parser splits on, database URL
// queries and libpq keyword strings are masked too.
TEST(ServerConfigTest, RedactedMasksEveryPasswordForm) {
  for (const auto& [value, shown] :
       std::vector<std::pair<std::string, std::string>>{
           {"redis://:ab/cd@cache:6379/0", "redis://:***@cache:6379/0"},
           {"redis://:a,b c@cache:6379", "redis://:***@cache:6379"},
           {"redis://warden:p@ss@cache:6379", "redis://warden:***@cache:6379"},
           {"redis://cache:6379/2", "redis://cache:6379/2"},
           {"rediss://:pw1@a:1,rediss://:pw1@b:2",
            "rediss://:***@a:1,rediss://:***@b:2"},
           {"postgresql://app@pg/warden?password=hunter2&sslmode=require",
            "postgresql://app@pg/warden?***"},
           {"host=pg user=app password=hunter2 dbname=warden",
            "host=pg user=app password=*** dbname=warden"},
           {"host=pg password = 'hun ter\\'2' dbname=warden",
            "host=pg password = *** dbname=warden"},
           {"base:8453=https://x.example/v2/KEY",
            "base:8453=https://x.example/***"},
           {"/var/lib/warden/keys", "/var/lib/warden/keys"},
       }) {
    EXPECT_EQ(Redacted(value), shown) << value;
  }
}

// docs/configuration.md's reference names every setting, its flag and its
// default; and nothing that is not a setting.
TEST(ServerConfigTest, ReferenceDocumentsEverySetting) {
  std::ifstream in(std::string(WARDEN_SOURCE_DIR) + "/docs/configuration.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const ServerOptions defaults;
  for (const Setting& s : Settings()) {
    const std::string row = "| `" + s.path + "` | `" + s.flag;
    const size_t at = doc.find(row);
    ASSERT_NE(at, std::string::npos) << "no row for " << s.path;
    const std::string line = doc.substr(at, doc.find('\n', at) - at);
    const std::string value = s.get(defaults);
    EXPECT_THAT(line,
                HasSubstr(value.empty() ? "| none |" : "| `" + value + "` |"))
        << s.path << " default";
    if (!s.env.empty()) {
      EXPECT_THAT(line, HasSubstr("`" + s.env + "`")) << s.path;
    }
  }
  size_t rows = 0;
  for (size_t at = doc.find("\n| `"); at != std::string::npos;
       at = doc.find("\n| `", at + 1)) {
    ++rows;
  }
  EXPECT_EQ(rows, Settings().size());
}

TEST(ServerConfigTest, CheckConfigNamesTheBadKeyAndExits) {
  testing::TempDir dir;
  const std::string bad = dir.Write(
      "bad.yaml", "embedded: true\nbundle: b.yaml\nredis: {poolsize: 2}\n");
  absl::StatusOr<testing::CommandResult> r = testing::RunCommand(
      {WARDEND_PATH, "--config", bad, "--check-config"}, absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("redis.poolsize: unknown key"));

  const std::string good = dir.Write(
      "good.yaml", "embedded: true\nbundle: b.yaml\nworkers: {threads: 4}\n");
  r = testing::RunCommand({WARDEND_PATH, "--config", good, "--check-config",
                           "--worker-threads", "6"},
                          absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_THAT(r->out, HasSubstr("workers.threads: \"6\""));
  EXPECT_THAT(r->out, HasSubstr("configuration is valid"));

  // Valid keys, inconsistent settings: also refused.
  const std::string both =
      dir.Write("both.yaml", "embedded: true\nredis: {url: \"redis://x:1\"}\n");
  r = testing::RunCommand({WARDEND_PATH, "--config", both, "--check-config"},
                          absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("exclude each other"));

  // TLS to Redis: the files are read and checked, and need rediss://.
  const std::string bundle = dir.Write("b.yaml", "org: {id: acme}\n");
  const std::vector<std::pair<std::vector<std::string>, std::string>> tls = {
      {{"--redis", "redis://r:1", "--redis-tls-ca", bundle},
       "need a rediss:// URL"},
      {{"--redis", "rediss://r:1", "--redis-tls-ca", dir.path() + "/none.pem"},
       "CA file \"" + dir.path() + "/none.pem\""},
      {{"--redis", "rediss://r:1", "--redis-tls-ca", bundle},
       "CA file \"" + bundle + "\""},
      {{"--redis", "rediss://r:1", "--redis-tls-cert", bundle},
       "a client certificate and its key go together"},
      {{"--redis", "rediss://r:1", "--redis-tls-server-name", "cache\nx"},
       "--redis-tls-server-name: a DNS name or an IP address"},
      {{"--redis", "rediss://r:1", "--redis-tls-server-name",
        std::string(64 << 10, 'a')},  // Under exec's 128 KiB per argument.
       "at most 253 bytes"},
  };
  for (const auto& [flags, error] : tls) {
    std::vector<std::string> argv = {WARDEND_PATH, "--bundle", bundle,
                                     "--check-config"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    r = testing::RunCommand(argv, absl::Seconds(30));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 2) << flags[3];
    EXPECT_THAT(r->err, HasSubstr(error)) << flags[3];
  }
  r = testing::RunCommand({WARDEND_PATH, "--bundle", bundle, "--check-config",
                           "--redis", "rediss://cache.internal:6380"},
                          absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->err;  // The system's trust store.

  // A read replica needs the primary it replicates.
  r = testing::RunCommand(
      {WARDEND_PATH, "--bundle", bundle, "--check-config", "--redis",
       "redis://r:1", "--postgres-read-url", "postgresql://u@replica/warden"},
      absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("--postgres-read-url"));
}

}  // namespace
}  // namespace warden
