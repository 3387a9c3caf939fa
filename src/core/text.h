// Small text helpers shared by the core parsers (not protocol logic).
//   std::string_view v = trim_ows("  x \t");  // "x"
//   for_each_content_line(file_text, [&](std::size_t line_no, std::string_view line) {
//     return parse(line);  // false stops the walk
//   });
#pragma once

#include <cstddef>
#include <string_view>

namespace edge_auth {

// Removes leading and trailing spaces and tabs (RFC 9110 OWS).
inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when `s` holds an ASCII control character (0x00-0x1f or 0x7f).
inline bool has_control_chars(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// The value of a hex digit (either case), or -1.
inline int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Calls fn(line_number, line) for each line of a configuration file that is
// neither blank nor a '#' comment. LF or CRLF line ends; the last line may lack
// one; surrounding spaces and tabs are trimmed. Line numbers start at 1 and
// count every line, so messages point at the right place. fn returns false to
// stop; the walk then returns false too.
template <typename Fn>
bool for_each_content_line(std::string_view text, Fn&& fn) {
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = trim_ows(line);
    if (line.empty() || line.front() == '#') continue;
    if (!fn(line_no, line)) return false;
  }
  return true;
}

}  // namespace edge_auth
