// OpenSSL 3 algorithm objects fetched once per process (a fetch is a provider
// lookup under a lock); they live until exit, or until the module that holds
// them is unloaded. Internal to the core.
//   static const FetchedMd sha384{fetch_md("SHA384")};
//   EVP_DigestInit_ex2(ctx, sha384.get(), nullptr);
//   EVP_MAC_CTX* m = EVP_MAC_CTX_new(hmac_mac());
#pragma once

#include <openssl/evp.h>

namespace edge_auth {

// Keeps a fetched algorithm in a static and frees it when statics are
// destroyed: at exit, or when nginx dlclose()s the module (it does before a
// process exits), so nothing fetched is left unreferenced (valgrind counted
// each raw static pointer as "definitely lost" once the module was unmapped).
// The fetch initialises OpenSSL, so OpenSSL's atexit cleanup is registered
// before this destructor and runs after it.
template <class T, void (*Free)(T*)>
class Fetched {
 public:
  explicit Fetched(const T* p) : p_(const_cast<T*>(p)) {}
  ~Fetched() { Free(p_); }
  Fetched(const Fetched&) = delete;
  Fetched& operator=(const Fetched&) = delete;
  T* get() const { return p_; }

 private:
  T* p_;
};
using FetchedMd = Fetched<EVP_MD, EVP_MD_free>;

// A new fetch of the digest (callers keep it in a static FetchedMd); throws if OpenSSL has none.
const EVP_MD* fetch_md(const char* name);
// The HMAC algorithm, fetched on first use.
EVP_MAC* hmac_mac();

}  // namespace edge_auth
