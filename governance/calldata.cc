#include "governance/calldata.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "governance/keccak.h"
#include "governance/money.h"
#include "governance/quote.h"

namespace warden::abi {
namespace {

constexpr size_t kWordBytes = 32;

// "uint" → "uint256", "int" → "int256"; nullopt unless a type whose
// argument occupies one head word.
std::optional<std::string> CanonicalType(absl::string_view t) {
  if (t == "address" || t == "bool" || t == "bytes" || t == "string") {
    return std::string(t);
  }
  if (t == "uint" || t == "int") return absl::StrCat(t, "256");
  auto sized = [&](absl::string_view prefix, int lo, int hi, int step) {
    absl::string_view rest = t;
    int bits = 0;
    return absl::ConsumePrefix(&rest, prefix) && !rest.empty() &&
           rest[0] != '0' && absl::SimpleAtoi(rest, &bits) && bits >= lo &&
           bits <= hi && bits % step == 0;
  };
  if (sized("uint", 8, 256, 8) || sized("int", 8, 256, 8) ||
      sized("bytes", 1, 32, 1)) {
    return std::string(t);
  }
  return std::nullopt;
}

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '$';
  });
}

std::string SelectorOf(absl::string_view canonical) {
  const std::array<uint8_t, 32> hash = Keccak256(canonical);
  return std::string(reinterpret_cast<const char*>(hash.data()), 4);
}

// The token methods Warden values or treats as approvals.
constexpr char kTransfer[] = "transfer(address,uint256)";
constexpr char kTransferFrom[] = "transferFrom(address,address,uint256)";
constexpr char kApprove[] = "approve(address,uint256)";
constexpr char kIncrease[] = "increaseAllowance(address,uint256)";
constexpr char kPermit[] =
    "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)";
constexpr char kPermit2Approve[] = "approve(address,address,uint160,uint48)";

struct TokenSelectors {
  std::string transfer = SelectorOf(kTransfer);
  std::string transfer_from = SelectorOf(kTransferFrom);
  std::string approve = SelectorOf(kApprove);
  std::string increase = SelectorOf(kIncrease);
  std::string permit = SelectorOf(kPermit);
  std::string permit2_approve = SelectorOf(kPermit2Approve);
};

const TokenSelectors& Selectors() {
  static const TokenSelectors* selectors = new TokenSelectors;
  return *selectors;
}

// The address in argument `index`, or INVALID_ARGUMENT.
absl::StatusOr<std::string> AddressArg(absl::string_view calldata, size_t index,
                                       const char* method) {
  std::optional<absl::string_view> w = Word(calldata, index);
  std::optional<std::string> a = w ? WordAsAddress(*w) : std::nullopt;
  if (!a) {
    return absl::InvalidArgumentError(
        absl::StrCat("calldata: argument ", index, " of ", method,
                     w ? " is not an address (its first 12 bytes must be zero)"
                       : " is missing (the calldata is too short)"));
  }
  return *a;
}

absl::StatusOr<Uint256> UintArg(absl::string_view calldata, size_t index,
                                const char* method) {
  std::optional<absl::string_view> w = Word(calldata, index);
  if (!w) {
    return absl::InvalidArgumentError(
        absl::StrCat("calldata: argument ", index, " of ", method,
                     " is missing (the calldata is too short)"));
  }
  return WordAsUint(*w);
}

std::string UintText(const Uint256& v) {
  if (v.FitsIn128()) return FormatBaseUnits(v.low);
  std::string hex =
      absl::StrCat(absl::Hex(absl::Uint128High64(v.high)),
                   absl::Hex(absl::Uint128Low64(v.high), absl::kZeroPad16),
                   absl::Hex(absl::Uint128High64(v.low), absl::kZeroPad16),
                   absl::Hex(absl::Uint128Low64(v.low), absl::kZeroPad16));
  hex.erase(0, std::min(hex.find_first_not_of('0'), hex.size() - 1));
  return absl::StrCat("0x", hex);
}

}  // namespace

absl::StatusOr<std::string> ParseHex(absl::string_view field,
                                     absl::string_view hex) {
  if (hex.empty()) return std::string();
  absl::string_view digits = hex;
  if (!absl::ConsumePrefix(&digits, "0x") || digits.size() % 2 != 0 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c));
      })) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": must be 0x followed by an even number of hex digits"));
  }
  if (digits.size() / 2 > kMaxCalldataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", digits.size() / 2, " bytes; at most ", kMaxCalldataBytes));
  }
  return absl::HexStringToBytes(digits);
}

