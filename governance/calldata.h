#ifndef WARDEN_GOVERNANCE_CALLDATA_H_
#define WARDEN_GOVERNANCE_CALLDATA_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "governance/policy.h"

// Contract calls: method signatures, selectors, the arguments of calldata
// (Solidity's ABI encoding), and what a call does with money. The one place
// that reads calldata: Authorize values and checks a call with it, and
// SubmitTransaction sends the same bytes.
namespace warden::abi {

// The largest calldata accepted, in bytes.
inline constexpr size_t kMaxCalldataBytes = 64 << 10;

// Calldata given as 0x-hex: its bytes, or INVALID_ARGUMENT naming `field`.
// Empty text is no calldata.
absl::StatusOr<std::string> ParseHex(absl::string_view field,
                                     absl::string_view hex);

// An unsigned 256-bit ABI word.
struct Uint256 {
  absl::uint128 high = 0;
  absl::uint128 low = 0;

  bool FitsIn128() const { return high == 0; }
  friend bool operator==(const Uint256&, const Uint256&) = default;
};

// 2^bits - 1: the "unlimited" amount of an approval of that width.
Uint256 MaxOfBits(int bits);

// A method signature, e.g. "transfer(address to, uint256 amount)" (names
// optional). Argument types are address, bool, uint<M>, int<M>, bytes<M>,
// bytes and string; tuples and arrays are refused (their arguments could
// not be located without a full decoder, and a rule must never misread).
struct Method {
  std::string name;
  std::vector<std::string> types;   // Canonical: "uint" reads "uint256".
  std::vector<std::string> params;  // Names, "" where none was given.
  std::string canonical;            // "transfer(address,uint256)"
  std::string selector;             // 4 bytes: keccak256(canonical)[0:4].
};

// INVALID_ARGUMENT (no field named: callers prefix it) when malformed.
absl::StatusOr<Method> ParseSignature(absl::string_view text);

// "0xa9059cbb".
std::string SelectorHex(absl::string_view selector);

// The 32-byte word of argument `index` (0-based) of `calldata`, or nullopt
// when the calldata is too short to hold it.
std::optional<absl::string_view> Word(absl::string_view calldata, size_t index);
Uint256 WordAsUint(absl::string_view word);
// "0x" and 40 lowercase hex digits; nullopt unless the word's first 12
// bytes are zero (how an address argument is encoded).
std::optional<std::string> WordAsAddress(absl::string_view word);

// What a call does with money, as far as Warden understands it.
struct Call {
  enum class Kind {
    // transfer / transferFrom on a declared token's contract: a spend of
    // that token, to `counterparty`.
    kTokenTransfer,
    // approve / increaseAllowance / permit on a declared token's contract,
    // or approve on Permit2: lets `counterparty` move up to `amount`.
    kApproval,
    // Anything else: governed by the agent's contract rules.
    kOther,
  };
  Kind kind = Kind::kOther;
  std::string contract;  // Lowercase 0x-hex.
  std::string selector;  // 4 bytes.
  // The known method's signature ("transfer(address,uint256)"), else the
  // selector as hex.
  std::string method;
  // kTokenTransfer, kApproval: the asset's symbol and declaration.
  std::string token;
  const Asset* asset = nullptr;
  std::string counterparty;  // The recipient, or the spender.
  Uint256 amount;
  // kApproval: an increase of the allowance (its total is then unknown),
  // and whether the amount is the largest of its width.
  bool increase = false;
  bool unlimited = false;
  absl::string_view calldata;  // The bytes read; not owned.
};

// Permit2's contract, the same on every EVM chain.
inline constexpr char kPermit2[] = "0x000000000022d473030f116ddee9f6b43ac78ba3";

// Reads `calldata` sent to `contract` on `chain` against the tokens that
// `policy` declares there. INVALID_ARGUMENT naming "calldata" when it is
// shorter than a selector, or than the arguments of the known method it
// names, or an address argument is not an address.
absl::StatusOr<Call> Classify(const Policy& policy, const std::string& chain,
                              const std::string& contract,
                              absl::string_view calldata);

// Why a contract rule for `selector` on `contract` could never apply, when
// Warden reads that call itself (a declared token's transfer,
// transferFrom, approve, increaseAllowance or permit; Permit2's approve):
// those are valued by the budgets or checked by approved_spenders.
std::optional<std::string> GovernedElsewhere(const Policy& policy,
                                             const std::string& chain,
                                             const std::string& contract,
                                             absl::string_view selector);

// Whether the argument of `calldata` that `condition` names meets it; else
// why not, e.g. "amount 2000000000 breaks amount <= 1000 USDC".
std::optional<std::string> Unmet(const ArgCondition& condition,
                                 absl::string_view calldata);

}  // namespace warden::abi

#endif  // WARDEN_GOVERNANCE_CALLDATA_H_
