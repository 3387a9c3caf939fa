#include "core/oidc.h"

#include <algorithm>
#include <cstdio>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/header_value.h"
#include "core/json.h"
#include "core/query.h"
#include "core/text.h"
#include "core/version.h"

namespace edge_auth {
namespace {

constexpr std::size_t kMaxDiscoveryDocument = 512 * 1024;
constexpr std::size_t kMaxTokenResponse = 1024 * 1024;
constexpr std::size_t kMaxUserApiDocument = 1024 * 1024;
constexpr std::size_t kMaxIdToken = 64 * 1024;
constexpr std::size_t kMaxRefreshToken = 16 * 1024;
constexpr std::int64_t kDefaultTokenLifetime = 3600;  // seconds, when expires_in is absent
constexpr const char* kBackchannelLogoutEvent =
    "http://schemas.openid.net/event/backchannel-logout";

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lowercase(a) == lowercase(b); }

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool has_word(std::string_view words, std::string_view word) {
  while (!words.empty()) {
    std::size_t space = words.find(' ');
    if (words.substr(0, space) == word) return true;
    if (space == std::string_view::npos) break;
    words.remove_prefix(space + 1);
  }
  return false;
}

// What follows "https://" or "http://" (the scheme in any case), or nullopt.
std::optional<std::string_view> after_http_scheme(std::string_view url) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (istarts_with(url, scheme)) return url.substr(scheme.size());
  }
  return std::nullopt;
}

// "https://host[...]" or "http://host[...]" with a non-empty host and nothing
// a header or a URL parser could misread (spaces, controls, backslashes).
bool is_http_url(std::string_view url) {
  std::optional<std::string_view> after = after_http_scheme(url);
  if (!after) return false;
  std::string_view rest = *after;
  if (rest.empty() || rest.front() == '/' || rest.front() == '?' || rest.front() == '#') {
    return false;
  }
  return std::none_of(url.begin(), url.end(),
                      [](unsigned char c) { return c <= 0x20 || c == 0x7f || c == '\\'; });
}

// The string member `name`, or "" when absent / not a string.
std::string string_member(const json_t* object, const char* name) {
  auto value = json_string_member(object, name);
  return value ? std::string(*value) : std::string();
}

// The claim as a string, only when the claim is a JSON string (not a number
// or an array joined by Claims::get).
std::optional<std::string> string_claim(const Claims& claims, const char* name) {
  const json_t* root = claims.json();
  if (root == nullptr) return std::nullopt;
  auto value = json_string_member(root, name);
  if (!value) return std::nullopt;
  return std::string(*value);
}

// scheme://host[:port] of a URL (everything before its path), and the rest.
std::pair<std::string_view, std::string_view> split_origin(std::string_view url) {
  std::size_t scheme_end = url.find("://");
  std::size_t path = scheme_end == std::string_view::npos ? 0 : url.find('/', scheme_end + 3);
  if (path == std::string_view::npos) return {url, {}};
  return {url.substr(0, path), url.substr(path)};
}

std::string without_trailing_slash(std::string_view url) {
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  return std::string(url);
}

// A tenant or domain spliced into a URL: no characters that could change
// the URL's structure.
bool is_url_word(std::string_view s) {
  return !s.empty() && std::none_of(s.begin(), s.end(), [](unsigned char c) {
    return c <= 0x20 || c >= 0x7f || c == '/' || c == '\\' || c == '?' || c == '#' || c == '@';
  });
}

Preset oidc_preset(std::string_view name, std::string issuer, std::string_view scopes,
                   std::string_view base_url) {
  Preset p;
  p.name = std::string(name);
  p.oidc = true;
  if (!base_url.empty())
    issuer = without_trailing_slash(base_url) + std::string(split_origin(issuer).second);
  p.endpoints.issuer = std::move(issuer);
  p.scopes = std::string(scopes);
  return p;
}

}  // namespace

// ---- provider metadata ----

