#include "core/jwk.h"

#include "core/openssl_algorithms.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <stdexcept>
#include <utility>

#include "core/base64.h"
#include "core/crypto.h"
#include "core/json.h"
#include "core/text.h"

namespace edge_auth {
namespace {

constexpr std::array<std::string_view, 13> kAlgNames = {
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256",
    "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
};

// unique_ptr deleters for OpenSSL objects: Owned<EVP_PKEY, EVP_PKEY_free>.
template <typename T, void (*Free)(T*)>
struct FreeWith {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, FreeWith<T, Free>>;
using PkeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using BnPtr = Owned<BIGNUM, BN_free>;

// OpenSSL reports failures on a per-thread error queue. What a load or a
// verification leaves there is dropped on the way out, so nginx's own TLS code
// never finds a stale error of ours.
class ErrorQueueScope {
 public:
  ErrorQueueScope() { ERR_set_mark(); }
  ~ErrorQueueScope() { ERR_pop_to_mark(); }
  ErrorQueueScope(const ErrorQueueScope&) = delete;
  ErrorQueueScope& operator=(const ErrorQueueScope&) = delete;
};

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

int hash_bits(JwsAlg alg) {
  switch (alg) {
    case JwsAlg::HS256:
    case JwsAlg::RS256:
    case JwsAlg::PS256:
    case JwsAlg::ES256:
      return 256;
    case JwsAlg::HS384:
    case JwsAlg::RS384:
    case JwsAlg::PS384:
    case JwsAlg::ES384:
      return 384;
    case JwsAlg::HS512:
    case JwsAlg::RS512:
    case JwsAlg::PS512:
    case JwsAlg::ES512:
      return 512;
    case JwsAlg::EdDSA:
      return 0;
  }
  return 0;
}

const EVP_MD* md_for(JwsAlg alg) {
  static const FetchedMd sha256{fetch_md("SHA256")};
  static const FetchedMd sha384{fetch_md("SHA384")};
  static const FetchedMd sha512{fetch_md("SHA512")};
  switch (hash_bits(alg)) {
    case 256:
      return sha256.get();
    case 384:
      return sha384.get();
    case 512:
      return sha512.get();
    default:
      return nullptr;  // EdDSA hashes internally
  }
}

bool kind_fits(KeyKind kind, JwsAlg alg) {
  switch (alg) {
    case JwsAlg::HS256:
    case JwsAlg::HS384:
    case JwsAlg::HS512:
      return kind == KeyKind::Hmac;
    case JwsAlg::RS256:
    case JwsAlg::RS384:
    case JwsAlg::RS512:
    case JwsAlg::PS256:
    case JwsAlg::PS384:
    case JwsAlg::PS512:
      return kind == KeyKind::Rsa;
    case JwsAlg::ES256:
      return kind == KeyKind::EcP256;
    case JwsAlg::ES384:
      return kind == KeyKind::EcP384;
    case JwsAlg::ES512:
      return kind == KeyKind::EcP521;
    case JwsAlg::EdDSA:
      return kind == KeyKind::Ed25519;
  }
  return false;
}

bool is_pss(JwsAlg alg) {
  return alg == JwsAlg::PS256 || alg == JwsAlg::PS384 || alg == JwsAlg::PS512;
}

// Bytes of one ECDSA coordinate (and of r and s in a JWS signature).
std::size_t ec_field_size(KeyKind kind) {
  switch (kind) {
    case KeyKind::EcP256:
      return 32;
    case KeyKind::EcP384:
      return 48;
    case KeyKind::EcP521:
      return 66;
    default:
      return 0;
  }
}

bool hmac_verify(const std::string& key, JwsAlg alg, std::string_view input,
                 std::string_view signature) {
  Owned<EVP_MAC_CTX, EVP_MAC_CTX_free> ctx(EVP_MAC_CTX_new(hmac_mac()));
  char digest[8] = "SHA256";
  if (alg == JwsAlg::HS384) std::string_view("SHA384").copy(digest, 6);
  if (alg == JwsAlg::HS512) std::string_view("SHA512").copy(digest, 6);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), bytes(key), key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), bytes(input), input.size()) != 1 ||
      EVP_MAC_final(ctx.get(), mac, &len, sizeof mac) != 1) {
    return false;
  }
  // The length of a MAC is public (it follows from the algorithm).
  bool same = len == signature.size() && CRYPTO_memcmp(mac, signature.data(), len) == 0;
  OPENSSL_cleanse(mac, sizeof mac);
  return same;
}

