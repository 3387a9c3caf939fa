#include "core/oauth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "core/base64.h"
#include "core/bytes.h"
#include "core/header_value.h"
#include "core/json.h"

namespace edge_auth {
namespace {

constexpr std::size_t kMaxResponseBody = 1024 * 1024;
constexpr std::size_t kMaxAccessToken = 16 * 1024;
constexpr std::size_t kMaxTokenType = 64;
constexpr std::size_t kMaxErrorCode = 64;
constexpr std::size_t kMaxDescription = 200;
// expires_in beyond ten years is clamped (and cannot overflow the ms arithmetic).
constexpr std::int64_t kMaxLifetimeSeconds = 10LL * 366 * 24 * 3600;
constexpr std::uint8_t kSerialVersion = 1;

std::string_view auth_method_name(ClientAuthMethod method) {
  return method == ClientAuthMethod::ClientSecretPost ? "client_secret_post"
                                                      : "client_secret_basic";
}

// Visible ASCII only: the token goes into an Authorization header verbatim.
bool is_visible_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

void replace_all(std::string& text, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  for (std::size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
}

// IdP-supplied text made fit for a log line: an IdP that echoes the request
// back must not put the client secret into our logs, so it is masked before
// the text is escaped and bounded.
std::string log_text(std::string_view text, std::size_t max, const OAuthClientConfig& cfg) {
  std::string copy(text);
  WipeOnExit guard(copy);
  replace_all(copy, cfg.client_secret, "[redacted]");
  replace_all(copy, form_urlencode(cfg.client_secret), "[redacted]");
  return log_safe(copy, max);
}

TokenResult failure(int status, std::string error, std::string description, bool retryable) {
  TokenResult r;
  r.error.http_status = status;
  r.error.error = std::move(error);
  r.error.description = std::move(description);
  r.error.retryable = retryable;
  return r;
}

TokenResult invalid_response(int status, std::string description) {
  return failure(status, "invalid_response", std::move(description), false);
}

// RFC 6749 §5.2 error and error_description of a JSON error body, if any.
void read_error_fields(const json_t* body, TokenError& out, const OAuthClientConfig& cfg) {
  if (auto error = json_string_member(body, "error")) {
    out.error = log_text(*error, kMaxErrorCode, cfg);
  }
  if (auto description = json_string_member(body, "error_description")) {
    out.description = log_text(*description, kMaxDescription, cfg);
  }
}

// expires_in in seconds: a positive integer, an integral positive real
// (3600.0) or a string of digits ("3600"). nullopt = present but unusable.
std::optional<std::int64_t> expires_in_seconds(const json_t* value) {
  std::int64_t seconds = 0;
  if (json_is_integer(value)) {
    seconds = std::min<json_int_t>(json_integer_value(value), kMaxLifetimeSeconds);
  } else if (json_is_real(value)) {
    double d = json_real_value(value);
    // Refused before the cast: a double below INT64_MIN (-1e300) has no
    // int64 value (UB, found by the token fuzzer).
    if (!std::isfinite(d) || d != std::floor(d) || d <= 0) return std::nullopt;
    seconds = d >= kMaxLifetimeSeconds ? kMaxLifetimeSeconds : static_cast<std::int64_t>(d);
  } else if (json_is_string(value)) {
    std::string_view digits(json_string_value(value), json_string_length(value));
    if (digits.empty() || digits.size() > 18) return std::nullopt;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      seconds = seconds * 10 + (c - '0');
    }
    seconds = std::min(seconds, kMaxLifetimeSeconds);
  } else {
    return std::nullopt;
  }
  if (seconds <= 0) return std::nullopt;
  return seconds;
}

TokenResult parse_success(const HttpResponse& response, std::int64_t now_ms,
                          const OAuthClientConfig& cfg) {
  const int status = response.status;
  std::string why;
  JsonPtr body = parse_json(response.body, kMaxResponseBody, why);
  if (!body) return invalid_response(status, "body " + why);
  if (!json_is_object(body.get())) return invalid_response(status, "body is not a JSON object");

  const json_t* access_token = json_object_get(body.get(), "access_token");
  if (access_token == nullptr) {
    // Some IdPs answer an error with 200; report their words if they sent any.
    TokenResult r = invalid_response(status, "no access_token");
    read_error_fields(body.get(), r.error, cfg);
    return r;
  }
  if (!json_is_string(access_token))
    return invalid_response(status, "access_token is not a string");
  std::string_view value(json_string_value(access_token), json_string_length(access_token));
  if (value.empty()) return invalid_response(status, "access_token is empty");
  if (value.size() > kMaxAccessToken) {
    return invalid_response(
        status, "access_token longer than " + std::to_string(kMaxAccessToken) + " bytes");
  }
  if (!is_visible_ascii(value)) {
    return invalid_response(status, "access_token has characters a header cannot carry");
  }

  // RFC 6749 §5.1 requires token_type, but some IdPs omit it for what are
  // bearer tokens anyway: absent = "Bearer". A type other than Bearer
  // (DPoP, MAC, N_A) must not be used as one (§7.1), so it is refused.
  std::string token_type = "Bearer";
  if (const json_t* type = json_object_get(body.get(), "token_type"); type != nullptr) {
    if (!json_is_string(type)) return invalid_response(status, "token_type is not a string");
    std::string_view name(json_string_value(type), json_string_length(type));
    if (!iequals(name, "bearer")) {
      // Masked like every other IdP text (found by the token fuzzer: an
      // echoed secret in token_type reached the log).
      return invalid_response(status,
                              "unsupported token_type \"" + log_text(name, 32, cfg) + "\"");
    }
    token_type = std::string(name);
  }

  std::int64_t lifetime_ms = cfg.default_lifetime_ms;
  if (const json_t* expires_in = json_object_get(body.get(), "expires_in");
      expires_in != nullptr && !json_is_null(expires_in)) {
    std::optional<std::int64_t> seconds = expires_in_seconds(expires_in);
    if (!seconds) return invalid_response(status, "expires_in is not a positive number");
    lifetime_ms = *seconds * 1000;
  }

  TokenResult r;
  r.ok = true;
  r.token.value = std::string(value);
  r.token.token_type = std::move(token_type);
  r.token.obtained_ms = now_ms;
  r.token.expires_ms = now_ms + lifetime_ms;
  return r;
}

std::uint64_t random_u64() {
  std::string bytes = random_bytes(sizeof(std::uint64_t));
  std::uint64_t v;
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

}  // namespace

HttpRequest build_client_form_post(std::string_view url,
                                   std::vector<std::pair<std::string, std::string>> fields,
                                   ClientAuthMethod method, std::string_view client_id,
                                   std::string_view client_secret) {
  HttpRequest req;
  req.method = "POST";
  req.url = std::string(url);
  req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  req.headers.emplace_back("Accept", "application/json");
  if (method == ClientAuthMethod::ClientSecretBasic) {
    // RFC 6749 §2.3.1: id and secret are form-encoded before base64, which
    // matters for ids with ':' (and is what strict servers decode).
    std::string credentials = form_urlencode(client_id) + ':' + form_urlencode(client_secret);
    WipeOnExit guard(credentials);
    req.headers.emplace_back("Authorization", "Basic " + base64_encode(credentials));
  } else {
    fields.emplace_back("client_id", client_id);
    fields.emplace_back("client_secret", client_secret);
  }
  req.body = form_encode(fields);
  for (auto& field : fields) wipe(field.second);
  return req;
}

HttpRequest build_token_request(const OAuthClientConfig& cfg) {
  std::vector<std::pair<std::string, std::string>> fields;
  fields.emplace_back("grant_type", "client_credentials");
  if (!cfg.scope.empty()) fields.emplace_back("scope", cfg.scope);
  if (!cfg.audience.empty()) fields.emplace_back("audience", cfg.audience);
  if (!cfg.resource.empty()) fields.emplace_back("resource", cfg.resource);
  for (const auto& param : cfg.params) fields.push_back(param);
  return build_client_form_post(cfg.token_url, std::move(fields), cfg.auth_method, cfg.client_id,
                                cfg.client_secret);
}

Digest token_cache_key(const OAuthClientConfig& cfg) {
  // Only a digest of the secret goes in: a rotated secret gets a new key
  // (the old token may belong to a revoked client), and the key reveals
  // nothing about the secret.
  Digest secret_digest = sha256(cfg.client_secret);
  std::string message = "edge-auth oauth token v1";
  append_field(message, cfg.name);
  append_field(message, cfg.token_url);
  append_field(message, cfg.client_id);
  append_field(message, auth_method_name(cfg.auth_method));
  append_field(message, cfg.scope);
  append_field(message, cfg.audience);
  append_field(message, cfg.resource);
  append_u64(message, cfg.params.size());
  for (const auto& [name, value] : cfg.params) {
    append_field(message, name);
    append_field(message, value);
  }
  append_field(message, std::string_view(reinterpret_cast<const char*>(secret_digest.data()),
                                         secret_digest.size()));
  return sha256(message);
}

std::string TokenError::summary() const {
  std::string out;
  if (http_status != 0) out = "HTTP " + std::to_string(http_status);
  if (!error.empty()) {
    if (!out.empty()) out += ' ';
    out += error;
  }
  if (!description.empty()) {
    if (!out.empty()) out += ": ";
    out += description;
  }
  return out.empty() ? "unknown error" : out;
}

TokenResult parse_token_response(const HttpResponse& response, std::int64_t now_ms,
                                 const OAuthClientConfig& cfg) {
  if (response.body_too_large) {
    // The IdP answered, with far too much: asking again would not help.
    return failure(response.status, "invalid_response",
                   "body larger than " + std::to_string(response.max_body) + " bytes", false);
  }
  if (response.status == 0) {
    std::string why = response.error.empty() ? "no response" : response.error;
    return failure(0, "transport", log_text(why, kMaxDescription, cfg), true);
  }
  if (response.ok()) return parse_success(response, now_ms, cfg);

  // 5xx and 429 are the server's trouble and may pass; any other answer
  // (4xx, and 1xx/3xx since redirects are not followed) will not change by
  // asking again, and a 4xx is cached negatively by the caller.
  bool retryable = response.status >= 500 || response.status == 429;
  TokenResult r = failure(response.status, "", "", retryable);
  std::string why;
  if (JsonPtr body = parse_json(response.body, kMaxResponseBody, why);
      body && json_is_object(body.get())) {
    read_error_fields(body.get(), r.error, cfg);
  }
  return r;
}

Freshness freshness(const AccessToken& token, std::int64_t now_ms, std::int64_t refresh_before_ms) {
  if (now_ms >= token.expires_ms) return Freshness::Expired;
  std::int64_t life = std::max<std::int64_t>(0, token.expires_ms - token.obtained_ms);
  std::int64_t window = std::clamp<std::int64_t>(refresh_before_ms, 0, life / 2);
  return now_ms >= token.expires_ms - window ? Freshness::RefreshAhead : Freshness::Fresh;
}

std::int64_t backoff_delay_ms(int attempt, std::uint64_t random, std::int64_t base_ms,
                              std::int64_t cap_ms) {
  base_ms = std::max<std::int64_t>(base_ms, 1);
  cap_ms = std::max(cap_ms, base_ms);
  std::int64_t delay = base_ms;
  for (int i = 1; i < attempt && delay < cap_ms; ++i) delay *= 2;  // stops before overflow
  delay = std::min(delay, cap_ms);
  std::int64_t low = delay / 2;
  return low + static_cast<std::int64_t>(random % static_cast<std::uint64_t>(delay - low + 1));
}

std::string serialize_token(const AccessToken& token) {
  std::string out;
  out.reserve(1 + 4 * 8 + token.token_type.size() + token.value.size());
  out += static_cast<char>(kSerialVersion);
  append_u64(out, static_cast<std::uint64_t>(token.obtained_ms));
  append_u64(out, static_cast<std::uint64_t>(token.expires_ms));
  append_field(out, token.token_type);
  append_field(out, token.value);
  return out;
}

std::optional<AccessToken> deserialize_token(std::string_view data) {
  ByteReader in(data);
  if (in.u8() != kSerialVersion) return std::nullopt;
  AccessToken token;
  token.obtained_ms = static_cast<std::int64_t>(in.u64());
  token.expires_ms = static_cast<std::int64_t>(in.u64());
  std::string_view type = in.field(kMaxTokenType);
  std::string_view value = in.field(kMaxAccessToken);
  // What comes back from Redis or the zone goes into a header: check it as
  // strictly as a fresh token response.
  if (!in.finished() || token.obtained_ms < 0 || token.expires_ms <= token.obtained_ms ||
      type.empty() || !is_visible_ascii(type) || value.empty() || !is_visible_ascii(value)) {
    return std::nullopt;
  }
  token.token_type = std::string(type);
  token.value = std::string(value);
  return token;
}

TokenFetch::TokenFetch(const OAuthClientConfig& cfg, HttpClient& http, Scheduler& scheduler)
    : cfg_(cfg), http_(http), scheduler_(scheduler) {}

void TokenFetch::start(std::function<void(TokenResult)> done) {
  if (attempts_ != 0) throw std::logic_error("TokenFetch started twice");
  done_ = std::move(done);
  attempt();
}

void TokenFetch::attempt() {
  ++attempts_;
  HttpOptions options;
  options.timeout_ms = cfg_.timeout_ms;
  options.connect_timeout_ms = std::min(options.connect_timeout_ms, cfg_.timeout_ms);
  options.ca_file = cfg_.ca_file;
  std::weak_ptr<char> alive = alive_;
  auto on_response = [this, alive](HttpResponse response) {
    if (!alive.expired()) finish_attempt(std::move(response));
  };
  if (attempts_ == 1) {
    // From start(): a failure to even begin is the caller's to see.
    http_.send(build_token_request(cfg_), options, std::move(on_response));
    return;
  }
  // From a timer: nobody but `done` can hear about a failure now.
  try {
    http_.send(build_token_request(cfg_), options, std::move(on_response));
  } catch (const std::exception& e) {
    finish(failure(0, "transport", log_text(e.what(), kMaxDescription, cfg_), false));
  }
}

void TokenFetch::finish_attempt(HttpResponse response) {
  TokenResult result = parse_token_response(response, scheduler_.now_ms(), cfg_);
  wipe(response.body);  // it holds the token
  if (!result.ok && result.error.retryable && attempts_ <= cfg_.retries) {
    std::weak_ptr<char> alive = alive_;
    scheduler_.after(backoff_delay_ms(attempts_, random_u64()), [this, alive] {
      if (!alive.expired()) attempt();
    });
    return;
  }
  finish(std::move(result));
}

void TokenFetch::finish(TokenResult result) {
  // `done` may destroy this object: nothing of it is touched afterwards.
  std::function<void(TokenResult)> done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(result));
}

}  // namespace edge_auth
