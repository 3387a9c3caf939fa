// RFC 7662 introspection answers: parse_introspection_response on an
// arbitrary body with a chosen status. Input: the body, then a status byte.
#include "core/introspection.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr int kStatuses[] = {200, 401, 500, 0, 429, 204};
  FuzzedDataProvider in(data, size);
  std::uint8_t selector = in.ConsumeIntegral<std::uint8_t>();
  HttpResponse response;
  response.status = kStatuses[selector % std::size(kStatuses)];
  response.body = in.ConsumeRemainingBytesAsString();
  if (response.status == 0) response.error = response.body;
  response.body_too_large = selector == 0xff;

  OAuthClientConfig client;
  client.client_secret = fuzz::kClientSecret;
  IntrospectionResult r = parse_introspection_response(response, client);
  if (r.active) {
    FUZZ_CHECK(r.ok && response.status == 200);
    FUZZ_CHECK(r.payload == response.body);
    (void)r.claims.get("sub");
    (void)r.claims.values("scope");
    // The payload is what a cache keeps: it must read back as claims.
    FUZZ_CHECK(Claims::from_json(r.payload).ok());
  } else if (!r.ok) {
    FUZZ_CHECK(!r.error.empty());
  }
  return 0;
}
