// libFuzzer target: reading calldata and method signatures. Any bytes sent
// to a token's contract, to Permit2 or elsewhere are classified or refused
// with INVALID_ARGUMENT naming calldata, never read past their end; what
// is read agrees with the words it came from; a signature that parses
// canonicalizes to one that parses to itself; conditions never crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "governance/calldata.h"

namespace {

constexpr char kToken[] = "0x1111111111111111111111111111111111111111";

const warden::Policy& TokenPolicy() {
  static const warden::Policy* p = [] {
    auto* policy = new warden::Policy;
    warden::Asset usdc;
    usdc.symbol = "USDC";
    usdc.decimals = 6;
    usdc.chains = {{"base", kToken}};
    policy->assets["USDC"] = usdc;
    return policy;
  }();
  return *p;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  for (const char* contract : {kToken, warden::abi::kPermit2,
                               "0x2222222222222222222222222222222222222222"}) {
    absl::StatusOr<warden::abi::Call> call =
        warden::abi::Classify(TokenPolicy(), "base", contract, bytes);
    if (!call.ok()) {
      Check(call.status().code() == absl::StatusCode::kInvalidArgument &&
            absl::StartsWith(call.status().message(), "calldata: "));
      continue;
    }
    Check(call->selector == bytes.substr(0, 4));
    if (call->kind == warden::abi::Call::Kind::kOther) continue;
    Check(call->counterparty.size() == 42 && !call->method.empty());
    Check(call->kind == warden::abi::Call::Kind::kApproval ||
          call->asset != nullptr);
  }
  warden::ArgCondition c;
  c.param = "x";
  c.index = size % 4;
  c.address = size % 2 == 0;
  c.max = 1000;
  (void)warden::abi::Unmet(c, bytes);

  absl::StatusOr<warden::abi::Method> m = warden::abi::ParseSignature(bytes);
  if (m.ok()) {
    absl::StatusOr<warden::abi::Method> again =
        warden::abi::ParseSignature(m->canonical);
    Check(again.ok() && again->canonical == m->canonical &&
          again->selector == m->selector && m->selector.size() == 4 &&
          m->types.size() == m->params.size());
  }
  absl::StatusOr<std::string> hex = warden::abi::ParseHex("calldata", bytes);
  Check(hex.ok() || absl::StartsWith(hex.status().message(), "calldata: "));
  return 0;
}