Uint256 MaxOfBits(int bits) {
  Uint256 v;
  if (bits >= 128) {
    v.low = absl::Uint128Max();
    v.high = bits >= 256 ? absl::Uint128Max()
                         : (absl::uint128(1) << (bits - 128)) - 1;
  } else {
    v.low = (absl::uint128(1) << bits) - 1;
  }
  return v;
}

absl::StatusOr<Method> ParseSignature(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  const size_t open = trimmed.find('(');
  if (open == absl::string_view::npos || trimmed.back() != ')' ||
      !IsIdentifier(trimmed.substr(0, open))) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text),
                     " is not a method signature such as "
                     "\"transfer(address to, uint256 amount)\""));
  }
  Method m;
  m.name = std::string(trimmed.substr(0, open));
  const absl::string_view inner =
      trimmed.substr(open + 1, trimmed.size() - open - 2);
  if (!absl::StripAsciiWhitespace(inner).empty()) {
    for (absl::string_view param : absl::StrSplit(inner, ',')) {
      std::vector<absl::string_view> words =
          absl::StrSplit(param, ' ', absl::SkipWhitespace());
      std::optional<std::string> type =
          words.empty() ? std::nullopt : CanonicalType(words[0]);
      if (!type) {
        return absl::InvalidArgumentError(absl::StrCat(
            "argument ", m.types.size(), " of ", Quote(text),
            words.empty() ? " is empty"
                          : absl::StrCat(": ", Quote(words[0]),
                                         " is not a supported type (address, "
                                         "bool, uint<M>, int<M>, bytes<M>, "
                                         "bytes, string; no tuples or "
                                         "arrays)")));
      }
      if (words.size() > 2 || (words.size() == 2 && !IsIdentifier(words[1]))) {
        return absl::InvalidArgumentError(
            absl::StrCat("argument ", m.types.size(), " of ", Quote(text),
                         " must be a type and an optional name"));
      }
      std::string name = words.size() == 2 ? std::string(words[1]) : "";
      if (!name.empty() &&
          std::find(m.params.begin(), m.params.end(), name) != m.params.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("argument ", m.types.size(), " of ", Quote(text),
                         ": duplicate name ", Quote(name)));
      }
      m.params.push_back(std::move(name));
      m.types.push_back(*std::move(type));
    }
  }
  m.canonical = absl::StrCat(m.name, "(", absl::StrJoin(m.types, ","), ")");
  m.selector = SelectorOf(m.canonical);
  return m;
}

std::string SelectorHex(absl::string_view selector) {
  return absl::StrCat("0x", absl::BytesToHexString(selector));
}

std::optional<absl::string_view> Word(absl::string_view calldata,
                                      size_t index) {
  const size_t at = 4 + index * kWordBytes;
  if (index > kMaxCalldataBytes || calldata.size() < at + kWordBytes) {
    return std::nullopt;
  }
  return calldata.substr(at, kWordBytes);
}

Uint256 WordAsUint(absl::string_view word) {
  Uint256 v;
  for (size_t i = 0; i < kWordBytes; ++i) {
    absl::uint128& half = i < 16 ? v.high : v.low;
    half = (half << 8) | static_cast<uint8_t>(word[i]);
  }
  return v;
}

std::optional<std::string> WordAsAddress(absl::string_view word) {
  if (!std::all_of(word.begin(), word.begin() + 12,
                   [](char c) { return c == 0; })) {
    return std::nullopt;
  }
  return absl::StrCat("0x", absl::BytesToHexString(word.substr(12)));
}

