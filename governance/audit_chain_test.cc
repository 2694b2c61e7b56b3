#include "governance/audit_chain.h"

#include "gtest/gtest.h"

namespace warden {
namespace {

// The chain hash is SHA-256 over the previous hash's hex and the body.
TEST(AuditChainTest, KnownVector) {
  // sha256("abc") with an empty previous hash.
  EXPECT_EQ(ChainHash("", "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE(ChainHash(kGenesisHash, "abc"), ChainHash("", "abc"));
  EXPECT_EQ(ChainHash(kGenesisHash, "x").size(), 64u);
}

// Signatures verify with the right key and message only.
TEST(AuditChainTest, CheckpointSignatures) {
  auto signer = Ed25519Signer::Generate();
  ASSERT_TRUE(signer.ok());
  const std::string msg = CheckpointMessage("acme", 42, std::string(64, 'a'));
  const std::string sig = (*signer)->SignHex(msg);
  EXPECT_EQ(sig.size(), 128u);
  EXPECT_TRUE(VerifyEd25519((*signer)->PublicKeyHex(), msg, sig));
  EXPECT_FALSE(
      VerifyEd25519((*signer)->PublicKeyHex(),
                    CheckpointMessage("acme", 43, std::string(64, 'a')), sig));
  auto other = Ed25519Signer::Generate();
  EXPECT_FALSE(VerifyEd25519((*other)->PublicKeyHex(), msg, sig));
  EXPECT_FALSE(VerifyEd25519("zz", msg, sig));
}

}  // namespace
}  // namespace warden

namespace warden {
namespace {

// Keys of small order sign for anyone: refused, and no signature by one
// verifies.
TEST(Ed25519KeyTest, PointsOfSmallOrderAreNoKeys) {
  for (const char* weak :
       {"0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000080",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "feffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "abc", ""}) {
    EXPECT_FALSE(IsUsableEd25519Key(weak)) << weak;
  }
  EXPECT_FALSE(VerifyEd25519(std::string(64, '0'), "any message",
                             std::string(128, '0')));
  auto key = Ed25519Signer::Generate();
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(IsUsableEd25519Key((*key)->PublicKeyHex()));
  const std::string sig = (*key)->SignHex("m");
  EXPECT_TRUE(VerifyEd25519((*key)->PublicKeyHex(), "m", sig));
  // An extra digit is not the same signature.
  EXPECT_FALSE(VerifyEd25519((*key)->PublicKeyHex(), "m", sig + "0"));
}

}  // namespace
}  // namespace warden
