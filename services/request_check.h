#ifndef WARDEN_SERVICES_REQUEST_CHECK_H_
#define WARDEN_SERVICES_REQUEST_CHECK_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"

// The first look at every request, before authentication or anything that
// depends on it: it must parse, every string must be valid UTF-8, within its
// field's bound and (but for free text) free of control bytes. Errors name
// the field and never quote its value.
namespace warden {

// The bound, in bytes, of a request string field by name (docs/api.md lists
// them): ids 64, idempotency_key 128, memo/comment/reason 1024, yaml 1 MiB.
size_t MaxFieldBytes(absl::string_view field);
// The most values a repeated field of a request may hold.
inline constexpr int kMaxRepeated = 64;

// Parses the serialized `bytes` into `message`. When protobuf refuses them,
// INVALID_ARGUMENT naming why: the string field that is not valid UTF-8
// ("agent_id: is not valid UTF-8"), or that the bytes are not a `message` at
// all.
absl::Status ParseRequest(const std::string& bytes,
                          google::protobuf::Message* message);

// INVALID_ARGUMENT naming the first string field over its bound or holding
// a control byte, or a repeated field with too many values.
absl::Status CheckRequestBounds(const google::protobuf::Message& request);

}  // namespace warden

#endif  // WARDEN_SERVICES_REQUEST_CHECK_H_