// JWS carries ECDSA signatures as r||s, each exactly the field size
// (RFC 7518 §3.4); OpenSSL wants DER. Empty when the length is not exact.
std::string ecdsa_raw_to_der(std::string_view raw, std::size_t field_size) {
  if (field_size == 0 || raw.size() != 2 * field_size) return {};
  int half = static_cast<int>(field_size);
  BnPtr r(BN_bin2bn(bytes(raw), half, nullptr));
  BnPtr s(BN_bin2bn(bytes(raw) + half, half, nullptr));
  Owned<ECDSA_SIG, ECDSA_SIG_free> sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return {};
  r.release();  // owned by sig now
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return {};
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &p) != len) return {};
  return der;
}

bool pkey_verify(EVP_PKEY* pkey, JwsAlg alg, std::string_view input, std::string_view signature) {
  Owned<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  const EVP_MD* md = md_for(alg);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, pkey) != 1) return false;
  if (is_pss(alg) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
                      EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1)) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(input),
                          input.size()) == 1;
}

// OpenSSL's validation of an EC public key: on the curve, of the right order.
bool ec_public_check(EVP_PKEY* pkey) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
  return ctx && EVP_PKEY_public_check(ctx.get()) == 1;
}

// The structure of an RSA public key: n and e odd, 1 < e < n, e of at most 64
// bits (a huge e makes every verification slow). EVP_PKEY_public_check is not
// used for RSA: in OpenSSL 3 it also tests n for primality, about 3 ms per key,
// which a JWKS refresh on an nginx worker cannot afford.
bool rsa_public_check(EVP_PKEY* pkey) {
  BIGNUM* n_raw = nullptr;
  BIGNUM* e_raw = nullptr;
  EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n_raw);
  EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e_raw);
  BnPtr n(n_raw), e(e_raw);
  return n && e && BN_is_odd(n.get()) && BN_is_odd(e.get()) && !BN_is_one(e.get()) &&
         BN_num_bits(e.get()) <= 64 && BN_cmp(e.get(), n.get()) < 0;
}

std::string quoted_kid(const std::string& kid) {
  if (kid.empty()) return "";
  return " (kid \"" + (kid.size() > 64 ? kid.substr(0, 64) + "..." : kid) + "\")";
}

}  // namespace

// ---- algorithms ----------------------------------------------------------

std::optional<JwsAlg> parse_alg(std::string_view name) {
  for (std::size_t i = 0; i < kAlgNames.size(); ++i) {
    if (kAlgNames[i] == name) return static_cast<JwsAlg>(i);
  }
  return std::nullopt;
}

std::string_view alg_name(JwsAlg alg) {
  auto i = static_cast<std::size_t>(alg);
  return i < kAlgNames.size() ? kAlgNames[i] : std::string_view("?");
}

AlgSet::AlgSet()
    : bits_(1u << static_cast<unsigned>(JwsAlg::RS256) |
            1u << static_cast<unsigned>(JwsAlg::ES256)) {}

AlgSet AlgSet::of(std::initializer_list<JwsAlg> algs) {
  AlgSet set;
  set.bits_ = 0;
  for (JwsAlg alg : algs) set.bits_ |= 1u << static_cast<unsigned>(alg);
  return set;
}

