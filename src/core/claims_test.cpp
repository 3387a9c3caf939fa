#include "core/claims.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/base64.h"

namespace edge_auth {
namespace {

using Words = std::vector<std::string>;

Claims claims(std::string_view json) {
  Result<Claims> c = Claims::from_json(json);
  EXPECT_TRUE(c) << c.error();
  return c ? std::move(*c) : Claims();
}

const char kKeycloakLike[] = R"({
  "iss": "https://idp.example/realms/main", "sub": "svc-billing", "exp": 1900000000,
  "scope": "read:orders  write:orders profile",
  "realm_access": {"roles": ["billing", "reader"]},
  "resource_access": {"api": {"roles": ["admin"]}},
  "https://example.com/tenant": "acme",
  "ratio": 1.5, "big": 1e21, "neg": -3, "active": true, "suspended": false,
  "gone": null, "mixed": [1, "two", true, 2.5], "nested": [{"a": 1}], "with_null": ["a", null],
  "empty": [], "blank": ""
})";

TEST(Claims, ScalarsAsText) {
  Claims c = claims(kKeycloakLike);
  EXPECT_EQ(c.get("sub"), "svc-billing");
  EXPECT_EQ(c.get("exp"), "1900000000");
  EXPECT_EQ(c.get("neg"), "-3");
  EXPECT_EQ(c.get("ratio"), "1.5");
  EXPECT_EQ(c.get("big"), "1e+21");
  EXPECT_EQ(c.get("active"), "true");
  EXPECT_EQ(c.get("suspended"), "false");
  EXPECT_EQ(c.get("blank"), "");
}

TEST(Claims, NestedPathsAndNamesWithDots) {
  Claims c = claims(kKeycloakLike);
  EXPECT_EQ(c.get("realm_access.roles"), "billing,reader");
  EXPECT_EQ(c.get("resource_access.api.roles"), "admin");
  EXPECT_EQ(c.get("https://example.com/tenant"), "acme");
  EXPECT_EQ(c.get("realm_access.missing"), std::nullopt);
  EXPECT_EQ(c.get("sub.deeper"), std::nullopt);  // a string has no members
  EXPECT_EQ(c.get(""), std::nullopt);
}

TEST(Claims, ArraysObjectsAndNull) {
  Claims c = claims(kKeycloakLike);
  EXPECT_EQ(c.get("mixed"), "1,two,true,2.5");
  EXPECT_EQ(c.get("empty"), "");
  EXPECT_EQ(c.get("nested"), std::nullopt);
  EXPECT_EQ(c.get("with_null"), std::nullopt);
  EXPECT_EQ(c.get("realm_access"), std::nullopt);  // an object
  EXPECT_EQ(c.get("gone"), std::nullopt);
  EXPECT_EQ(c.get("absent"), std::nullopt);
}

TEST(Claims, ValuesOfArraysAndSpaceSeparatedStrings) {
  Claims c = claims(kKeycloakLike);
  EXPECT_EQ(c.values("scope"), (Words{"read:orders", "write:orders", "profile"}));
  EXPECT_EQ(c.values("realm_access.roles"), (Words{"billing", "reader"}));
  EXPECT_EQ(c.values("mixed"), (Words{"1", "two", "true", "2.5"}));
  EXPECT_EQ(c.values("with_null"), (Words{"a"}));
  EXPECT_EQ(c.values("exp"), (Words{"1900000000"}));
  EXPECT_TRUE(c.values("absent").empty());
  EXPECT_TRUE(c.values("realm_access").empty());
  EXPECT_TRUE(c.values("blank").empty());
}

TEST(Claims, HasMeansPresentAndNotNull) {
  Claims c = claims(kKeycloakLike);
  EXPECT_TRUE(c.has("sub"));
  EXPECT_TRUE(c.has("realm_access"));
  EXPECT_TRUE(c.has("suspended"));
  EXPECT_TRUE(c.has("blank"));
  EXPECT_FALSE(c.has("gone"));
  EXPECT_FALSE(c.has("absent"));
}

