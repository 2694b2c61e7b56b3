#include "governance/calldata.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::abi {
namespace {

using ::testing::HasSubstr;

constexpr char kToken[] = "0x1111111111111111111111111111111111111111";
constexpr char kAlice[] = "0x00000000000000000000000000000000000a11ce";

std::string Word(absl::string_view hex) {
  return std::string(64 - hex.size(), '0') + std::string(hex);
}
std::string AddressWord(absl::string_view address) {
  return Word(address.substr(2));
}

// Calldata from a selector (hex, no 0x) and argument words (hex).
std::string Data(absl::string_view selector,
                 std::initializer_list<std::string> words) {
  std::string hex(selector);
  for (const std::string& w : words) hex += w;
  return absl::HexStringToBytes(hex);
}

Policy TokenPolicy() {
  Policy p;
  Asset usdc;
  usdc.symbol = "USDC";
  usdc.decimals = 6;
  usdc.chains = {{"base", kToken}};
  p.assets["USDC"] = usdc;
  return p;
}

// The selectors of the methods Warden knows, as published (EIP-20, EIP-2612,
// OpenZeppelin, Uniswap's Permit2), come out of the signatures.
TEST(AbiTest, SelectorsOfKnownMethods) {
  const std::pair<const char*, const char*> cases[] = {
      {"transfer(address to, uint256 amount)", "0xa9059cbb"},
      {"transferFrom(address,address,uint)", "0x23b872dd"},
      {"approve(address spender, uint256 value)", "0x095ea7b3"},
      {"increaseAllowance(address,uint256)", "0x39509351"},
      {"permit(address,address,uint256,uint256,uint8,bytes32,bytes32)",
       "0xd505accf"},
      {"approve(address,address,uint160,uint48)", "0x87517c45"},
      {"balanceOf(address)", "0x70a08231"},
      {"decimals()", "0x313ce567"}};
  for (const auto& [signature, selector] : cases) {
    absl::StatusOr<Method> m = ParseSignature(signature);
    ASSERT_TRUE(m.ok()) << signature << ": " << m.status();
    EXPECT_EQ(SelectorHex(m->selector), selector) << signature;
  }
  absl::StatusOr<Method> m =
      ParseSignature(" transfer( address to ,uint amount) ");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->canonical, "transfer(address,uint256)");
  EXPECT_THAT(m->params, ::testing::ElementsAre("to", "amount"));
}

// Signatures Warden could misread are refused: tuples, arrays, odd widths.
TEST(AbiTest, RefusesWhatItCannotLocate) {
  for (const char* bad :
       {"swap((address,uint256))", "batch(address[])", "f(uint7)", "f(uint264)",
        "f(bytes33)", "f(uint08)", "noparens", "(address)", "f(address,)",
        "f(address to extra)", "f(address 1x)", "9f()", "f(address"}) {
    EXPECT_FALSE(ParseSignature(bad).ok()) << bad;
  }
}

// Hex calldata: 0x and an even number of digits, at most 64 KiB.
TEST(AbiTest, ParseHex) {
  EXPECT_EQ(*ParseHex("calldata", ""), "");
  EXPECT_EQ(*ParseHex("calldata", "0xA9059cbb"), "\xa9\x05\x9c\xbb");
  for (const char* bad : {"a9059cbb", "0x123", "0xzz", "0X12"}) {
    absl::StatusOr<std::string> r = ParseHex("calldata", bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("calldata: ")) << bad;
  }
  const std::string big = "0x" + std::string(2 * (kMaxCalldataBytes + 1), 'a');
  EXPECT_THAT(ParseHex("data", big).status().message(),
              HasSubstr("at most 65536"));
  EXPECT_TRUE(
      ParseHex("data", "0x" + std::string(2 * kMaxCalldataBytes, 'a')).ok());
}