Result<ProviderEndpoints> parse_discovery(std::string_view json, std::string_view expected_issuer) {
  using R = Result<ProviderEndpoints>;
  std::string why;
  JsonPtr doc = parse_json(json, kMaxDiscoveryDocument, why);
  if (!doc) return R::failure("discovery document " + why);
  if (!json_is_object(doc.get())) return R::failure("discovery document is not a JSON object");

  auto issuer = json_string_member(doc.get(), "issuer");
  if (!issuer) return R::failure("missing issuer");
  // §4.3: exactly the issuer the discovery URL was made from.
  if (*issuer != expected_issuer) {
    return R::failure("issuer mismatch: document says " + log_safe(*issuer, 200));
  }

  ProviderEndpoints ep;
  ep.issuer = std::string(*issuer);
  struct Field {
    const char* name;
    std::string* out;
    bool required;
  };
  const Field fields[] = {
      {"authorization_endpoint", &ep.authorization_endpoint, true},
      {"token_endpoint", &ep.token_endpoint, true},
      {"jwks_uri", &ep.jwks_uri, true},
      {"userinfo_endpoint", &ep.userinfo_endpoint, false},
      {"end_session_endpoint", &ep.end_session_endpoint, false},
  };
  for (const Field& field : fields) {
    const json_t* value = json_object_get(doc.get(), field.name);
    if (value == nullptr || json_is_null(value)) {
      if (field.required) return R::failure(std::string("missing ") + field.name);
      continue;
    }
    auto url = json_string_member(doc.get(), field.name);
    if (!url || !is_http_url(*url)) {
      return R::failure(std::string(field.name) + " is not an http(s) URL");
    }
    *field.out = std::string(*url);
  }

  // ID tokens are verified with the JWKS: "none" and the HMAC algorithms
  // (keyed with the client secret) are never accepted, whatever the OP says.
  if (const json_t* algs = json_object_get(doc.get(), "id_token_signing_alg_values_supported");
      json_is_array(algs)) {
    std::size_t i;
    const json_t* alg;
    json_array_foreach(algs, i, alg) {
      if (!json_is_string(alg)) continue;
      std::string name(json_string_value(alg), json_string_length(alg));
      if (iequals(name, "none") || istarts_with(name, "HS") || name.empty()) continue;
      if (std::find(ep.id_token_algs.begin(), ep.id_token_algs.end(), name) ==
          ep.id_token_algs.end()) {
        ep.id_token_algs.push_back(std::move(name));
      }
    }
  }
  return ep;
}

void merge_endpoints(ProviderEndpoints& base, const ProviderEndpoints& from) {
  auto fill = [](std::string& to, const std::string& value) {
    if (to.empty()) to = value;
  };
  fill(base.issuer, from.issuer);
  fill(base.authorization_endpoint, from.authorization_endpoint);
  fill(base.token_endpoint, from.token_endpoint);
  fill(base.userinfo_endpoint, from.userinfo_endpoint);
  fill(base.jwks_uri, from.jwks_uri);
  fill(base.end_session_endpoint, from.end_session_endpoint);
  fill(base.emails_endpoint, from.emails_endpoint);
  if (base.id_token_algs.empty()) base.id_token_algs = from.id_token_algs;
}

// ---- presets ----

std::optional<Preset> find_preset(std::string_view name, std::string_view param,
                                  std::string_view base_url, std::string_view api_url) {
  if (name == "google") {
    return oidc_preset(name, "https://accounts.google.com", "openid email profile", base_url);
  }
  if (name == "microsoft") {
    std::string tenant = param.empty() ? "common" : std::string(param);
    if (!is_url_word(tenant)) return std::nullopt;
    return oidc_preset(name, "https://login.microsoftonline.com/" + tenant + "/v2.0",
                       "openid email profile", base_url);
  }
  if (name == "gitlab") {
    return oidc_preset(name, "https://gitlab.com", "openid profile email", base_url);
  }
  if (name == "slack") {
    return oidc_preset(name, "https://slack.com", "openid email profile", base_url);
  }
  if (name == "auth0" || name == "okta") {
    // Both need the tenant's domain, unless a base_url stands in for it.
    std::string domain(param);
    if (base_url.empty() && !is_url_word(domain)) return std::nullopt;
    if (domain.empty()) domain = "domain.invalid";
    // Auth0's issuer is written with a trailing slash; Okta's org
    // authorization server has none.
    std::string issuer = "https://" + domain + (name == "auth0" ? "/" : "");
    return oidc_preset(name, std::move(issuer), "openid email profile", base_url);
  }
  if (name == "kakao") {
    return oidc_preset(name, "https://kauth.kakao.com", "openid", base_url);
  }
  if (name == "github") {
    // GitHub Enterprise Server: web at base_url, REST API at base_url/api/v3.
    std::string web = base_url.empty() ? "https://github.com" : without_trailing_slash(base_url);
    std::string api = !api_url.empty()   ? without_trailing_slash(api_url)
                      : base_url.empty() ? "https://api.github.com"
                                         : web + "/api/v3";
    Preset p;
    p.name = "github";
    p.oidc = false;
    p.endpoints.authorization_endpoint = web + "/login/oauth/authorize";
    p.endpoints.token_endpoint = web + "/login/oauth/access_token";
    p.endpoints.emails_endpoint = api + "/user/emails";
    p.user_api = api + "/user";
    p.scopes = "read:user user:email";
    return p;
  }
  if (name == "feishu") {
    std::string web =
        base_url.empty() ? "https://passport.feishu.cn" : without_trailing_slash(base_url);
    std::string api = api_url.empty() ? web : without_trailing_slash(api_url);
    Preset p;
    p.name = "feishu";
    p.oidc = false;
    p.endpoints.authorization_endpoint = web + "/suite/passport/oauth/authorize";
    p.endpoints.token_endpoint = web + "/suite/passport/oauth/token";
    p.user_api = api + "/suite/passport/oauth/userinfo";
    return p;
  }
  return std::nullopt;
}