TEST(Claims, OnlyObjectsAreAccepted) {
  EXPECT_FALSE(Claims::from_json("[1,2]"));
  EXPECT_FALSE(Claims::from_json("\"sub\""));
  EXPECT_FALSE(Claims::from_json("42"));
  EXPECT_FALSE(Claims::from_json(""));
  EXPECT_FALSE(Claims::from_json("{\"a\":1"));
  EXPECT_FALSE(Claims::from_json("{\"a\":1} trailing"));
  EXPECT_FALSE(Claims::from_json("{\"a\":\"\\u0000\"}"));
  EXPECT_TRUE(Claims::from_json("{}"));
}

TEST(Claims, DuplicateMembersRejected) {
  // Two parsers reading different "sub"s from one token is how confusion attacks start.
  Result<Claims> c = Claims::from_json(R"({"sub":"alice","sub":"admin"})");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), "claims are duplicate member name");
  EXPECT_FALSE(Claims::from_json(R"({"a":{"x":1,"x":2}})"));
}

std::string nested(int depth) {
  std::string json;
  for (int i = 1; i < depth; ++i) json += "{\"a\":";
  json += "{}";
  for (int i = 1; i < depth; ++i) json += "}";
  return json;
}

TEST(Claims, DepthLimitSixteen) {
  EXPECT_TRUE(Claims::from_json(nested(16)));
  Result<Claims> deep = Claims::from_json(nested(17));
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error(), "claims nest deeper than 16");
  EXPECT_FALSE(Claims::from_json("{\"a\":" + std::string(16, '[') + std::string(16, ']') + "}"));
  EXPECT_TRUE(Claims::from_json("{\"a\":" + std::string(15, '[') + std::string(15, ']') + "}"));
}

TEST(Claims, SizeLimit64KiB) {
  std::string filler(64 * 1024 - 20, 'x');
  EXPECT_TRUE(Claims::from_json("{\"f\":\"" + filler + "\"}"));
  EXPECT_FALSE(Claims::from_json("{\"f\":\"" + filler + std::string(100, 'x') + "\"}"));
}

TEST(Claims, FromJwtPayloadOfARealToken) {
  // The well-known jwt.io HS256 example: the signature is not checked here.
  Result<Claims> c = Claims::from_jwt_payload(
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
      "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->get("sub"), "1234567890");
  EXPECT_EQ(c->get("name"), "John Doe");
  EXPECT_EQ(c->get("iat"), "1516239022");
}

TEST(Claims, FromJwtPayloadWithNestedClaims) {
  std::string token = base64url_encode(R"({"alg":"RS256","kid":"k1"})") + "." +
                      base64url_encode(kKeycloakLike) + "." + base64url_encode("sig");
  Result<Claims> c = Claims::from_jwt_payload(token);
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->get("realm_access.roles"), "billing,reader");
}

TEST(Claims, FromJwtPayloadRejectsNonJwts) {
  std::string payload = base64url_encode(R"({"sub":"a"})");
  EXPECT_TRUE(Claims::from_jwt_payload("h." + payload + "."));  // unsigned shape still parses
  EXPECT_FALSE(Claims::from_jwt_payload("opaque-access-token"));
  EXPECT_FALSE(Claims::from_jwt_payload("h." + payload));
  EXPECT_FALSE(Claims::from_jwt_payload("h." + payload + ".s.x.y"));  // JWE has five parts
  EXPECT_FALSE(Claims::from_jwt_payload("h." + payload + "=.s"));     // padding is not base64url
  EXPECT_FALSE(Claims::from_jwt_payload("h.!!!.s"));
  EXPECT_FALSE(Claims::from_jwt_payload("h." + base64url_encode("[1]") + ".s"));
}

TEST(Claims, MovedFromAndDefaultAreEmpty) {
  Claims a = claims(R"({"sub":"x"})");
  Claims b = std::move(a);
  EXPECT_EQ(b.get("sub"), "x");
  EXPECT_EQ(a.get("sub"), std::nullopt);  // NOLINT(bugprone-use-after-move): defined as empty
  EXPECT_FALSE(Claims().has("sub"));
}

bool holds(std::string_view claim, std::string_view op, std::string_view value) {
  static const Claims c = claims(kKeycloakLike);
  Result<ClaimRule> rule = ClaimRule::parse(claim, op, value);
  EXPECT_TRUE(rule) << rule.error();
  return rule && rule->holds(c);
}

