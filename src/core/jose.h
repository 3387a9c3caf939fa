// JWT client authentication: compact JWS parsing, signature verification with
// pinned algorithms and matching key types, and the time, issuer and audience claims.
//   VerifiedJwt jwt;  JwtStatus s = verify_jwt(token, *keys, algs, policy, time(nullptr), jwt);
//   if (s != JwtStatus::Ok) deny(401, reason(s));  else rules(jwt.claims) ? allow() : deny(403);
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/claims.h"
#include "core/jwk.h"

namespace edge_auth {

// Why a token was rejected. Every value but Ok means 401; a claim rule failing
// afterwards (403) is the caller's decision. reason() gives the log text.
enum class JwtStatus : std::uint8_t {
  Ok,
  TokenTooLarge,        // over JwtPolicy::max_token_size (checked before anything else)
  Malformed,            // not three non-empty, strictly base64url (unpadded) parts
  HeaderMalformed,      // header: not a JSON object (limits, duplicates), no "alg"
                        // string, or a bad "kid" / "b64" member
  AlgNone,              // "alg" is "none" in any letter case: never accepted
  AlgUnknown,           // "alg" names no algorithm we verify (names are exact: not "hs256")
  AlgNotAllowed,        // a known algorithm outside the allow-list (checked before any key)
  CritUnsupported,      // a "crit" header member: we understand no extension
  PayloadUnencoded,     // "b64": false (RFC 7797 unencoded payload)
  UnknownKid,           // no key has the token's "kid" (and no kid-less key verified)
  KeyAlgMismatch,       // the key named by "kid" is of another type, or its own "alg" differs
  NoKeyForAlg,          // no "kid", and no key fits the alg (ES256 token, only P-384 keys)
  SignatureMalformed,   // wrong signature length for the alg (ECDSA DER, short r||s, ...)
  SignatureMismatch,    // the signature verifies with none of the candidate keys
  PayloadMalformed,     // payload (read after the signature) not a JSON object within limits
  ClaimMalformed,       // exp/nbf/iat not a number, iss not a string, aud not a string
                        // or an array of strings
  MissingExp,           // no "exp" while JwtPolicy::require_exp
  Expired,              // now >= exp + leeway
  NotYetValid,          // now + leeway < nbf
  IssuedInFuture,       // iat > now + leeway
  IssuerNotAccepted,    // issuers configured and "iss" absent or none of them
  AudienceNotAccepted,  // audiences configured and no "aud" value is one of them
};

// Short, stable text for logs and $edge_auth_error ("token expired"). Never
// contains anything from the token.
std::string_view reason(JwtStatus status);

// What a location requires of a token besides its signature.
struct JwtPolicy {
  bool require_exp = true;                 // refuse tokens without "exp" (off for IdPs without)
  std::int64_t leeway = 30;                // seconds of clock skew for exp, nbf, iat (< 0 = 0)
  std::vector<std::string> issuers;        // "iss" must equal one exactly; empty = not checked
  std::vector<std::string> audiences;      // one "aud" value must equal one; empty = not checked
  std::size_t max_token_size = 16 * 1024;  // bytes of the compact token
};

// A verified JWS. alg and kid are filled as soon as the header gives them (so
// a denial can log them: "algorithm not allowed (HS256)"); payload only when Ok.
struct VerifiedJws {
  std::optional<JwsAlg> alg;  // always set when Ok
  std::string kid;            // empty when the header has none
  std::string payload;
};

// A verified JWT: as VerifiedJws, with the claims and exp set only when Ok.
struct VerifiedJwt {
  std::optional<JwsAlg> alg;
  std::string kid;
  Claims claims;
  std::optional<std::int64_t> exp;  // seconds; bounds how long a verified result may be cached
};

// The JWS layer alone (any payload; the RFC 7515/7520 examples sign plain text):
// size, structure, header, allow-list (before any key is touched), key selection
// (by kid; keys without a kid match any kid; without a kid in the token, every
// key that fits the alg), signature. Only policy.max_token_size is used.
JwtStatus verify_jws(std::string_view token, const KeySet& keys, const AlgSet& algs,
                     const JwtPolicy& policy, VerifiedJws& out);

// verify_jws, then the payload as JWT claims (a JSON object, 64 KiB, depth 16,
// no duplicate members) and the policy: exp, nbf, iat (with leeway), iss, aud.
// `now` is seconds since the epoch.
JwtStatus verify_jwt(std::string_view token, const KeySet& keys, const AlgSet& algs,
                     const JwtPolicy& policy, std::int64_t now, VerifiedJwt& out);

// Only exp, nbf and iat, for a verified result taken from a cache.
JwtStatus check_time(const Claims& claims, const JwtPolicy& policy, std::int64_t now);

// The first 12 hex digits of the token's SHA-256: correlates log lines
// without putting the token in them.
std::string token_fingerprint(std::string_view token);

}  // namespace edge_auth
