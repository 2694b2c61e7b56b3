#include "adapters/evm/eip3009.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::evm {
namespace {

Address A(absl::string_view text) { return *ParseAddress(text); }

// The vector, computed independently with viem 2 (hashDomain,
// hashTypedData, signTypedData of a privateKeyToAccount): anvil's dev
// account 1 authorizes 10000 base units to dev account 2 in the domain of a
// token at anvil's first contract address.
struct Vector {
  static constexpr char kKey[] =
      "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
  static constexpr char kDomain[] =
      "0xedda93e93034590c1e92f6af7b895308f8640692255a32b514bf0de46646072d";
  static constexpr char kDigest[] =
      "0x7886fd33fc3d4bfdd87e309b09c17331031cfcf3f738acbca60a11e86c4d6f73";
  static constexpr char kSignature[] =
      "0x1ef211855643f64eb862cb782dc88b7a5840700786896400387fd897848ec3ba370534"
      "1459d55446c2ed36211b96317613359ad9f4e1146e8338221a6a3a6af21b";
};

TransferAuthorization VectorAuthorization() {
  TransferAuthorization a;
  a.from = A("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  a.to = A("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
  a.value = 10000;
  a.valid_after = 0;
  a.valid_before = 1767225600;
  a.nonce.fill(0x11);
  return a;
}

TEST(Eip3009Test, DigestAndSignatureMatchViem) {
  const Address token = A("0x5FbDB2315678afecb367f032d93F642f64180aa3");
  const Hash domain =
      Eip712DomainSeparator("Warden Test USD", "2", 31337, token);
  EXPECT_EQ(Hex(domain), Vector::kDomain);
  const Hash digest =
      TransferAuthorizationDigest(domain, VectorAuthorization());
  EXPECT_EQ(Hex(digest), Vector::kDigest);
  absl::StatusOr<PrivateKey> key =
      PrivateKey::FromBytes(absl::HexStringToBytes(Vector::kKey));
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(key->address(), VectorAuthorization().from);
  // RFC 6979 nonces: the same signature as viem's.
  EXPECT_EQ(SignatureHex(key->Sign(digest)), Vector::kSignature);
}

TEST(Eip3009Test, AnyFieldChangesTheDigest) {
  const Hash domain =
      Eip712DomainSeparator("Warden Test USD", "2", 31337,
                            A("0x5FbDB2315678afecb367f032d93F642f64180aa3"));
  const Hash base = TransferAuthorizationDigest(domain, VectorAuthorization());
  TransferAuthorization a = VectorAuthorization();
  a.value = 10001;
  EXPECT_NE(TransferAuthorizationDigest(domain, a), base);
  a = VectorAuthorization();
  a.valid_before += 1;
  EXPECT_NE(TransferAuthorizationDigest(domain, a), base);
  a = VectorAuthorization();
  a.nonce[31] = 0x12;
  EXPECT_NE(TransferAuthorizationDigest(domain, a), base);
  // Another chain, version or name is another domain.
  EXPECT_NE(
      Eip712DomainSeparator("Warden Test USD", "2", 1,
                            A("0x5FbDB2315678afecb367f032d93F642f64180aa3")),
      domain);
  EXPECT_NE(
      Eip712DomainSeparator("Warden Test USD", "1", 31337,
                            A("0x5FbDB2315678afecb367f032d93F642f64180aa3")),
      domain);
}

TEST(Eip3009Test, LargestValueEncodes) {
  TransferAuthorization a = VectorAuthorization();
  a.value = absl::Uint128Max();
  a.valid_before = UINT64_MAX;
  const SignedTransferAuthorization s{
      .token = a.to, .authorization = a, .signature = "0x00"};
  absl::StatusOr<SignedTransferAuthorization> back =
      DecodeX402Ref(EncodeX402Ref(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->authorization.value, absl::Uint128Max());
  EXPECT_EQ(back->authorization.valid_before, UINT64_MAX);
}

TEST(Eip3009Test, RefRoundTripsAndRejectsGarbage) {
  const SignedTransferAuthorization s{
      .token = A("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
      .authorization = VectorAuthorization(),
      .signature = Vector::kSignature};
  const std::string ref = EncodeX402Ref(s);
  EXPECT_TRUE(IsX402Ref(ref));
  EXPECT_FALSE(IsX402Ref("nonce:3 raw:0x02"));
  absl::StatusOr<SignedTransferAuthorization> back = DecodeX402Ref(ref);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->token, s.token);
  EXPECT_EQ(back->authorization.from, s.authorization.from);
  EXPECT_EQ(back->authorization.nonce, s.authorization.nonce);
  EXPECT_EQ(back->authorization.valid_before, 1767225600u);
  EXPECT_EQ(back->signature, s.signature);
  for (const char* bad :
       {"", "x402:", "x402:[]", "x402:{\"token\":1}", "nonce:1",
        "x402:{\"token\":\"0x5FbDB2315678afecb367f032d93F642f64180aa3\"}"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(DecodeX402Ref(bad).status())) << bad;
  }
  std::string negative = ref;
  negative.replace(negative.find("\"valid_before\":1767225600"), 25,
                   "\"valid_before\":-1");
  EXPECT_TRUE(absl::IsInvalidArgument(DecodeX402Ref(negative).status()));
}

TEST(Eip3009Test, AuthorizationStateCall) {
  const Hash nonce = VectorAuthorization().nonce;
  const std::string data = AuthorizationStateCalldata(
      A("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"), nonce);
  EXPECT_EQ(absl::BytesToHexString(data.substr(0, 4)), "e94a0102");
  EXPECT_EQ(data.size(), 4u + 64u);
  EXPECT_EQ(
      Hex(AuthorizationUsedTopic()),
      "0x98de503528ee59b575ef0c0a2576a82497bfc029a5685b209e9ec333479b10a5");
}

}  // namespace
}  // namespace warden::evm