Result<AlgSet> AlgSet::parse(const std::vector<std::string>& names) {
  if (names.empty()) return Result<AlgSet>::failure("no algorithm given");
  AlgSet set = of({});
  for (const std::string& name : names) {
    std::optional<JwsAlg> alg = parse_alg(name);
    if (alg) {
      set.bits_ |= 1u << static_cast<unsigned>(*alg);
      continue;
    }
    std::string lower;
    for (char c : name) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (lower == "none") {
      return Result<AlgSet>::failure("\"none\" is never accepted (unsecured tokens)");
    }
    std::string shown = has_control_chars(name) ? std::string("?") : name.substr(0, 32);
    return Result<AlgSet>::failure("unknown algorithm \"" + shown +
                                   "\" (one of HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 "
                                   "PS512 ES256 ES384 ES512 EdDSA; names are case-sensitive)");
  }
  return set;
}

bool AlgSet::has_hmac() const {
  return contains(JwsAlg::HS256) || contains(JwsAlg::HS384) || contains(JwsAlg::HS512);
}

std::string AlgSet::describe() const {
  std::string out;
  for (std::size_t i = 0; i < kAlgNames.size(); ++i) {
    if (!contains(static_cast<JwsAlg>(i))) continue;
    if (!out.empty()) out += ' ';
    out += kAlgNames[i];
  }
  return out;
}

// ---- keys ----------------------------------------------------------------

struct Jwk::Impl {
  std::string kid;
  KeyKind kind = KeyKind::Rsa;
  std::optional<JwsAlg> alg;
  PkeyPtr pkey;        // every kind but Hmac
  std::string secret;  // Hmac
  int bits = 0;        // Rsa modulus size

  ~Impl() { wipe(secret); }
};

Jwk::Jwk(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Jwk::~Jwk() = default;

const std::string& Jwk::kid() const { return impl_->kid; }
KeyKind Jwk::kind() const { return impl_->kind; }
std::optional<JwsAlg> Jwk::alg() const { return impl_->alg; }

bool Jwk::fits(JwsAlg alg) const {
  return kind_fits(impl_->kind, alg) && (!impl_->alg || *impl_->alg == alg);
}

bool Jwk::verify(JwsAlg alg, std::string_view signing_input, std::string_view signature) const {
  if (!fits(alg)) return false;
  ErrorQueueScope errors;
  if (impl_->kind == KeyKind::Hmac) {
    return hmac_verify(impl_->secret, alg, signing_input, signature);
  }
  if (impl_->kind == KeyKind::EcP256 || impl_->kind == KeyKind::EcP384 ||
      impl_->kind == KeyKind::EcP521) {
    std::string der = ecdsa_raw_to_der(signature, ec_field_size(impl_->kind));
    return !der.empty() && pkey_verify(impl_->pkey.get(), alg, signing_input, der);
  }
  return pkey_verify(impl_->pkey.get(), alg, signing_input, signature);
}

std::string Jwk::describe() const {
  std::string what;
  switch (impl_->kind) {
    case KeyKind::Rsa:
      what = "RSA " + std::to_string(impl_->bits) + " bits";
      break;
    case KeyKind::EcP256:
      what = "EC P-256";
      break;
    case KeyKind::EcP384:
      what = "EC P-384";
      break;
    case KeyKind::EcP521:
      what = "EC P-521";
      break;
    case KeyKind::Ed25519:
      what = "Ed25519";
      break;
    case KeyKind::Hmac:
      what = "HMAC " + std::to_string(impl_->secret.size()) + " bytes";
      break;
  }
  return what + quoted_kid(impl_->kid);
}

namespace {

using KeyResult = Result<std::shared_ptr<const Jwk>>;

KeyResult key_failure(std::string why) { return KeyResult::failure(std::move(why)); }

// An imported public key becomes a Jwk if it is of a kind we verify with and
// passes the checks: RSA of 2048..16384 bits with a sane n and e, EC on a named
// curve we support with OpenSSL's point validation, or Ed25519.
KeyResult make_public_key(PkeyPtr pkey, std::string kid, std::optional<JwsAlg> alg) {
  auto impl = std::make_unique<Jwk::Impl>();
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    impl->kind = KeyKind::Rsa;
    impl->bits = EVP_PKEY_get_bits(pkey.get());
    if (impl->bits < kMinRsaBits) {
      return key_failure("RSA key of " + std::to_string(impl->bits) + " bits (at least " +
                         std::to_string(kMinRsaBits) + " required)");
    }
    if (impl->bits > kMaxRsaBits) {
      return key_failure("RSA key of " + std::to_string(impl->bits) + " bits (at most " +
                         std::to_string(kMaxRsaBits) + ")");
    }
  } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    char group[64] = "";
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1) {
      return key_failure("EC key without a named curve (explicit parameters are refused)");
    }
    std::string_view name(group, len);
    if (name == "prime256v1" || name == "P-256") {
      impl->kind = KeyKind::EcP256;
    } else if (name == "secp384r1" || name == "P-384") {
      impl->kind = KeyKind::EcP384;
    } else if (name == "secp521r1" || name == "P-521") {
      impl->kind = KeyKind::EcP521;
    } else {
      return key_failure("EC curve " + std::string(name) + " (P-256, P-384 or P-521 only)");
    }
  } else if (EVP_PKEY_is_a(pkey.get(), "ED25519")) {
    impl->kind = KeyKind::Ed25519;
  } else {
    const char* type = EVP_PKEY_get0_type_name(pkey.get());
    return key_failure(std::string("unsupported key type ") + (type ? type : "?") +
                       " (RSA, EC P-256/384/521, Ed25519)");
  }
  if (impl->kind == KeyKind::Rsa && !rsa_public_check(pkey.get())) {
    return key_failure(
        "RSA public key fails validation (n and e odd, 1 < e < n, e of 64 bits at most)");
  }
  if (impl->kind != KeyKind::Rsa && impl->kind != KeyKind::Ed25519 &&
      !ec_public_check(pkey.get())) {
    return key_failure("EC point is not on the curve");
  }
  if (alg && !kind_fits(impl->kind, *alg)) {
    return key_failure("\"alg\" " + std::string(alg_name(*alg)) + " does not fit the key type");
  }
  impl->pkey = std::move(pkey);
  impl->kid = std::move(kid);
  impl->alg = alg;
  return std::shared_ptr<const Jwk>(std::make_shared<Jwk>(std::move(impl)));
}

