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
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
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
  Result<ProviderEndpoints> minimal =
      parse_discovery(R"({"issuer":"https://i","authorization_endpoint":"https://i/a",)"
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

TEST(Discovery, ErrorsAreLogSafe) {
  Result<ProviderEndpoints> ep = parse_discovery(
      "{\"issuer\":\"https://x\\r\\nInjected: 1\",\"jwks_uri\":\"https://x/k\"}", "https://i");
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error().find('\n'), std::string::npos) << ep.error();
  EXPECT_EQ(ep.error().find('\r'), std::string::npos) << ep.error();
  EXPECT_EQ(ep.error().rfind("issuer mismatch: document says https://x", 0), 0u);
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

// ---- presets: overrides ----

TEST(Presets, BaseUrlReplacesTheIssuersOrigin) {
  EXPECT_EQ(find_preset("google", "", "http://127.0.0.1:8081")->endpoints.issuer,
            "http://127.0.0.1:8081");
  EXPECT_EQ(find_preset("microsoft", "t1", "http://127.0.0.1:8081/")->endpoints.issuer,
            "http://127.0.0.1:8081/t1/v2.0");
  EXPECT_EQ(find_preset("auth0", "", "http://127.0.0.1:8081")->endpoints.issuer,
            "http://127.0.0.1:8081/");
  EXPECT_EQ(find_preset("okta", "", "http://127.0.0.1:8081")->endpoints.issuer,
            "http://127.0.0.1:8081");
  EXPECT_EQ(find_preset("kakao", "", "http://fake:1")->endpoints.issuer, "http://fake:1");
  EXPECT_EQ(find_preset("gitlab", "", "https://gitlab.internal")->endpoints.issuer,
            "https://gitlab.internal");
  EXPECT_EQ(find_preset("slack", "ignored", "http://fake")->endpoints.issuer, "http://fake");
}

TEST(Presets, ParamIsValidated) {
  EXPECT_FALSE(find_preset("auth0"));  // needs a domain
  EXPECT_FALSE(find_preset("okta"));
  EXPECT_FALSE(find_preset("okta", "evil.example/x"));
  EXPECT_FALSE(find_preset("auth0", "user@evil.example"));
  EXPECT_FALSE(find_preset("microsoft", "a/b"));
  EXPECT_FALSE(find_preset("microsoft", "a b"));
  EXPECT_FALSE(find_preset("microsoft", "a?b"));
  EXPECT_TRUE(find_preset("google", "a/b"));  // ignored
}

TEST(Presets, GitHubEnterprise) {
  std::optional<Preset> ghe = find_preset("github", "", "https://ghe.corp/");
  ASSERT_TRUE(ghe);
  EXPECT_EQ(ghe->endpoints.authorization_endpoint, "https://ghe.corp/login/oauth/authorize");
  EXPECT_EQ(ghe->endpoints.token_endpoint, "https://ghe.corp/login/oauth/access_token");
  EXPECT_EQ(ghe->user_api, "https://ghe.corp/api/v3/user");
  EXPECT_EQ(ghe->endpoints.emails_endpoint, "https://ghe.corp/api/v3/user/emails");

  std::optional<Preset> fake =
      find_preset("github", "", "http://127.0.0.1:9/", "http://127.0.0.1:10");
  EXPECT_EQ(fake->endpoints.authorization_endpoint, "http://127.0.0.1:9/login/oauth/authorize");
  EXPECT_EQ(fake->user_api, "http://127.0.0.1:10/user");
  EXPECT_EQ(fake->endpoints.emails_endpoint, "http://127.0.0.1:10/user/emails");

  std::optional<Preset> api_only = find_preset("github", "", "", "http://api.fake");
  EXPECT_EQ(api_only->endpoints.authorization_endpoint, "https://github.com/login/oauth/authorize");
  EXPECT_EQ(api_only->user_api, "http://api.fake/user");
}

TEST(Presets, FeishuOverrides) {
  std::optional<Preset> fs = find_preset("feishu", "", "http://web.fake", "http://api.fake/");
  EXPECT_EQ(fs->endpoints.authorization_endpoint, "http://web.fake/suite/passport/oauth/authorize");
  EXPECT_EQ(fs->endpoints.token_endpoint, "http://web.fake/suite/passport/oauth/token");
  EXPECT_EQ(fs->user_api, "http://api.fake/suite/passport/oauth/userinfo");
  EXPECT_EQ(find_preset("feishu", "", "http://web.fake")->user_api,
            "http://web.fake/suite/passport/oauth/userinfo");
}

TEST(Presets, EveryListedNameIsKnown) {
  std::string_view names = preset_names();
  int count = 0;
  while (!names.empty()) {
    std::size_t space = names.find(' ');
    std::string name(names.substr(0, space));
    EXPECT_TRUE(find_preset(name, "tenant.example")) << name;
    ++count;
    names.remove_prefix(space == std::string_view::npos ? names.size() : space + 1);
  }
  EXPECT_EQ(count, 9);
}

// ---- the login: more ----

TEST(NewLogin, StatesSortByTime) {
  std::vector<std::string> states;
  for (std::int64_t t : {1700000000LL, 9LL, 0x100LL, 1700000001LL, 0xfffffffeLL}) {
    states.push_back(new_login("/", t).state);
  }
  std::vector<std::string> sorted = states;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted[0].substr(0, 8), "00000009");
  EXPECT_EQ(sorted[1].substr(0, 8), "00000100");
  EXPECT_EQ(sorted[2].substr(0, 8), "6553f100");
  EXPECT_EQ(sorted[3].substr(0, 8), "6553f101");
  EXPECT_EQ(sorted[4].substr(0, 8), "fffffffe");
}

