#ifndef WARDEN_GOVERNANCE_X402_H_
#define WARDEN_GOVERNANCE_X402_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// x402 payments' resource hosts and the x402_domains allowlists that govern
// them (see docs/x402.md).
namespace warden::x402 {

// The longest resource URL accepted, in bytes.
inline constexpr size_t kMaxResourceLength = 2048;

// The host of an x402 resource URL, lowercased, without a port or a
// trailing dot (an IPv6 literal without its brackets). INVALID_ARGUMENT
// naming `field` unless `url` is an http:// or https:// URL of at most
// kMaxResourceLength printable ASCII bytes with a host and no user info.
absl::StatusOr<std::string> ResourceHost(absl::string_view field,
                                         absl::string_view url);

// An x402_domains entry, lowercased: a host name ("api.example.com"), an
// IP address, or "*." and a host name for any host under it (not the name
// itself). INVALID_ARGUMENT saying what is wrong.
absl::StatusOr<std::string> NormalizeDomainPattern(absl::string_view entry);

// Whether `host` (from ResourceHost) is allowed by `pattern` (from
// NormalizeDomainPattern).
bool HostMatches(absl::string_view pattern, absl::string_view host);

// Whether any of `patterns` allows `host`.
bool HostListed(const std::vector<std::string>& patterns,
                absl::string_view host);

}  // namespace warden::x402

#endif  // WARDEN_GOVERNANCE_X402_H_
