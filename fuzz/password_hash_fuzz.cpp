// verify_password on one stored hash per input, every scheme, the slow ones
// included but capped so the fuzzer does not stall: bcrypt of cost 04 at
// most, SHA-crypt only with an explicit rounds=N of at most 1000 (libcrypt's
// minimum); other bcrypt / SHA-crypt hashes (cost up to 31, rounds up to
// 999,999,999, or the default 5000) are only classified. apr1 always runs
// (1000 MD5 rounds), so this target is slow by nature.
// Input: the hash, then the password's length (one byte, from the end).
#include <charconv>

#include "core/htpasswd.h"
#include "fuzz_common.h"

using namespace edge_auth;

namespace {

// libcrypt reads "$2y$NN$" as the cost and "$5$rounds=N$" as the rounds
// (strtoul, so only plain digits are let through here).
bool cheap_enough(std::string_view hash) {
  switch (classify_hash(hash)) {
    case HashScheme::Bcrypt:
      return hash.size() > 7 && hash[4] == '0' && hash[5] >= '0' && hash[5] <= '4' &&
             hash[6] == '$';
    case HashScheme::Sha256Crypt:
    case HashScheme::Sha512Crypt: {
      std::string_view rest = hash.substr(3);
      if (rest.substr(0, 7) != "rounds=") return false;
      rest.remove_prefix(7);
      std::size_t end = rest.find('$');
      if (end == std::string_view::npos || end == 0 || end > 4) return false;
      unsigned rounds = 0;
      auto [p, ec] = std::from_chars(rest.data(), rest.data() + end, rounds);
      return ec == std::errc() && p == rest.data() + end && rounds <= 1000;
    }
    default:
      return true;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  std::size_t password_len = in.ConsumeIntegral<std::uint8_t>() % 65;
  std::string password = in.ConsumeBytesAsString(password_len);
  std::string hash = in.ConsumeRemainingBytesAsString();
  (void)is_slow_hash(hash);
  if (!cheap_enough(hash)) return 0;
  bool ok = verify_password(password, hash);
  // An entry only ever verifies for a scheme we know.
  if (ok) FUZZ_CHECK(classify_hash(hash) != HashScheme::Unknown);
  return 0;
}
