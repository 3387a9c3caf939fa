// Digests, HMAC, randomness and constant-time comparison, all through OpenSSL 3.
//   Digest d = sha256("token");
//   bool same = constant_time_equal(d, other);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edge_auth {

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(std::string_view data);
Digest hmac_sha256(std::string_view key, std::string_view data);
// Raw 20-byte SHA-1, only for the legacy htpasswd formats {SHA} and {SSHA}.
std::string sha1(std::string_view data);

// Compares without a data-dependent early exit. Different lengths = false.
bool constant_time_equal(std::string_view a, std::string_view b);
bool constant_time_equal(const Digest& a, const Digest& b);

// Cryptographically secure random bytes (RAND_bytes); throws on failure.
std::string random_bytes(std::size_t n);

// Lowercase hex of bytes, and back (nullopt-free: returns false on bad hex).
std::string to_hex(std::string_view bytes);
bool from_hex(std::string_view hex, std::string& out);

// Overwrites the buffer's bytes (OPENSSL_cleanse) and clears it.
void wipe(std::string& secret);
// Overwrites n bytes (OPENSSL_cleanse), e.g. a stack buffer that held a password.
void wipe_bytes(void* data, std::size_t n);

// Wipes a string when the scope ends, on every return path.
//   std::string decoded;  WipeOnExit guard(decoded);
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& secret) : secret_(secret) {}
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;
  ~WipeOnExit() { wipe(secret_); }

 private:
  std::string& secret_;
};

}  // namespace edge_auth
