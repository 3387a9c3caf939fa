#include "core/session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/aead.h"
#include "core/base64.h"
#include "core/crypto.h"

namespace edge_auth {
namespace {

const std::string kKey = derive_key("0123456789abcdef0123456789abcdef", "edge-auth session v1");

Claims claims(std::string_view json) {
  Result<Claims> c = Claims::from_json(json);
  EXPECT_TRUE(c) << c.error();
  return std::move(*c);
}

Session sample() {
  Session s;
  s.id = "id-1";
  s.provider = "idp";
  s.sub = "u1";
  s.user = "u1";
  s.email = "a@example.test";
  s.preferred_username = "alice";
  s.name = "Alice \"A\" Ä";
  s.picture = "https://pics/a.png";
  s.groups = {"admins", "dev"};
  s.sid = "sid-1";
  s.claims = R"({"sub":"u1","x":[1,2]})";
  s.access_token = "at";
  s.refresh_token = "rt";
  s.id_token = "a.b.c";
  s.access_expires_at = 2000;
  s.created_at = 1000;
  s.last_seen = 1100;
  return s;
}

void expect_same(const Session& a, const Session& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.provider, b.provider);
  EXPECT_EQ(a.sub, b.sub);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.email, b.email);
  EXPECT_EQ(a.preferred_username, b.preferred_username);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.picture, b.picture);
  EXPECT_EQ(a.groups, b.groups);
  EXPECT_EQ(a.sid, b.sid);
  EXPECT_EQ(a.claims, b.claims);
  EXPECT_EQ(a.access_token, b.access_token);
  EXPECT_EQ(a.refresh_token, b.refresh_token);
  EXPECT_EQ(a.id_token, b.id_token);
  EXPECT_EQ(a.access_expires_at, b.access_expires_at);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.last_seen, b.last_seen);
}

TEST(SessionEncoding, RoundTrip) {
  Session s = sample();
  Result<Session> back = decode_session(encode_session(s));
  ASSERT_TRUE(back) << back.error();
  expect_same(s, *back);
}

TEST(SessionSeal, RoundTrip) {
  Session s = sample();
  std::string sealed = seal_session(kKey, s, "edge_auth_session");
  Result<Session> back = open_session(kKey, sealed, "edge_auth_session");
  ASSERT_TRUE(back) << back.error();
  expect_same(s, *back);
  EXPECT_FALSE(open_session(kKey, sealed, "other"));
}

TEST(SessionFromIdentity, OidcMerge) {
  Claims id = claims(R"({"sub":"u1","sid":"s1","email":"a@x.test","groups":["g1"]})");
  Claims info = claims(R"({"sub":"u1","name":"Alice","email":"b@x.test","picture":"p"})");
  TokenSetResult tokens;
  tokens.ok = true;
  tokens.access_token = "at";
  tokens.expires_at = 5000;
  Session s = session_from_identity(&id, &info, "groups", tokens, 1000, "idp");
  EXPECT_EQ(s.id.size(), 43u);
  EXPECT_EQ(s.sub, "u1");
  EXPECT_EQ(s.user, "u1");
  EXPECT_EQ(s.email, "a@x.test");
  EXPECT_EQ(s.name, "Alice");
  EXPECT_EQ(s.picture, "p");
  EXPECT_EQ(s.sid, "s1");
  EXPECT_EQ(s.groups, std::vector<std::string>{"g1"});
  EXPECT_EQ(s.access_token, "at");
  EXPECT_EQ(s.access_expires_at, 5000);
  EXPECT_EQ(s.created_at, 1000);
  EXPECT_EQ(s.last_seen, 1000);
  EXPECT_EQ(s.provider, "idp");
}

TEST(Cookies, ParseAndJoin) {
  auto cookies = parse_cookies("a=1; edge_auth_session_0=AB;edge_auth_session_1=CD");
  ASSERT_EQ(cookies.size(), 3u);
  EXPECT_EQ(join_chunks(cookies, "edge_auth_session"), "ABCD");
  EXPECT_EQ(join_chunks(cookies, "a"), "1");
  EXPECT_FALSE(join_chunks(cookies, "b"));
}

TEST(ConnectJwt, Signature) {
  Session s = sample();
  std::string jwt = connect_jwt(s, "k", 100, 300);
  std::size_t dot = jwt.rfind('.');
  Digest d = hmac_sha256("k", jwt.substr(0, dot));
  EXPECT_EQ(jwt.substr(dot + 1),
            base64url_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size())));
}

}  // namespace
}  // namespace edge_auth
