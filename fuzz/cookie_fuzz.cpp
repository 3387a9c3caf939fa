// The Cookie header: parse_cookies and join_chunks, then the Set-Cookie
// round trip: session_set_cookies for a value (chunked when large), applied
// to a cookie jar holding the request's cookies as a browser would (Max-Age=0
// deletes), must give the value back through parse_cookies + join_chunks,
// with no stale chunk surviving. Input: the header.
#include <map>
#include <stdexcept>

#include "core/base64.h"
#include "core/session.h"
#include "core/text.h"
#include "fuzz_common.h"

using namespace edge_auth;

namespace {

constexpr std::string_view kName = "edge_auth_session";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view header = fuzz::as_text(data, size);
  auto cookies = parse_cookies(header);
  for (const auto& [name, value] : cookies) {
    FUZZ_CHECK(!name.empty() && name == trim_ows(name));
    FUZZ_CHECK(name.find(';') == std::string_view::npos && name.find('=') == std::string_view::npos);
    FUZZ_CHECK(value.find(';') == std::string_view::npos);
  }
  std::optional<std::string> joined = join_chunks(cookies, kName);

  // The jar the browser holds: one value per name (the first sent).
  std::map<std::string, std::string> jar;
  std::vector<std::string_view> present;
  for (const auto& [name, value] : cookies) {
    if (jar.emplace(std::string(name), std::string(value)).second) present.push_back(name);
  }
  // A new sealed value (base64url, as seal_session makes), small chunks.
  std::string value = base64url_encode(joined.value_or(std::string(header)));
  if (size % 7 == 0) value.clear();  // sometimes: sign-out deletes everything
  CookieAttributes attrs;
  attrs.name = std::string(kName);
  const std::size_t max_size = 64 + size % 200;
  std::vector<std::string> set_cookies;
  try {
    set_cookies = session_set_cookies(attrs, value, present, max_size);
  } catch (const std::length_error&) {
    // Documented: more than 32 chunks.
    FUZZ_CHECK(value.size() > 32 * (max_size - kName.size() - 4));
    return 0;
  }
  for (const std::string& line : set_cookies) {
    std::size_t eq = line.find('=');
    std::size_t semi = line.find(';');
    FUZZ_CHECK(eq != std::string::npos && semi != std::string::npos && eq < semi);
    std::string name = line.substr(0, eq);
    if (line.find("; Max-Age=0") != std::string::npos) {
      FUZZ_CHECK(jar.erase(name) == 1);  // only what the browser sent is deleted
    } else {
      FUZZ_CHECK(semi - eq - 1 + name.size() + 1 <= max_size);
      jar[name] = line.substr(eq + 1, semi - eq - 1);
    }
  }
  std::string next_header;
  for (const auto& [name, v] : jar) {
    if (!next_header.empty()) next_header += "; ";
    next_header += name + "=" + v;
  }
  auto next = parse_cookies(next_header);
  std::optional<std::string> read = join_chunks(next, kName);
  if (value.empty()) {
    FUZZ_CHECK(!read.has_value());
  } else {
    FUZZ_CHECK(read.has_value() && *read == value);
  }
  return 0;
}
