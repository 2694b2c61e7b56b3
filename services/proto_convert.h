#ifndef WARDEN_SERVICES_PROTO_CONVERT_H_
#define WARDEN_SERVICES_PROTO_CONVERT_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "governance/authorization.h"
#include "governance/budget_status.h"
#include "governance/operation.h"
#include "grpcpp/support/status.h"
#include "warden/v1/authorization.pb.h"
#include "warden/v1/common.pb.h"

// Translation between engine types and warden.v1 messages. No rules here.
namespace warden {

// absl and gRPC share the canonical codes, so this maps 1:1.
grpc::Status ToGrpcStatus(const absl::Status& status);

google::protobuf::Timestamp ToTimestamp(absl::Time t);
// A request's timestamp `field`: `unset` when it is not set (all zero);
// INVALID_ARGUMENT naming the field when it is outside what a Timestamp may
// hold (0001-01-01 to 9999-12-31, nanos 0 to 999,999,999).
absl::StatusOr<absl::Time> TimeFromProto(const google::protobuf::Timestamp& ts,
                                         absl::string_view field,
                                         absl::Time unset);
void ToProto(const Authorization& a, v1::Authorization* out);
void ToProto(const Authorization& a, bool replayed, v1::AuthorizeResponse* out);
void ToProto(const Operation& op, v1::Operation* out);
void ToProto(const Violation& v, v1::Violation* out);
void ToProto(const LimitStatus& s, v1::LimitStatus* out);

}  // namespace warden

#endif  // WARDEN_SERVICES_PROTO_CONVERT_H_
