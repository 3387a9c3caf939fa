#include "core/introspection.h"

#include "core/base64.h"
#include "core/header_value.h"
#include "core/json.h"

namespace edge_auth {
namespace {

constexpr std::size_t kMaxAnswer = 256 * 1024;

}  // namespace

HttpRequest build_introspection_request(std::string_view url, const OAuthClientConfig& client,
                                        std::string_view token) {
  // The token request's client authentication, reused: same client, same rules.
  HttpRequest base = build_token_request(client);
  HttpRequest req;
  req.method = "POST";
  req.url.assign(url);
  for (auto& h : base.headers) req.headers.push_back(std::move(h));

  std::vector<std::pair<std::string, std::string>> fields = {
      {"token", std::string(token)}, {"token_type_hint", "access_token"}};
  if (client.auth_method == ClientAuthMethod::ClientSecretPost) {
    fields.emplace_back("client_id", client.client_id);
    fields.emplace_back("client_secret", client.client_secret);
  }
  req.body = form_encode(fields);
  for (auto& f : fields) wipe(f.second);
  return req;
}

IntrospectionResult parse_introspection_response(const HttpResponse& response,
                                                 const OAuthClientConfig& client) {
  IntrospectionResult r;
  (void)client;
  if (response.body_too_large) {
    r.error = "invalid_response: answer larger than " + std::to_string(response.max_body) +
              " bytes";
    return r;
  }
  if (response.status == 0) {
    r.error = "transport: " + log_safe(response.error, 200);
    r.retryable = true;
    return r;
  }
  if (response.status != 200) {
    r.error = "HTTP " + std::to_string(response.status);
    r.retryable = response.status >= 500 || response.status == 429;
    return r;
  }
  std::string why;
  JsonPtr doc = parse_json(response.body, kMaxAnswer, why);
  if (!doc || !json_is_object(doc.get())) {
    r.error = "invalid_response: " + (doc ? std::string("not a JSON object") : why);
    return r;
  }
  json_t* active = json_object_get(doc.get(), "active");
  if (!json_is_boolean(active)) {
    r.error = "invalid_response: no boolean \"active\"";
    return r;
  }
  r.ok = true;
  r.active = json_is_true(active);
  if (!r.active) return r;

  Result<Claims> claims = Claims::from_json(response.body);
  if (!claims) {
    r.ok = false;
    r.active = false;
    r.error = "invalid_response: " + claims.error();
    return r;
  }
  json_t* exp = json_object_get(doc.get(), "exp");
  if (json_is_integer(exp)) r.exp = json_integer_value(exp);
  r.claims = std::move(*claims);
  r.payload.assign(response.body);
  return r;
}

}  // namespace edge_auth
