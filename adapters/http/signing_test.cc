#include "adapters/http/signing.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::http {
namespace {

using ::testing::HasSubstr;

TEST(SigningTest, Sha256KnownAnswer) {
  // FIPS 180-2, appendix B.1.
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(SigningTest, Ed25519KnownAnswer) {
  // RFC 8032 §7.1, TEST 1 (empty message), as a CDP Ed25519 key secret:
  // base64 of the 32-byte seed followed by the public key.
  const std::string pair = absl::HexStringToBytes(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
      "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  absl::StatusOr<SigningKey> key =
      SigningKey::FromBase64(absl::Base64Escape(pair));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(key->is_ed25519());
  EXPECT_STREQ(key->jws_alg(), "EdDSA");
  absl::StatusOr<std::string> sig = key->SignJws("");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(absl::BytesToHexString(*sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
}

// About 1 CDP Ed25519 key in 256 starts with the byte 0x30, as DER does:
// it is read by its length (64 bytes), signs, and verifies. A pair whose
// halves do not belong together is refused.
TEST(SigningTest, Ed25519SecretStartingLikeDerIsStillEd25519) {
  std::string seed(32, '\x11');
  seed[0] = '\x30';
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  ASSERT_NE(raw, nullptr);
  unsigned char pub[32];
  size_t pub_len = sizeof(pub);
  ASSERT_EQ(EVP_PKEY_get_raw_public_key(raw, pub, &pub_len), 1);
  EVP_PKEY_free(raw);
  const std::string pair = seed + std::string(reinterpret_cast<char*>(pub), 32);
  absl::StatusOr<SigningKey> key =
      SigningKey::FromBase64(absl::Base64Escape(pair));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_TRUE(key->is_ed25519());
  absl::StatusOr<VerifyingKey> verifier = VerifyingKey::Of(*key);
  ASSERT_TRUE(verifier.ok());
  absl::StatusOr<std::string> jwt =
      SignJwt(*key, {{"kid", "k"}}, {{"sub", "k"}});
  ASSERT_TRUE(jwt.ok());
  EXPECT_TRUE(VerifyJwt(*jwt, *verifier, "EdDSA").ok());

  std::string mismatched = pair;
  mismatched[40] ^= 1;
  EXPECT_THAT(
      SigningKey::FromBase64(absl::Base64Escape(mismatched)).status().message(),
      HasSubstr("not the seed's"));
}

TEST(SigningTest, Es256JwtRoundTripsAndTamperingIsCaught) {
  absl::StatusOr<SigningKey> key = SigningKey::GenerateP256();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<VerifyingKey> pub = VerifyingKey::Of(*key);
  ASSERT_TRUE(pub.ok());
  absl::StatusOr<std::string> jwt =
      SignJwt(*key, {{"kid", "k1"}, {"typ", "JWT"}},
              {{"sub", "k1"}, {"uris", {"POST api.example.com/v1/x"}}});
  ASSERT_TRUE(jwt.ok());
  absl::StatusOr<Jwt> parsed = VerifyJwt(*jwt, *pub, "ES256");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->header["kid"], "k1");
  EXPECT_EQ(parsed->claims["uris"][0], "POST api.example.com/v1/x");
  // ES256 signatures are r||s: 64 bytes, 86 base64url characters.
  EXPECT_EQ(jwt->substr(jwt->rfind('.') + 1).size(), 86u);

  std::string tampered = *jwt;
  tampered[tampered.find('.') + 3] ^= 1;
  EXPECT_FALSE(VerifyJwt(tampered, *pub, "ES256").ok());
  EXPECT_THAT(VerifyJwt(*jwt, *pub, "EdDSA").status().message(),
              HasSubstr("alg"));
  absl::StatusOr<SigningKey> other = SigningKey::GenerateP256();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(VerifyJwt(*jwt, *VerifyingKey::Of(*other), "ES256").ok());
}

TEST(SigningTest, KeysLoadFromTheirVendorForms) {
  absl::StatusOr<SigningKey> key = SigningKey::GenerateP256();
  ASSERT_TRUE(key.ok());
  absl::StatusOr<std::string> pem = key->PrivatePem();
  absl::StatusOr<std::string> der = key->PrivateDerBase64();
  ASSERT_TRUE(pem.ok() && der.ok());
  absl::StatusOr<SigningKey> from_pem = SigningKey::FromPem(*pem);
  absl::StatusOr<SigningKey> from_der = SigningKey::FromBase64(*der);
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  ASSERT_TRUE(from_der.ok()) << from_der.status();
  absl::StatusOr<VerifyingKey> pub =
      VerifyingKey::FromBase64Der(*key->PublicDerBase64());
  ASSERT_TRUE(pub.ok());
  for (const SigningKey* k : {&*from_pem, &*from_der}) {
    absl::StatusOr<std::string> sig = k->SignDer("message");
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE(pub->VerifyDer("message", *sig));
    EXPECT_FALSE(pub->VerifyDer("messagf", *sig));
  }
  EXPECT_FALSE(SigningKey::FromPem("not a key").ok());
  EXPECT_FALSE(SigningKey::FromBase64("%%%").ok());
  EXPECT_FALSE(SigningKey::FromBase64(absl::Base64Escape("short")).ok());
}

TEST(SigningTest, CanonicalJsonSortsKeysWithoutWhitespace) {
  // RFC 8785 §3.2.3's ordering for ASCII keys, nested.
  const nlohmann::json v = nlohmann::json::parse(
      R"({"b": [1, {"z": "x", "a": null}], "a": "é\n", "A": true})");
  EXPECT_EQ(CanonicalJson(v),
            "{\"A\":true,\"a\":\"é\\n\",\"b\":[1,{\"a\":null,\"z\":\"x\"}]}");
}

TEST(SigningTest, UuidV4HasItsVersionAndVariant) {
  const std::string a = UuidV4();
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_THAT(std::string("89ab"), HasSubstr(std::string(1, a[19])));
  EXPECT_NE(a, UuidV4());
}

}  // namespace
}  // namespace warden::http
