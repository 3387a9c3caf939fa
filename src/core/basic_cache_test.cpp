#include "core/basic_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace edge_auth {
namespace {

Digest key(std::string_view secret, std::uint64_t version, std::string_view user,
           std::string_view password, std::string_view hash) {
  return basic_cache_key(secret, version, user, password, hash);
}

std::string hex(const Digest& d) {
  return to_hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

TEST(BasicCacheKey, GoldenValues) {
  // The keys live in the shared zone across reloads: the same inputs must keep
  // giving the same key. Computed independently (Python hmac over the
  // documented message: "edge-auth basic v1", u64 version, then user, hash and
  // password each behind a big-endian u64 length).
  EXPECT_EQ(hex(key(std::string(32, 'Z'), 0x1234, "bench", "bench-password-10",
                    "$2y$10$1qm0EkJ0MU0/g9icKCQaTezJCEFxD7Y4CXf0GebNDD/Pfw.LEvXDm")),
            "2aa5d478568deae6844ffcfe49bca3e75c9cc70b074ca9a046feb575f3858e2c");
  EXPECT_EQ(hex(key("zone", 1, "alice", "pw", "$apr1$x$y")),
            "f2742fcefc2f12f8720a340f1753c45bd4e0545f3bdc30509cb54ffc683dba5e");
  EXPECT_EQ(hex(key("", 0, "", "", "")),
            "5f905af3f2d0a73c1fcf9a698c64509a0b7107ddcb6eb32742e1ab1fd67ba2f6");
  // Longer than any stack buffer: a 3070-byte password and hash.
  EXPECT_EQ(hex(key(std::string(100, 'k'), 0xffffffffffffffffull, "j\xc3\xbcrgen",
                    std::string(3070, 'p'), "{PLAIN}" + std::string(3070, 'p'))),
            "9befdd39bc280d6d0215095fe5527f8683ec81590a2b4b53fad2c806f611549b");
  EXPECT_EQ(hex(key("s", 7, std::string(300, 'u'), std::string(200, 'x'), std::string(100, 'h'))),
            "bb8e2911cb368f0d8f49553ce25f858d7c19935ae519179fc57bb0166bc1f1da");
}

TEST(BasicCacheKey, SameInputsSameKey) {
  EXPECT_EQ(key("zone", 1, "alice", "pw", "$apr1$x$y"), key("zone", 1, "alice", "pw", "$apr1$x$y"));
}

TEST(BasicCacheKey, AnyInputChangesTheKey) {
  Digest base = key("zone", 1, "alice", "pw", "$apr1$x$y");
  EXPECT_NE(base, key("zone2", 1, "alice", "pw", "$apr1$x$y"));
  EXPECT_NE(base, key("zone", 2, "alice", "pw", "$apr1$x$y"));
  EXPECT_NE(base, key("zone", 1, "alicf", "pw", "$apr1$x$y"));
  EXPECT_NE(base, key("zone", 1, "alice", "pW", "$apr1$x$y"));
  EXPECT_NE(base, key("zone", 1, "alice", "pw", "$apr1$x$z"));
}

TEST(BasicCacheKey, FieldBoundariesAreUnambiguous) {
  // Without length prefixes these pairs would hash the same bytes.
  EXPECT_NE(key("s", 1, "ab", "c", "h"), key("s", 1, "a", "bc", "h"));
  EXPECT_NE(key("s", 1, "a", "h", "b"), key("s", 1, "a", "", "hb"));
  EXPECT_NE(key("s", 1, "user", "pw", ""), key("s", 1, "user", "", "pw"));
}

TEST(BasicCacheKey, IsKeyedNotAPlainHash) {
  // Changing only the secret changes the key, so the zone's contents reveal
  // nothing to someone without the per-zone secret.
  EXPECT_NE(key("a", 0, "", "", ""), key("b", 0, "", "", ""));
}

}  // namespace
}  // namespace edge_auth