TEST(Pkce, ChallengeIsBase64urlOfSha256) {
  std::string c = pkce_challenge("");
  EXPECT_EQ(c, "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");  // SHA-256("")
  EXPECT_EQ(c.size(), 43u);
}

TEST(AuthorizationUrl, KeepsTheEndpointsQuery) {
  ProviderEndpoints ep;
  ep.authorization_endpoint = "https://idp.example/authorize?tenant=a%20b";
  std::string url = authorization_url(ep, client(), fixed_login(), "https://app/cb");
  EXPECT_EQ(url.rfind("https://idp.example/authorize?tenant=a%20b&response_type=code&", 0), 0u)
      << url;
  ep.authorization_endpoint = "https://idp.example/authorize?";
  url = authorization_url(ep, client(), fixed_login(), "https://app/cb");
  EXPECT_EQ(url.rfind("https://idp.example/authorize?response_type=code&", 0), 0u) << url;
  ep.authorization_endpoint = "https://idp.example/authorize#frag";
  url = authorization_url(ep, client(), fixed_login(), "https://app/cb");
  EXPECT_EQ(url.rfind("https://idp.example/authorize?response_type=code&", 0), 0u) << url;
  EXPECT_EQ(url.find('#'), std::string::npos);
}

TEST(AuthorizationUrl, NonceOnlyWithOpenidScope) {
  ProviderEndpoints ep;
  ep.authorization_endpoint = "https://github.example/authorize";
  OidcClientConfig cfg = client();
  cfg.scopes = "read:user user:email";
  std::string url = authorization_url(ep, cfg, fixed_login(), "https://app/cb");
  EXPECT_EQ(url.find("nonce="), std::string::npos);
  EXPECT_NE(url.find("&scope=read%3Auser%20user%3Aemail&"), std::string::npos) << url;
  cfg.scopes = "openidx profile";  // a word, not a prefix
  EXPECT_EQ(authorization_url(ep, cfg, fixed_login(), "https://app/cb").find("nonce="),
            std::string::npos);
  cfg.scopes = "profile openid";
  EXPECT_NE(authorization_url(ep, cfg, fixed_login(), "https://app/cb").find("&nonce=nonce-1"),
            std::string::npos);
}

TEST(AuthorizationUrl, PkceOff) {
  ProviderEndpoints ep;
  ep.authorization_endpoint = "https://idp.example/authorize";
  OidcClientConfig cfg = client();
  cfg.pkce = false;
  std::string url = authorization_url(ep, cfg, fixed_login(), "https://app/cb");
  EXPECT_EQ(url.find("code_challenge"), std::string::npos);
}

