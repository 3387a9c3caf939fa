#include "core/jose.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/text.h"

namespace edge_auth {
namespace {

constexpr std::size_t kMaxHeaderJson = 8 * 1024;
constexpr int kMaxHeaderDepth = 8;
// Times are clamped to ±2^40 s (about 35,000 years) and the leeway to 2^32 s,
// so adding or subtracting them can never overflow.
constexpr std::int64_t kTimeLimit = std::int64_t{1} << 40;
constexpr std::int64_t kLeewayLimit = std::int64_t{1} << 32;

struct CompactParts {
  std::string_view header;
  std::string_view payload;
  std::string_view signature;
  std::string_view signing_input;  // header '.' payload, as received
};

// Exactly three non-empty parts.
bool split_compact(std::string_view token, CompactParts& parts) {
  std::size_t first = token.find('.');
  if (first == std::string_view::npos) return false;
  std::size_t second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return false;
  }
  parts.header = token.substr(0, first);
  parts.payload = token.substr(first + 1, second - first - 1);
  parts.signature = token.substr(second + 1);
  parts.signing_input = token.substr(0, second);
  return !parts.header.empty() && !parts.payload.empty() && !parts.signature.empty();
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

// Signature sizes that follow from the algorithm alone; 0 for RSA (the modulus
// decides, and OpenSSL checks it).
std::size_t fixed_signature_size(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::HS256:
      return 32;
    case JwsAlg::HS384:
      return 48;
    case JwsAlg::HS512:
      return 64;
    case JwsAlg::ES256:
      return 64;
    case JwsAlg::ES384:
      return 96;
    case JwsAlg::ES512:
      return 132;
    case JwsAlg::EdDSA:
      return 64;
    default:
      return 0;
  }
}

std::string_view string_of(const json_t* value) {
  return std::string_view(json_string_value(value), json_string_length(value));
}

// Reads the protected header: alg (pinned to the allow-list), kid, and the
// members we must refuse to ignore (crit, b64).
JwtStatus check_header(std::string_view header_json, const AlgSet& algs, VerifiedJws& out,
                       std::optional<std::string>& kid) {
  std::string why;
  JsonPtr header = parse_json(header_json, kMaxHeaderJson, why);
  if (!header || !json_is_object(header.get()) ||
      !json_depth_within(header.get(), kMaxHeaderDepth)) {
    return JwtStatus::HeaderMalformed;
  }
  const json_t* alg_member = json_object_get(header.get(), "alg");
  if (!json_is_string(alg_member)) return JwtStatus::HeaderMalformed;
  std::string_view alg_text = string_of(alg_member);
  if (equals_ignoring_case(alg_text, "none")) return JwtStatus::AlgNone;
  std::optional<JwsAlg> alg = parse_alg(alg_text);
  if (!alg) return JwtStatus::AlgUnknown;
  out.alg = alg;
  if (!algs.contains(*alg)) return JwtStatus::AlgNotAllowed;

  if (const json_t* kid_member = json_object_get(header.get(), "kid")) {
    // A kid is only compared and logged; control characters have no business there.
    if (!json_is_string(kid_member) || has_control_chars(string_of(kid_member))) {
      return JwtStatus::HeaderMalformed;
    }
    kid.emplace(string_of(kid_member));
    out.kid = *kid;
  }
  // RFC 7515 §4.1.11: a recipient that does not understand a critical
  // extension must reject the JWS. We understand none.
  if (json_object_get(header.get(), "crit") != nullptr) return JwtStatus::CritUnsupported;
  if (const json_t* b64 = json_object_get(header.get(), "b64")) {
    if (json_is_false(b64)) return JwtStatus::PayloadUnencoded;
    if (!json_is_true(b64)) return JwtStatus::HeaderMalformed;
  }
  // typ, cty, and key references (jku, jwk, x5u, x5c) are ignored: keys come
  // from the configuration only.
  return JwtStatus::Ok;
}

// Key selection and the signature. Keys with the token's kid are the only
// candidates when there are any; otherwise keys without a kid (a PEM key or a
// secret) stand in for any kid. Without a kid in the token, every key that fits.
JwtStatus check_signature(const CompactParts& parts, std::string_view signature, JwsAlg alg,
                          const std::optional<std::string>& kid, const KeySet& keys) {
  auto verifies = [&](const Jwk& key) {
    return key.fits(alg) && key.verify(alg, parts.signing_input, signature);
  };
  if (kid) {
    bool named = false;
    bool fitting = false;
    for (const auto& key : keys.keys()) {
      if (key->kid().empty() || key->kid() != *kid) continue;
      named = true;
      fitting = fitting || key->fits(alg);
      if (verifies(*key)) return JwtStatus::Ok;
    }
    if (named) return fitting ? JwtStatus::SignatureMismatch : JwtStatus::KeyAlgMismatch;
    for (const auto& key : keys.keys()) {
      if (key->kid().empty() && verifies(*key)) return JwtStatus::Ok;
    }
    return JwtStatus::UnknownKid;
  }
  bool fitting = false;
  for (const auto& key : keys.keys()) {
    fitting = fitting || key->fits(alg);
    if (verifies(*key)) return JwtStatus::Ok;
  }
  return fitting ? JwtStatus::SignatureMismatch : JwtStatus::NoKeyForAlg;
}

struct TimeClaims {
  std::optional<std::int64_t> exp, nbf, iat;
};

// A NumericDate (RFC 7519 §2): a JSON number, fractions allowed (floored).
// false when present and not a number.
bool numeric_date(const json_t* claims, const char* name, std::optional<std::int64_t>& out) {
  const json_t* value = json_object_get(claims, name);
  if (value == nullptr) return true;
  if (json_is_integer(value)) {
    out = std::clamp<json_int_t>(json_integer_value(value), -kTimeLimit, kTimeLimit);
    return true;
  }
  if (!json_is_real(value) || !std::isfinite(json_real_value(value))) return false;
  double seconds = std::floor(json_real_value(value));
  out = static_cast<std::int64_t>(
      std::clamp(seconds, -static_cast<double>(kTimeLimit), static_cast<double>(kTimeLimit)));
  return true;
}

bool read_time_claims(const json_t* claims, TimeClaims& times) {
  return json_is_object(claims) && numeric_date(claims, "exp", times.exp) &&
         numeric_date(claims, "nbf", times.nbf) && numeric_date(claims, "iat", times.iat);
}

JwtStatus check_times(const TimeClaims& times, const JwtPolicy& policy, std::int64_t now) {
  std::int64_t leeway = std::clamp<std::int64_t>(policy.leeway, 0, kLeewayLimit);
  now = std::clamp(now, -kTimeLimit, kTimeLimit);
  if (!times.exp) {
    if (policy.require_exp) return JwtStatus::MissingExp;
  } else if (now - leeway >= *times.exp) {  // valid only while now < exp (+ leeway)
    return JwtStatus::Expired;
  }
  if (times.nbf && now + leeway < *times.nbf) return JwtStatus::NotYetValid;
  if (times.iat && *times.iat > now + leeway) return JwtStatus::IssuedInFuture;
  return JwtStatus::Ok;
}

bool is_one_of(std::string_view value, const std::vector<std::string>& accepted) {
  return std::find(accepted.begin(), accepted.end(), value) != accepted.end();
}

// aud is a string or an array of strings (RFC 7519 §4.1.3).
bool audience_well_formed(const json_t* aud) {
  if (aud == nullptr || json_is_string(aud)) return true;
  if (!json_is_array(aud)) return false;
  std::size_t i;
  json_t* value;
  json_array_foreach(aud, i, value) {
    if (!json_is_string(value)) return false;
  }
  return true;
}

bool audience_accepted(const json_t* aud, const std::vector<std::string>& accepted) {
  if (json_is_string(aud)) return is_one_of(string_of(aud), accepted);
  std::size_t i;
  json_t* value;
  json_array_foreach(aud, i, value) {
    if (is_one_of(string_of(value), accepted)) return true;
  }
  return false;
}

}  // namespace

