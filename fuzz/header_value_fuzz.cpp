// What may be sent in a header: is_safe_header_value and is_header_name
// against references, quoted_string (always a safe value that unquotes to
// the input less its control characters) and log_safe (printable, bounded).
// Input: the text.
#include "core/header_value.h"
#include "fuzz_common.h"

using namespace edge_auth;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = fuzz::as_text(data, size);
  bool unsafe = text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
  FUZZ_CHECK(is_safe_header_value(text) == !unsafe);
  bool token = !text.empty();
  for (char c : text) {
    bool t = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    FUZZ_CHECK(is_tchar(c) == t);
    token = token && t;
  }
  FUZZ_CHECK(is_header_name(text) == token);

  std::string quoted = quoted_string(text);
  FUZZ_CHECK(is_safe_header_value(quoted));
  FUZZ_CHECK(quoted.size() >= 2 && quoted.front() == '"' && quoted.back() == '"');
  std::string unquoted, expected;
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    if (quoted[i] == '\\') ++i;
    else FUZZ_CHECK(quoted[i] != '"');
    unquoted += quoted[i];
  }
  for (unsigned char c : text) {
    if ((c >= 0x20 || c == '\t') && c != 0x7f) expected += static_cast<char>(c);
  }
  FUZZ_CHECK(unquoted == expected);

  for (std::size_t max : {std::size_t{0}, std::size_t{16}, std::size_t{64}}) {
    std::string shown = log_safe(text, max);
    FUZZ_CHECK(shown.size() <= 4 * max + 3);
    for (unsigned char c : shown) FUZZ_CHECK(c >= 0x20 && c < 0x7f && c != '"');
  }
  return 0;
}
