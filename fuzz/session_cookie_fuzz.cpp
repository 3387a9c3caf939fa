// Sealed cookies as a browser may send them: open_session and open_state
// with the fixed keys (base64url, AES-256-GCM, then the JSON). Almost every
// input fails authentication; the decoded JSON is fuzzed by session_decode.
// Input: the cookie value, then a mode byte (even: session, odd: state).
#include "core/aead.h"
#include "core/session.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string session_key = derive_key(fuzz::kSessionSecret, "edge-auth session v1");
  static const std::string state_key = derive_key(fuzz::kSessionSecret, "edge-auth state v1");
  FuzzedDataProvider in(data, size);
  bool state = in.ConsumeIntegral<std::uint8_t>() & 1;
  std::string sealed = in.ConsumeRemainingBytesAsString();

  if (!state) {
    Result<Session> s = open_session(session_key, sealed, "edge_auth_session");
    if (s) {
      // What opened seals and opens again to the same session.
      Result<Session> again =
          open_session(session_key, seal_session(session_key, *s, "edge_auth_session"),
                       "edge_auth_session");
      FUZZ_CHECK(again && encode_session(*again) == encode_session(*s));
    } else {
      FUZZ_CHECK(s.error() == "session cookie invalid");
    }
    // Another cookie name (aad) or the state key never opens a session cookie.
    FUZZ_CHECK(!open_session(session_key, sealed, "edge_auth_session_0"));
    FUZZ_CHECK(!open_session(state_key, sealed, "edge_auth_session"));
  } else {
    Result<LoginRequest> login = open_state(state_key, sealed, "edge_auth_st", fuzz::kNow);
    if (login) {
      FUZZ_CHECK(!login->state.empty() && login->issued_at + 600 > fuzz::kNow);
      (void)state_cookie_name("edge_auth", login->state);
    }
  }
  return 0;
}
