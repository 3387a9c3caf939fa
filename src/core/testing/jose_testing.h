// Test helpers for the JOSE unit tests (not part of the core library): keys
// generated with OpenSSL, their JWK/PEM forms, and a compact-JWS signer.
//   TestKey k = TestKey::generate_ec("P-256");
//   std::string token = k.sign(JwsAlg::ES256, R"({"alg":"ES256"})", R"({"sub":"a"})");
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/base64.h"
#include "core/jwk.h"

namespace edge_auth::testing {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using TestPkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

inline std::string b64u(std::string_view bytes) { return base64url_encode(bytes); }

inline std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

inline std::string bn_param(const EVP_PKEY* pkey, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) throw std::runtime_error("no bn param");
  int size = pad > 0 ? pad : BN_num_bytes(bn);
  std::string out(static_cast<std::size_t>(size), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), size);
  BN_free(bn);
  return out;
}

// A key pair of one kind, or an HMAC secret.
class TestKey {
 public:
  static TestKey generate_rsa(unsigned bits) {
    return TestKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
  }
  static TestKey generate_ec(const char* curve) {  // "P-256", "P-384", "P-521", "secp256k1"
    return TestKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
  }
  static TestKey generate_ed25519() {
    return TestKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  }
  static TestKey hmac(std::string secret) {
    TestKey k(nullptr);
    k.secret_ = std::move(secret);
    return k;
  }

  EVP_PKEY* pkey() const { return pkey_.get(); }
  const std::string& secret() const { return secret_; }

  // SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY").
  std::string public_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey_.get());
    std::string pem = bio_text(bio);
    BIO_free(bio);
    return pem;
  }
  // PKCS#1 PEM ("BEGIN RSA PUBLIC KEY"), RSA only.
  std::string rsa_public_pem_pkcs1() const {
    OSSL_ENCODER_CTX* ctx = OSSL_ENCODER_CTX_new_for_pkey(pkey_.get(), EVP_PKEY_PUBLIC_KEY, "PEM",
                                                          "type-specific", nullptr);
    unsigned char* data = nullptr;
    std::size_t len = 0;
    if (ctx == nullptr || OSSL_ENCODER_to_data(ctx, &data, &len) != 1) {
      OSSL_ENCODER_CTX_free(ctx);
      throw std::runtime_error("PKCS#1 encoding failed");
    }
    std::string pem(reinterpret_cast<char*>(data), len);
    OPENSSL_free(data);
    OSSL_ENCODER_CTX_free(ctx);
    return pem;
  }
  std::string private_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr);
    std::string pem = bio_text(bio);
    BIO_free(bio);
    return pem;
  }
  // A self-signed certificate for the key ("BEGIN CERTIFICATE").
  std::string certificate_pem() const {
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, pkey_.get());
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("edge-auth test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, pkey_.get(), EVP_PKEY_is_a(pkey_.get(), "ED25519") ? nullptr : EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    std::string pem = bio_text(bio);
    BIO_free(bio);
    X509_free(cert);
    return pem;
  }

  // The public JWK members without braces: "kty":"EC","crv":"P-256","x":"..","y":"..".
  std::string jwk_members() const {
    if (!pkey_) return R"("kty":"oct","k":")" + b64u(secret_) + "\"";
    if (EVP_PKEY_is_a(pkey_.get(), "RSA")) {
      return R"("kty":"RSA","n":")" + b64u(bn_param(pkey_.get(), OSSL_PKEY_PARAM_RSA_N)) +
             R"(","e":")" + b64u(bn_param(pkey_.get(), OSSL_PKEY_PARAM_RSA_E)) + "\"";
    }
    if (EVP_PKEY_is_a(pkey_.get(), "EC")) {
      int size = (EVP_PKEY_get_bits(pkey_.get()) + 7) / 8;
      const char* crv = size == 32 ? "P-256" : size == 48 ? "P-384" : "P-521";
      return std::string(R"("kty":"EC","crv":")") + crv + R"(","x":")" +
             b64u(bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X, size)) + R"(","y":")" +
             b64u(bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size)) + "\"";
    }
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    EVP_PKEY_get_raw_public_key(pkey_.get(), raw, &len);
    return R"("kty":"OKP","crv":"Ed25519","x":")" +
           b64u(std::string_view(reinterpret_cast<char*>(raw), len)) + "\"";
  }
  // {"keys":[{<members><extra>}]}, extra like R"(,"kid":"a")".
  std::string jwks(std::string_view extra = "") const {
    return "{\"keys\":[{" + jwk_members() + std::string(extra) + "}]}";
  }

  // The raw signature over `input` as JWS carries it (ECDSA as r||s).
  // pss_saltlen: RSA_PSS_SALTLEN_DIGEST is what JWS wants; others for the negative tests.
  std::string sign_input(JwsAlg alg, std::string_view input,
                         int pss_saltlen = RSA_PSS_SALTLEN_DIGEST) const {
    if (!pkey_) return hmac(alg, input);
    const EVP_MD* md = nullptr;
    std::string_view name = alg_name(alg);
    if (name.substr(2) == "256") md = EVP_sha256();
    if (name.substr(2) == "384") md = EVP_sha384();
    if (name.substr(2) == "512") md = EVP_sha512();
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    EVP_DigestSignInit(ctx, &pctx, md, nullptr, pkey_.get());
    if (name[0] == 'P') {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_saltlen);
      EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md);
    }
    std::size_t len = 0;
    auto in = reinterpret_cast<const unsigned char*>(input.data());
    EVP_DigestSign(ctx, nullptr, &len, in, input.size());
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, in, input.size()) !=
        1) {
      EVP_MD_CTX_free(ctx);
      throw std::runtime_error("signing failed");
    }
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    if (name[0] == 'E' && name != "EdDSA") return der_to_raw(sig);
    return sig;
  }
  // A DER ECDSA signature (what JWS forbids), for the negative tests.
  std::string sign_der(JwsAlg alg, std::string_view input) const {
    std::string raw = sign_input(alg, input);
    std::size_t half = raw.size() / 2;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig,
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()),
                             static_cast<int>(half), nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + half,
                             static_cast<int>(half), nullptr));
    int len = i2d_ECDSA_SIG(sig, nullptr);
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_ECDSA_SIG(sig, &p);
    ECDSA_SIG_free(sig);
    return der;
  }
  // header and payload are the JSON texts (any bytes), encoded here.
  std::string sign(JwsAlg alg, std::string_view header, std::string_view payload) const {
    std::string input = b64u(header) + "." + b64u(payload);
    return input + "." + b64u(sign_input(alg, input));
  }

 private:
  explicit TestKey(EVP_PKEY* pkey) : pkey_(pkey) {}

  std::string hmac(JwsAlg alg, std::string_view input) const {
    std::string digest = "SHA" + std::string(alg_name(alg).substr(2));
    unsigned char out[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, digest.c_str(), nullptr, secret_.data(), secret_.size(),
                  reinterpret_cast<const unsigned char*>(input.data()), input.size(), out,
                  sizeof out, &len) == nullptr) {
      throw std::runtime_error("HMAC failed");
    }
    return std::string(reinterpret_cast<char*>(out), len);
  }

  std::string der_to_raw(std::string_view der) const {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
    int size = (EVP_PKEY_get_bits(pkey_.get()) + 7) / 8;
    std::string raw(static_cast<std::size_t>(2 * size), '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, size);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + size, size);
    ECDSA_SIG_free(sig);
    return raw;
  }

  TestPkey pkey_;
  std::string secret_;
};

// Key generation is slow (RSA above all): each test key is made once per run.
inline const TestKey& rsa2048() {
  static const TestKey key = TestKey::generate_rsa(2048);
  return key;
}
inline const TestKey& rsa2048_other() {
  static const TestKey key = TestKey::generate_rsa(2048);
  return key;
}
inline const TestKey& rsa1024() {
  static const TestKey key = TestKey::generate_rsa(1024);
  return key;
}
inline const TestKey& p256() {
  static const TestKey key = TestKey::generate_ec("P-256");
  return key;
}
inline const TestKey& p384() {
  static const TestKey key = TestKey::generate_ec("P-384");
  return key;
}
inline const TestKey& p521() {
  static const TestKey key = TestKey::generate_ec("P-521");
  return key;
}
inline const TestKey& ed25519() {
  static const TestKey key = TestKey::generate_ed25519();
  return key;
}

}  // namespace edge_auth::testing
