// The return URL after login / sign-out (a query parameter, so outside
// input): safe_return_url keeps a local path or an allowed absolute URL,
// anything else becomes "/". Input: the URL.
#include "core/oidc.h"
#include "core/query.h"
#include "core/text.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> allowed = {"app.example.test", ".b.example.com", ""};
  std::string_view url = fuzz::as_text(data, size);
  std::string safe = safe_return_url(url, allowed);
  FUZZ_CHECK(safe == "/" || safe == url);
  if (safe == "/") return 0;
  FUZZ_CHECK(!has_control_chars(safe) && safe.find('\\') == std::string::npos);
  if (safe[0] == '/') {
    // Never protocol-relative, not even once decoded.
    std::string decoded = percent_decode(safe);
    FUZZ_CHECK(safe.size() < 2 || safe[1] != '/');
    FUZZ_CHECK(decoded.size() < 2 || (decoded[1] != '/' && decoded[1] != '\\'));
  } else {
    std::string lower;
    for (char c : safe.substr(0, 8)) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    FUZZ_CHECK(lower.rfind("http://", 0) == 0 || lower.rfind("https://", 0) == 0);
    FUZZ_CHECK(safe.find('@') == std::string::npos ||
               safe.find('@') > safe.find_first_of("/?#", lower[4] == 's' ? 8 : 7));
  }
  return 0;
}
