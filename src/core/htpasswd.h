// htpasswd users and password-hash verification.
//   Result<UserTable> t = parse_htpasswd(file_text);
//   const std::string* hash = t->find("alice");
//   if (hash && !is_slow_hash(*hash)) ok = verify_password("secret", *hash);
// Formats: bcrypt ($2y$, $2b$, $2a$) and SHA-crypt ($5$, $6$) through
// libcrypt's crypt_rn (thread-safe; slow, so run them off the event loop),
// apr1-MD5 ($apr1$), {SHA}, {SSHA} built on OpenSSL EVP digests, {PLAIN}.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"

namespace edge_auth {

enum class HashScheme { Bcrypt, Apr1, Sha1, Ssha, Sha256Crypt, Sha512Crypt, Plain, Unknown };

HashScheme classify_hash(std::string_view hash);
// bcrypt and SHA-crypt: verify in a thread pool, never on the event loop.
bool is_slow_hash(std::string_view hash);

// Verifies in constant time with respect to the stored hash's value. Unknown
// formats and malformed hashes never verify. Safe to call from any thread.
bool verify_password(std::string_view password, std::string_view hash);

// Builds the stored form of an inline cleartext password ("{PLAIN}pw").
std::string plain_hash(std::string_view password);

struct UserTable {
  std::unordered_map<std::string, std::string> users;  // user -> hash
  // One line per skipped line: "line 7: unsupported hash format for user \"bob\"".
  std::vector<std::string> warnings;
  const std::string* find(std::string_view user) const;
};

// Parses an htpasswd file: "user:hash" per line; blank lines and lines
// starting with '#' are ignored; CRLF accepted; the first colon splits; a line
// without a colon or with an unknown hash format is skipped with a warning.
// A later duplicate user replaces the earlier one (with a warning).
UserTable parse_htpasswd(std::string_view text);

}  // namespace edge_auth