TEST(AuthorizationUrl, ExtrasEncodedAndCannotOverrideProtocolParameters) {
  ProviderEndpoints ep;
  ep.authorization_endpoint = "https://idp.example/authorize";
  OidcClientConfig cfg = client();
  cfg.extra_auth_params = {{"access_type", "offline"},
                           {"prompt", "select account"},
                           {"state", "attacker"},
                           {"redirect_uri", "https://evil"},
                           {"hd", "a&b=c"}};
  std::string url = authorization_url(ep, cfg, fixed_login(), "https://app/cb");
  EXPECT_NE(url.find("&access_type=offline&prompt=select%20account&hd=a%26b%3Dc"),
            std::string::npos)
      << url;
  EXPECT_EQ(url.find("attacker"), std::string::npos);
  EXPECT_EQ(url.find("evil"), std::string::npos);
  // What the OP reads back is what we sent.
  std::string query = url.substr(url.find('?') + 1);
  EXPECT_EQ(query_get(query, "redirect_uri"), "https://app/cb");
  EXPECT_EQ(query_get(query, "client_id"), "app id&1");
  EXPECT_EQ(query_get(query, "state"), fixed_login().state);
}

// ---- the token endpoint: more ----

TEST(CodeRequest, BasicKeepsTheSecretOutOfTheBody) {
  ProviderEndpoints ep;
  ep.token_endpoint = "https://idp.example/token";
  HttpRequest req = build_code_request(ep, client(), "c", "https://app/cb", "v");
  EXPECT_EQ(req.body.find("s3cr"), std::string::npos);
  EXPECT_EQ(req.body.find("client_id"), std::string::npos);
}

TEST(CodeRequest, PostWithoutPkce) {
  ProviderEndpoints ep;
  ep.token_endpoint = "https://idp.example/token";
  OidcClientConfig cfg = client();
  cfg.auth_method = ClientAuthMethod::ClientSecretPost;
  cfg.pkce = false;
  HttpRequest req = build_code_request(ep, cfg, "code1", "https://app/cb", "ver");
  EXPECT_EQ(header(req, "Authorization"), "<absent>");
  EXPECT_EQ(header(req, "Accept"), "application/json");
  EXPECT_EQ(req.body,
            "grant_type=authorization_code&code=code1&redirect_uri=https%3A%2F%2Fapp%2Fcb"
            "&client_id=app+id%261&client_secret=s3cr%26t+%2Bpw");
}

TEST(CodeRequest, EmptyVerifierIsNotSent) {
  ProviderEndpoints ep;
  ep.token_endpoint = "https://idp.example/token";
  HttpRequest req = build_code_request(ep, client(), "c", "https://app/cb", "");
  EXPECT_EQ(req.body.find("code_verifier"), std::string::npos);
}

TEST(RefreshRequest, BasicAndPost) {
  ProviderEndpoints ep;
  ep.token_endpoint = "https://idp.example/token";
  HttpRequest basic = build_refresh_request(ep, client(), "r/t");
  EXPECT_EQ(basic.method, "POST");
  EXPECT_EQ(basic.url, "https://idp.example/token");
  EXPECT_EQ(basic.body, "grant_type=refresh_token&refresh_token=r%2Ft");
  EXPECT_EQ(header(basic, "Authorization"), "Basic " + base64_encode("app+id%261:s3cr%26t+%2Bpw"));
  EXPECT_EQ(header(basic, "Accept"), "application/json");
  OidcClientConfig cfg = client();
  cfg.auth_method = ClientAuthMethod::ClientSecretPost;
  HttpRequest post = build_refresh_request(ep, cfg, "rt");
  EXPECT_EQ(post.body,
            "grant_type=refresh_token&refresh_token=rt&client_id=app+id%261"
            "&client_secret=s3cr%26t+%2Bpw");
  EXPECT_EQ(header(post, "Authorization"), "<absent>");
}

HttpResponse response(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(TokenSet, ExpiresIn) {
  EXPECT_EQ(
      parse_token_set(response(200, R"({"access_token":"a","expires_in":"120"})"), 1000).expires_at,
      1120);
  EXPECT_EQ(
      parse_token_set(response(200, R"({"access_token":"a","expires_in":60})"), 1000).expires_at,
      1060);
  // Absent (or null): an hour.
  EXPECT_EQ(parse_token_set(response(200, R"({"access_token":"a"})"), 1000).expires_at, 4600);
  EXPECT_EQ(
      parse_token_set(response(200, R"({"access_token":"a","expires_in":null})"), 1000).expires_at,
      4600);
  TokenSetResult bad =
      parse_token_set(response(200, R"({"access_token":"a","expires_in":"soon"})"), 1000);
  EXPECT_FALSE(bad.ok);
  EXPECT_FALSE(bad.retryable);
}

TEST(TokenSet, GitHubStyle) {
  // GitHub: lowercase token_type, a scope, no expiry, no refresh or ID token.
  TokenSetResult t = parse_token_set(
      response(200, R"({"access_token":"gho_abc","token_type":"bearer","scope":"read:user"})"),
      1000);
  ASSERT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.access_token, "gho_abc");
  EXPECT_EQ(t.refresh_token, "");
  EXPECT_EQ(t.id_token, "");
  EXPECT_EQ(t.expires_at, 4600);
  // GitHub answers a bad code with 200 and an error object.
  TokenSetResult e = parse_token_set(
      response(
          200,
          R"({"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."})"),
      1000);
  EXPECT_FALSE(e.ok);
  EXPECT_FALSE(e.retryable);
  EXPECT_EQ(e.error, "HTTP 200 bad_verification_code: The code passed is incorrect or expired.");
}

