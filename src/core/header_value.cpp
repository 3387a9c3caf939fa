#include "core/header_value.h"

#include <cstdio>

namespace edge_auth {

bool is_safe_header_value(std::string_view value) {
  // CR and LF would start a new header (response splitting); NUL truncates it
  // in C code further down the chain.
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

std::string quoted_string(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string log_safe(std::string_view value, std::size_t max) {
  bool cut = value.size() > max;
  if (cut) value = value.substr(0, max);
  std::string out;
  out.reserve(value.size() + (cut ? 3 : 0));
  for (unsigned char c : value) {
    // '"' and '\' are escaped too, so the text can sit inside quotes in a log
    // line without a client forging the end of the quoted field.
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (cut) out += "...";
  return out;
}

}  // namespace edge_auth
