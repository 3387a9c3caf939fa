#include "core/basic_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace edge_auth {
namespace {

Digest key(std::string_view secret, std::uint64_t version, std::string_view user,
           std::string_view password, std::string_view hash) {
  return basic_cache_key(secret, version, user, password, hash);
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