// A token's transfer and transferFrom are spends of it, to the recipient.
TEST(AbiTest, TokenTransfers) {
  const Policy p = TokenPolicy();
  absl::StatusOr<Call> c =
      Classify(p, "base", "0x1111111111111111111111111111111111111111",
               Data("a9059cbb", {AddressWord(kAlice), Word("f4240")}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, Call::Kind::kTokenTransfer);
  EXPECT_EQ(c->token, "USDC");
  EXPECT_EQ(c->counterparty, kAlice);
  EXPECT_EQ(c->amount, (Uint256{0, 1'000'000}));
  EXPECT_EQ(c->method, "transfer(address,uint256)");

  c = Classify(
      p, "base", kToken,
      Data("23b872dd", {AddressWord(kToken), AddressWord(kAlice), Word("5")}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, Call::Kind::kTokenTransfer);
  EXPECT_EQ(c->counterparty, kAlice);
  EXPECT_EQ(c->amount.low, 5);

  // The same bytes on another chain, where USDC has no such contract.
  c = Classify(p, "ethereum", kToken,
               Data("a9059cbb", {AddressWord(kAlice), Word("1")}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, Call::Kind::kOther);
  EXPECT_EQ(c->method, "0xa9059cbb");
}

// approve, increaseAllowance, permit and Permit2's approve are approvals;
// the largest amount of the width is unlimited.
TEST(AbiTest, Approvals) {
  const Policy p = TokenPolicy();
  const std::string max256(64, 'f');
  absl::StatusOr<Call> c = Classify(
      p, "base", kToken, Data("095ea7b3", {AddressWord(kAlice), max256}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, Call::Kind::kApproval);
  EXPECT_TRUE(c->unlimited);
  EXPECT_FALSE(c->increase);
  EXPECT_EQ(c->counterparty, kAlice);

  c = Classify(p, "base", kToken,
               Data("39509351", {AddressWord(kAlice), Word("10")}));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->increase);
  EXPECT_FALSE(c->unlimited);
  EXPECT_EQ(c->amount.low, 16);

  c = Classify(
      p, "base", kToken,
      Data("d505accf", {AddressWord(kToken), AddressWord(kAlice), Word("7"),
                        Word("1"), Word("1b"), Word("2"), Word("3")}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->kind, Call::Kind::kApproval);
  EXPECT_EQ(c->counterparty, kAlice);
  EXPECT_EQ(c->amount.low, 7);

  const std::string max160 = Word(std::string(40, 'f'));
  c = Classify(p, "base", "0x000000000022D473030F116dDEE9F6B43aC78BA3",
               Data("87517c45", {AddressWord(kToken), AddressWord(kAlice),
                                 max160, Word("ffff")}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, Call::Kind::kApproval);
  EXPECT_EQ(c->token, "USDC");
  EXPECT_NE(c->asset, nullptr);
  EXPECT_TRUE(c->unlimited);

  // Permit2 approving an undeclared token: an approval with no asset.
  c = Classify(p, "base", kPermit2,
               Data("87517c45", {AddressWord(kAlice), AddressWord(kAlice),
                                 Word("1"), Word("1")}));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->asset, nullptr);
  EXPECT_EQ(c->token, kAlice);
}

// Malformed calldata is INVALID_ARGUMENT naming calldata: too short for a
// selector or for the known method's arguments, or a dirty address word.
TEST(AbiTest, MalformedCalldata) {
  const Policy p = TokenPolicy();
  const std::string cases[] = {
      absl::HexStringToBytes("a905"),
      Data("a9059cbb", {AddressWord(kAlice)}),
      Data("a9059cbb", {Word("1" + std::string(40, '0')), Word("1")}),
  };
  for (const std::string& data : cases) {
    absl::StatusOr<Call> c = Classify(p, "base", kToken, data);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), HasSubstr("calldata: "));
  }
  // An unknown method of an unknown contract needs no arguments.
  EXPECT_TRUE(
      Classify(p, "base", kAlice, absl::HexStringToBytes("12345678")).ok());
}

// Conditions on address and uint arguments, including values past 2^128.
TEST(AbiTest, Conditions) {
  ArgCondition to;
  to.param = "to";
  to.index = 0;
  to.address = true;
  to.addresses = {kAlice};
  to.text = "to one of [alice]";
  ArgCondition amount;
  amount.param = "amount";
  amount.index = 1;
  amount.min = 2;
  amount.max = 1000;
  amount.text = "amount >= 2 and amount <= 1000";
  auto data = [](const std::string& who, const std::string& value) {
    return Data("a9059cbb", {AddressWord(who), Word(value)});
  };
  EXPECT_EQ(Unmet(to, data(kAlice, "1")), std::nullopt);
  EXPECT_THAT(
      Unmet(to, data(kToken, "1")).value_or(""),
      HasSubstr("to 0x1111111111111111111111111111111111111111 breaks"));
  EXPECT_EQ(Unmet(amount, data(kAlice, "3e8")), std::nullopt);  // 1000
  EXPECT_THAT(Unmet(amount, data(kAlice, "3e9")).value_or(""),
              HasSubstr("amount 1001 breaks"));
  EXPECT_THAT(Unmet(amount, data(kAlice, "1")).value_or(""),
              HasSubstr("amount 1 breaks"));
  const std::string huge = "1" + std::string(32, '0');  // 2^128.
  EXPECT_THAT(Unmet(amount, data(kAlice, huge)).value_or(""),
              HasSubstr("amount 0x100000000000000000000000000000000 breaks"));
  ArgCondition one_of = amount;
  one_of.min.reset();
  one_of.max.reset();
  one_of.values = {5, 7};
  EXPECT_EQ(Unmet(one_of, data(kAlice, "7")), std::nullopt);
  EXPECT_TRUE(Unmet(one_of, data(kAlice, "6")).has_value());
  EXPECT_TRUE(Unmet(one_of, data(kAlice, huge)).has_value());
  // A missing argument never meets a condition.
  EXPECT_THAT(
      Unmet(amount, Data("a9059cbb", {AddressWord(kAlice)})).value_or(""),
      HasSubstr("missing"));
  EXPECT_EQ(MaxOfBits(256), (Uint256{absl::Uint128Max(), absl::Uint128Max()}));
  EXPECT_EQ(MaxOfBits(160),
            (Uint256{(absl::uint128(1) << 32) - 1, absl::Uint128Max()}));
  EXPECT_EQ(MaxOfBits(8), (Uint256{0, 255}));
}

}  // namespace
}  // namespace warden::abi
