// Keys under which a successful Basic verification is remembered in the
// shared zone. The key is an HMAC with a per-zone random secret over the user
// file's version, the user, the stored hash and the password, so it reveals
// nothing, and it changes whenever the user's entry or the file changes.
//   Digest k = basic_cache_key(zone_secret, file_version, "alice", pw, hash);
#pragma once

#include <cstdint>
#include <string_view>

#include "core/crypto.h"

namespace edge_auth {

Digest basic_cache_key(std::string_view secret, std::uint64_t file_version,
                       std::string_view user, std::string_view password,
                       std::string_view stored_hash);

}  // namespace edge_auth
