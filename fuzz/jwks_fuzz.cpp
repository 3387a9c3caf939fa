// Key documents: load_keys on arbitrary text (a JWKS, a single JWK, or PEM
// blocks), then every loaded key is described and asked to verify a garbage
// signature. Input: the document.
#include "core/jwk.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  Result<LoadedKeys> loaded = load_keys(text);
  if (!loaded) {
    FUZZ_CHECK(!loaded.error().empty());
    return 0;
  }
  FUZZ_CHECK(!loaded->keys.empty());
  static constexpr std::string_view kInput = "eyJhbGciOiJSUzI1NiJ9.e30";
  std::string signature(132, '\x01');
  for (const auto& key : loaded->keys.keys()) {
    FUZZ_CHECK(!key->describe().empty());
    // A garbage signature never verifies (one algorithm the key fits).
    for (int a = 0; a <= static_cast<int>(JwsAlg::EdDSA); ++a) {
      JwsAlg alg = static_cast<JwsAlg>(a);
      if (!key->fits(alg)) continue;
      FUZZ_CHECK(!key->verify(alg, kInput, signature));
      break;
    }
  }
  return 0;
}