KeyResult make_hmac_key(std::string secret, std::string kid, std::optional<JwsAlg> alg) {
  if (secret.size() < kMinHmacSecret) {
    std::size_t size = secret.size();
    wipe(secret);
    return key_failure("HMAC secret of " + std::to_string(size) + " bytes (at least " +
                       std::to_string(kMinHmacSecret) + " required, RFC 7518 section 3.2)");
  }
  if (alg && !kind_fits(KeyKind::Hmac, *alg)) {
    wipe(secret);
    return key_failure("\"alg\" " + std::string(alg_name(*alg)) + " does not fit the key type");
  }
  auto impl = std::make_unique<Jwk::Impl>();
  impl->kind = KeyKind::Hmac;
  impl->secret = std::move(secret);
  impl->kid = std::move(kid);
  impl->alg = alg;
  return std::shared_ptr<const Jwk>(std::make_shared<Jwk>(std::move(impl)));
}

// ---- JWK members ---------------------------------------------------------

// A member that must be a string when present. false: present but not a string.
bool optional_string(const json_t* jwk, const char* name, std::optional<std::string>& out) {
  const json_t* value = json_object_get(jwk, name);
  if (value == nullptr) return true;
  if (!json_is_string(value)) return false;
  out.emplace(json_string_value(value), json_string_length(value));
  return true;
}

// A required base64url member, decoded. Empty result = the error text in `why`.
bool b64_member(const json_t* jwk, const char* name, std::string& out, std::string& why) {
  std::optional<std::string_view> text = json_string_member(jwk, name);
  if (!text) {
    why = std::string("no \"") + name + "\" string";
    return false;
  }
  if (!base64url_decode(*text, out) || out.empty()) {
    why = std::string("\"") + name + "\" is not base64url (unpadded)";
    return false;
  }
  return true;
}

