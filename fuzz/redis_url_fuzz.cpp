// edge_auth_redis URLs: parse_redis_url on arbitrary text. Input: the URL.
#include "core/redis_url.h"
#include "core/secret_ref.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view url = fuzz::as_text(data, size);
  Result<RedisUrl> u = parse_redis_url(url);
  if (!u) {
    // A fixed text: the error never repeats the URL (it may hold a password).
    FUZZ_CHECK(!u.error().empty() && u.error().size() < 80);
    return 0;
  }
  FUZZ_CHECK(url.substr(0, 8) == "redis://");
  FUZZ_CHECK(!u->host.empty());
  FUZZ_CHECK(u->port >= 1 && u->port <= 65535);
  FUZZ_CHECK(u->db >= 0 && u->db <= (1 << 20));
  (void)is_secret_ref(u->password);
  return 0;
}
