#include "core/crypto.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

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

// --- equivalence with OpenSSL's one-shot functions ---------------------------
// sha256 and hmac_sha256 reuse per-thread contexts; these compare them with
// OpenSSL's own one-shot EVP_Q_digest / EVP_Q_mac (a fresh context each call)
// over many lengths and keys, in an order that changes length and key between
// calls, so state left over from an earlier call would show.

Digest reference_sha256(std::string_view data) {
  Digest d;
  std::size_t len = 0;
  EXPECT_EQ(EVP_Q_digest(nullptr, "SHA256", nullptr, data.data(), data.size(), d.data(), &len), 1);
  EXPECT_EQ(len, d.size());
  return d;
}

Digest reference_hmac(std::string_view key, std::string_view data) {
  Digest d;
  std::size_t len = 0;
  char digest_name[] = "SHA256";
  EXPECT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, digest_name, nullptr, key.data(), key.size(),
                      reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data(),
                      d.size(), &len),
            nullptr);
  EXPECT_EQ(len, d.size());
  return d;
}

std::string pseudo_random_bytes(std::mt19937& rng, std::size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

TEST(Crypto, Sha256MatchesOneShotForEveryLengthUpTo300) {
  std::mt19937 rng(1);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 300; ++n) lengths.push_back(n);
  lengths.insert(lengths.end(), {1000, 4096, 65536, 0, 55, 56, 63, 64, 65, 0});
  for (std::size_t n : lengths) {
    std::string data = pseudo_random_bytes(rng, n);
    EXPECT_EQ(sha256(data), reference_sha256(data)) << n;
  }
}

TEST(Crypto, Sha256GoldenValues) {
  // printf '%s' ... | sha256sum
  EXPECT_EQ(hex(sha256("bench-token-5f0e9c2a")),
            "ed88e86ce627da06ea0dd0c246fdccd5b18045cf91853d8adb0d73dfe0e2c5ec");
  EXPECT_EQ(hex(sha256(std::string(1000, 'a'))),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(Crypto, HmacSha256Rfc4231) {
  // Cases 1, 3, 4 and 7 (case 2 and 6 are above; 5 is a truncated output).
  EXPECT_EQ(hex(hmac_sha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hex(hmac_sha256(std::string(20, '\xaa'), std::string(50, '\xdd'))),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  std::string key4;
  for (int i = 1; i <= 25; ++i) key4 += static_cast<char>(i);
  EXPECT_EQ(hex(hmac_sha256(key4, std::string(50, '\xcd'))),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  EXPECT_EQ(hex(hmac_sha256(std::string(131, '\xaa'),
                            "This is a test using a larger than block-size key and a larger "
                            "than block-size data. The key needs to be hashed before being "
                            "used by the HMAC algorithm.")),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(Crypto, HmacSha256MatchesOneShotAcrossKeysAndLengths) {
  std::mt19937 rng(2);
  std::vector<std::string> keys;
  for (std::size_t n : {0, 1, 20, 31, 32, 33, 63, 64, 65, 100, 131, 200}) {
    keys.push_back(pseudo_random_bytes(rng, n));
  }
  keys.push_back(keys[4].substr(0, 31) + "x");  // same length, last byte differs
  for (int round = 0; round < 3; ++round) {
    for (const std::string& key : keys) {
      for (std::size_t n : {0, 1, 55, 56, 64, 119, 120, 132, 300, 5000}) {
        std::string data = pseudo_random_bytes(rng, n);
        EXPECT_EQ(hmac_sha256(key, data), reference_hmac(key, data))
            << "key " << key.size() << " data " << n;
        EXPECT_EQ(hmac_sha256(key, data), reference_hmac(key, data));  // same key again
      }
    }
  }
}

TEST(Crypto, HmacSha256KeysThatArePrefixesOfEachOther) {
  // A cached key must be compared by its whole length, not a common prefix.
  std::string long_key(40, 'k');
  std::string short_key(32, 'k');
  EXPECT_EQ(hmac_sha256(long_key, "m"), reference_hmac(long_key, "m"));
  EXPECT_EQ(hmac_sha256(short_key, "m"), reference_hmac(short_key, "m"));
  EXPECT_EQ(hmac_sha256(long_key, "m"), reference_hmac(long_key, "m"));
  EXPECT_EQ(hmac_sha256("", "m"), reference_hmac("", "m"));
  EXPECT_EQ(hmac_sha256(short_key, "m"), reference_hmac(short_key, "m"));
}

TEST(Crypto, HmacAndSha256AreCorrectFromManyThreads) {
  // The contexts are per thread (nginx runs Basic checks in a thread pool).
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      std::mt19937 rng(100 + t);
      std::string key = pseudo_random_bytes(rng, 32);
      for (int i = 0; i < 2000; ++i) {
        std::string data = pseudo_random_bytes(rng, rng() % 200);
        if (hmac_sha256(key, data) != reference_hmac(key, data)) ++failures[t];
        if (sha256(data) != reference_sha256(data)) ++failures[t];
        if (i % 100 == 0) key = pseudo_random_bytes(rng, 32);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
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
