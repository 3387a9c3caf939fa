// Strict base64 and base64url: whatever decodes re-encodes to the same text
// (one text per byte string), the buffer variant agrees with the string one
// (and never writes past its capacity: the buffer is exactly that size), and
// encoding then decoding the input gives it back. Input: the text.
#include <memory>

#include "core/base64.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  std::string out;
  bool ok = base64_decode(text, out);
  if (ok) FUZZ_CHECK(base64_encode(out) == text);

  for (std::size_t capacity : {size / 4 * 3, out.size(), out.size() > 0 ? out.size() - 1 : 0}) {
    std::unique_ptr<char[]> buf(new char[capacity]);
    std::size_t n = 123;
    bool buf_ok = base64_decode(text, buf.get(), capacity, n);
    if (buf_ok) {
      FUZZ_CHECK(ok && n == out.size() && std::string_view(buf.get(), n) == out);
    } else {
      FUZZ_CHECK(n == 0);
      FUZZ_CHECK(!ok || out.size() > capacity);
    }
  }

  std::string url;
  if (base64url_decode(text, url)) FUZZ_CHECK(base64url_encode(url) == text);

  std::string back;
  FUZZ_CHECK(base64_decode(base64_encode(text), back) && back == text);
  FUZZ_CHECK(base64url_decode(base64url_encode(text), back) && back == text);
  return 0;
}
