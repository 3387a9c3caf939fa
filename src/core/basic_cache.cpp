#include "core/basic_cache.h"

#include <cstring>
#include <string>

namespace edge_auth {
namespace {

// Starts with the key's purpose, in case the zone secret is ever reused.
constexpr std::string_view kPurpose = "edge-auth basic v1";

// The bytes bytes.h's append_u64 / append_field would produce, written into a
// buffer of exactly message_size() bytes.
class MessageWriter {
 public:
  explicit MessageWriter(char* out) : p_(out) {}
  void put(std::string_view s) {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void put_u64(std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) *p_++ = static_cast<char>(v >> shift & 0xff);
  }
  void put_field(std::string_view s) {
    put_u64(s.size());
    put(s);
  }

 private:
  char* p_;
};

}  // namespace

Digest basic_cache_key(std::string_view secret, std::uint64_t file_version, std::string_view user,
                       std::string_view password, std::string_view stored_hash) {
  const std::size_t size =
      kPurpose.size() + 8 + 3 * 8 + user.size() + stored_hash.size() + password.size();
  auto build = [&](char* out) {
    MessageWriter w(out);
    w.put(kPurpose);
    w.put_u64(file_version);
    w.put_field(user);
    w.put_field(stored_hash);
    w.put_field(password);
  };

  // The message holds the password: it is wiped on every path. Usual
  // credentials fit a stack buffer (no allocation on the request path).
  char stack_buffer[512];
  if (size <= sizeof stack_buffer) {
    struct Wipe {
      char* p;
      std::size_t n;
      ~Wipe() { wipe_bytes(p, n); }
    } guard{stack_buffer, size};
    build(stack_buffer);
    return hmac_sha256(secret, std::string_view(stack_buffer, size));
  }
  std::string message(size, '\0');
  WipeOnExit message_guard(message);
  build(message.data());
  return hmac_sha256(secret, message);
}

}  // namespace edge_auth
