#include "core/oidc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/base64.h"
#include "core/query.h"

namespace edge_auth {
namespace {

std::string header(const HttpRequest& req, std::string_view name) {
  for (const auto& [n, v] : req.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

Claims claims(std::string_view json) {
  Result<Claims> c = Claims::from_json(json);
  EXPECT_TRUE(c) << c.error();
  return std::move(*c);
}

bool is_b64url(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
  });
}

// ---- discovery ----

constexpr const char* kDiscovery = R"({
  "issuer": "https://idp.example",
  "authorization_endpoint": "https://idp.example/authorize",
  "token_endpoint": "https://idp.example/token",
  "userinfo_endpoint": "https://idp.example/userinfo",
  "jwks_uri": "https://idp.example/jwks",
  "end_session_endpoint": "https://idp.example/logout",
  "id_token_signing_alg_values_supported": ["RS256", "none", "HS256", "ES256", "hs512", "RS256"]
})";

TEST(Discovery, ParsesEndpointsAndFiltersAlgorithms) {
  Result<ProviderEndpoints> ep = parse_discovery(kDiscovery, "https://idp.example");
  ASSERT_TRUE(ep) << ep.error();
  EXPECT_EQ(ep->issuer, "https://idp.example");
  EXPECT_EQ(ep->authorization_endpoint, "https://idp.example/authorize");
  EXPECT_EQ(ep->token_endpoint, "https://idp.example/token");
  EXPECT_EQ(ep->userinfo_endpoint, "https://idp.example/userinfo");
  EXPECT_EQ(ep->jwks_uri, "https://idp.example/jwks");
  EXPECT_EQ(ep->end_session_endpoint, "https://idp.example/logout");
  EXPECT_EQ(ep->emails_endpoint, "");
  // "none" and HS* are dropped (any case), duplicates kept once.
  EXPECT_EQ(ep->id_token_algs, (std::vector<std::string>{"RS256", "ES256"}));
}

TEST(Discovery, IssuerMustMatchExactly) {
  Result<ProviderEndpoints> ep = parse_discovery(kDiscovery, "https://idp.example/");
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error(), "issuer mismatch: document says https://idp.example");
  EXPECT_FALSE(parse_discovery(kDiscovery, "https://IDP.example"));
  EXPECT_EQ(parse_discovery(R"({"token_endpoint":"https://x"})", "https://x").error(),
            "missing issuer");
}

TEST(Discovery, RequiredFields) {
  for (const char* field : {"authorization_endpoint", "token_endpoint", "jwks_uri"}) {
    std::string doc = R"({"issuer":"https://i","authorization_endpoint":"https://i/a",)"
                      R"("token_endpoint":"https://i/t","jwks_uri":"https://i/k"})";
    std::string key = std::string("\"") + field + "\"";
    std::string renamed = doc;
    renamed.replace(renamed.find(key), key.size(), "\"x_other\"");
    Result<ProviderEndpoints> ep = parse_discovery(renamed, "https://i");
    ASSERT_FALSE(ep) << field;
    EXPECT_EQ(ep.error(), std::string("missing ") + field);
  }
  Result<ProviderEndpoints> minimal = parse_discovery(
      R"({"issuer":"https://i","authorization_endpoint":"https://i/a",)"
      R"("token_endpoint":"http://i/t","jwks_uri":"https://i/k"})",
      "https://i");
  ASSERT_TRUE(minimal) << minimal.error();
  EXPECT_EQ(minimal->userinfo_endpoint, "");
  EXPECT_TRUE(minimal->id_token_algs.empty());  // = RS256 only
}

TEST(Discovery, BadUrlsAndBadJson) {
  EXPECT_EQ(parse_discovery(R"({"issuer":"https://i","authorization_endpoint":"javascript:x",)"
                            R"("token_endpoint":"https://i/t","jwks_uri":"https://i/k"})",
                            "https://i")
                .error(),
            "authorization_endpoint is not an http(s) URL");
  EXPECT_EQ(parse_discovery(R"({"issuer":"https://i","authorization_endpoint":"https://i/a",)"
                            R"("token_endpoint":"https://i/t","jwks_uri":42})",
                            "https://i")
                .error(),
            "jwks_uri is not an http(s) URL");
  EXPECT_FALSE(parse_discovery("{not json", "https://i"));
  EXPECT_FALSE(parse_discovery("", "https://i"));
  EXPECT_EQ(parse_discovery("[1]", "https://i").error(), "discovery document is not a JSON object");
  // Only algorithms: ["none"] alone leaves the RS256 default.
  Result<ProviderEndpoints> ep = parse_discovery(
      R"({"issuer":"https://i","authorization_endpoint":"https://i/a","token_endpoint":"https://i/t",)"
      R"("jwks_uri":"https://i/k","id_token_signing_alg_values_supported":["none","HS256"]})",
      "https://i");
  ASSERT_TRUE(ep);
  EXPECT_TRUE(ep->id_token_algs.empty());
}