TEST(TokenSet, Errors) {
  TokenSetResult missing = parse_token_set(response(200, R"({"id_token":"a.b.c"})"), 1000);
  EXPECT_FALSE(missing.ok);
  EXPECT_EQ(missing.error, "HTTP 200 invalid_response: no access_token");
  EXPECT_EQ(missing.id_token, "");

  TokenSetResult grant = parse_token_set(
      response(400, R"({"error":"invalid_grant","error_description":"code expired"})"), 1000);
  EXPECT_FALSE(grant.ok);
  EXPECT_FALSE(grant.retryable);
  EXPECT_EQ(grant.error, "HTTP 400 invalid_grant: code expired");

  TokenSetResult server = parse_token_set(response(503, "<html>down</html>"), 1000);
  EXPECT_FALSE(server.ok);
  EXPECT_TRUE(server.retryable);
  EXPECT_EQ(server.error, "HTTP 503");

  HttpResponse transport;
  transport.error = "connection refused";
  TokenSetResult t = parse_token_set(transport, 1000);
  EXPECT_FALSE(t.ok);
  EXPECT_TRUE(t.retryable);
  EXPECT_EQ(t.error, "transport: connection refused");

  TokenSetResult not_json = parse_token_set(response(200, "access_token=a&token_type=bearer"), 1);
  EXPECT_FALSE(not_json.ok);
  EXPECT_FALSE(not_json.retryable);

  TokenSetResult bad_id = parse_token_set(response(200, R"({"access_token":"a","id_token":5})"), 1);
  EXPECT_FALSE(bad_id.ok);
  EXPECT_EQ(bad_id.error, "HTTP 200 invalid_response: id_token is not a string");
  EXPECT_EQ(bad_id.access_token, "");
  TokenSetResult bad_rt =
      parse_token_set(response(200, R"({"access_token":"a","refresh_token":[]})"), 1);
  EXPECT_EQ(bad_rt.error, "HTTP 200 invalid_response: refresh_token is not a string");
}

TEST(TokenSet, ErrorsNeverQuoteTokens) {
  TokenSetResult t =
      parse_token_set(response(200, R"({"access_token":"secret-at","token_type":"DPoP"})"), 1);
  EXPECT_FALSE(t.ok);
  EXPECT_EQ(t.error.find("secret-at"), std::string::npos) << t.error;
  TokenSetResult u = parse_token_set(
      response(200, R"({"access_token":"secret-at","refresh_token":"secret-rt","id_token":{}})"),
      1);
  EXPECT_FALSE(u.ok);
  EXPECT_EQ(u.error.find("secret"), std::string::npos) << u.error;
}

TEST(BearerGet, Headers) {
  HttpRequest req = build_bearer_get("https://api.github.com/user", "gho_x");
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.url, "https://api.github.com/user");
  EXPECT_EQ(req.body, "");
  EXPECT_EQ(header(req, "Authorization"), "Bearer gho_x");
  EXPECT_EQ(header(req, "Accept"), "application/json");
  EXPECT_EQ(header(req, "User-Agent").rfind("edge-auth/", 0), 0u);
}

// ---- ID token claims ----

