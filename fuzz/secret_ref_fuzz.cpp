// Secret references: is_secret_ref on anything, and resolve_secret_ref only
// for literals (file: and env: would read arbitrary files and variables),
// which must come back unchanged. Input: the directive's argument.
#include "core/secret_ref.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view spec = fuzz::as_text(data, size);
  bool ref = is_secret_ref(spec);
  FUZZ_CHECK(ref == (spec.substr(0, 5) == "file:" || spec.substr(0, 4) == "env:"));
  if (!ref) {
    Result<std::string> v = resolve_secret_ref(spec);
    FUZZ_CHECK(v.ok() && *v == spec);
  }
  return 0;
}