TEST(MergeEndpoints, ExplicitWins) {
  ProviderEndpoints base;
  base.token_endpoint = "https://explicit/token";
  ProviderEndpoints found = *parse_discovery(kDiscovery, "https://idp.example");
  merge_endpoints(base, found);
  EXPECT_EQ(base.token_endpoint, "https://explicit/token");
  EXPECT_EQ(base.authorization_endpoint, "https://idp.example/authorize");
  EXPECT_EQ(base.issuer, "https://idp.example");
  EXPECT_EQ(base.jwks_uri, "https://idp.example/jwks");
  EXPECT_EQ(base.id_token_algs, found.id_token_algs);
  base.id_token_algs = {"PS256"};
  merge_endpoints(base, found);
  EXPECT_EQ(base.id_token_algs, std::vector<std::string>{"PS256"});
}

// ---- presets ----

TEST(Presets, OidcProviders) {
  EXPECT_EQ(find_preset("google")->endpoints.issuer, "https://accounts.google.com");
  EXPECT_EQ(find_preset("google")->scopes, "openid email profile");
  EXPECT_EQ(find_preset("microsoft")->endpoints.issuer,
            "https://login.microsoftonline.com/common/v2.0");
  EXPECT_EQ(find_preset("microsoft", "5f0c-tenant")->endpoints.issuer,
            "https://login.microsoftonline.com/5f0c-tenant/v2.0");
  EXPECT_EQ(find_preset("gitlab")->endpoints.issuer, "https://gitlab.com");
  EXPECT_EQ(find_preset("gitlab")->scopes, "openid profile email");
  EXPECT_EQ(find_preset("slack")->endpoints.issuer, "https://slack.com");
  EXPECT_EQ(find_preset("auth0", "dev-1.eu.auth0.com")->endpoints.issuer,
            "https://dev-1.eu.auth0.com/");
  EXPECT_EQ(find_preset("okta", "dev-123.okta.com")->endpoints.issuer, "https://dev-123.okta.com");
  EXPECT_EQ(find_preset("kakao")->endpoints.issuer, "https://kauth.kakao.com");
  EXPECT_EQ(find_preset("kakao")->scopes, "openid");
  for (const char* name : {"google", "microsoft", "gitlab", "slack", "kakao"}) {
    std::optional<Preset> p = find_preset(name);
    ASSERT_TRUE(p) << name;
    EXPECT_EQ(p->name, name);
    EXPECT_TRUE(p->oidc) << name;
    EXPECT_EQ(p->endpoints.authorization_endpoint, "") << name;  // from discovery
    EXPECT_EQ(p->user_api, "") << name;
  }
}

TEST(Presets, GitHubAndFeishu) {
  std::optional<Preset> gh = find_preset("github");
  ASSERT_TRUE(gh);
  EXPECT_FALSE(gh->oidc);
  EXPECT_EQ(gh->endpoints.issuer, "");
  EXPECT_EQ(gh->endpoints.authorization_endpoint, "https://github.com/login/oauth/authorize");
  EXPECT_EQ(gh->endpoints.token_endpoint, "https://github.com/login/oauth/access_token");
  EXPECT_EQ(gh->endpoints.emails_endpoint, "https://api.github.com/user/emails");
  EXPECT_EQ(gh->user_api, "https://api.github.com/user");
  EXPECT_EQ(gh->scopes, "read:user user:email");

  std::optional<Preset> fs = find_preset("feishu");
  ASSERT_TRUE(fs);
  EXPECT_FALSE(fs->oidc);
  EXPECT_EQ(fs->endpoints.authorization_endpoint,
            "https://passport.feishu.cn/suite/passport/oauth/authorize");
  EXPECT_EQ(fs->endpoints.token_endpoint, "https://passport.feishu.cn/suite/passport/oauth/token");
  EXPECT_EQ(fs->user_api, "https://passport.feishu.cn/suite/passport/oauth/userinfo");
  EXPECT_EQ(fs->scopes, "");
}

TEST(Presets, Unknown) {
  EXPECT_FALSE(find_preset("facebook"));
  EXPECT_FALSE(find_preset(""));
  EXPECT_FALSE(find_preset("Google"));  // names are exact
  EXPECT_EQ(preset_names(), "google microsoft gitlab slack auth0 okta kakao github feishu");
}

// ---- the login ----

