#include "core/introspection.h"

#include <gtest/gtest.h>

using edge_auth::HttpResponse;
using edge_auth::OAuthClientConfig;

namespace {

OAuthClientConfig client(edge_auth::ClientAuthMethod m) {
  OAuthClientConfig c;
  c.name = "rs";
  c.token_url = "https://idp/token";
  c.client_id = "api-gw";
  c.client_secret = "s3cret";
  c.auth_method = m;
  return c;
}

HttpResponse answer(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

TEST(Introspection, RequestWithBasicClientAuth) {
  auto req = edge_auth::build_introspection_request(
      "https://idp/introspect", client(edge_auth::ClientAuthMethod::ClientSecretBasic), "a b+c");
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://idp/introspect");
  EXPECT_EQ(req.body, "token=a+b%2Bc&token_type_hint=access_token");
  bool basic = false;
  for (auto& [k, v] : req.headers) basic = basic || (k == "Authorization" && v.rfind("Basic ", 0) == 0);
  EXPECT_TRUE(basic);
}

TEST(Introspection, RequestWithPostClientAuth) {
  auto req = edge_auth::build_introspection_request(
      "https://idp/introspect", client(edge_auth::ClientAuthMethod::ClientSecretPost), "tok");
  EXPECT_EQ(req.body,
            "token=tok&token_type_hint=access_token&client_id=api-gw&client_secret=s3cret");
  for (auto& [k, v] : req.headers) EXPECT_NE(k, "Authorization");
}

TEST(Introspection, ActiveAnswerGivesClaims) {
  auto r = edge_auth::parse_introspection_response(
      answer(200, R"({"active":true,"sub":"u1","scope":"a b","exp":2000000000})"),
      client(edge_auth::ClientAuthMethod::ClientSecretBasic));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.active);
  EXPECT_EQ(r.claims.get("sub").value_or(""), "u1");
  EXPECT_EQ(r.exp.value_or(0), 2000000000);
  EXPECT_FALSE(r.payload.empty());
}

TEST(Introspection, InactiveIsAnAnswerNotAnError) {
  auto r = edge_auth::parse_introspection_response(
      answer(200, R"({"active":false})"), client(edge_auth::ClientAuthMethod::ClientSecretBasic));
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.active);
}

TEST(Introspection, ErrorsAreNotInactive) {
  auto c = client(edge_auth::ClientAuthMethod::ClientSecretBasic);
  struct Case {
    int status;
    const char* body;
    bool retryable;
  } cases[] = {
      {401, R"({"error":"invalid_client"})", false},
      {500, "oops", true},
      {200, "not json", false},
      {200, "[true]", false},
      {200, R"({"active":"true"})", false},
      {200, R"({"active":true,"active":false})", false},  // duplicate member
      {0, "", true},
  };
  for (const auto& k : cases) {
    auto r = edge_auth::parse_introspection_response(answer(k.status, k.body), c);
    EXPECT_FALSE(r.ok) << k.status << " " << k.body;
    EXPECT_FALSE(r.active);
    EXPECT_EQ(r.retryable, k.retryable) << k.status << " " << k.body;
    EXPECT_FALSE(r.error.empty());
  }
}

TEST(Introspection, ErrorNeverContainsTheSecret) {
  auto r = edge_auth::parse_introspection_response(
      answer(200, R"({"active":true,"x":)"), client(edge_auth::ClientAuthMethod::ClientSecretPost));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.find("s3cret"), std::string::npos);
}
