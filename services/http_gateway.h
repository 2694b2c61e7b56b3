#ifndef WARDEN_SERVICES_HTTP_GATEWAY_H_
#define WARDEN_SERVICES_HTTP_GATEWAY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "services/http_listener.h"

namespace warden {

// The HTTP/JSON API (wardend --http-listen): `POST /warden.v1.<Service>/
// <Method>` with the request message as JSON (protobuf's JSON mapping,
// either field-name style; unknown fields refused), answered with the
// response message as JSON (proto field names, zero values included); a
// server-streaming method answers {"records": [...]}. Each call is made
// through `channel` (the gRPC server's in-process channel) with the
// request's `Authorization` header, so authentication, the role table,
// validation and the audit of refusals are the gRPC API's own; the caller's
// address is passed along for the audit trail and throttling. Errors are
// {"code": "<gRPC code, lower case>", "message": ...} with the HTTP status
// of the code (400 bad input naming the field, 401, 403, 404, 409, 429,
// 503, 504, 500). Only the methods a finance dashboard or the console
// needs are served: the others are 404.
struct HttpGatewayOptions {
  std::string listen;  // host:port
  // Serve HTTPS with this certificate chain and key (PEM files).
  std::string tls_cert_path, tls_key_path;
  // Gatekeeper::gateway_key(), sent with each call's client address.
  std::string gateway_key;
};

absl::StatusOr<std::unique_ptr<HttpListener>> StartHttpGateway(
    const HttpGatewayOptions& options, std::shared_ptr<grpc::Channel> channel);

}  // namespace warden

#endif  // WARDEN_SERVICES_HTTP_GATEWAY_H_
