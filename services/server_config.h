#ifndef WARDEN_SERVICES_SERVER_CONFIG_H_
#define WARDEN_SERVICES_SERVER_CONFIG_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "services/server.h"

namespace warden {

// One setting of wardend: its key in the YAML config file, its flag, its
// environment variable (if any) and how to read and write it.
struct Setting {
  std::string path;  // "redis.pool_size"
  std::string flag;  // "--redis-pool-size"
  std::string env;   // "WARDEN_REDIS_URL", or empty.
  std::string help;
  bool is_flag = false;  // A switch: given means true.
  // A list: each value given appends; `clear` empties it (flags replace
  // what the file listed).
  bool repeated = false;
  std::function<void(ServerOptions*)> clear;
  // Parses `value` into the options; INVALID_ARGUMENT saying what is wrong
  // (the caller adds where the value came from).
  std::function<absl::Status(const std::string& value, ServerOptions*)> set;
  // The value in `options`, as the config file would spell it.
  std::function<std::string(const ServerOptions&)> get;
};

// Every setting, in the order the reference documents them.
const std::vector<Setting>& Settings();

// Where values come from, weakest first: the defaults of ServerOptions, the
// config file, the WARDEN_* environment variables, then flags. Each step
// names the source in its errors.

// Applies the YAML config file `yaml` (read from `file`) to `options`.
// Unknown keys, wrong types and bad values are INVALID_ARGUMENT naming the
// file and the key's path; every problem is listed.
absl::Status ApplyConfigFile(const std::string& file, const std::string& yaml,
                             ServerOptions* options);
// Applies the environment variables of the settings that have one.
absl::Status ApplyEnvironment(ServerOptions* options);
// Applies flag values (flag name -> values given, in order).
absl::Status ApplyFlags(
    const std::map<std::string, std::vector<std::string>>& flags,
    ServerOptions* options);

// Reads the secrets the options name: the webhook's HMAC key
// (webhook_secret_file, else WARDEN_WEBHOOK_SECRET; required with a webhook
// URL) and the keystore password (keystore_password_file, else
// WARDEN_KEYSTORE_PASSWORD; required with a keystore).
absl::Status ResolveSecrets(ServerOptions* options);

// A setting's value as it may be shown (--check-config, logs): in a URL,
// the password and, but for database URLs, the path and query (where node
// providers and webhooks keep keys) masked; a database URL's query masked;
// in a libpq keyword string, password=.
std::string Redacted(absl::string_view value);

// The effective settings, one "path: value" line each, Redacted. Secrets
// are not settings, so they never appear.
std::string DescribeConfig(const ServerOptions& options);

}  // namespace warden

#endif  // WARDEN_SERVICES_SERVER_CONFIG_H_