KeyResult rsa_from_jwk(const json_t* jwk, std::string kid, std::optional<JwsAlg> alg) {
  std::string n, e, why;
  if (!b64_member(jwk, "n", n, why) || !b64_member(jwk, "e", e, why)) return key_failure(why);
  if (e.size() > 8) return key_failure("RSA exponent longer than 64 bits");
  BnPtr n_bn(BN_bin2bn(bytes(n), static_cast<int>(n.size()), nullptr));
  BnPtr e_bn(BN_bin2bn(bytes(e), static_cast<int>(e.size()), nullptr));
  Owned<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free> bld(OSSL_PARAM_BLD_new());
  if (!n_bn || !e_bn || !bld ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
    return key_failure("out of memory");
  }
  Owned<OSSL_PARAM, OSSL_PARAM_free> params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return key_failure("RSA key not accepted by OpenSSL");
  }
  return make_public_key(PkeyPtr(raw), std::move(kid), alg);
}

KeyResult ec_from_jwk(const json_t* jwk, std::string kid, std::optional<JwsAlg> alg) {
  std::optional<std::string_view> crv = json_string_member(jwk, "crv");
  if (!crv) return key_failure("EC key without a \"crv\" string");
  const char* group = nullptr;
  std::size_t size = 0;
  if (*crv == "P-256") {
    group = "prime256v1", size = 32;
  } else if (*crv == "P-384") {
    group = "secp384r1", size = 48;
  } else if (*crv == "P-521") {
    group = "secp521r1", size = 66;
  } else {
    std::string shown = has_control_chars(*crv) ? "?" : std::string(crv->substr(0, 32));
    return key_failure("EC curve \"" + shown + "\" (P-256, P-384 or P-521 only)");
  }
  std::string x, y, why;
  if (!b64_member(jwk, "x", x, why) || !b64_member(jwk, "y", y, why)) return key_failure(why);
  // RFC 7518 §6.2.1.2: the full coordinate size, leading zeros included.
  if (x.size() != size || y.size() != size) {
    return key_failure("EC coordinates of " + std::to_string(x.size()) + "/" +
                       std::to_string(y.size()) + " bytes (" + std::to_string(size) +
                       " required for " + std::string(*crv) + ")");
  }
  std::string point = '\x04' + x + y;  // uncompressed SEC1 point
  char group_name[16];
  std::string_view(group).copy(group_name, sizeof group_name - 1);
  group_name[std::string_view(group).size()] = '\0';
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group_name, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end(),
  };
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return key_failure("EC point is not on the curve");
  }
  return make_public_key(PkeyPtr(raw), std::move(kid), alg);
}

KeyResult okp_from_jwk(const json_t* jwk, std::string kid, std::optional<JwsAlg> alg) {
  std::optional<std::string_view> crv = json_string_member(jwk, "crv");
  if (!crv || *crv != "Ed25519") return key_failure("OKP key that is not Ed25519");
  std::string x, why;
  if (!b64_member(jwk, "x", x, why)) return key_failure(why);
  if (x.size() != 32) return key_failure("Ed25519 key of " + std::to_string(x.size()) + " bytes");
  EVP_PKEY* raw = EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, bytes(x), x.size());
  if (raw == nullptr) return key_failure("Ed25519 key not accepted by OpenSSL");
  return make_public_key(PkeyPtr(raw), std::move(kid), alg);
}

KeyResult oct_from_jwk(const json_t* jwk, std::string kid, std::optional<JwsAlg> alg) {
  std::string k, why;
  WipeOnExit guard(k);
  if (!b64_member(jwk, "k", k, why)) return key_failure(why);
  return make_hmac_key(std::string(k), std::move(kid), alg);
}

