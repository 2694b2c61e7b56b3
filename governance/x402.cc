#include "governance/x402.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace warden::x402 {
namespace {

// The longest DNS name (RFC 1035), in bytes.
constexpr size_t kMaxHostLength = 253;

// Letters, digits, '-' and '.', in labels of 1 to 63 characters that
// neither start nor end with '-'.
bool IsHostName(absl::string_view host) {
  if (host.empty() || host.size() > kMaxHostLength) return false;
  size_t label = 0;
  char previous = '.';
  for (char c : host) {
    if (c == '.') {
      if (label == 0 || previous == '-') return false;
      label = 0;
    } else if (absl::ascii_isalnum(c) || c == '-') {
      if (label == 0 && c == '-') return false;
      if (++label > 63) return false;
    } else {
      return false;
    }
    previous = c;
  }
  return label > 0 && previous != '-';
}

// An IPv6 literal's inside: hex digits, ':' and '.' (an embedded IPv4).
bool IsIpv6Literal(absl::string_view host) {
  return !host.empty() && host.size() <= 45 && absl::StrContains(host, ':') &&
         std::all_of(host.begin(), host.end(), [](char c) {
           return absl::ascii_isxdigit(c) || c == ':' || c == '.';
         });
}

}  // namespace

absl::StatusOr<std::string> ResourceHost(absl::string_view field,
                                         absl::string_view url) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (url.empty()) return bad("required (the URL that answered 402)");
  if (url.size() > kMaxResourceLength) {
    return bad(absl::StrCat("is ", url.size(), " bytes; the limit is ",
                            kMaxResourceLength));
  }
  if (!std::all_of(url.begin(), url.end(),
                   [](char c) { return c > ' ' && c < 0x7f; })) {
    return bad(
        "must be printable ASCII without spaces (percent-encode the "
        "rest)");
  }
  absl::string_view rest = url;
  const std::string lower = absl::AsciiStrToLower(url.substr(0, 8));
  if (absl::StartsWith(lower, "https://")) {
    rest.remove_prefix(8);
  } else if (absl::StartsWith(lower, "http://")) {
    rest.remove_prefix(7);
  } else {
    return bad("must be an http:// or https:// URL");
  }
  absl::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (absl::StrContains(authority, '@')) {
    return bad("must not carry user info (user@host)");
  }
  absl::string_view host = authority;
  if (absl::ConsumePrefix(&host, "[")) {
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return bad("unclosed IPv6 literal");
    const absl::string_view after = host.substr(close + 1);
    host = host.substr(0, close);
    if (!IsIpv6Literal(host)) return bad("malformed IPv6 literal");
    if (!after.empty() &&
        (after[0] != ':' || after.size() < 2 || after.size() > 6 ||
         !std::all_of(after.begin() + 1, after.end(), absl::ascii_isdigit))) {
      return bad("malformed port after the IPv6 literal");
    }
    return absl::AsciiStrToLower(host);
  }
  if (const size_t colon = host.find(':'); colon != absl::string_view::npos) {
    const absl::string_view port = host.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), absl::ascii_isdigit)) {
      return bad(absl::StrCat("port \"", port.substr(0, 16),
                              "\" is not a port number"));
    }
    host = host.substr(0, colon);
  }
  host = absl::StripSuffix(host, ".");
  std::string out = absl::AsciiStrToLower(host);
  if (!IsHostName(out)) {
    return bad(absl::StrCat("host \"", host, "\" is not a host name"));
  }
  return out;
}

absl::StatusOr<std::string> NormalizeDomainPattern(absl::string_view entry) {
  std::string out = absl::AsciiStrToLower(entry);
  absl::string_view name = out;
  const bool wildcard = absl::ConsumePrefix(&name, "*.");
  if (IsHostName(name) || (!wildcard && IsIpv6Literal(name))) return out;
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", entry,
      "\" must be a host name (\"api.example.com\"), an IP address, or \"*.\" "
      "and a host name for the hosts under it"));
}

bool HostMatches(absl::string_view pattern, absl::string_view host) {
  if (absl::ConsumePrefix(&pattern, "*.")) {
    return host.size() > pattern.size() + 1 && absl::EndsWith(host, pattern) &&
           host[host.size() - pattern.size() - 1] == '.';
  }
  return pattern == host;
}

bool HostListed(const std::vector<std::string>& patterns,
                absl::string_view host) {
  return std::any_of(
      patterns.begin(), patterns.end(),
      [&](const std::string& p) { return HostMatches(p, host); });
}

}  // namespace warden::x402
