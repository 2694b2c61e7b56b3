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