std::string_view preset_names() {
  return "google microsoft gitlab slack auth0 okta kakao github feishu";
}

// ---- the login redirect ----

LoginRequest new_login(std::string_view return_to, std::int64_t now) {
  LoginRequest login;
  login.issued_at = now;
  // Eight hex digits of the time first, so that state cookie names sort by
  // age (until 2106); the random part makes it unguessable.
  char prefix[9];
  std::snprintf(prefix, sizeof prefix, "%08x",
                static_cast<unsigned>(std::clamp<std::int64_t>(now, 0, 0xffffffffLL)));
  login.state = std::string(prefix, 8) + base64url_encode(random_bytes(24));
  login.nonce = base64url_encode(random_bytes(24));
  login.verifier = base64url_encode(random_bytes(32));
  login.return_to = std::string(return_to);
  return login;
}

std::string pkce_challenge(std::string_view verifier) {
  Digest d = sha256(verifier);
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string authorization_url(const ProviderEndpoints& ep, const OidcClientConfig& cfg,
                              const LoginRequest& login, std::string_view redirect_uri) {
  // RFC 6749 §3.1: the endpoint may have a query (kept) but no fragment.
  std::string_view endpoint = ep.authorization_endpoint;
  endpoint = endpoint.substr(0, endpoint.find('#'));
  std::string url(endpoint);
  char separator = url.find('?') == std::string::npos ? '?' : '&';
  if (!url.empty() && (url.back() == '?' || url.back() == '&')) separator = 0;

  std::vector<std::pair<std::string_view, std::string_view>> params = {
      {"response_type", "code"}, {"client_id", cfg.client_id}, {"redirect_uri", redirect_uri},
      {"scope", cfg.scopes},     {"state", login.state},
  };
  if (has_word(cfg.scopes, "openid")) params.emplace_back("nonce", login.nonce);
  std::string challenge;
  if (cfg.pkce) {
    challenge = pkce_challenge(login.verifier);
    params.emplace_back("code_challenge", challenge);
    params.emplace_back("code_challenge_method", "S256");
  }
  // An extra parameter cannot replace one of the protocol's own (a second
  // "state" or "redirect_uri" would be read differently by different OPs).
  const std::size_t own = params.size();
  for (const auto& [name, value] : cfg.extra_auth_params) {
    // an init-capture: clang before 16 (Debian 12 has 14, for fuzz/) cannot
    // capture a structured binding
    bool taken = std::any_of(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(own),
                             [&name = name](const auto& p) { return p.first == name; });
    if (!taken) params.emplace_back(name, value);
  }
  for (const auto& [name, value] : params) {
    if (separator != 0) url += separator;
    separator = '&';
    url += percent_encode(name);
    url += '=';
    url += percent_encode(value);
  }
  return url;
}

// ---- the token endpoint ----

HttpRequest build_code_request(const ProviderEndpoints& ep, const OidcClientConfig& cfg,
                               std::string_view code, std::string_view redirect_uri,
                               std::string_view verifier) {
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("grant_type", "authorization_code");
  fields.emplace_back("code", code);
  fields.emplace_back("redirect_uri", redirect_uri);
  if (cfg.pkce && !verifier.empty()) fields.emplace_back("code_verifier", verifier);
  return build_client_form_post(ep.token_endpoint, std::move(fields), cfg.auth_method,
                                cfg.client_id, cfg.client_secret);
}

HttpRequest build_refresh_request(const ProviderEndpoints& ep, const OidcClientConfig& cfg,
                                  std::string_view refresh_token) {
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("grant_type", "refresh_token");
  fields.emplace_back("refresh_token", refresh_token);
  return build_client_form_post(ep.token_endpoint, std::move(fields), cfg.auth_method,
                                cfg.client_id, cfg.client_secret);
}

TokenSetResult parse_token_set(const HttpResponse& response, std::int64_t now) {
  // The access token, its type and lifetime, and the error cases are read
  // as for client credentials (oauth.cpp); the code grant adds two tokens.
  OAuthClientConfig rules;
  rules.default_lifetime_ms = kDefaultTokenLifetime * 1000;
  TokenResult access = parse_token_response(response, now * 1000, rules);
  TokenSetResult r;
  if (!access.ok) {
    r.error = access.error.summary();
    r.retryable = access.error.retryable;
    return r;
  }
  auto fail = [&](const char* why) {
    TokenSetResult bad;
    bad.error = "HTTP " + std::to_string(response.status) + " invalid_response: " + why;
    return bad;
  };
  std::string why;
  JsonPtr body = parse_json(response.body, kMaxTokenResponse, why);
  if (!body) return fail("body is not JSON");  // parse_token_response took it: not reached
  struct Field {
    const char* name;
    std::string* out;
    std::size_t max;
  };
  const Field optional_tokens[] = {{"refresh_token", &r.refresh_token, kMaxRefreshToken},
                                   {"id_token", &r.id_token, kMaxIdToken}};
  for (const Field& field : optional_tokens) {
    const json_t* value = json_object_get(body.get(), field.name);
    if (value == nullptr || json_is_null(value)) continue;
    if (!json_is_string(value)) {
      return fail(field.name == std::string_view("id_token") ? "id_token is not a string"
                                                             : "refresh_token is not a string");
    }
    if (json_string_length(value) > field.max) {
      return fail(field.name == std::string_view("id_token") ? "id_token too long"
                                                             : "refresh_token too long");
    }
    field.out->assign(json_string_value(value), json_string_length(value));
  }
  r.ok = true;
  r.access_token = std::move(access.token.value);
  r.expires_at = access.token.expires_ms / 1000;
  return r;
}

HttpRequest build_bearer_get(std::string_view url, std::string_view access_token) {
  HttpRequest req;
  req.method = "GET";
  req.url = std::string(url);
  req.headers.emplace_back("Authorization", "Bearer " + std::string(access_token));
  req.headers.emplace_back("Accept", "application/json");
  // GitHub's REST API refuses requests without a User-Agent.
  req.headers.emplace_back("User-Agent", "edge-auth/" + std::string(kVersion));
  return req;
}

// ---- ID token and userinfo ----

std::string check_id_token_claims(const Claims& claims, std::string_view client_id,
                                  std::string_view nonce) {
  std::optional<std::string> sub = string_claim(claims, "sub");
  if (!sub || sub->empty()) return "missing sub";
  const json_t* root = claims.json();
  if (!json_is_number(json_object_get(root, "iat"))) return "missing iat";

  const json_t* aud = json_object_get(root, "aud");
  const json_t* azp = json_object_get(root, "azp");
  if (azp != nullptr) {
    auto value = json_string_member(root, "azp");
    if (!value || *value != client_id) return "azp mismatch";
  } else if (json_is_array(aud) && json_array_size(aud) > 1) {
    return "missing azp";
  }

  if (!nonce.empty()) {
    std::optional<std::string> token_nonce = string_claim(claims, "nonce");
    if (!token_nonce) return "missing nonce";
    if (!constant_time_equal(*token_nonce, nonce)) return "nonce mismatch";
  }
  return "";
}

std::string check_userinfo_sub(const Claims& userinfo, std::string_view id_token_sub) {
  std::optional<std::string> sub = string_claim(userinfo, "sub");
  if (!sub || sub->empty()) return "userinfo has no sub";
  if (*sub != id_token_sub) return "userinfo sub mismatch";
  return "";
}

std::optional<std::string> github_primary_email(std::string_view emails_json) {
  std::string why;
  JsonPtr doc = parse_json(emails_json, kMaxUserApiDocument, why);
  if (!doc || !json_is_array(doc.get())) return std::nullopt;
  std::size_t i;
  const json_t* entry;
  json_array_foreach(doc.get(), i, entry) {
    if (!json_is_object(entry)) continue;
    auto email = json_string_member(entry, "email");
    if (email && !email->empty() && json_is_true(json_object_get(entry, "primary")) &&
        json_is_true(json_object_get(entry, "verified"))) {
      return std::string(*email);
    }
  }
  return std::nullopt;
}

// ---- the return URL ----

namespace {

// Host (no port) of an absolute URL's authority, or nullopt when it has
// userinfo, an empty host or a port that is not digits.
std::optional<std::string> authority_host(std::string_view authority) {
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view host = authority;
  std::string_view port;
  if (host.front() == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!port.empty() && port.front() != ':') return std::nullopt;
  } else if (std::size_t colon = host.find(':'); colon != std::string_view::npos) {
    port = host.substr(colon);
    host = host.substr(0, colon);
  }
  if (!port.empty()) {
    port.remove_prefix(1);
    if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
  }
  if (host.empty()) return std::nullopt;
  return lowercase(host);
}

bool host_allowed(const std::string& host, const std::vector<std::string>& allowed_hosts) {
  for (const std::string& entry : allowed_hosts) {
    std::string allowed = lowercase(entry);
    if (allowed.empty()) continue;
    if (allowed.front() == '.') {
      // ".example.com": the domain itself and any subdomain.
      if (host == allowed.substr(1)) return true;
      if (host.size() > allowed.size() &&
          host.compare(host.size() - allowed.size(), allowed.size(), allowed) == 0) {
        return true;
      }
    } else if (host == allowed) {
      return true;
    }
  }
  return false;
}

bool is_safe_local_path(std::string_view url) {
  if (url.size() >= 2 && (url[1] == '/' || url[1] == '\\')) return false;
  // A server (or a later hop) that decodes the path must not see "//" or
  // "/\" either, nor a control character.
  std::string decoded = percent_decode(url);
  if (has_control_chars(decoded) || decoded.find('\\') != std::string::npos) return false;
  return !(decoded.size() >= 2 && (decoded[1] == '/' || decoded[1] == '\\'));
}

}  // namespace

