// AES-256-GCM sealing for data at rest (tokens in Redis, later session
// cookies), with keys derived per purpose by HKDF-SHA256 (OpenSSL EVP).
//   std::string key = derive_key(session_secret, "edge-auth redis tokens v1");
//   std::string box = seal(key, plaintext, "aad");
//   Result<std::string> back = open(key, box, "aad");
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.h"

namespace edge_auth {

// 32-byte key from a secret of any length (>= 32 bytes recommended) and a purpose label:
// HKDF-SHA256 with salt "edge-auth" and info = purpose.
std::string derive_key(std::string_view secret, std::string_view purpose);
// RFC 5869 HKDF-SHA256 (extract and expand), `length` bytes of output.
std::string hkdf_sha256(std::string_view ikm, std::string_view salt, std::string_view info,
                        std::size_t length);
// Output: 12-byte random nonce || ciphertext || 16-byte tag. The key must be
// 32 bytes (std::invalid_argument otherwise: a programming error).
std::string seal(std::string_view key, std::string_view plaintext, std::string_view aad);
// Fails ("authentication failed", "too short") without revealing anything else.
Result<std::string> open(std::string_view key, std::string_view sealed, std::string_view aad);

}  // namespace edge_auth
