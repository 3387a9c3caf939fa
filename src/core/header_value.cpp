#include "core/header_value.h"

#include <cstdio>

namespace edge_auth {

bool is_safe_header_value(std::string_view value) {
  // CR and LF would start a new header (response splitting); NUL truncates it
  // in C code further down the chain.
  // One pass over the bytes (find_first_of would search the 3-byte set once per byte).
  for (unsigned char c : value) {
    if (c <= '\r' && (c == '\r' || c == '\n' || c == '\0')) return false;
  }
  return true;
}

namespace {

struct TcharTable {
  bool is[256] = {};
  constexpr TcharTable() {
    for (int c = 'a'; c <= 'z'; ++c) is[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) is[c] = true;
    for (int c = '0'; c <= '9'; ++c) is[c] = true;
    for (char c : std::string_view("!#$%&'*+-.^_`|~")) is[static_cast<unsigned char>(c)] = true;
  }
};
constexpr TcharTable kTchar;

}  // namespace

bool is_tchar(char c) { return kTchar.is[static_cast<unsigned char>(c)]; }

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
