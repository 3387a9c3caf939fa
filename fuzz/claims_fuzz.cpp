// Claims JSON (userinfo, GitHub's /user and /user/emails, ID-token and
// logout-token payloads): Claims::from_json and from_jwt_payload, the path
// readers on fixed paths and on the document's own member names, claim
// rules, the OIDC checks, github_primary_email, and session_from_identity
// (which merges ID-token claims with userinfo). Input: the JSON (or a JWT).
#include <jansson.h>

#include "core/claims.h"
#include "core/oidc.h"
#include "core/session.h"
#include "fuzz_common.h"

using namespace edge_auth;

namespace {

const std::vector<ClaimRule>& rules() {
  static const std::vector<ClaimRule>* r = [] {
    auto* v = new std::vector<ClaimRule>;
    const char* specs[][3] = {
        {"sub", "eq", "user-1"},     {"role", "ne", "guest"},
        {"scope", "contains", "read"}, {"realm_access.roles", "in", "admin, dev"},
        {"email", "exists", ""},     {"email", "match", "^[^@]+@example\\.com$"},
        {"https://example.com/roles", "contains", "r"},
    };
    for (auto& s : specs) v->push_back(*ClaimRule::parse(s[0], s[1], s[2]));
    return v;
  }();
  return *r;
}

void read_all(const Claims& c) {
  for (const char* path : {"sub", "email", "groups", "scope", "realm_access.roles", "a.b.c", "",
                           ".", "https://example.com/roles", "exp", "aud"}) {
    std::optional<std::string> text = c.get(path);
    std::vector<std::string> values = c.values(path);
    bool has = c.has(path);
    if (text) FUZZ_CHECK(has);
    (void)values;
  }
  // The document's own member names, one and two levels deep.
  const char* name;
  json_t* value;
  json_object_foreach(const_cast<json_t*>(c.json()), name, value) {
    FUZZ_CHECK(c.has(name) || json_is_null(value));
    (void)c.get(name);
    if (json_is_object(value)) {
      const char* inner;
      json_t* member;
      json_object_foreach(value, inner, member) {
        (void)c.get(std::string(name) + "." + inner);
        (void)c.values(std::string(name) + "." + inner);
      }
    }
  }
  for (const ClaimRule& rule : rules()) (void)rule.holds(c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  (void)github_primary_email(text);

  if (Result<Claims> jwt = Claims::from_jwt_payload(text)) read_all(*jwt);
  Result<Claims> c = Claims::from_json(text);
  if (!c) return 0;
  read_all(*c);
  (void)check_userinfo_sub(*c, "user-1");
  (void)check_id_token_claims(*c, "client-1", "nonce-1");
  (void)check_id_token_claims(*c, "client-1", "");
  (void)check_logout_token(*c);

  TokenSetResult tokens;
  tokens.ok = true;
  tokens.access_token = "at";
  tokens.expires_at = fuzz::kNow + 3600;
  Session oidc = session_from_identity(&*c, &*c, "groups", tokens, fuzz::kNow, "idp");
  Session plain = session_from_identity(nullptr, &*c, "roles", tokens, fuzz::kNow, "github");
  // A session made from any claims decodes back from its own encoding.
  for (const Session* s : {&oidc, &plain}) {
    Result<Session> back = decode_session(encode_session(*s));
    FUZZ_CHECK(back.ok() && back->claims == s->claims && back->groups == s->groups &&
               back->email == s->email && back->user == s->user);
  }
  return 0;
}
