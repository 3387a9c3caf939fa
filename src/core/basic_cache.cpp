#include "core/basic_cache.h"

#include <string>

namespace edge_auth {
namespace {

void append_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(v >> shift & 0xff);
}

// Length-prefixed, so ("ab", "c") and ("a", "bc") never encode alike.
void append_field(std::string& out, std::string_view field) {
  append_u64(out, field.size());
  out.append(field);
}

}  // namespace

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