TEST(NewLogin, Format) {
  LoginRequest a = new_login("/back", 0x65000000);
  EXPECT_EQ(a.state.size(), 40u);
  EXPECT_EQ(a.state.substr(0, 8), "65000000");
  EXPECT_TRUE(is_b64url(a.state.substr(8)));
  EXPECT_EQ(a.nonce.size(), 32u);
  EXPECT_TRUE(is_b64url(a.nonce));
  EXPECT_EQ(a.verifier.size(), 43u);
  EXPECT_TRUE(is_b64url(a.verifier));
  EXPECT_EQ(a.return_to, "/back");
  EXPECT_EQ(a.issued_at, 0x65000000);
  LoginRequest b = new_login("/back", 0x65000000);
  EXPECT_NE(a.state, b.state);
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_NE(a.verifier, b.verifier);
}

TEST(Pkce, Rfc7636AppendixB) {
  EXPECT_EQ(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

OidcClientConfig client() {
  OidcClientConfig cfg;
  cfg.provider = "idp";
  cfg.client_id = "app id&1";
  cfg.client_secret = "s3cr&t +pw";
  return cfg;
}

LoginRequest fixed_login() {
  LoginRequest login;
  login.state = "65000000abcdefghijklmnopqrstuvwxyz012345";
  login.nonce = "nonce-1";
  login.verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  login.issued_at = 0x65000000;
  return login;
}

TEST(AuthorizationUrl, AllParameters) {
  ProviderEndpoints ep;
  ep.authorization_endpoint = "https://idp.example/authorize";
  std::string url = authorization_url(ep, client(), fixed_login(), "https://app/oauth2/callback");
  EXPECT_EQ(url,
            "https://idp.example/authorize?response_type=code&client_id=app%20id%261"
            "&redirect_uri=https%3A%2F%2Fapp%2Foauth2%2Fcallback&scope=openid%20email%20profile"
            "&state=65000000abcdefghijklmnopqrstuvwxyz012345&nonce=nonce-1"
            "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            "&code_challenge_method=S256");
}

// ---- the token endpoint ----

TEST(CodeRequest, BasicWithVerifier) {
  ProviderEndpoints ep;
  ep.token_endpoint = "https://idp.example/token";
  HttpRequest req = build_code_request(ep, client(), "c/ode", "https://app/cb", "ver");
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://idp.example/token");
  EXPECT_EQ(header(req, "Accept"), "application/json");
  EXPECT_EQ(header(req, "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(header(req, "Authorization"), "Basic " + base64_encode("app+id%261:s3cr%26t+%2Bpw"));
  EXPECT_EQ(req.body,
            "grant_type=authorization_code&code=c%2Fode&redirect_uri=https%3A%2F%2Fapp%2Fcb"
            "&code_verifier=ver");
}

TEST(TokenSet, Ok) {
  HttpResponse resp;
  resp.status = 200;
  resp.body = R"({"access_token":"at","token_type":"Bearer","expires_in":300,)"
              R"("refresh_token":"rt","id_token":"a.b.c"})";
  TokenSetResult t = parse_token_set(resp, 1000);
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.access_token, "at");
  EXPECT_EQ(t.refresh_token, "rt");
  EXPECT_EQ(t.id_token, "a.b.c");
  EXPECT_EQ(t.expires_at, 1300);
}

TEST(IdTokenClaims, Ok) {
  Claims c = claims(R"({"sub":"u1","iat":1,"aud":"app","nonce":"n1"})");
  EXPECT_EQ(check_id_token_claims(c, "app", "n1"), "");
  EXPECT_EQ(check_id_token_claims(c, "app", "n2"), "nonce mismatch");
}

TEST(SafeReturnUrl, Basics) {
  const std::vector<std::string> hosts = {"app.example.test"};
  EXPECT_EQ(safe_return_url("/a?b", hosts), "/a?b");
  EXPECT_EQ(safe_return_url("//evil.example", hosts), "/");
  EXPECT_EQ(safe_return_url("https://app.example.test/x", hosts), "https://app.example.test/x");
  EXPECT_EQ(safe_return_url("https://evil.example", hosts), "/");
}

TEST(LoginRedirect, Basics) {
  EXPECT_TRUE(wants_login_redirect("GET", "", "", ""));
  EXPECT_FALSE(wants_login_redirect("POST", "", "", ""));
}

TEST(LogoutToken, Ok) {
  Claims c = claims(
      R"({"iss":"i","jti":"j1","sid":"s1","events":{"http://schemas.openid.net/event/backchannel-logout":{}}})");
  Result<LogoutTarget> t = check_logout_token(c);
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->sid, "s1");
  EXPECT_EQ(t->jti, "j1");
  EXPECT_EQ(t->sub, "");
}

}  // namespace
}  // namespace edge_auth
