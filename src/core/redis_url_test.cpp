#include "core/redis_url.h"

#include <gtest/gtest.h>

using edge_auth::parse_redis_url;

TEST(RedisUrl, HostOnlyUsesDefaults) {
  auto u = parse_redis_url("redis://cache.internal");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "cache.internal");
  EXPECT_EQ(u->port, 6379);
  EXPECT_EQ(u->db, 0);
  EXPECT_EQ(u->password, "");
}

TEST(RedisUrl, PasswordPortAndDb) {
  auto u = parse_redis_url("redis://:s3%40cret@127.0.0.1:6380/2");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 2);
  EXPECT_EQ(u->password, "s3@cret");
  EXPECT_EQ(u->username, "");
}

TEST(RedisUrl, AclUserAndPasswordWithAt) {
  auto u = parse_redis_url("redis://edge:p@ss@10.0.0.5");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->username, "edge");
  EXPECT_EQ(u->password, "p@ss");
  EXPECT_EQ(u->host, "10.0.0.5");
}

TEST(RedisUrl, Ipv6) {
  auto u = parse_redis_url("redis://[::1]:7000/1");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 7000);
  EXPECT_EQ(u->db, 1);
}

TEST(RedisUrl, Rejections) {
  for (const char* bad : {"rediss://host", "http://host", "redis://", "redis://:6379",
                          "redis://host:0", "redis://host:70000", "redis://host:12x",
                          "redis://host/db", "redis://nopass@host", "redis://[::1"}) {
    auto u = parse_redis_url(bad);
    EXPECT_FALSE(u) << bad;
    if (!u) EXPECT_FALSE(u.error().empty());
  }
}

TEST(RedisUrl, ErrorNeverContainsThePassword) {
  auto u = parse_redis_url("redis://:topsecret@host:99999");
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().find("topsecret"), std::string::npos);
}
