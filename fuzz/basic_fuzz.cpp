// The Authorization header: split_authorization, then parse_basic for the
// Basic scheme and check_token_syntax for the rest, plus is_valid_utf8 against
// an independent reference. Input: the header's value.
#include "core/base64.h"
#include "core/credentials.h"
#include "core/header_value.h"
#include "core/text.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view value = fuzz::as_text(data, size);
  FUZZ_CHECK(is_valid_utf8(value) == fuzz::reference_utf8(value));

  AuthorizationHeader h;
  if (split_authorization(value, h)) {
    FUZZ_CHECK(is_header_name(h.scheme));
    FUZZ_CHECK(h.credentials == trim_ows(h.credentials));
    if (scheme_equals(h.scheme, "basic")) {
      BasicCredentials c;
      AuthStatus s = parse_basic(h.credentials, c);
      if (s == AuthStatus::Ok) {
        FUZZ_CHECK(!c.user.empty() && !c.password.empty());
        FUZZ_CHECK(c.user.find(':') == std::string::npos);
        FUZZ_CHECK(!has_control_chars(c.user) && !has_control_chars(c.password));
        FUZZ_CHECK(is_valid_utf8(c.user) && is_valid_utf8(c.password));
        // Strict base64: exactly one text per credential.
        FUZZ_CHECK(base64_encode(c.user + ":" + c.password) == h.credentials);
      } else {
        FUZZ_CHECK(s == AuthStatus::MalformedCredential || s == AuthStatus::CredentialTooLong);
        FUZZ_CHECK(c.user.empty() && c.password.empty());
      }
    } else {
      AuthStatus s = check_token_syntax(h.credentials);
      if (s == AuthStatus::Ok) {
        FUZZ_CHECK(!h.credentials.empty() && h.credentials.size() <= kMaxCredentialLength);
        FUZZ_CHECK(is_safe_header_value(h.credentials));
      }
    }
  } else {
    // Refused only without a scheme, or with something glued to it.
    std::size_t n = 0;
    while (n < value.size() && is_tchar(value[n])) ++n;
    FUZZ_CHECK(n == 0 || (n < value.size() && value[n] != ' '));
  }
  // A bare credential (X-API-Key, a cookie-less token).
  (void)check_token_syntax(value);
  BasicCredentials raw;
  (void)parse_basic(value, raw);
  return 0;
}
