// libFuzzer target: the policy bundle parser, on any bytes. A bundle that
// parses must diff cleanly against itself and against an empty policy.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "governance/bundle.h"
#include "governance/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<warden::Policy> p = warden::ParseBundle(text);
  if (!p.ok()) {
    // Every refusal names a path or the bundle.
    if (p.status().code() != absl::StatusCode::kInvalidArgument ||
        p.status().message().empty()) {
      std::abort();
    }
    return 0;
  }
  if (!warden::DiffPolicies(*p, *p).empty()) std::abort();
  (void)warden::DiffPolicies(warden::Policy(), *p);
  (void)warden::RecordRetention(*p);
  return 0;
}
