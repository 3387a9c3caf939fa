#include "core/crypto.h"

#include <gtest/gtest.h>

#include <string>

namespace edge_auth {
namespace {

std::string hex(const Digest& d) {
  return to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

TEST(Crypto, Sha256KnownVectors) {
  EXPECT_EQ(hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, Sha1KnownVector) {
  EXPECT_EQ(to_hex(sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Crypto, HmacSha256Rfc4231Case2) {
  EXPECT_EQ(hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, HmacSha256KeyLongerThanBlock) {
  // RFC 4231 case 6: the key is hashed first.
  std::string key(131, '\xaa');
  EXPECT_EQ(hex(hmac_sha256(key, "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));  // a prefix is not equal
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_TRUE(constant_time_equal(sha256("a"), sha256("a")));
  EXPECT_FALSE(constant_time_equal(sha256("a"), sha256("b")));
}

TEST(Crypto, HexRoundTrip) {
  std::string bytes("\x00\x01\x7f\x80\xfe\xff", 6);
  EXPECT_EQ(to_hex(bytes), "00017f80feff");
  std::string back;
  ASSERT_TRUE(from_hex("00017f80feff", back));
  EXPECT_EQ(back, bytes);
  ASSERT_TRUE(from_hex("00017F80FEFF", back));  // uppercase accepted
  EXPECT_EQ(back, bytes);
  ASSERT_TRUE(from_hex("", back));
  EXPECT_EQ(back, "");
}

TEST(Crypto, BadHexIsRejectedAndLeavesOutputAlone) {
  for (std::string_view bad : {"0", "abc", "0g", "g0", " 00", "00 ", "+1", "0x00"}) {
    std::string out = "keep";
    EXPECT_FALSE(from_hex(bad, out)) << bad;
    EXPECT_EQ(out, "keep") << bad;
  }
}

TEST(Crypto, RandomBytes) {
  EXPECT_EQ(random_bytes(0).size(), 0u);
  std::string a = random_bytes(32), b = random_bytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);  // 2^-256 chance of a false failure
}

TEST(Crypto, WipeClearsTheWholeBuffer) {
  std::string s = "a password that is long enough to live on the heap";
  const char* buffer = s.data();
  s.resize(4);  // the old tail is still in the buffer
  wipe(s);
  EXPECT_TRUE(s.empty());
  ASSERT_EQ(s.data(), buffer);  // same buffer, so we may look at it
  for (std::size_t i = 0; i < s.capacity(); ++i) EXPECT_EQ(buffer[i], '\0') << i;
}

TEST(Crypto, WipeOnExitWipesAtScopeEnd) {
  std::string s = "secret";
  { WipeOnExit guard(s); }
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace edge_auth
