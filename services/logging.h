#ifndef WARDEN_SERVICES_LOGGING_H_
#define WARDEN_SERVICES_LOGGING_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"

namespace warden {

// Logs to stderr through spdlog: "json", one object per line
// ({"time","level","message"}, plus "request_id", "principal" and "rpc"
// for lines logged while serving a call), or "text". Messages never carry
// secrets: tokens, keys and passwords are not logged anywhere.
// Lines below `level` ("debug", "info", "warn", "error") are dropped; at
// "debug" every call served gets a line with its status and duration.
absl::Status ConfigureLogging(const std::string& format,
                              const std::string& level);
// INVALID_ARGUMENT naming log.format or log.level when either is unknown.
absl::Status ValidateLogging(const std::string& format,
                             const std::string& level);

// The caller's x-request-id metadata (at most 128 bytes), or a new id
// unique in this process.
std::string RequestIdOf(const grpc::CallbackServerContext& context);

// While alive, the lines this thread logs carry the call's request id,
// principal and RPC.
class LogContext {
 public:
  LogContext(std::string request_id, std::string principal, std::string rpc);
  ~LogContext();
  LogContext(const LogContext&) = delete;
  LogContext& operator=(const LogContext&) = delete;
  // Once the caller is known (lines before it carry the request id only).
  void set_principal(std::string principal);
};

}  // namespace warden

#endif  // WARDEN_SERVICES_LOGGING_H_
