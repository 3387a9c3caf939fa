#include "core/aead.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <climits>
#include <memory>
#include <stdexcept>

#include "core/crypto.h"
#include "core/openssl_algorithms.h"

namespace edge_auth {
namespace {

constexpr std::size_t kKeySize = 32;
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;

// Fetched once per process, like the digests in crypto.cpp.
EVP_KDF* hkdf_kdf() {
  static const Fetched<EVP_KDF, EVP_KDF_free> kdf{[] {
    EVP_KDF* k = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    if (k == nullptr) throw std::runtime_error("OpenSSL has no HKDF");
    return k;
  }()};
  return kdf.get();
}

const EVP_CIPHER* aes_256_gcm() {
  static const Fetched<EVP_CIPHER, EVP_CIPHER_free> cipher{[] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    if (c == nullptr) throw std::runtime_error("OpenSSL has no AES-256-GCM");
    return c;
  }()};
  return cipher.get();
}

struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }
const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// OSSL_PARAM wants a non-const pointer even for input octets.
OSSL_PARAM octets(const char* name, std::string_view data) {
  return OSSL_PARAM_construct_octet_string(name, const_cast<char*>(data.data()), data.size());
}

int checked_int(std::size_t size) {
  if (size > INT_MAX) throw std::length_error("AES-GCM input too large");
  return static_cast<int>(size);
}

}  // namespace

std::string hkdf_sha256(std::string_view ikm, std::string_view salt, std::string_view info,
                        std::size_t length) {
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(hkdf_kdf()));
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = octets(OSSL_KDF_PARAM_KEY, ikm);
  // An absent salt is HashLen zero bytes (RFC 5869 §2.2); OpenSSL does that
  // when the parameter is left out.
  if (!salt.empty()) params[n++] = octets(OSSL_KDF_PARAM_SALT, salt);
  params[n++] = octets(OSSL_KDF_PARAM_INFO, info);
  params[n] = OSSL_PARAM_construct_end();
  std::string out(length, '\0');
  if (!ctx || EVP_KDF_derive(ctx.get(), bytes(out), out.size(), params) != 1) {
    throw std::runtime_error("HKDF-SHA256 failed");
  }
  return out;
}

std::string derive_key(std::string_view secret, std::string_view purpose) {
  return hkdf_sha256(secret, "edge-auth", purpose, kKeySize);
}

std::string seal(std::string_view key, std::string_view plaintext, std::string_view aad) {
  if (key.size() != kKeySize) throw std::invalid_argument("AES-256-GCM key must be 32 bytes");
  std::string out = random_bytes(kNonceSize);
  out.resize(kNonceSize + plaintext.size() + kTagSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  if (!ctx || EVP_EncryptInit_ex2(ctx.get(), aes_256_gcm(), bytes(key), bytes(out), nullptr) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), checked_int(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), bytes(out) + kNonceSize, &len, bytes(plaintext),
                        checked_int(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), bytes(out) + kNonceSize + len, &final_len) != 1 ||
      static_cast<std::size_t>(len + final_len) != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kTagSize,
                          bytes(out) + kNonceSize + plaintext.size()) != 1) {
    throw std::runtime_error("AES-256-GCM encryption failed");
  }
  return out;
}

Result<std::string> open(std::string_view key, std::string_view sealed, std::string_view aad) {
  if (key.size() != kKeySize) return Result<std::string>::failure("bad key length");
  if (sealed.size() < kNonceSize + kTagSize) return Result<std::string>::failure("too short");
  std::string_view nonce = sealed.substr(0, kNonceSize);
  std::string_view ciphertext = sealed.substr(kNonceSize, sealed.size() - kNonceSize - kTagSize);
  std::string tag(sealed.substr(sealed.size() - kTagSize));
  std::string out(ciphertext.size(), '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  bool ok = ctx &&
            EVP_DecryptInit_ex2(ctx.get(), aes_256_gcm(), bytes(key), bytes(nonce), nullptr) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), checked_int(aad.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), bytes(out), &len, bytes(ciphertext),
                              checked_int(ciphertext.size())) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kTagSize, bytes(tag)) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), bytes(out) + len, &final_len) == 1;
  if (!ok) {
    wipe(out);  // unauthenticated plaintext is never handed out
    return Result<std::string>::failure("authentication failed");
  }
  return out;
}

}  // namespace edge_auth
