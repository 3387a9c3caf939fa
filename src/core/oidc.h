// OpenID Connect / OAuth 2.0 authorization-code login (RFC 6749 §4.1, OIDC
// Core 1.0, PKCE RFC 7636): provider metadata, the login redirect, the code
// exchange, ID-token claim checks, userinfo, return-URL safety, back-channel
// logout tokens, and the presets (google, github, ...).
//   ProviderEndpoints ep = *parse_discovery(doc, "https://idp.example");
//   LoginRequest login = new_login("/after", now);  // state, nonce, PKCE verifier
//   std::string url = authorization_url(ep, cfg, login, "https://app/oauth2/callback");
//   HttpRequest req = build_code_request(ep, cfg, code, redirect_uri, login.verifier);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/claims.h"
#include "core/http.h"
#include "core/oauth.h"
#include "core/result.h"

namespace edge_auth {

// Where a provider's endpoints are. From discovery, a preset, or explicit
// directives (explicit wins over discovered, see merge_endpoints).
struct ProviderEndpoints {
  std::string issuer;  // empty for plain OAuth2 providers (github, feishu)
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string userinfo_endpoint;
  std::string jwks_uri;
  std::string end_session_endpoint;
  std::string emails_endpoint;  // github: /user/emails (primary verified email)
  // id_token_signing_alg_values_supported (discovery); empty = RS256 only.
  // "none" and HS* are never kept (ID tokens are verified with the JWKS).
  std::vector<std::string> id_token_algs;
};

// OIDC Discovery 1.0 §4: a JSON object whose "issuer" equals `expected_issuer`
// exactly (§4.3: no trailing-slash tolerance), with authorization_endpoint,
// token_endpoint and jwks_uri (https or http URLs). Errors are log-safe:
// "issuer mismatch: document says https://x", "missing jwks_uri".
Result<ProviderEndpoints> parse_discovery(std::string_view json, std::string_view expected_issuer);

// Fills every empty field of `base` from `from` (explicit directives win).
void merge_endpoints(ProviderEndpoints& base, const ProviderEndpoints& from);

// The built-in providers. `param` is the tenant (microsoft, default "common"),
// or the domain (auth0, okta: "dev-123.okta.com"); others ignore it.
// `base_url` overrides the provider's base (tests point it at local fakes):
// for OIDC presets it replaces the issuer's scheme+host; for github it is the
// web base (https://github.com) and the API base becomes base_url + "/api/v3"
// unless `api_url` is given (feishu: the API base defaults to the web base).
// Microsoft: the multi-tenant "common" (and "organizations", "consumers")
// discovery documents give the issuer as a template
// (".../{tenantid}/v2.0"), which the exact issuer check refuses: give the
// tenant id. auth0 / okta need the domain unless base_url stands in for it.
struct Preset {
  std::string name;
  bool oidc = true;              // false: plain OAuth2, identity from user APIs
  ProviderEndpoints endpoints;   // for OIDC presets: issuer set, rest from discovery
  std::string scopes;            // default scopes ("openid email profile")
  std::string user_api;          // plain OAuth2: GET for the identity (github: /user)
};
// nullopt for an unknown name, for auth0/okta without a domain (and no
// base_url), and for a param with '/', '?', '#', '@' or spaces. Known: google, microsoft, gitlab, slack, auth0,
// okta, kakao (OIDC, discovery from issuer) and github, feishu (plain OAuth2).
std::optional<Preset> find_preset(std::string_view name, std::string_view param = {},
                                  std::string_view base_url = {}, std::string_view api_url = {});
// "google microsoft gitlab slack auth0 okta kakao github feishu" (for errors).
std::string_view preset_names();

struct OidcClientConfig {
  std::string provider;        // the edge_auth_oidc_provider NAME (logs, keys)
  std::string client_id;
  std::string client_secret;   // never logged
  ClientAuthMethod auth_method = ClientAuthMethod::ClientSecretBasic;
  std::string scopes = "openid email profile";
  bool pkce = true;
  std::vector<std::pair<std::string, std::string>> extra_auth_params;  // e.g. access_type
};

// One login attempt: what travels in the state cookie.
struct LoginRequest {
  std::string state;     // 8 hex digits of issued_at, then 32 base64url chars (random)
  std::string nonce;     // 32 base64url chars (random)
  std::string verifier;  // PKCE code_verifier: 43 base64url chars of 32 random bytes
  std::string return_to; // where to go after login (already made safe)
  std::int64_t issued_at = 0;  // seconds
};
// Fresh random state/nonce/verifier (OpenSSL RAND_bytes). now: seconds.
LoginRequest new_login(std::string_view return_to, std::int64_t now);

// S256 code_challenge: base64url(SHA-256(verifier)).
std::string pkce_challenge(std::string_view verifier);

// authorization_endpoint (keeping its own query) + response_type=code,
// client_id, redirect_uri, scope, state, nonce (OIDC only: scopes contain
// "openid"), code_challenge + code_challenge_method=S256 (cfg.pkce), extras
// (an extra named like one of the above is dropped). Every value
// percent-encoded; a fragment of the endpoint is dropped (RFC 6749 §3.1).
std::string authorization_url(const ProviderEndpoints& ep, const OidcClientConfig& cfg,
                              const LoginRequest& login, std::string_view redirect_uri);

// grant_type=authorization_code with code, redirect_uri, code_verifier (when
// pkce) and the client's authentication (basic or post, as client credentials);
// Accept: application/json (github answers form-encoded otherwise).
HttpRequest build_code_request(const ProviderEndpoints& ep, const OidcClientConfig& cfg,
                               std::string_view code, std::string_view redirect_uri,
                               std::string_view verifier);
// grant_type=refresh_token.
HttpRequest build_refresh_request(const ProviderEndpoints& ep, const OidcClientConfig& cfg,
                                  std::string_view refresh_token);

// The token endpoint's answer to a code or refresh grant.
struct TokenSetResult {
  bool ok = false;
  std::string access_token;
  std::string refresh_token;   // may be empty (not issued / not rotated)
  std::string id_token;        // may be empty (plain OAuth2, or a refresh without one)
  std::int64_t expires_at = 0; // seconds; now + expires_in, or now + 3600 when absent
  std::string error;           // log-safe: "HTTP 400 invalid_grant: code expired"
  bool retryable = false;      // transport errors and 5xx
};
TokenSetResult parse_token_set(const HttpResponse& response, std::int64_t now);

// GET with Authorization: Bearer (userinfo, github's /user and /user/emails);
// Accept: application/json; User-Agent: edge-auth/<version> (GitHub's API
// refuses requests without one).
HttpRequest build_bearer_get(std::string_view url, std::string_view access_token);

// OIDC Core §3.1.3.7 checks beyond the signature and exp/iat/iss/aud (which
// verify_jwt does with JwtPolicy{issuers={issuer}, audiences={client_id}}):
// "sub" a non-empty string, "iat" present, "azp" equal to client_id when
// present (and required when "aud" has several values), "nonce" equal to
// `nonce` (constant time; an empty `nonce` skips this check: for the ID
// token of a refresh grant, which has no nonce of its own). Returns "" when they hold, else a log-safe reason:
// "nonce mismatch", "azp mismatch", "missing sub", ...
std::string check_id_token_claims(const Claims& claims, std::string_view client_id,
                                   std::string_view nonce);

// OIDC Core §5.3.2: the userinfo "sub" must equal the ID token's ("" = ok).
std::string check_userinfo_sub(const Claims& userinfo, std::string_view id_token_sub);

// GitHub: /user gives login, id, name, avatar_url, email (maybe null);
// /user/emails an array of {email, primary, verified}: the primary verified
// one, else nullopt.
std::optional<std::string> github_primary_email(std::string_view emails_json);

// The return URL after login / sign-out. Kept when it is a path on this site:
// starts with a single "/", not "//" or "/\\" (also when percent-encoded:
// "/%2F", "/%5C"), no control characters, no backslash at all; or an absolute
// http(s) URL whose host (no userinfo) equals an entry of `allowed_hosts` or
// is a subdomain of an entry written with a leading dot (".example.com",
// which admits example.com itself too). Host names compare ASCII
// case-insensitively, the scheme too; the port is not part of the host
// ("https://app.example.test:8443/x" is admitted for app.example.test).
// Anything else, and empty, gives "/".
std::string safe_return_url(std::string_view url, const std::vector<std::string>& allowed_hosts);

// unauth_action auto: may this request follow a login redirect? false for
// non-GET/HEAD, X-Requested-With present, Sec-Fetch-Mode present and not
// "navigate", or an Accept header present without "text/html" and without "*/*".
// Empty string_view = header absent.
bool wants_login_redirect(std::string_view method, std::string_view x_requested_with,
                          std::string_view sec_fetch_mode, std::string_view accept);

// OpenID Back-Channel Logout 1.0 §2.6: the claims of a logout token whose
// signature, iss, aud and iat were checked by verify_jwt. Requires "events"
// to hold member "http://schemas.openid.net/event/backchannel-logout" (an
// object), "jti" present, "sid" or "sub" present, and no "nonce".
struct LogoutTarget {
  std::string sid;  // may be empty
  std::string sub;  // may be empty (not both)
  std::string jti;
};
Result<LogoutTarget> check_logout_token(const Claims& claims);

// (Query strings and form bodies — the callback's code/state/error, the
// back-channel logout_token — are read with query_get from core/query.h.)

}  // namespace edge_auth