absl::StatusOr<Call> Classify(const Policy& policy, const std::string& chain,
                              const std::string& contract,
                              absl::string_view calldata) {
  if (calldata.size() < 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("calldata: ", calldata.size(),
                     " bytes; a call starts with a 4-byte method selector"));
  }
  Call call;
  call.calldata = calldata;
  call.contract = absl::AsciiStrToLower(contract);
  call.selector = std::string(calldata.substr(0, 4));
  call.method = SelectorHex(call.selector);
  auto token_at = [&](const std::string& address) {
    for (const auto& [symbol, asset] : policy.assets) {
      auto where = asset.chains.find(chain);
      if (where != asset.chains.end() &&
          absl::EqualsIgnoreCase(where->second, address)) {
        call.token = symbol;
        call.asset = &asset;
        return true;
      }
    }
    return false;
  };
  // Reads (counterparty, amount) from arguments `who` and `how_much` of a
  // method of `kind`.
  auto read = [&](Call::Kind kind, const char* method, size_t who,
                  size_t how_much) -> absl::Status {
    call.kind = kind;
    call.method = method;
    absl::StatusOr<std::string> party = AddressArg(calldata, who, method);
    if (!party.ok()) return party.status();
    absl::StatusOr<Uint256> amount = UintArg(calldata, how_much, method);
    if (!amount.ok()) return amount.status();
    call.counterparty = *std::move(party);
    call.amount = *amount;
    return absl::OkStatus();
  };
  const std::string& selector = call.selector;
  const TokenSelectors& known = Selectors();
  if (call.contract == kPermit2) {
    if (selector != known.permit2_approve) return call;
    absl::StatusOr<std::string> token =
        AddressArg(calldata, 0, kPermit2Approve);
    if (!token.ok()) return token.status();
    if (absl::Status st = read(Call::Kind::kApproval, kPermit2Approve, 1, 2);
        !st.ok()) {
      return st;
    }
    if (!token_at(*token)) call.token = *token;  // Undeclared: no asset.
    call.unlimited = call.amount == MaxOfBits(160);
    return call;
  }
  if (!token_at(call.contract)) return call;
  absl::Status read_status;
  if (selector == known.transfer) {
    read_status = read(Call::Kind::kTokenTransfer, kTransfer, 0, 1);
  } else if (selector == known.transfer_from) {
    read_status = read(Call::Kind::kTokenTransfer, kTransferFrom, 1, 2);
  } else if (selector == known.approve) {
    read_status = read(Call::Kind::kApproval, kApprove, 0, 1);
  } else if (selector == known.increase) {
    read_status = read(Call::Kind::kApproval, kIncrease, 0, 1);
    call.increase = true;
  } else if (selector == known.permit) {
    read_status = read(Call::Kind::kApproval, kPermit, 1, 2);
  } else {
    call.token.clear();
    call.asset = nullptr;
    return call;  // Another method of the token: contract rules govern it.
  }
  if (!read_status.ok()) return read_status;
  call.unlimited =
      call.kind == Call::Kind::kApproval && call.amount == MaxOfBits(256);
  return call;
}

std::optional<std::string> GovernedElsewhere(const Policy& policy,
                                             const std::string& chain,
                                             const std::string& contract,
                                             absl::string_view selector) {
  const TokenSelectors& known = Selectors();
  const std::string address = absl::AsciiStrToLower(contract);
  if (address == kPermit2) {
    if (selector != known.permit2_approve) return std::nullopt;
    return absl::StrCat(kPermit2Approve,
                        " on Permit2 is an approval: approved_spenders "
                        "governs it, not contracts");
  }
  const std::tuple<const std::string&, const char*, const char*> read[] = {
      {known.transfer, kTransfer, "a spend of it: its budgets govern"},
      {known.transfer_from, kTransferFrom, "a spend of it: its budgets govern"},
      {known.approve, kApprove, "an approval: approved_spenders governs"},
      {known.increase, kIncrease, "an approval: approved_spenders governs"},
      {known.permit, kPermit, "an approval: approved_spenders governs"}};
  for (const auto& [symbol, asset] : policy.assets) {
    auto where = asset.chains.find(chain);
    if (where == asset.chains.end() ||
        !absl::EqualsIgnoreCase(where->second, address)) {
      continue;
    }
    for (const auto& [sel, method, what] : read) {
      if (selector == sel) {
        return absl::StrCat(method, " on ", symbol, "'s contract is ", what,
                            " it, not contracts");
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> Unmet(const ArgCondition& c,
                                 absl::string_view calldata) {
  std::optional<absl::string_view> w = Word(calldata, c.index);
  if (!w) {
    return absl::StrCat("argument ", c.param,
                        " is missing (the calldata is too short)");
  }
  if (c.address) {
    std::optional<std::string> a = WordAsAddress(*w);
    if (!a) return absl::StrCat("argument ", c.param, " is not an address");
    if (c.addresses.empty() || std::find(c.addresses.begin(), c.addresses.end(),
                                         *a) != c.addresses.end()) {
      return std::nullopt;
    }
    return absl::StrCat(c.param, " ", *a, " breaks ", c.text);
  }
  const Uint256 v = WordAsUint(*w);
  const bool met =
      (c.values.empty() ||
       (v.FitsIn128() && std::find(c.values.begin(), c.values.end(), v.low) !=
                             c.values.end())) &&
      (!c.min || !v.FitsIn128() || v.low >= *c.min) &&
      (!c.max || (v.FitsIn128() && v.low <= *c.max));
  if (met) return std::nullopt;
  return absl::StrCat(c.param, " ", UintText(v), " breaks ", c.text);
}

}  // namespace warden::abi