std::string safe_return_url(std::string_view url, const std::vector<std::string>& allowed_hosts) {
  // Browsers drop tabs and newlines anywhere in a URL ("/\t/evil" is
  // "//evil"), and a backslash is a slash to them: none is accepted.
  if (url.empty() || has_control_chars(url) || url.find('\\') != std::string_view::npos) {
    return "/";
  }
  if (url.front() == '/') return is_safe_local_path(url) ? std::string(url) : "/";

  std::optional<std::string_view> rest = after_http_scheme(url);
  if (!rest) return "/";  // javascript:, data:, relative paths, "%2F%2F..."
  std::string_view authority = rest->substr(0, rest->find_first_of("/?#"));
  std::optional<std::string> host = authority_host(authority);
  if (!host || !host_allowed(*host, allowed_hosts)) return "/";
  return std::string(url);
}

bool wants_login_redirect(std::string_view method, std::string_view x_requested_with,
                          std::string_view sec_fetch_mode, std::string_view accept) {
  if (method != "GET" && method != "HEAD") return false;
  if (!x_requested_with.empty()) return false;
  if (!sec_fetch_mode.empty() && !iequals(trim_ows(sec_fetch_mode), "navigate")) return false;
  if (!accept.empty()) {
    std::string types = lowercase(accept);
    if (types.find("text/html") == std::string::npos && types.find("*/*") == std::string::npos) {
      return false;
    }
  }
  return true;
}

// ---- back-channel logout ----

Result<LogoutTarget> check_logout_token(const Claims& claims) {
  using R = Result<LogoutTarget>;
  const json_t* root = claims.json();
  const json_t* events = json_object_get(root, "events");
  if (!json_is_object(events) ||
      !json_is_object(json_object_get(events, kBackchannelLogoutEvent))) {
    return R::failure("missing backchannel-logout event");
  }
  LogoutTarget target;
  target.jti = string_member(root, "jti");
  if (target.jti.empty()) return R::failure("missing jti");
  target.sid = string_member(root, "sid");
  target.sub = string_member(root, "sub");
  if (target.sid.empty() && target.sub.empty()) return R::failure("missing sid and sub");
  if (json_object_get(root, "nonce") != nullptr) return R::failure("nonce not allowed");
  return target;
}

}  // namespace edge_auth
