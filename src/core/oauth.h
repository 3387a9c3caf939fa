// OAuth 2.0 client credentials (RFC 6749 §4.4): the token request, the token
// response, and how long a token is used.
//   HttpRequest req = build_token_request(cfg);
//   TokenResult t = parse_token_response(resp, now_ms, cfg);
//   if (t.ok) cache(t.token); else log(t.error.summary());
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/crypto.h"
#include "core/http.h"

namespace edge_auth {

enum class ClientAuthMethod { ClientSecretBasic, ClientSecretPost };

struct OAuthClientConfig {
  std::string name;  // the edge_auth_oauth_client NAME (logs, metrics, cache key)
  std::string token_url;
  std::string client_id;
  std::string client_secret;  // never logged
  ClientAuthMethod auth_method = ClientAuthMethod::ClientSecretBasic;
  std::string scope;
  std::string audience;
  std::string resource;
  std::vector<std::pair<std::string, std::string>> params;  // extra form fields
  std::int64_t refresh_before_ms = 60'000;
  std::int64_t timeout_ms = 5'000;
  int retries = 2;
  std::int64_t default_lifetime_ms = 300'000;  // when expires_in is missing
  std::int64_t negative_ttl_ms = 5'000;        // 4xx answers are remembered this long
  std::string ca_file;                         // passed to HttpOptions (empty = system store)
};

// grant_type=client_credentials with scope/audience/resource/params;
// client_secret_basic: Authorization: Basic of the form-encoded id and secret
// (RFC 6749 §2.3.1); client_secret_post: client_id and client_secret in the body.
HttpRequest build_token_request(const OAuthClientConfig& cfg);

// A form POST to a token endpoint with the client's authentication (RFC 6749
// §2.3.1), shared by every grant: client_secret_basic sends Authorization:
// Basic of the form-encoded id and secret; client_secret_post appends
// client_id and client_secret to the body. Accept: application/json. The
// field values are wiped once encoded.
HttpRequest build_client_form_post(std::string_view url,
                                   std::vector<std::pair<std::string, std::string>> fields,
                                   ClientAuthMethod method, std::string_view client_id,
                                   std::string_view client_secret);

// The cache key: client name + everything that changes the token.
Digest token_cache_key(const OAuthClientConfig& cfg);

struct AccessToken {
  std::string value;       // access_token
  std::string token_type;  // as sent (usually "Bearer")
  std::int64_t obtained_ms = 0;
  std::int64_t expires_ms = 0;  // absolute
};

struct TokenError {
  int http_status = 0;          // 0 = transport error (a bad 2xx body keeps its status)
  std::string error;            // RFC 6749 §5.2 "error", or "transport" / "invalid_response"
  std::string description;      // error_description / transport error (bounded, log-safe)
  bool retryable = false;       // network errors, 5xx, 429: yes; other 4xx, bad 2xx bodies: no
  std::string summary() const;  // "HTTP 401 invalid_client: bad secret"
};

struct TokenResult {
  bool ok = false;
  AccessToken token;
  TokenError error;
};

// RFC 6749 §5.1: JSON object with a non-empty string access_token and a
// token_type; expires_in (number or numeric string) optional ->
// cfg.default_lifetime_ms. A 2xx without a usable body is an error.
// Details in oauth.cpp: a missing token_type is taken as "Bearer", a type
// other than Bearer is refused (§7.1), 429 is retryable like 5xx. Error
// texts are log-safe and never hold the token or the client secret.
TokenResult parse_token_response(const HttpResponse& response, std::int64_t now_ms,
                                 const OAuthClientConfig& cfg);

enum class Freshness { Fresh, RefreshAhead, Expired };
// RefreshAhead when now >= expires - min(refresh_before, life / 2) (but
// < expires), life = expires - obtained: a token whose life is shorter than
// twice refresh_before refreshes at half-life, so a short-lived token is not
// refetched right after it arrived.
Freshness freshness(const AccessToken& token, std::int64_t now_ms, std::int64_t refresh_before_ms);

// Exponential backoff with full jitter: attempt 1 -> [base/2, base], doubling,
// capped at cap_ms. `random` is any uniformly random 64-bit value.
std::int64_t backoff_delay_ms(int attempt, std::uint64_t random, std::int64_t base_ms = 200,
                              std::int64_t cap_ms = 5'000);

// Compact binary-safe serialisation for the zone and Redis.
std::string serialize_token(const AccessToken& token);
std::optional<AccessToken> deserialize_token(std::string_view data);

// Fetches a token with retries (network errors and 5xx; never 4xx), backoff
// with jitter between attempts, all on the caller's event loop. One instance
// per fetch; `done` runs exactly once. The connector owns it until `done`,
// and may destroy it inside `done`. Destroying it earlier (shutdown) is safe
// too: the pending HTTP callback or timer then does nothing, and `done` is
// never called.
class TokenFetch {
 public:
  TokenFetch(const OAuthClientConfig& cfg, HttpClient& http, Scheduler& scheduler);
  void start(std::function<void(TokenResult)> done);
  int attempts() const { return attempts_; }

 private:
  void attempt();
  void finish_attempt(HttpResponse response);
  void finish(TokenResult result);
  const OAuthClientConfig& cfg_;
  HttpClient& http_;
  Scheduler& scheduler_;
  std::function<void(TokenResult)> done_;
  int attempts_ = 0;
  // Callbacks given to the HttpClient and the Scheduler hold a weak_ptr to
  // this, so one that fires after the fetch was destroyed is a no-op.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace edge_auth
