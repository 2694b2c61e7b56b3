#include "governance/address.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "governance/keccak.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

std::string Hex(const std::array<uint8_t, 32>& d) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

// Keccak-256 as Ethereum uses it (the original Keccak padding, not SHA3's).
// The empty string's hash is Ethereum's hash of empty code (go-ethereum
// core/types: EmptyCodeHash); the quick brown fox is the keccak256 example
// in the README of emn178/js-sha3 (the library web3.js used); a9059cbb is
// the ERC-20 transfer(address,uint256) selector. Inputs across the 136-byte
// rate's boundaries are checked against a real node's web3_sha3 in
// adapters/local/evm_sender_anviltest.cc.
TEST(Keccak256Test, Vectors) {
  EXPECT_EQ(Hex(Keccak256("")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  EXPECT_EQ(Hex(Keccak256("abc")),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
  EXPECT_EQ(Hex(Keccak256("The quick brown fox jumps over the lazy dog")),
            "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15");
  // The function selector of transfer(address,uint256).
  EXPECT_EQ(Hex(Keccak256("transfer(address,uint256)")).substr(0, 8),
            "a9059cbb");
}

// The test vectors of EIP-55.
TEST(AddressTest, Eip55Vectors) {
  for (const char* a : {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
                        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
                        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"}) {
    EXPECT_EQ(Eip55(absl::AsciiStrToLower(a)), std::string(a));
    EXPECT_TRUE(ValidateAddress("destination", "base", a).ok()) << a;
  }
}

TEST(AddressTest, Evm) {
  // Single-case forms carry no checksum and are accepted.
  EXPECT_TRUE(ValidateAddress("d", "ethereum",
                              "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
                  .ok());
  EXPECT_TRUE(ValidateAddress("d", "ethereum",
                              "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED")
                  .ok());
  // One flipped letter case is a typo.
  absl::Status typo = ValidateAddress(
      "destination", "base", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD");
  EXPECT_EQ(typo.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(typo.message(), ::testing::HasSubstr("destination: "));
  EXPECT_THAT(typo.message(), ::testing::HasSubstr("EIP-55"));
  for (const char* bad :
       {"", "0x", "0x1234", "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed00"}) {
    EXPECT_EQ(ValidateAddress("d", "base", bad).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(AddressTest, Solana) {
  for (const char* good : {"11111111111111111111111111111111",
                           "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
                           "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"}) {
    EXPECT_TRUE(ValidateAddress("d", "solana", good).ok()) << good;
  }
  for (const char* bad : {"", "So1", "0OIl1111111111111111111111111111",
                          "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1vEPjF"}) {
    EXPECT_EQ(ValidateAddress("d", "solana", bad).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace warden
