// OpenSSL 3 algorithm objects fetched once per process (a fetch is a provider
// lookup under a lock); they live until exit on purpose. Internal to the core.
//   EVP_MD_CTX_... (ctx, fetch_md("SHA384"), ...);
//   EVP_MAC_CTX* m = EVP_MAC_CTX_new(hmac_mac());
#pragma once

#include <openssl/evp.h>

namespace edge_auth {

// A new fetch of the digest (callers keep it in a static); throws if OpenSSL has none.
const EVP_MD* fetch_md(const char* name);
// The HMAC algorithm, fetched on first use.
EVP_MAC* hmac_mac();

}  // namespace edge_auth
