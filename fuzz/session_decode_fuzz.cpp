// The session JSON inside a cookie (or in shm/Redis): decode_session on
// arbitrary text. A decoded session must encode and decode to itself, and
// seal and open (the cookie store) to itself, with every field equal.
// Input: the JSON.
#include "core/aead.h"
#include "core/session.h"
#include "fuzz_common.h"

using namespace edge_auth;

namespace {

bool same(const Session& a, const Session& b) {
  return a.id == b.id && a.provider == b.provider && a.sub == b.sub && a.user == b.user &&
         a.email == b.email && a.preferred_username == b.preferred_username && a.name == b.name &&
         a.picture == b.picture && a.groups == b.groups && a.sid == b.sid && a.claims == b.claims &&
         a.access_token == b.access_token && a.refresh_token == b.refresh_token &&
         a.id_token == b.id_token && a.access_expires_at == b.access_expires_at &&
         a.access_obtained_at == b.access_obtained_at && a.created_at == b.created_at &&
         a.last_seen == b.last_seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string key = derive_key(fuzz::kSessionSecret, "edge-auth session v1");
  Result<Session> s = decode_session(fuzz::as_text(data, size));
  if (!s) return 0;

  std::string json = encode_session(*s);
  Result<Session> back = decode_session(json);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(same(*s, *back));
  FUZZ_CHECK(encode_session(*back) == json);

  Result<Session> opened = open_session(key, seal_session(key, *s, "edge_auth_session"),
                                        "edge_auth_session");
  FUZZ_CHECK(opened.ok());
  FUZZ_CHECK(same(*s, *opened));

  // The policy and identity helpers read any decoded session.
  SessionPolicy policy;
  policy.idle = 600;
  (void)session_state(*s, fuzz::kNow, policy);
  (void)session_state(*s, fuzz::kNow, policy, true);
  (void)check_allowed(*s, {"user-1"}, {"example.com"}, {"g1"});
  (void)connect_jwt(*s, fuzz::kHmacSecret, fuzz::kNow, 60);
  return 0;
}
