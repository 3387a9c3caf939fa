// JWS algorithms, the allow-list, and verification keys (JWKS, PEM, HMAC
// secrets), each imported into OpenSSL once, at load.
//   Result<LoadedKeys> loaded = load_keys(file_text);  // JWKS or PEM; ->warnings: skipped keys
//   auto keys = std::make_shared<const KeySet>(std::move(loaded->keys));  // share read-only
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace edge_auth {

// The JWS algorithms this module verifies (RFC 7518 §3, RFC 8037 §3.1: EdDSA is
// Ed25519 only). There is no value for "none": an unsecured token cannot be named here.
// clang-format off
enum class JwsAlg : std::uint8_t {
  HS256, HS384, HS512,  // HMAC SHA-2, `oct` keys
  RS256, RS384, RS512,  // RSASSA-PKCS1-v1_5, RSA keys
  PS256, PS384, PS512,  // RSASSA-PSS (MGF1 with the same hash, salt = hash length), RSA keys
  ES256, ES384, ES512,  // ECDSA, P-256 / P-384 / P-521 keys only, JWS raw r||s signatures
  EdDSA,                // Ed25519 keys
};
// clang-format on

// Exact, case-sensitive JOSE names ("RS256"). nullopt for anything else, "none" included.
std::optional<JwsAlg> parse_alg(std::string_view name);
std::string_view alg_name(JwsAlg alg);

// The configured allow-list (edge_auth_jwt_algorithms). Holds JwsAlg values only,
// so "none" can never be in it.
class AlgSet {
 public:
  AlgSet();  // the default list: RS256 ES256
  static AlgSet of(std::initializer_list<JwsAlg> algs);
  // Directive arguments. Errors name the word: unknown (names are case-sensitive),
  // "none" (never accepted), or no name at all.
  static Result<AlgSet> parse(const std::vector<std::string>& names);

  bool contains(JwsAlg alg) const { return (bits_ >> static_cast<unsigned>(alg) & 1u) != 0; }
  bool has_hmac() const;         // HS256/384/512 allowed
  std::string describe() const;  // "RS256 ES256"

 private:
  std::uint32_t bits_ = 0;
};

// The kind of key material, which decides the algorithms a key can verify.
enum class KeyKind : std::uint8_t { Rsa, EcP256, EcP384, EcP521, Ed25519, Hmac };

// One verification key, immutable after load. The OpenSSL key object is built
// and validated once, at load (never per request), and only read afterwards, so
// a key may be used by several threads; verify() makes its contexts per call.
class Jwk {
 public:
  struct Impl;  // defined in jwk.cpp: only the loaders below make keys
  explicit Jwk(std::unique_ptr<Impl> impl);
  ~Jwk();
  Jwk(const Jwk&) = delete;
  Jwk& operator=(const Jwk&) = delete;

  const std::string& kid() const;  // empty when the key has no "kid"
  KeyKind kind() const;
  std::optional<JwsAlg> alg() const;  // the JWK's own "alg" member, when it had one
  // The key may verify `alg`: its kind is the algorithm's key type (RS*/PS* RSA,
  // ES256 P-256, ES384 P-384, ES512 P-521, EdDSA Ed25519, HS* oct) and its own
  // "alg", if any, is `alg`.
  bool fits(JwsAlg alg) const;
  // The signature over `signing_input`; false when it does not verify, when the
  // key does not fit `alg`, or when the signature has the wrong form (ECDSA
  // wants the JWS raw r||s of exactly twice the field size; DER is refused).
  bool verify(JwsAlg alg, std::string_view signing_input, std::string_view signature) const;
  // "RSA 2048 bits", "EC P-256", "Ed25519", "HMAC 32 bytes", with the kid if any.
  std::string describe() const;

 private:
  std::unique_ptr<Impl> impl_;
};

// The keys a location verifies with. Copying shares the keys (no re-import);
// share a loaded set read-only as std::shared_ptr<const KeySet>.
class KeySet {
 public:
  void add(std::shared_ptr<const Jwk> key) { keys_.push_back(std::move(key)); }
  void add_all(const KeySet& other) {
    keys_.insert(keys_.end(), other.keys_.begin(), other.keys_.end());
  }
  const std::vector<std::shared_ptr<const Jwk>>& keys() const { return keys_; }
  std::size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }

 private:
  std::vector<std::shared_ptr<const Jwk>> keys_;
};

// A load that succeeded: at least one usable key, and one line per key that was
// skipped ("key #2 (kid \"old\"): RSA key of 1024 bits (at least 2048 required)").
struct LoadedKeys {
  KeySet keys;
  std::vector<std::string> warnings;
};

// Limits on key documents (a JWKS comes from the network).
inline constexpr std::size_t kMaxKeyDocument = 512 * 1024;
inline constexpr std::size_t kMinHmacSecret = 32;  // bytes; RFC 7518 §3.2 (HS256)
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 16384;

// A JWKS ({"keys": [...]}) or a single JWK object. RSA (n, e), EC (crv P-256 /
// P-384 / P-521, x, y: a point on the curve), OKP (Ed25519, x), oct (k, HMAC).
// "use", when present, must be "sig"; "key_ops", when present, must hold
// "verify"; "alg", when present, must be a JWS algorithm that fits the key.
// Keys that break a rule are skipped with a warning; none usable is an error.
Result<LoadedKeys> load_jwks(std::string_view json);
// PEM blocks: PUBLIC KEY (RSA, EC P-256/384/521 on a named curve, Ed25519),
// RSA PUBLIC KEY (PKCS#1), CERTIFICATE (its public key; dates are not checked).
// Private keys and other blocks are skipped with a warning. The keys have no kid.
Result<LoadedKeys> load_pem_keys(std::string_view pem);
// JWKS when the text starts with '{' (after whitespace), PEM otherwise.
Result<LoadedKeys> load_keys(std::string_view text);
// An HMAC secret of raw bytes (edge_auth_jwt_secret), at least kMinHmacSecret long.
// The key has no kid, so it is tried for every HS* token.
Result<KeySet> load_hmac_secret(std::string_view secret);

}  // namespace edge_auth