KeyResult key_from_jwk(const json_t* jwk) {
  if (!json_is_object(jwk)) return key_failure("not a JSON object");
  std::optional<std::string> kty, kid, use, alg_text;
  if (!optional_string(jwk, "kty", kty) || !kty) return key_failure("no \"kty\" string");
  if (!optional_string(jwk, "kid", kid)) return key_failure("\"kid\" is not a string");
  if (kid && has_control_chars(*kid)) return key_failure("\"kid\" has control characters");
  if (!optional_string(jwk, "use", use)) return key_failure("\"use\" is not a string");
  if (use && *use != "sig") {
    std::string shown = has_control_chars(*use) ? "?" : use->substr(0, 16);
    return key_failure("\"use\" is \"" + shown + "\", not \"sig\"");
  }
  if (const json_t* ops = json_object_get(jwk, "key_ops")) {
    bool verify = false;
    std::size_t i;
    json_t* op;
    if (!json_is_array(ops)) return key_failure("\"key_ops\" is not an array");
    json_array_foreach(ops, i, op) {
      if (json_is_string(op) && std::string_view(json_string_value(op)) == "verify") verify = true;
    }
    if (!verify) return key_failure("\"key_ops\" does not allow \"verify\"");
  }
  std::optional<JwsAlg> alg;
  if (!optional_string(jwk, "alg", alg_text)) return key_failure("\"alg\" is not a string");
  if (alg_text) {
    alg = parse_alg(*alg_text);
    if (!alg) {
      std::string shown = has_control_chars(*alg_text) ? "?" : alg_text->substr(0, 32);
      return key_failure("\"alg\" \"" + shown + "\" is not a JWS algorithm this module verifies");
    }
  }
  std::string key_id = kid.value_or("");
  if (*kty == "RSA") return rsa_from_jwk(jwk, std::move(key_id), alg);
  if (*kty == "EC") return ec_from_jwk(jwk, std::move(key_id), alg);
  if (*kty == "OKP") return okp_from_jwk(jwk, std::move(key_id), alg);
  if (*kty == "oct") return oct_from_jwk(jwk, std::move(key_id), alg);
  std::string shown = has_control_chars(*kty) ? "?" : kty->substr(0, 16);
  return key_failure("\"kty\" \"" + shown + "\" (RSA, EC, OKP or oct)");
}

std::string kid_of(const json_t* jwk) {
  std::optional<std::string_view> kid = json_string_member(jwk, "kid");
  return kid && !has_control_chars(*kid) ? std::string(*kid) : std::string();
}

Result<LoadedKeys> finish(LoadedKeys loaded, const char* what) {
  if (!loaded.keys.empty()) return loaded;
  std::string error = std::string("no usable key in the ") + what;
  for (const std::string& warning : loaded.warnings) error += "; " + warning;
  return Result<LoadedKeys>::failure(error);
}

// ---- PEM -----------------------------------------------------------------

