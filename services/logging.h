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
absl::Status ConfigureLogging(const std::string& format);

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
};

}  // namespace warden

#endif  // WARDEN_SERVICES_LOGGING_H_