TEST(IdTokenClaims, Reasons) {
  EXPECT_EQ(check_id_token_claims(claims(R"({"iat":1,"aud":"app","nonce":"n"})"), "app", "n"),
            "missing sub");
  EXPECT_EQ(check_id_token_claims(claims(R"({"sub":"","iat":1,"nonce":"n"})"), "app", "n"),
            "missing sub");
  EXPECT_EQ(check_id_token_claims(claims(R"({"sub":5,"iat":1,"nonce":"n"})"), "app", "n"),
            "missing sub");
  EXPECT_EQ(check_id_token_claims(claims(R"({"sub":"u","aud":"app","nonce":"n"})"), "app", "n"),
            "missing iat");
  EXPECT_EQ(check_id_token_claims(claims(R"({"sub":"u","iat":"1","nonce":"n"})"), "app", "n"),
            "missing iat");
  EXPECT_EQ(check_id_token_claims(claims(R"({"sub":"u","iat":1,"aud":"app"})"), "app", "n"),
            "missing nonce");
  EXPECT_EQ(check_id_token_claims(claims(R"({"sub":"u","iat":1,"nonce":5})"), "app", "n"),
            "missing nonce");
  EXPECT_EQ(check_id_token_claims(claims(R"({"sub":"u","iat":1,"nonce":"n1"})"), "app", "n"),
            "nonce mismatch");
  // Refresh: no expected nonce, none checked.
  EXPECT_EQ(check_id_token_claims(claims(R"({"sub":"u","iat":1})"), "app", ""), "");
}

TEST(IdTokenClaims, Azp) {
  const char* n = "n";
  // Single audience: azp optional, but must match when present.
  EXPECT_EQ(
      check_id_token_claims(claims(R"({"sub":"u","iat":1,"aud":"app","nonce":"n"})"), "app", n),
      "");
  EXPECT_EQ(
      check_id_token_claims(claims(R"({"sub":"u","iat":1,"aud":["app"],"nonce":"n"})"), "app", n),
      "");
  EXPECT_EQ(check_id_token_claims(
                claims(R"({"sub":"u","iat":1,"aud":"app","azp":"other","nonce":"n"})"), "app", n),
            "azp mismatch");
  EXPECT_EQ(check_id_token_claims(
                claims(R"({"sub":"u","iat":1,"aud":"app","azp":"app","nonce":"n"})"), "app", n),
            "");
  // Several audiences: azp required and equal to us.
  EXPECT_EQ(check_id_token_claims(claims(R"({"sub":"u","iat":1,"aud":["app","api"],"nonce":"n"})"),
                                  "app", n),
            "missing azp");
  EXPECT_EQ(
      check_id_token_claims(
          claims(R"({"sub":"u","iat":1,"aud":["app","api"],"azp":"api","nonce":"n"})"), "app", n),
      "azp mismatch");
  EXPECT_EQ(
      check_id_token_claims(
          claims(R"({"sub":"u","iat":1,"aud":["app","api"],"azp":"app","nonce":"n"})"), "app", n),
      "");
  EXPECT_EQ(check_id_token_claims(
                claims(R"({"sub":"u","iat":1,"aud":"app","azp":["app"],"nonce":"n"})"), "app", n),
            "azp mismatch");
}

TEST(UserinfoSub, MustMatch) {
  EXPECT_EQ(check_userinfo_sub(claims(R"({"sub":"u1","email":"x"})"), "u1"), "");
  EXPECT_EQ(check_userinfo_sub(claims(R"({"sub":"u2"})"), "u1"), "userinfo sub mismatch");
  EXPECT_EQ(check_userinfo_sub(claims(R"({"email":"x"})"), "u1"), "userinfo has no sub");
  EXPECT_EQ(check_userinfo_sub(claims(R"({"sub":1})"), "1"), "userinfo has no sub");
}

TEST(GitHubEmail, PrimaryVerified) {
  EXPECT_EQ(
      github_primary_email(R"([{"email":"a@x","primary":false,"verified":true},)"
                           R"({"email":"b@x","primary":true,"verified":true,"visibility":null}])"),
      "b@x");
  EXPECT_FALSE(github_primary_email(R"([{"email":"b@x","primary":true,"verified":false}])"));
  EXPECT_FALSE(github_primary_email(R"([{"email":"b@x","primary":"true","verified":true}])"));
  EXPECT_FALSE(github_primary_email("[]"));
  EXPECT_FALSE(github_primary_email(R"({"email":"b@x"})"));
  EXPECT_FALSE(github_primary_email("nope"));
  EXPECT_FALSE(github_primary_email(R"([1,null,{"primary":true,"verified":true}])"));
}

// ---- the return URL ----

