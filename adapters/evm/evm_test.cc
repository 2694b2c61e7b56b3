#include "adapters/evm/evm.h"

#include <string>

#include "absl/strings/escaping.h"
#include "adapters/evm/rlp.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::evm {
namespace {

std::string H(absl::string_view bytes) { return absl::BytesToHexString(bytes); }
std::string B(absl::string_view hex) { return absl::HexStringToBytes(hex); }

// The examples of the RLP specification (Ethereum yellow paper, appendix B,
// and ethereum.org's "Recursive-length prefix" page).
TEST(RlpTest, SpecificationExamples) {
  EXPECT_EQ(H(rlp::String("dog")), "83646f67");
  EXPECT_EQ(H(rlp::List({rlp::String("cat"), rlp::String("dog")})),
            "c88363617483646f67");
  EXPECT_EQ(H(rlp::String("")), "80");
  EXPECT_EQ(H(rlp::List({})), "c0");
  EXPECT_EQ(H(rlp::Uint(0)), "80");
  EXPECT_EQ(H(rlp::String(std::string(1, '\0'))), "00");
  EXPECT_EQ(H(rlp::Uint(15)), "0f");
  EXPECT_EQ(H(rlp::Uint(1024)), "820400");
  // The set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ].
  const std::string empty = rlp::List({});
  const std::string one = rlp::List({empty});
  EXPECT_EQ(H(rlp::List({empty, one, rlp::List({empty, one})})),
            "c7c0c1c0c3c0c1c0");
  const std::string lorem =
      "Lorem ipsum dolor sit amet, consectetur adipisicing elit";
  EXPECT_EQ(H(rlp::String(lorem)), "b838" + H(lorem));
  // Long lists take the 0xf7 + length-of-length form.
  EXPECT_EQ(H(rlp::List({rlp::String(lorem)})).substr(0, 4), "f83a");
}

// Account addresses from private keys: the anvil/Hardhat dev account 0 and
// the web3.js documentation's example key.
TEST(EvmTest, AddressFromPrivateKey) {
  absl::StatusOr<PrivateKey> anvil0 = PrivateKey::FromBytes(
      B("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"));
  ASSERT_TRUE(anvil0.ok());
  EXPECT_EQ(Hex(anvil0->address()),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
  absl::StatusOr<PrivateKey> web3 = PrivateKey::FromBytes(
      B("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"));
  ASSERT_TRUE(web3.ok());
  EXPECT_EQ(Hex(web3->address()), "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23");
  EXPECT_FALSE(PrivateKey::FromBytes(std::string(32, '\0')).ok());
  EXPECT_FALSE(PrivateKey::FromBytes("short").ok());
}

// The signing hash of a known EIP-1559 transaction, from the test suite of
// wevm/ox (TransactionEnvelopeEip1559.hash, "default" case).
TEST(EvmTest, Eip1559SigningHashVector) {
  Eip1559Tx tx;
  tx.chain_id = 1;
  tx.nonce = 665;
  tx.max_priority_fee_per_gas = 1'000'000'000;
  tx.max_fee_per_gas = 13'000'000'000;
  tx.gas_limit = 21000;
  tx.to = *ParseAddress("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
  tx.value = absl::uint128(1'000'000'000'000'000'000ULL);
  EXPECT_EQ(
      Hex(SigningHash(tx)),
      "0x1d099d1f25465b53e1e56e715e35d5daaaef6a9e9883ba21652eea7f411fffc7");
}

TEST(EvmTest, SignRecoversTheSigner) {
  PrivateKey key = PrivateKey::Generate();
  Eip1559Tx tx;
  tx.chain_id = 31337;
  tx.nonce = 7;
  tx.max_priority_fee_per_gas = 1;
  tx.max_fee_per_gas = 2'000'000'000;
  tx.gas_limit = 60000;
  tx.to = *ParseAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
  tx.data = TransferCalldata(tx.to, 1'000'000);
  const Hash hash = SigningHash(tx);
  const Signature sig = key.Sign(hash);
  absl::StatusOr<Address> signer = RecoverSigner(hash, sig);
  ASSERT_TRUE(signer.ok());
  EXPECT_EQ(*signer, key.address());
  // RFC 6979: the same key and hash sign the same way.
  const Signature again = key.Sign(hash);
  EXPECT_EQ(again.r, sig.r);
  EXPECT_EQ(again.s, sig.s);
  // The envelope is type 2 and carries the signature last.
  const std::string raw = SignedEnvelope(tx, sig);
  EXPECT_EQ(raw[0], '\x02');
  EXPECT_NE(raw.find(std::string(reinterpret_cast<const char*>(sig.s.data()) +
                                     (sig.s[0] == 0 ? 1 : 0),
                                 32 - (sig.s[0] == 0 ? 1 : 0))),
            std::string::npos);
  // Any other hash recovers someone else.
  Hash other = hash;
  other[0] ^= 1;
  absl::StatusOr<Address> wrong = RecoverSigner(other, sig);
  EXPECT_TRUE(!wrong.ok() || *wrong != key.address());
}

TEST(EvmTest, Erc20TransferCalldata) {
  const Address to =
      *ParseAddress("0x00000000000000000000000000000000000000ff");
  EXPECT_EQ(H(TransferCalldata(to, 1)),
            "a9059cbb"
            "00000000000000000000000000000000000000000000000000000000000000ff"
            "0000000000000000000000000000000000000000000000000000000000000001");
  EXPECT_FALSE(ParseAddress("0x123").ok());
  EXPECT_FALSE(ParseAddress("0xzz00000000000000000000000000000000000000").ok());
}

// A spend as a call on chain: the native coin carries the amount and the
// caller's calldata; a token is transfer(destination, amount) to its
// contract with no value. Each bad field is named.
TEST(EvmTest, ResolveTransfer) {
  const std::string to = "0x00000000000000000000000000000000000000Ff";
  const std::string token = "0x1111111111111111111111111111111111111111";
  const absl::uint128 max = absl::Uint128Max();

  absl::StatusOr<Call> native = ResolveTransfer(to, "", max, B("abcd"));
  ASSERT_TRUE(native.ok()) << native.status();
  EXPECT_EQ(Hex(native->to), "0x00000000000000000000000000000000000000ff");
  EXPECT_EQ(native->value, max);
  EXPECT_EQ(H(native->data), "abcd");

  absl::StatusOr<Call> erc20 = ResolveTransfer(to, token, max, "");
  ASSERT_TRUE(erc20.ok()) << erc20.status();
  EXPECT_EQ(Hex(erc20->to), token);
  EXPECT_EQ(erc20->value, 0);
  EXPECT_EQ(erc20->data, TransferCalldata(*ParseAddress(to), max));

  auto error = [](const absl::StatusOr<Call>& c) {
    EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
    return std::string(c.status().message());
  };
  EXPECT_THAT(error(ResolveTransfer(token, token, 1, "x")),
              ::testing::StartsWith("data: "));
  EXPECT_THAT(error(ResolveTransfer("0x12", "", 1, "")),
              ::testing::StartsWith("destination: "));
  EXPECT_THAT(error(ResolveTransfer(to, "So1", 1, "")),
              ::testing::StartsWith("token_contract: "));
  // A huge or binary field is quoted bounded and escaped.
  const std::string huge(1 << 20, '\x01');
  const std::string message = error(ResolveTransfer(huge, "", 1, ""));
  EXPECT_LT(message.size(), 400u);
  EXPECT_EQ(message.find('\x01'), std::string::npos);
}

}  // namespace
}  // namespace warden::evm