TEST(ClaimRule, Eq) {
  EXPECT_TRUE(holds("sub", "eq", "svc-billing"));
  EXPECT_FALSE(holds("sub", "eq", "svc-billinG"));
  EXPECT_TRUE(holds("active", "eq", "true"));
  EXPECT_TRUE(holds("realm_access.roles", "eq", "billing,reader"));
  EXPECT_FALSE(holds("absent", "eq", ""));
}

TEST(ClaimRule, NeDeniesAMissingClaim) {
  EXPECT_TRUE(holds("sub", "ne", "guest"));
  EXPECT_FALSE(holds("sub", "ne", "svc-billing"));
  EXPECT_FALSE(holds("absent", "ne", "guest"));  // deny by default
  EXPECT_FALSE(holds("gone", "ne", "guest"));
  EXPECT_FALSE(holds("realm_access", "ne", "guest"));  // an object has no text
}

TEST(ClaimRule, In) {
  EXPECT_TRUE(holds("sub", "in", "svc-a, svc-billing ,svc-c"));
  EXPECT_FALSE(holds("sub", "in", "svc-a,svc-c"));
  EXPECT_FALSE(holds("absent", "in", "a,b"));
}

TEST(ClaimRule, Contains) {
  EXPECT_TRUE(holds("scope", "contains", "write:orders"));
  EXPECT_FALSE(holds("scope", "contains", "write"));  // whole words only
  EXPECT_TRUE(holds("realm_access.roles", "contains", "reader"));
  EXPECT_FALSE(holds("realm_access.roles", "contains", "admin"));
  EXPECT_FALSE(holds("absent", "contains", "x"));
}

TEST(ClaimRule, Exists) {
  EXPECT_TRUE(holds("sub", "exists", ""));
  EXPECT_TRUE(holds("suspended", "exists", "ignored"));
  EXPECT_FALSE(holds("gone", "exists", ""));
  EXPECT_FALSE(holds("absent", "exists", ""));
}

TEST(ClaimRule, Match) {
  EXPECT_TRUE(holds("iss", "match", "^https://idp\\.example/"));
  EXPECT_TRUE(holds("sub", "match", "billing"));  // search, not a full match
  EXPECT_FALSE(holds("sub", "match", "^billing"));
  EXPECT_FALSE(holds("absent", "match", ".*"));
}

TEST(ClaimRule, MatchIgnoresOverlongValues) {
  Claims c = claims("{\"long\":\"" + std::string(5000, 'a') + "\"}");
  Result<ClaimRule> rule = ClaimRule::parse("long", "match", "(a|b)*");
  ASSERT_TRUE(rule);
  EXPECT_FALSE(rule->holds(c));
}

TEST(ClaimRule, ParseErrors) {
  Result<ClaimRule> bad_regex = ClaimRule::parse("sub", "match", "([a-z");
  ASSERT_FALSE(bad_regex);
  EXPECT_NE(bad_regex.error().find("invalid regular expression \"([a-z\""), std::string::npos)
      << bad_regex.error();
  Result<ClaimRule> bad_op = ClaimRule::parse("sub", "equals", "x");
  ASSERT_FALSE(bad_op);
  EXPECT_EQ(bad_op.error(),
            "unknown operator \"equals\" (expected eq, ne, in, contains, exists or match)");
  EXPECT_FALSE(ClaimRule::parse("", "eq", "x"));
  EXPECT_FALSE(ClaimRule::parse("sub", "in", " , "));
  EXPECT_FALSE(ClaimRule::parse("sub", "contains", ""));
  EXPECT_FALSE(ClaimRule::parse("sub", "EQ", "x"));  // operators are lowercase, as documented
}

TEST(ClaimRule, DescribeAndCopies) {
  Result<ClaimRule> rule = ClaimRule::parse("scope", "contains", "read");
  ASSERT_TRUE(rule);
  EXPECT_EQ(rule->describe(), "scope contains read");
  EXPECT_EQ(ClaimRule::parse("email", "exists", "x")->describe(), "email exists");
  ClaimRule copy = *ClaimRule::parse("sub", "match", "^svc-");
  ClaimRule assigned = *rule;
  assigned = copy;
  Claims c = claims(kKeycloakLike);
  EXPECT_TRUE(copy.holds(c));
  EXPECT_TRUE(assigned.holds(c));
  EXPECT_EQ(assigned.describe(), "sub match ^svc-");
}

}  // namespace
}  // namespace edge_auth
