// seal_session -> open_session and seal_state -> open_state with fields
// taken from the input: what is sealed opens to the same session. The
// contract (session.cpp): a session's text is UTF-8 from jansson or visible
// ASCII tokens, so invalid UTF-8 throws std::invalid_argument; a NUL byte
// (which no parsed JSON string carries) seals but does not open, and so does
// a time beyond ±2^40 seconds.
// Input: FuzzedDataProvider (strings, integers).
#include <stdexcept>

#include "core/aead.h"
#include "core/session.h"
#include "fuzz_common.h"

using namespace edge_auth;

namespace {

std::string text(FuzzedDataProvider& in) { return in.ConsumeRandomLengthString(256); }

// Mostly plausible times, sometimes any 64-bit value.
std::int64_t time(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) return in.ConsumeIntegral<std::int64_t>();
  return in.ConsumeIntegralInRange<std::int64_t>(-(std::int64_t{1} << 41), std::int64_t{1} << 41);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string key = derive_key(fuzz::kSessionSecret, "edge-auth session v1");
  static const std::string state_key = derive_key(fuzz::kSessionSecret, "edge-auth state v1");
  FuzzedDataProvider in(data, size);
  Session s;
  s.id = text(in), s.provider = text(in), s.sub = text(in), s.user = text(in);
  s.email = text(in), s.preferred_username = text(in), s.name = text(in);
  s.picture = text(in);
  for (int n = in.ConsumeIntegralInRange(0, 4); n > 0; --n) s.groups.push_back(text(in));
  s.sid = text(in);
  s.access_token = text(in), s.refresh_token = text(in), s.id_token = text(in);
  s.access_expires_at = time(in), s.access_obtained_at = time(in);
  s.created_at = time(in), s.last_seen = time(in);
  s.claims = in.ConsumeRemainingBytesAsString();

  // Each field on its own (two invalid halves can make a valid whole).
  std::vector<const std::string*> fields = {&s.id,   &s.provider,     &s.sub,           &s.user,
                                            &s.email, &s.preferred_username, &s.name,
                                            &s.picture, &s.sid,       &s.access_token,
                                            &s.refresh_token, &s.id_token};
  for (const std::string& g : s.groups) fields.push_back(&g);
  bool utf8 = true, nul = false;
  for (const std::string* f : fields) {
    utf8 = utf8 && fuzz::reference_utf8(*f);
    nul = nul || f->find('\0') != std::string::npos;
  }
  // decode_session refuses times beyond ±2^40 s (none is ever written).
  bool times_ok = true;
  for (std::int64_t t : {s.access_expires_at, s.access_obtained_at, s.created_at, s.last_seen}) {
    times_ok = times_ok && t >= -(std::int64_t{1} << 40) && t <= (std::int64_t{1} << 40);
  }

  std::string sealed;
  try {
    sealed = seal_session(key, s, "edge_auth_session");
  } catch (const std::invalid_argument&) {
    FUZZ_CHECK(!utf8);  // documented: the only reason to throw
    return 0;
  }
  FUZZ_CHECK(utf8);
  Result<Session> back = open_session(key, sealed, "edge_auth_session");
  if (nul || !times_ok) {
    FUZZ_CHECK(!back.ok());
    return 0;
  }
  FUZZ_CHECK(back.ok());
  const Session& b = *back;
  FUZZ_CHECK(b.id == s.id && b.provider == s.provider && b.sub == s.sub && b.user == s.user &&
             b.email == s.email && b.preferred_username == s.preferred_username &&
             b.name == s.name && b.picture == s.picture && b.groups == s.groups &&
             b.sid == s.sid && b.access_token == s.access_token &&
             b.refresh_token == s.refresh_token && b.id_token == s.id_token &&
             b.access_expires_at == s.access_expires_at &&
             b.access_obtained_at == s.access_obtained_at && b.created_at == s.created_at &&
             b.last_seen == s.last_seen);
  // claims: kept when a JSON object (re-encoded compactly), else "{}"; the
  // re-encoding is stable.
  Result<Session> again = open_session(key, seal_session(key, b, "edge_auth_session"),
                                       "edge_auth_session");
  FUZZ_CHECK(again.ok() && again->claims == b.claims);
  if (s.claims.empty() || s.claims == "{}") FUZZ_CHECK(b.claims == "{}");

  // The state cookie of a login in progress.
  LoginRequest login;
  login.state = s.sub.empty() ? "x" : s.sub;
  login.nonce = s.name, login.verifier = s.email, login.return_to = s.picture;
  login.issued_at = fuzz::kNow;
  Result<LoginRequest> opened =
      open_state(state_key, seal_state(state_key, login, "edge_auth_st"), "edge_auth_st",
                 fuzz::kNow);
  FUZZ_CHECK(opened.ok() && opened->state == login.state && opened->nonce == login.nonce &&
             opened->verifier == login.verifier && opened->return_to == login.return_to &&
             opened->issued_at == login.issued_at);
  return 0;
}
