// Rules for what may be sent in an HTTP header.
//   if (!is_safe_header_value(v)) refuse();   // CR, LF or NUL = header injection
//   std::string h = quoted_string("My \"realm\"");  // "\"My \\\"realm\\\"\""
#pragma once

#include <string>
#include <string_view>

namespace edge_auth {

// False when the value holds CR, LF or NUL; every other byte may be sent.
bool is_safe_header_value(std::string_view value);
// An RFC 9110 tchar: the characters of tokens such as header names and auth schemes.
bool is_tchar(char c);
// A valid header field name (RFC 9110 token characters only, non-empty).
bool is_header_name(std::string_view name);
// RFC 9110 quoted-string with '"' and '\' escaped (for realm="..."). Control
// characters other than HTAB cannot be carried in a quoted-string and are dropped.
std::string quoted_string(std::string_view value);
// A printable, bounded rendering of client-supplied text for log lines:
// non-printable bytes, '"' and '\' become \xHH; of a value longer than `max`
// bytes the first `max` are kept, followed by "...".
std::string log_safe(std::string_view value, std::size_t max = 64);

}  // namespace edge_auth
