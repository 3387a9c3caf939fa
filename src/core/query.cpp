#include "core/query.h"

#include <cstring>

#include "core/text.h"

namespace edge_auth {
namespace {

// RFC 3986 unreserved characters, as a table (encoding looks at every byte).
struct UnreservedTable {
  bool is[256] = {};
  constexpr UnreservedTable() {
    for (int c = 'a'; c <= 'z'; ++c) is[c] = true;
    for (int c = 'A'; c <= 'Z'; ++c) is[c] = true;
    for (int c = '0'; c <= '9'; ++c) is[c] = true;
    is['-'] = is['.'] = is['_'] = is['~'] = true;
  }
};
constexpr UnreservedTable kUnreserved;

bool is_unreserved(char c) { return kUnreserved.is[static_cast<unsigned char>(c)]; }

std::size_t encoded_size(std::string_view value) {
  std::size_t n = 0;
  for (char c : value) n += is_unreserved(c) ? 1 : 3;
  return n;
}

char* encode_to(char* out, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : value) {
    if (is_unreserved(c)) {
      *out++ = c;
    } else {
      unsigned char u = static_cast<unsigned char>(c);
      *out++ = '%';
      *out++ = kHex[u >> 4];
      *out++ = kHex[u & 0x0f];
    }
  }
  return out;
}

char* copy_to(char* out, std::string_view s) {
  if (!s.empty()) std::memcpy(out, s.data(), s.size());
  return out + s.size();
}

// Calls fn(segment) for each "name[=value]" segment of the query string, in
// order. Empty segments ("a&&b", a leading or trailing '&') are skipped, so a
// rebuilt query never carries them.
template <typename Fn>
void for_each_segment(std::string_view args, Fn&& fn) {
  while (!args.empty()) {
    std::size_t amp = args.find('&');
    std::string_view seg = args.substr(0, amp);
    args.remove_prefix(amp == std::string_view::npos ? args.size() : amp + 1);
    if (!seg.empty()) fn(seg);
  }
}

// percent_decode(the segment's name) == name, without building the decoded
// string: the segment's name is what precedes its first '='.
bool name_matches(std::string_view segment, std::string_view name) {
  std::string_view encoded = segment.substr(0, segment.find('='));
  std::size_t j = 0;
  for (std::size_t i = 0; i < encoded.size(); ++i, ++j) {
    char c = encoded[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%' && i + 2 < encoded.size() && hex_digit_value(encoded[i + 1]) >= 0 &&
               hex_digit_value(encoded[i + 2]) >= 0) {
      c = static_cast<char>(hex_digit_value(encoded[i + 1]) << 4 | hex_digit_value(encoded[i + 2]));
      i += 2;
    }
    if (j == name.size() || name[j] != c) return false;
  }
  return j == name.size();
}

bool has_param(std::string_view args, std::string_view name) {
  bool found = false;
  for_each_segment(args, [&](std::string_view seg) { found = found || name_matches(seg, name); });
  return found;
}

}  // namespace

std::string percent_encode(std::string_view value) {
  std::string out(encoded_size(value), '\0');
  encode_to(out.data(), value);
  return out;
}

std::string percent_decode(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < value.size() && hex_digit_value(value[i + 1]) >= 0 &&
               hex_digit_value(value[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit_value(value[i + 1]) << 4 | hex_digit_value(value[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::size_t query_set_bound(std::string_view args, std::string_view name, std::string_view value) {
  return args.size() + 1 + encoded_size(name) + 1 + encoded_size(value);
}

std::size_t query_set_to(char* out, std::string_view args, std::string_view name,
                         std::string_view value) {
  char* p = out;
  auto put_param = [&] {
    p = encode_to(p, name);
    *p++ = '=';
    p = encode_to(p, value);
  };
  if (!has_param(args, name)) {
    // Nothing to replace: leave the client's query as it was, only append.
    p = copy_to(p, args);
    if (!args.empty() && args.back() != '&') *p++ = '&';
    put_param();
    return static_cast<std::size_t>(p - out);
  }
  bool placed = false;
  for_each_segment(args, [&](std::string_view seg) {
    bool matches = name_matches(seg, name);
    if (matches && placed) return;  // later occurrences go
    if (p != out) *p++ = '&';
    if (matches) {
      put_param();  // the first occurrence keeps its position
      placed = true;
    } else {
      p = copy_to(p, seg);
    }
  });
  return static_cast<std::size_t>(p - out);
}

std::size_t query_remove_to(char* out, std::string_view args, std::string_view name) {
  // Untouched when absent, so a query we did not need to edit stays byte-for-byte.
  if (!has_param(args, name)) return static_cast<std::size_t>(copy_to(out, args) - out);
  char* p = out;
  for_each_segment(args, [&](std::string_view seg) {
    if (name_matches(seg, name)) return;
    if (p != out) *p++ = '&';
    p = copy_to(p, seg);
  });
  return static_cast<std::size_t>(p - out);
}

std::string query_set(std::string_view args, std::string_view name, std::string_view value) {
  std::string out(query_set_bound(args, name, value), '\0');
  out.resize(query_set_to(out.data(), args, name, value));
  return out;
}

std::string query_remove(std::string_view args, std::string_view name) {
  std::string out(args.size(), '\0');
  out.resize(query_remove_to(out.data(), args, name));
  return out;
}

std::optional<std::string> query_get(std::string_view args, std::string_view name) {
  std::optional<std::string> value;
  for_each_segment(args, [&](std::string_view seg) {
    if (value || !name_matches(seg, name)) return;
    std::size_t eq = seg.find('=');
    value = eq == std::string_view::npos ? std::string() : percent_decode(seg.substr(eq + 1));
  });
  return value;
}

std::optional<std::string> redact_request_line(std::string_view line, std::string_view name) {
  std::size_t target = line.find(' ');
  if (target == std::string_view::npos) return std::nullopt;
  target++;
  std::size_t end = line.find(' ', target);
  if (end == std::string_view::npos) end = line.size();
  std::size_t q = line.find('?', target);
  if (q == std::string_view::npos || q >= end) return std::nullopt;
  std::string_view args = line.substr(q + 1, end - q - 1);
  if (!query_get(args, name)) return std::nullopt;
  std::string out(line.substr(0, q + 1));
  out += query_set(args, name, "REDACTED");
  out += line.substr(end);
  return out;
}

}  // namespace edge_auth
