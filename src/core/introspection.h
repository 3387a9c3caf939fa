// OAuth 2.0 token introspection (RFC 7662) for the `introspect` method: the
// request (authenticated as an OAuth client) and the answer.
//   HttpRequest req = build_introspection_request(url, client, token);
//   IntrospectionResult r = parse_introspection_response(resp, client);
//   if (r.ok && r.active) use(r.claims); else deny(r.reason);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/claims.h"
#include "core/http.h"
#include "core/oauth.h"

namespace edge_auth {

// POST url: token=<token>&token_type_hint=access_token, with the client's
// authentication (client_secret_basic or client_secret_post, as for tokens).
HttpRequest build_introspection_request(std::string_view url, const OAuthClientConfig& client,
                                        std::string_view token);

struct IntrospectionResult {
  bool ok = false;       // the endpoint gave a usable answer (active or not)
  bool active = false;   // RFC 7662 §2.2 "active": true
  Claims claims;         // the answer's members (sub, scope, exp, ...), when active
  std::string payload;   // the answer as JSON, for a cache, when active
  std::optional<std::int64_t> exp;  // "exp", seconds, when present
  std::string error;     // when !ok: "HTTP 401", "transport: timeout", "invalid_response: ..."
  bool retryable = false;
};

// 200 with a JSON object holding a boolean "active". Anything else is an
// error (never "inactive"): the caller denies either way, but logs it.
IntrospectionResult parse_introspection_response(const HttpResponse& response,
                                                 const OAuthClientConfig& client);

}  // namespace edge_auth
