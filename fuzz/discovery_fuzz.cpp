// OIDC discovery documents: parse_discovery on arbitrary text, then
// merge_endpoints. Input: the document.
#include <cctype>

#include "core/oidc.h"
#include "fuzz_common.h"

using namespace edge_auth;

namespace {

// http(s)://host... (scheme in any case), no space, control or backslash.
bool plain_url(const std::string& url) {
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f || c == '\\') return false;
  }
  std::string lower;
  for (char c : url.substr(0, 8)) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::size_t host = lower.rfind("https://", 0) == 0 ? 8 : lower.rfind("http://", 0) == 0 ? 7 : 0;
  return host != 0 && url.size() > host && url[host] != '/' && url[host] != '?' &&
         url[host] != '#';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Result<ProviderEndpoints> ep = parse_discovery(fuzz::as_text(data, size), fuzz::kIssuer);
  if (!ep) {
    for (unsigned char c : ep.error()) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    return 0;
  }
  FUZZ_CHECK(ep->issuer == fuzz::kIssuer);
  FUZZ_CHECK(plain_url(ep->authorization_endpoint) && plain_url(ep->token_endpoint) &&
             plain_url(ep->jwks_uri));
  if (!ep->userinfo_endpoint.empty()) FUZZ_CHECK(plain_url(ep->userinfo_endpoint));
  for (const std::string& alg : ep->id_token_algs) {
    FUZZ_CHECK(!alg.empty() && alg.substr(0, 2) != "HS" && alg.substr(0, 2) != "hs");
    FUZZ_CHECK(alg != "none");
  }
  ProviderEndpoints explicit_eps;
  explicit_eps.token_endpoint = "https://override.example/token";
  merge_endpoints(explicit_eps, *ep);
  FUZZ_CHECK(explicit_eps.token_endpoint == "https://override.example/token");
  FUZZ_CHECK(explicit_eps.jwks_uri == ep->jwks_uri);
  return 0;
}
