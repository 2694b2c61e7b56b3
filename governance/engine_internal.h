#ifndef WARDEN_GOVERNANCE_ENGINE_INTERNAL_H_
#define WARDEN_GOVERNANCE_ENGINE_INTERNAL_H_

// What the engine's files (engine*.cc, kill_switch.cc, recovery.cc) share:
// ids and the checks of request fields. Not part of the engine's API.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/const_init.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "governance/credentials.h"
#include "governance/quote.h"

namespace warden::engine_internal {

// `prefix` and 128 random bits in hex. Ids need to be unique, not secret.
inline std::string NewId(absl::string_view prefix) {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen;
  absl::MutexLock lock(&mu);
  return absl::StrFormat("%s%016x%016x", prefix, absl::Uniform<uint64_t>(*gen),
                         absl::Uniform<uint64_t>(*gen));
}

inline absl::Status FieldError(absl::StatusCode code, absl::string_view field,
                               absl::string_view problem) {
  return absl::Status(code, absl::StrCat(field, ": ", problem));
}

// A request id field: required, and shaped like an id (so that no unbounded
// or binary text reaches a lookup, a log line or an error message).
inline absl::Status CheckId(absl::string_view field, const std::string& value) {
  if (value.empty()) {
    return FieldError(absl::StatusCode::kInvalidArgument, field, "is required");
  }
  if (IsValidId(value)) return absl::OkStatus();
  return FieldError(absl::StatusCode::kInvalidArgument, field,
                    absl::StrCat(Quote(value),
                                 " is not an id (1-64 characters of A-Z, "
                                 "a-z, 0-9, _, - and .)"));
}

inline absl::Status CheckLength(absl::string_view field,
                                const std::string& value, size_t max) {
  if (value.size() <= max) return absl::OkStatus();
  return FieldError(
      absl::StatusCode::kInvalidArgument, field,
      absl::StrCat("is ", value.size(), " bytes; the limit is ", max));
}

}  // namespace warden::engine_internal

#endif  // WARDEN_GOVERNANCE_ENGINE_INTERNAL_H_