std::string_view reason(JwtStatus status) {
  switch (status) {
    case JwtStatus::Ok:
      return "ok";
    case JwtStatus::TokenTooLarge:
      return "token too large";
    case JwtStatus::Malformed:
      return "malformed token";
    case JwtStatus::HeaderMalformed:
      return "malformed token header";
    case JwtStatus::AlgNone:
      return "unsecured token (alg none)";
    case JwtStatus::AlgUnknown:
      return "unknown algorithm";
    case JwtStatus::AlgNotAllowed:
      return "algorithm not allowed";
    case JwtStatus::CritUnsupported:
      return "unsupported critical header";
    case JwtStatus::PayloadUnencoded:
      return "unencoded payload not supported";
    case JwtStatus::UnknownKid:
      return "unknown key id";
    case JwtStatus::KeyAlgMismatch:
      return "key does not match algorithm";
    case JwtStatus::NoKeyForAlg:
      return "no key for algorithm";
    case JwtStatus::SignatureMalformed:
      return "malformed signature";
    case JwtStatus::SignatureMismatch:
      return "signature mismatch";
    case JwtStatus::PayloadMalformed:
      return "malformed token payload";
    case JwtStatus::ClaimMalformed:
      return "malformed claim";
    case JwtStatus::MissingExp:
      return "token has no expiry";
    case JwtStatus::Expired:
      return "token expired";
    case JwtStatus::NotYetValid:
      return "token not yet valid";
    case JwtStatus::IssuedInFuture:
      return "token issued in the future";
    case JwtStatus::IssuerNotAccepted:
      return "issuer not accepted";
    case JwtStatus::AudienceNotAccepted:
      return "audience not accepted";
  }
  return "invalid token";
}