TEST(SafeReturnUrl, LocalPaths) {
  const std::vector<std::string> none;
  EXPECT_EQ(safe_return_url("/", none), "/");
  EXPECT_EQ(safe_return_url("/a?b", none), "/a?b");
  EXPECT_EQ(safe_return_url("/a/b?c=%2F%2F#frag", none), "/a/b?c=%2F%2F#frag");
  EXPECT_EQ(safe_return_url("/a//b", none), "/a//b");
  EXPECT_EQ(safe_return_url("", none), "/");
  EXPECT_EQ(safe_return_url("a/b", none), "/");
  EXPECT_EQ(safe_return_url("//evil.example", none), "/");
  EXPECT_EQ(safe_return_url("///evil.example", none), "/");
  EXPECT_EQ(safe_return_url("/\\evil.example", none), "/");
  EXPECT_EQ(safe_return_url("/a\\b", none), "/");
  EXPECT_EQ(safe_return_url("/%2F%2Fevil", none), "/");
  EXPECT_EQ(safe_return_url("/%2fevil", none), "/");
  EXPECT_EQ(safe_return_url("/%5Cevil", none), "/");
  EXPECT_EQ(safe_return_url("/%5cevil", none), "/");
  EXPECT_EQ(safe_return_url("/a%5Cb", none), "/");
  EXPECT_EQ(safe_return_url("%2F%2Fevil", none), "/");
  EXPECT_EQ(safe_return_url("/%0d%0aSet-Cookie:x", none), "/");
  EXPECT_EQ(safe_return_url("/%09/evil", none), "/");
}

TEST(SafeReturnUrl, ControlCharacters) {
  const std::vector<std::string> hosts = {"app.example.test"};
  // Browsers drop tabs and newlines: "/\t/evil" would be "//evil".
  EXPECT_EQ(safe_return_url("/\t/evil.example", hosts), "/");
  EXPECT_EQ(safe_return_url("/\n/evil.example", hosts), "/");
  EXPECT_EQ(safe_return_url("/\r\nSet-Cookie: a=b", hosts), "/");
  EXPECT_EQ(safe_return_url(std::string_view("/a\0b", 4), hosts), "/");
  EXPECT_EQ(safe_return_url("/a\x7f", hosts), "/");
  EXPECT_EQ(safe_return_url("https://app.example.test/\tx", hosts), "/");
  EXPECT_EQ(safe_return_url(" //evil.example", hosts), "/");
}

TEST(SafeReturnUrl, AbsoluteUrls) {
  const std::vector<std::string> hosts = {"app.example.test", ".example.test"};
  const std::vector<std::string> exact = {"app.example.test"};
  EXPECT_EQ(safe_return_url("https://app.example.test/x", exact), "https://app.example.test/x");
  EXPECT_EQ(safe_return_url("https://app.example.test", exact), "https://app.example.test");
  EXPECT_EQ(safe_return_url("http://app.example.test/x?y#z", exact),
            "http://app.example.test/x?y#z");
  EXPECT_EQ(safe_return_url("https://APP.Example.TEST/x", exact), "https://APP.Example.TEST/x");
  EXPECT_EQ(safe_return_url("HTTPS://app.example.test/x", exact), "HTTPS://app.example.test/x");
  EXPECT_EQ(safe_return_url("https://app.example.test:8443/x", exact),
            "https://app.example.test:8443/x");
  EXPECT_EQ(safe_return_url("https://app.example.test:84x3/x", exact), "/");
  EXPECT_EQ(safe_return_url("https://other.example.test/x", exact), "/");
  EXPECT_EQ(safe_return_url("https://evil.example", exact), "/");
  EXPECT_EQ(safe_return_url("https://evil.example", {}), "/");
  EXPECT_EQ(safe_return_url("https://app.example.test.", exact), "/");
  EXPECT_EQ(safe_return_url("https://evil.example.test.attacker.com/", hosts), "/");
  EXPECT_EQ(safe_return_url("https://app.example.test@evil.com/", hosts), "/");
  EXPECT_EQ(safe_return_url("https://evil.com@app.example.test/", hosts), "/");
  EXPECT_EQ(safe_return_url("https://evil.com\\@app.example.test/", hosts), "/");
  EXPECT_EQ(safe_return_url("https://app.example.test\\evil.com", hosts), "/");
  EXPECT_EQ(safe_return_url("https:///app.example.test", hosts), "/");
  EXPECT_EQ(safe_return_url("https:app.example.test", hosts), "/");
  EXPECT_EQ(safe_return_url("javascript:alert(1)", hosts), "/");
  EXPECT_EQ(safe_return_url("JavaScript://app.example.test/%0aalert(1)", hosts), "/");
  EXPECT_EQ(safe_return_url("data:text/html,x", hosts), "/");
  EXPECT_EQ(safe_return_url("ftp://app.example.test/", hosts), "/");
  // ".example.test": the domain and its subdomains.
  EXPECT_EQ(safe_return_url("https://a.b.example.test/x", hosts), "https://a.b.example.test/x");
  EXPECT_EQ(safe_return_url("https://example.test/x", hosts), "https://example.test/x");
  EXPECT_EQ(safe_return_url("https://badexample.test/x", hosts), "/");
  EXPECT_EQ(safe_return_url("https://example.test.evil/x", hosts), "/");
  EXPECT_EQ(safe_return_url("https://[::1]:8080/x", {"[::1]"}), "https://[::1]:8080/x");
  EXPECT_EQ(safe_return_url("https://[::1/x", {"[::1]"}), "/");
}

