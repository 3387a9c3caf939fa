#include "core/aead.h"

#include <gtest/gtest.h>

#include <string>

#include "core/crypto.h"

namespace edge_auth {
namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  EXPECT_TRUE(from_hex(hex, out));
  return out;
}

TEST(Hkdf, Rfc5869TestCase1) {
  std::string okm =
      hkdf_sha256(unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                  unhex("000102030405060708090a0b0c"), unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  EXPECT_EQ(to_hex(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865");
}

TEST(Hkdf, Rfc5869TestCase3EmptySaltAndInfo) {
  std::string okm = hkdf_sha256(unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), "", "", 42);
  EXPECT_EQ(to_hex(okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
}

TEST(DeriveKey, DeterministicAndSeparatedByPurposeAndSecret) {
  std::string secret(40, 's');
  std::string a = derive_key(secret, "edge-auth redis tokens v1");
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a, derive_key(secret, "edge-auth redis tokens v1"));
  EXPECT_NE(a, derive_key(secret, "edge-auth session v1"));
  EXPECT_NE(a, derive_key(std::string(40, 't'), "edge-auth redis tokens v1"));
  // Fixed salt "edge-auth": pinned so a change of derivation (which would
  // orphan every sealed value at rest) is noticed.
  EXPECT_EQ(a, hkdf_sha256(secret, "edge-auth", "edge-auth redis tokens v1", 32));
}

class Aead : public ::testing::Test {
 protected:
  std::string key = derive_key("a session secret of at least 32 bytes!", "test");
};

TEST_F(Aead, RoundTrip) {
  for (std::string plaintext : {std::string(), std::string("token"), std::string(5000, '\x01')}) {
    std::string box = seal(key, plaintext, "aad");
    EXPECT_EQ(box.size(), 12 + plaintext.size() + 16);
    Result<std::string> back = open(key, box, "aad");
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, plaintext);
  }
}

TEST_F(Aead, FreshNonceEachTime) {
  std::string a = seal(key, "same", "");
  std::string b = seal(key, "same", "");
  EXPECT_NE(a.substr(0, 12), b.substr(0, 12));
  EXPECT_NE(a, b);
}

TEST_F(Aead, CiphertextDoesNotHoldThePlaintext) {
  std::string box = seal(key, "plain-token-value", "");
  EXPECT_EQ(box.find("plain-token-value"), std::string::npos);
}

TEST_F(Aead, TamperingWithAnyByteFails) {
  // Nonce (0..11), ciphertext (12..16), tag (17..32): every single byte.
  std::string box = seal(key, "hello", "aad");
  for (std::size_t i = 0; i < box.size(); ++i) {
    std::string bad = box;
    bad[i] ^= 0x01;
    Result<std::string> r = open(key, bad, "aad");
    ASSERT_FALSE(r) << "byte " << i;
    EXPECT_EQ(r.error(), "authentication failed");
  }
}

TEST_F(Aead, TruncatedOrExtendedFails) {
  std::string box = seal(key, "hello", "aad");
  EXPECT_FALSE(open(key, box.substr(0, box.size() - 1), "aad"));
  EXPECT_FALSE(open(key, box + "x", "aad"));
  Result<std::string> tiny = open(key, box.substr(0, 27), "aad");
  ASSERT_FALSE(tiny);
  EXPECT_EQ(tiny.error(), "too short");
  EXPECT_FALSE(open(key, "", "aad"));
}

TEST_F(Aead, WrongAadFails) {
  std::string box = seal(key, "hello", "redis:key-1");
  EXPECT_FALSE(open(key, box, "redis:key-2"));
  EXPECT_FALSE(open(key, box, ""));
  EXPECT_TRUE(open(key, box, "redis:key-1"));
}

TEST_F(Aead, WrongKeyFails) {
  std::string box = seal(key, "hello", "");
  EXPECT_FALSE(open(derive_key("a session secret of at least 32 bytes!", "other"), box, ""));
  EXPECT_FALSE(open("short", box, ""));
}

TEST_F(Aead, SealRefusesAKeyOfTheWrongSize) {
  EXPECT_THROW(seal("short", "x", ""), std::invalid_argument);
  EXPECT_THROW(seal(std::string(33, 'k'), "x", ""), std::invalid_argument);
}

}  // namespace
}  // namespace edge_auth
