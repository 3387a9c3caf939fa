// JWS / JWT verification of arbitrary compact tokens against a fixed key set
// (RSA, EC P-256, Ed25519 and HMAC keys with kids from a JWKS, the RSA and EC
// keys again as kid-less PEM, and an edge_auth_jwt_secret), every algorithm
// allowed; then the claim readers a verified token feeds (OIDC ID-token and
// logout-token checks). Input: the token itself.
#include <memory>

#include "core/claims.h"
#include "core/jose.h"
#include "core/jwk.h"
#include "core/oidc.h"
#include "fuzz_common.h"

using namespace edge_auth;

namespace {

struct Fixture {
  KeySet keys;
  AlgSet all = AlgSet::of({JwsAlg::HS256, JwsAlg::HS384, JwsAlg::HS512, JwsAlg::RS256,
                           JwsAlg::RS384, JwsAlg::RS512, JwsAlg::PS256, JwsAlg::PS384,
                           JwsAlg::PS512, JwsAlg::ES256, JwsAlg::ES384, JwsAlg::ES512,
                           JwsAlg::EdDSA});
  AlgSet defaults;  // RS256 ES256
  JwtPolicy policy;
  JwtPolicy lax;  // no exp required, no issuer or audience

  Fixture() {
    Result<LoadedKeys> jwks = load_keys(fuzz::kJwks);
    Result<LoadedKeys> pem = load_keys(fuzz::kPemKeys);
    Result<KeySet> secret = load_hmac_secret(fuzz::kHmacSecret);
    if (!jwks || !pem || !secret || jwks->keys.size() != 4 || pem->keys.size() != 2) {
      std::fprintf(stderr, "fixture keys did not load\n");
      std::abort();
    }
    keys.add_all(jwks->keys);
    keys.add_all(pem->keys);
    keys.add_all(*secret);
    policy.issuers = {fuzz::kIssuer};
    policy.audiences = {fuzz::kAudience};
    lax.require_exp = false;
  }
};

const Fixture& fixture() {
  static const Fixture* f = new Fixture();
  return *f;
}

void check_verified(const VerifiedJwt& jwt, const AlgSet& algs) {
  FUZZ_CHECK(jwt.alg.has_value() && algs.contains(*jwt.alg));
  const Claims& claims = jwt.claims;
  (void)claims.get("sub");
  (void)claims.values("scope");
  (void)claims.get("roles");
  (void)check_id_token_claims(claims, "client-1", "nonce-1");
  (void)check_id_token_claims(claims, "client-1", "");
  (void)check_userinfo_sub(claims, "user-1");
  (void)check_logout_token(claims);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Fixture& f = fixture();
  std::string_view token = fuzz::as_text(data, size);

  VerifiedJws jws;
  JwtStatus jws_status = verify_jws(token, f.keys, f.all, f.policy, jws);
  FUZZ_CHECK(!reason(jws_status).empty());
  if (jws_status == JwtStatus::Ok) FUZZ_CHECK(jws.alg.has_value());

  VerifiedJwt jwt;
  JwtStatus status = verify_jwt(token, f.keys, f.all, f.policy, fuzz::kNow, jwt);
  // The JWT layer only adds checks after the JWS layer's.
  if (status == JwtStatus::Ok) {
    FUZZ_CHECK(jws_status == JwtStatus::Ok);
    check_verified(jwt, f.all);
    FUZZ_CHECK(check_time(jwt.claims, f.policy, fuzz::kNow) == JwtStatus::Ok);
    (void)token_fingerprint(token);
  }

  VerifiedJwt lax;
  if (verify_jwt(token, f.keys, f.all, f.lax, fuzz::kNow, lax) == JwtStatus::Ok) {
    FUZZ_CHECK(jws_status == JwtStatus::Ok);
    check_verified(lax, f.all);
  }
  // The default allow-list (RS256 ES256): nothing else may verify.
  VerifiedJwt pinned;
  if (verify_jwt(token, f.keys, f.defaults, f.lax, fuzz::kNow, pinned) == JwtStatus::Ok) {
    FUZZ_CHECK(*pinned.alg == JwsAlg::RS256 || *pinned.alg == JwsAlg::ES256);
  }

  // The unverified payload reader (tokens this module fetched itself).
  if (Result<Claims> c = Claims::from_jwt_payload(token)) (void)c->get("sub");
  return 0;
}