// ---- login redirects ----

TEST(LoginRedirect, Table) {
  struct Case {
    const char* method;
    const char* xrw;
    const char* mode;
    const char* accept;
    bool redirect;
  } cases[] = {
      {"GET", "", "", "", true},
      {"HEAD", "", "", "", true},
      {"POST", "", "", "", false},
      {"PUT", "", "navigate", "text/html", false},
      {"get", "", "", "", false},
      {"GET", "XMLHttpRequest", "", "", false},
      {"GET", "", "navigate", "", true},
      {"GET", "", "Navigate", "", true},
      {"GET", "", "cors", "", false},
      {"GET", "", "no-cors", "text/html", false},
      {"GET", "", "same-origin", "", false},
      {"GET", "", "", "text/html,application/xhtml+xml,*/*;q=0.8", true},
      {"GET", "", "", "*/*", true},
      {"GET", "", "", "TEXT/HTML", true},
      {"GET", "", "", "application/json", false},
      {"GET", "", "", "application/json, text/plain", false},
      {"GET", "", "navigate", "image/avif,image/webp", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(wants_login_redirect(c.method, c.xrw, c.mode, c.accept), c.redirect)
        << c.method << " xrw=" << c.xrw << " mode=" << c.mode << " accept=" << c.accept;
  }
}

// ---- back-channel logout ----

TEST(LogoutToken, Reasons) {
  const std::string events =
      R"("events":{"http://schemas.openid.net/event/backchannel-logout":{}})";
  auto check = [](const std::string& json) { return check_logout_token(claims(json)); };
  Result<LogoutTarget> by_sub = check(R"({"jti":"j","sub":"u",)" + events + "}");
  ASSERT_TRUE(by_sub) << by_sub.error();
  EXPECT_EQ(by_sub->sub, "u");
  EXPECT_EQ(by_sub->sid, "");
  Result<LogoutTarget> both = check(R"({"jti":"j","sub":"u","sid":"s",)" + events + "}");
  ASSERT_TRUE(both);
  EXPECT_EQ(both->sid, "s");
  EXPECT_EQ(both->sub, "u");

  EXPECT_EQ(check(R"({"jti":"j","sub":"u"})").error(), "missing backchannel-logout event");
  EXPECT_EQ(check(R"({"jti":"j","sub":"u","events":{}})").error(),
            "missing backchannel-logout event");
  EXPECT_EQ(
      check(
          R"({"jti":"j","sub":"u","events":{"http://schemas.openid.net/event/backchannel-logout":true}})")
          .error(),
      "missing backchannel-logout event");
  EXPECT_EQ(
      check(
          R"({"jti":"j","sub":"u","events":["http://schemas.openid.net/event/backchannel-logout"]})")
          .error(),
      "missing backchannel-logout event");
  EXPECT_EQ(check(R"({"sub":"u",)" + events + "}").error(), "missing jti");
  EXPECT_EQ(check(R"({"jti":"","sub":"u",)" + events + "}").error(), "missing jti");
  EXPECT_EQ(check(R"({"jti":"j",)" + events + "}").error(), "missing sid and sub");
  EXPECT_EQ(check(R"({"jti":"j","sub":"",)" + events + "}").error(), "missing sid and sub");
  EXPECT_EQ(check(R"({"jti":"j","sub":"u","nonce":"n",)" + events + "}").error(),
            "nonce not allowed");
}

}  // namespace
}  // namespace edge_auth
