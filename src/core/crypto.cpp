#include "core/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "core/openssl_algorithms.h"
#include "core/text.h"

namespace edge_auth {

const EVP_MD* fetch_md(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (md == nullptr) throw std::runtime_error(std::string("OpenSSL has no ") + name);
  return md;
}

EVP_MAC* hmac_mac() {
  static const Fetched<EVP_MAC, EVP_MAC_free> mac{[] {
    EVP_MAC* m = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (m == nullptr) throw std::runtime_error("OpenSSL has no HMAC");
    return m;
  }()};
  return mac.get();
}

namespace {

const EVP_MD* sha256_md() {
  static const FetchedMd md{fetch_md("SHA256")};
  return md.get();
}

const EVP_MD* sha1_md() {
  static const FetchedMd md{fetch_md("SHA1")};
  return md.get();
}

void digest_into(const EVP_MD* md, std::string_view data, unsigned char* out) {
  if (EVP_Digest(data.data(), data.size(), out, nullptr, md, nullptr) != 1) {
    throw std::runtime_error("EVP_Digest failed");
  }
}

// Contexts reused for every call on a thread, instead of one allocated,
// set up and freed per call (sha256 runs for every bearer token, the HMAC for
// every Basic request): with OpenSSL 3.0 a fresh keyed HMAC context costs
// about 1 us and 12 allocations, re-initialising a keyed one about 0.3 us and 2.
// thread_local, because nginx's thread pool calls in here too.
// Between calls a context is always freshly initialised (keyed, for the
// HMAC), so nothing of the last call's data stays in it; the destructor runs
// at thread exit and frees (OpenSSL clears) the context and wipes the key.
struct Sha256Context {
  EVP_MD_CTX* ctx = nullptr;
  bool ready = false;  // initialised and unused
  ~Sha256Context() { EVP_MD_CTX_free(ctx); }
};

struct HmacSha256Context {
  EVP_MAC_CTX* ctx = nullptr;
  std::string key;     // what ctx is keyed with
  bool ready = false;  // keyed and unused
  ~HmacSha256Context() {
    EVP_MAC_CTX_free(ctx);
    wipe(key);
  }
};

bool same_key(std::string_view cached, std::string_view key) {
  // The length of a key is not secret; its bytes are compared in constant time.
  return cached.size() == key.size() && CRYPTO_memcmp(cached.data(), key.data(), key.size()) == 0;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

Digest sha256(std::string_view data) {
  thread_local Sha256Context t;
  if (!t.ready) {
    if (t.ctx == nullptr && (t.ctx = EVP_MD_CTX_new()) == nullptr) {
      throw std::runtime_error("EVP_MD_CTX_new failed");
    }
    if (EVP_DigestInit_ex2(t.ctx, sha256_md(), nullptr) != 1) {
      throw std::runtime_error("SHA-256 init failed");
    }
  }
  t.ready = false;
  Digest d;
  if (EVP_DigestUpdate(t.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(t.ctx, d.data(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  // Initialising now resets the state of this digest and readies the next one.
  t.ready = EVP_DigestInit_ex2(t.ctx, sha256_md(), nullptr) == 1;
  return d;
}

std::string sha1(std::string_view data) {
  std::string d(20, '\0');
  digest_into(sha1_md(), data, reinterpret_cast<unsigned char*>(d.data()));
  return d;
}

Digest hmac_sha256(std::string_view key, std::string_view data) {
  thread_local HmacSha256Context t;
  if (!t.ready || !same_key(t.key, key)) {
    t.ready = false;
    if (t.ctx == nullptr && (t.ctx = EVP_MAC_CTX_new(hmac_mac())) == nullptr) {
      throw std::runtime_error("EVP_MAC_CTX_new failed");
    }
    char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
        OSSL_PARAM_construct_end(),
    };
    wipe(t.key);  // before assign() can move it: no copy of an old key is left behind
    if (EVP_MAC_init(t.ctx, bytes(key), key.size(), params) != 1) {
      throw std::runtime_error("HMAC-SHA256 init failed");
    }
    t.key.assign(key);
  }
  t.ready = false;
  Digest d;
  std::size_t len = 0;
  if (EVP_MAC_update(t.ctx, bytes(data), data.size()) != 1 ||
      EVP_MAC_final(t.ctx, d.data(), &len, d.size()) != 1 || len != d.size()) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  // A NULL key re-initialises with the key already set (the keyed state is
  // copied back, no re-keying): the context holds nothing of `data` now.
  t.ready = EVP_MAC_init(t.ctx, nullptr, 0, nullptr) == 1;
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

void wipe_bytes(void* data, std::size_t n) {
  if (n > 0) OPENSSL_cleanse(data, n);
}

}  // namespace edge_auth
