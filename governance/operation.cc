#include "governance/operation.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace warden {

std::string EncodeX402Terms(const X402Terms& terms) {
  return nlohmann::json{{"name", terms.token_name},
                        {"version", terms.token_version},
                        {"chain_id", terms.chain_id},
                        {"valid_for_s", absl::ToInt64Seconds(terms.valid_for)}}
      .dump();
}

absl::StatusOr<X402Terms> DecodeX402Terms(absl::string_view json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("operation's x402 terms: ", why));
  };
  if (!j.is_object()) return bad("not a JSON object");
  for (const char* key : {"name", "version"}) {
    if (!j.contains(key) || !j[key].is_string()) {
      return bad(absl::StrCat(key, " is not a string"));
    }
  }
  for (const char* key : {"chain_id", "valid_for_s"}) {
    if (!j.contains(key) || !j[key].is_number_unsigned()) {
      return bad(absl::StrCat(key, " is not a positive number"));
    }
  }
  // PayX402 allows at most an hour; a day bounds what a record may say.
  if (j["valid_for_s"].get<uint64_t>() > 86400) {
    return bad("valid_for_s is over a day");
  }
  return X402Terms{.token_name = j["name"].get<std::string>(),
                   .token_version = j["version"].get<std::string>(),
                   .chain_id = j["chain_id"].get<uint64_t>(),
                   .valid_for = absl::Seconds(j["valid_for_s"].get<int64_t>())};
}

const char* OperationStateName(OperationState s) {
  switch (s) {
    case OperationState::kPending:
      return "PENDING";
    case OperationState::kSending:
      return "SENDING";
    case OperationState::kAwaitingApproval:
      return "AWAITING_APPROVAL";
    case OperationState::kSubmitted:
      return "SUBMITTED";
    case OperationState::kConfirmed:
      return "CONFIRMED";
    case OperationState::kFailed:
      return "FAILED";
    case OperationState::kUnknown:
      return "UNKNOWN";
  }
  return "UNKNOWN";
}

std::string OperationIdFor(const std::string& authorization_id) {
  return "op_" + authorization_id;
}

}  // namespace warden
