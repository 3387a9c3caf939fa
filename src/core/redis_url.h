// `edge_auth_redis redis://[:PASSWORD@]HOST:PORT/DB [prefix=STR] [timeout=TIME]`
//   Result<RedisUrl> u = parse_redis_url("redis://:s3cret@127.0.0.1:6379/2");
//   u->host == "127.0.0.1", u->port == 6379, u->password == "s3cret", u->db == 2
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace edge_auth {

struct RedisUrl {
  std::string host;
  int port = 6379;
  std::string username;  // Redis 6 ACL user, optional
  std::string password;  // may itself be a secret reference (file:, env:) resolved by the caller
  int db = 0;
};

// Accepts redis://host, redis://host:port, redis://host:port/db,
// redis://:password@host..., redis://user:password@host...; IPv6 as [::1].
// Rejects other schemes (rediss:// TLS is not supported), bad ports, bad db.
Result<RedisUrl> parse_redis_url(std::string_view url);

}  // namespace edge_auth
