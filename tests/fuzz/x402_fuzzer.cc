// libFuzzer target: what an x402 payment brings from outside. A resource
// URL either yields a host that is a valid allowlist entry and matches
// itself, or INVALID_ARGUMENT naming `resource`; an allowlist entry
// normalizes to itself; wildcard matching never matches the bare name; an
// operation's stored x402 terms and the local adapter's payment record
// decode or are refused, and what decodes encodes back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "adapters/evm/eip3009.h"
#include "governance/operation.h"
#include "governance/x402.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  using namespace warden;  // NOLINT(build/namespaces)

  absl::StatusOr<std::string> host = x402::ResourceHost("resource", text);
  if (host.ok()) {
    Check(x402::NormalizeDomainPattern(*host).value_or("") == *host);
    Check(x402::HostMatches(*host, *host));
    Check(!x402::HostMatches("*." + *host, *host));
  } else {
    Check(absl::IsInvalidArgument(host.status()));
    Check(absl::StartsWith(host.status().message(), "resource: "));
  }

  absl::StatusOr<std::string> pattern = x402::NormalizeDomainPattern(text);
  if (pattern.ok()) {
    Check(x402::NormalizeDomainPattern(*pattern).value_or("") == *pattern);
  }

  absl::StatusOr<X402Terms> terms = DecodeX402Terms(text);
  if (terms.ok()) {
    Check(DecodeX402Terms(EncodeX402Terms(*terms)).value_or(X402Terms{}) ==
          *terms);
  }

  absl::StatusOr<evm::SignedTransferAuthorization> ref =
      evm::DecodeX402Ref(std::string(evm::kX402RefPrefix) + text);
  if (ref.ok()) {
    const std::string again = evm::EncodeX402Ref(*ref);
    absl::StatusOr<evm::SignedTransferAuthorization> back =
        evm::DecodeX402Ref(again);
    Check(back.ok() && evm::EncodeX402Ref(*back) == again);
  }
  return 0;
}
