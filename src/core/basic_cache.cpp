#include "core/basic_cache.h"

#include <string>

#include "core/bytes.h"

namespace edge_auth {

Digest basic_cache_key(std::string_view secret, std::uint64_t file_version, std::string_view user,
                       std::string_view password, std::string_view stored_hash) {
  // Starts with the key's purpose, in case the zone secret is ever reused.
  std::string message = "edge-auth basic v1";
  WipeOnExit message_guard(message);  // it holds the password
  message.reserve(message.size() + 8 + 3 * 8 + user.size() + stored_hash.size() + password.size());
  append_u64(message, file_version);
  append_field(message, user);
  append_field(message, stored_hash);
  append_field(message, password);
  return hmac_sha256(secret, message);
}

}  // namespace edge_auth
