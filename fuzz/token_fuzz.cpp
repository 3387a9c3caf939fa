// Token endpoint answers: parse_token_response (client credentials) and
// parse_token_set (code / refresh grants) on an arbitrary body with a chosen
// status; and deserialize_token on what the zone or Redis hands back. Error
// texts must never hold the client secret (an IdP may echo the request).
// Input: the body, then a status selector byte and a mode byte (odd: the
// whole body is a serialised cached token).
#include "core/http.h"
#include "core/oauth.h"
#include "core/oidc.h"
#include "fuzz_common.h"

using namespace edge_auth;

namespace {

constexpr int kStatuses[] = {200, 400, 401, 429, 500, 0, 201, 302, 503};

bool holds_secret(std::string_view text) {
  return text.find(fuzz::kClientSecret) != std::string_view::npos;
}

bool visible_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  bool cached = in.ConsumeIntegral<std::uint8_t>() & 1;
  std::uint8_t selector = in.ConsumeIntegral<std::uint8_t>();
  std::string body = in.ConsumeRemainingBytesAsString();

  if (cached) {
    if (std::optional<AccessToken> t = deserialize_token(body)) {
      FUZZ_CHECK(!t->value.empty() && visible_ascii(t->value) && visible_ascii(t->token_type));
      FUZZ_CHECK(t->expires_ms > t->obtained_ms && t->obtained_ms >= 0);
      FUZZ_CHECK(serialize_token(*t) == body);
      (void)freshness(*t, fuzz::kNow * 1000, 60'000);
    }
    return 0;
  }

  HttpResponse response;
  response.status = kStatuses[selector % std::size(kStatuses)];
  if (selector >= 0xf0) response.status = selector;  // odd statuses too (240..255)
  if (response.status == 0) {
    response.error = body;
  } else {
    response.body = body;
  }
  response.body_too_large = selector == 0xef;
  response.max_body = 1024 * 1024;

  OAuthClientConfig cfg;
  cfg.client_id = "client-1";
  cfg.client_secret = fuzz::kClientSecret;
  TokenResult r = parse_token_response(response, fuzz::kNow * 1000, cfg);
  if (r.ok) {
    FUZZ_CHECK(response.ok());
    FUZZ_CHECK(!r.token.value.empty() && visible_ascii(r.token.value));
    FUZZ_CHECK(r.token.expires_ms > r.token.obtained_ms);
    std::optional<AccessToken> back = deserialize_token(serialize_token(r.token));
    FUZZ_CHECK(back && back->value == r.token.value && back->token_type == r.token.token_type &&
               back->expires_ms == r.token.expires_ms);
  } else {
    FUZZ_CHECK(!holds_secret(r.error.summary()));
  }

  TokenSetResult set = parse_token_set(response, fuzz::kNow);
  if (set.ok) {
    FUZZ_CHECK(r.ok && set.access_token == r.token.value);
    FUZZ_CHECK(set.expires_at > fuzz::kNow);
  } else {
    FUZZ_CHECK(!set.error.empty());
  }
  return 0;
}
