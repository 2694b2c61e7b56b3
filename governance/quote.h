#ifndef WARDEN_GOVERNANCE_QUOTE_H_
#define WARDEN_GOVERNANCE_QUOTE_H_

#include <cstddef>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace warden {

// How much of a value an error message quotes.
inline constexpr size_t kMaxQuotedBytes = 64;

// `value` as an error message may show it: in double quotes, at most
// kMaxQuotedBytes of it, with control bytes, quotes and non-ASCII escaped
// (so that no message can carry a terminal escape or forge a log line), and
// "..." when cut.
inline std::string Quote(absl::string_view value) {
  const bool cut = value.size() > kMaxQuotedBytes;
  return absl::StrCat("\"", absl::CHexEscape(value.substr(0, kMaxQuotedBytes)),
                      cut ? "...\"" : "\"");
}

}  // namespace warden

#endif  // WARDEN_GOVERNANCE_QUOTE_H_