PkeyPtr decode_public_pem(std::string_view block) {
  EVP_PKEY* raw = nullptr;
  Owned<OSSL_DECODER_CTX, OSSL_DECODER_CTX_free> dctx(OSSL_DECODER_CTX_new_for_pkey(
      &raw, "PEM", nullptr, nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  const unsigned char* data = bytes(block);
  std::size_t len = block.size();
  if (!dctx || OSSL_DECODER_from_data(dctx.get(), &data, &len) != 1) {
    EVP_PKEY_free(raw);
    return nullptr;
  }
  return PkeyPtr(raw);
}

PkeyPtr certificate_key(std::string_view block) {
  Owned<BIO, BIO_free_all> bio(BIO_new_mem_buf(block.data(), static_cast<int>(block.size())));
  if (!bio) return nullptr;
  Owned<X509, X509_free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return nullptr;
  return PkeyPtr(X509_get_pubkey(cert.get()));  // a reference of its own
}

}  // namespace

Result<LoadedKeys> load_jwks(std::string_view json) {
  ErrorQueueScope errors;
  std::string why;
  JsonPtr doc = parse_json(json, kMaxKeyDocument, why);
  if (!doc) return Result<LoadedKeys>::failure("JWKS is " + why);
  if (!json_is_object(doc.get()) || !json_depth_within(doc.get(), 8)) {
    return Result<LoadedKeys>::failure("JWKS is not a JSON object of limited depth");
  }
  LoadedKeys loaded;
  const json_t* keys = json_object_get(doc.get(), "keys");
  if (keys == nullptr && json_object_get(doc.get(), "kty") != nullptr) {
    KeyResult key = key_from_jwk(doc.get());
    if (!key)
      return Result<LoadedKeys>::failure("JWK" + quoted_kid(kid_of(doc.get())) + ": " +
                                         key.error());
    loaded.keys.add(std::move(*key));
    return loaded;
  }
  if (!json_is_array(keys)) return Result<LoadedKeys>::failure("JWKS has no \"keys\" array");
  std::size_t i;
  json_t* jwk;
  json_array_foreach(keys, i, jwk) {
    KeyResult key = key_from_jwk(jwk);
    if (key) {
      loaded.keys.add(std::move(*key));
    } else {
      loaded.warnings.push_back("key #" + std::to_string(i + 1) + quoted_kid(kid_of(jwk)) + ": " +
                                key.error());
    }
  }
  return finish(std::move(loaded), "JWKS");
}

Result<LoadedKeys> load_pem_keys(std::string_view pem) {
  ErrorQueueScope errors;
  if (pem.size() > kMaxKeyDocument) return Result<LoadedKeys>::failure("PEM text too large");
  LoadedKeys loaded;
  std::size_t blocks = 0;
  constexpr std::string_view kBegin = "-----BEGIN ";
  for (std::size_t pos = pem.find(kBegin); pos != std::string_view::npos;
       pos = pem.find(kBegin, pos)) {
    ++blocks;
    std::string where = "PEM block #" + std::to_string(blocks);
    std::size_t label_start = pos + kBegin.size();
    std::size_t label_end = pem.find("-----", label_start);
    std::size_t line_end = pem.find('\n', label_start);
    if (label_end == std::string_view::npos || label_end > line_end) {
      loaded.warnings.push_back(where + ": malformed BEGIN line");
      break;
    }
    std::string label(pem.substr(label_start, label_end - label_start));
    std::string end_line = "-----END " + label + "-----";
    std::size_t end = pem.find(end_line, label_end);
    if (end == std::string_view::npos) {
      loaded.warnings.push_back(where + ": no END line");
      break;
    }
    std::string_view block = pem.substr(pos, end + end_line.size() - pos);
    pos = end + end_line.size();
    std::string shown = has_control_chars(label) ? "?" : label.substr(0, 40);
    PkeyPtr pkey;
    if (label == "PUBLIC KEY" || label == "RSA PUBLIC KEY") {
      pkey = decode_public_pem(block);
    } else if (label == "CERTIFICATE") {
      pkey = certificate_key(block);
    } else if (label.find("PRIVATE KEY") != std::string::npos) {
      loaded.warnings.push_back(where + ": a private key (give the public key or certificate)");
      continue;
    } else {
      loaded.warnings.push_back(where + ": \"" + shown + "\" is not a public key or certificate");
      continue;
    }
    if (!pkey) {
      loaded.warnings.push_back(where + " (" + shown + "): not readable");
      continue;
    }
    KeyResult key = make_public_key(std::move(pkey), "", std::nullopt);
    if (key) {
      loaded.keys.add(std::move(*key));
    } else {
      loaded.warnings.push_back(where + " (" + shown + "): " + key.error());
    }
  }
  if (blocks == 0) return Result<LoadedKeys>::failure("no PEM block (-----BEGIN ...) found");
  return finish(std::move(loaded), "PEM text");
}

Result<LoadedKeys> load_keys(std::string_view text) {
  std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') return load_jwks(text);
  return load_pem_keys(text);
}

Result<KeySet> load_hmac_secret(std::string_view secret) {
  KeyResult key = make_hmac_key(std::string(secret), "", std::nullopt);
  if (!key) return Result<KeySet>::failure(key.error());
  KeySet set;
  set.add(std::move(*key));
  return set;
}

}  // namespace edge_auth