JwtStatus verify_jws(std::string_view token, const KeySet& keys, const AlgSet& algs,
                     const JwtPolicy& policy, VerifiedJws& out) {
  out = VerifiedJws();
  if (token.size() > policy.max_token_size) return JwtStatus::TokenTooLarge;
  CompactParts parts;
  if (!split_compact(token, parts)) return JwtStatus::Malformed;
  std::string header, payload, signature;
  if (!base64url_decode(parts.header, header) || !base64url_decode(parts.payload, payload) ||
      !base64url_decode(parts.signature, signature)) {
    return JwtStatus::Malformed;
  }
  // The allow-list is applied here, before any key is looked at.
  std::optional<std::string> kid;
  if (JwtStatus s = check_header(header, algs, out, kid); s != JwtStatus::Ok) return s;
  JwsAlg alg = *out.alg;
  std::size_t size = fixed_signature_size(alg);
  if (size != 0 && signature.size() != size) return JwtStatus::SignatureMalformed;
  if (JwtStatus s = check_signature(parts, signature, alg, kid, keys); s != JwtStatus::Ok) {
    return s;
  }
  out.payload = std::move(payload);
  return JwtStatus::Ok;
}

JwtStatus verify_jwt(std::string_view token, const KeySet& keys, const AlgSet& algs,
                     const JwtPolicy& policy, std::int64_t now, VerifiedJwt& out) {
  out = VerifiedJwt();
  VerifiedJws jws;
  JwtStatus status = verify_jws(token, keys, algs, policy, jws);
  out.alg = jws.alg;
  out.kid = std::move(jws.kid);
  if (status != JwtStatus::Ok) return status;

  Result<Claims> claims = Claims::from_json(jws.payload);
  if (!claims) return JwtStatus::PayloadMalformed;
  const json_t* root = claims->json();
  TimeClaims times;
  const json_t* iss = json_object_get(root, "iss");
  const json_t* aud = json_object_get(root, "aud");
  if (!read_time_claims(root, times) || (iss != nullptr && !json_is_string(iss)) ||
      !audience_well_formed(aud)) {
    return JwtStatus::ClaimMalformed;
  }
  if (JwtStatus s = check_times(times, policy, now); s != JwtStatus::Ok) return s;
  if (!policy.issuers.empty() && (iss == nullptr || !is_one_of(string_of(iss), policy.issuers))) {
    return JwtStatus::IssuerNotAccepted;
  }
  if (!policy.audiences.empty() && (aud == nullptr || !audience_accepted(aud, policy.audiences))) {
    return JwtStatus::AudienceNotAccepted;
  }
  out.claims = std::move(*claims);
  out.exp = times.exp;
  return JwtStatus::Ok;
}

JwtStatus check_time(const Claims& claims, const JwtPolicy& policy, std::int64_t now) {
  TimeClaims times;
  if (!read_time_claims(claims.json(), times)) return JwtStatus::ClaimMalformed;
  return check_times(times, policy, now);
}

std::string token_fingerprint(std::string_view token) {
  Digest digest = sha256(token);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), 6));
}

}  // namespace edge_auth
