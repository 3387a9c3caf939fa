#include "core/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

#include "core/text.h"

namespace edge_auth {
namespace {

// Algorithms are fetched once per process: an EVP_MD_fetch per call costs a
// provider lookup under a lock. The objects live until exit on purpose.
const EVP_MD* fetch_md(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) throw std::runtime_error(std::string("OpenSSL has no ") + name);
  return md;
}

const EVP_MD* sha256_md() {
  static const EVP_MD* md = fetch_md("SHA256");
  return md;
}

const EVP_MD* sha1_md() {
  static const EVP_MD* md = fetch_md("SHA1");
  return md;
}

EVP_MAC* hmac_mac() {
  static EVP_MAC* mac = [] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) throw std::runtime_error("OpenSSL has no HMAC");
    return m;
  }();
  return mac;
}

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

void digest_into(const EVP_MD* md, std::string_view data, unsigned char* out) {
  if (EVP_Digest(data.data(), data.size(), out, nullptr, md, nullptr) != 1) {
    throw std::runtime_error("EVP_Digest failed");
  }
}

}  // namespace

Digest sha256(std::string_view data) {
  Digest d;
  digest_into(sha256_md(), data, d.data());
  return d;
}

std::string sha1(std::string_view data) {
  std::string d(20, '\0');
  digest_into(sha1_md(), data, reinterpret_cast<unsigned char*>(d.data()));
  return d;
}

Digest hmac_sha256(std::string_view key, std::string_view data) {
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(hmac_mac()));
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  auto bytes = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  Digest d;
  std::size_t len = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), bytes(key), key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), bytes(data), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), d.data(), &len, d.size()) != 1 || len != d.size()) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return d;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // The length is not secret here (callers compare digests or fixed formats).
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool constant_time_equal(const Digest& a, const Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

bool from_hex(std::string_view hex, std::string& out) {
  if (hex.size() % 2 != 0) return false;
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_digit_value(hex[i]);
    int lo = hex_digit_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes.push_back(static_cast<char>(hi << 4 | lo));
  }
  out = std::move(bytes);
  return true;
}

void wipe(std::string& secret) {
  // Cover the whole buffer, not only size(): bytes of an earlier, longer value
  // may still sit between size() and capacity().
  secret.resize(secret.capacity());
  OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace edge_auth
