#include "core/redis_url.h"

#include <charconv>

#include "core/query.h"

namespace edge_auth {
namespace {

bool parse_int(std::string_view s, int min, int max, int& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && out >= min && out <= max;
}

}  // namespace

Result<RedisUrl> parse_redis_url(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (url.substr(0, scheme.size()) != scheme) {
    return Result<RedisUrl>::failure("expected redis://[:password@]host[:port][/db]");
  }
  std::string_view rest = url.substr(scheme.size());
  RedisUrl out;

  // The credentials end at the last '@' (a password may contain '@').
  if (std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return Result<RedisUrl>::failure("credentials must be \":password@\" or \"user:password@\"");
    }
    out.username = percent_decode(userinfo.substr(0, colon));
    out.password = percent_decode(userinfo.substr(colon + 1));
  }

  std::string_view hostport = rest;
  if (std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parse_int(db, 0, 1 << 20, out.db)) {
      return Result<RedisUrl>::failure("invalid database number");
    }
  }

  std::string_view host = hostport, port;
  if (!hostport.empty() && hostport.front() == '[') {
    std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) return Result<RedisUrl>::failure("invalid IPv6 address");
    host = hostport.substr(1, close - 1);
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Result<RedisUrl>::failure("invalid address");
      port = after.substr(1);
    }
  } else if (std::size_t colon = hostport.rfind(':'); colon != std::string_view::npos) {
    host = hostport.substr(0, colon);
    port = hostport.substr(colon + 1);
  }
  if (host.empty()) return Result<RedisUrl>::failure("missing host");
  if (!port.empty() && !parse_int(port, 1, 65535, out.port)) {
    return Result<RedisUrl>::failure("invalid port");
  }
  out.host.assign(host);
  return out;
}

}  // namespace edge_auth
