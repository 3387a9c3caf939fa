#include "core/query.h"

#include <vector>

#include "core/text.h"

namespace edge_auth {
namespace {

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// One "name[=value]" segment of the query string.
struct Param {
  std::string_view text;  // the whole segment, as in args
  bool matches;           // its decoded name is the one asked for
};

// Splits args at '&', dropping empty segments ("a&&b", a leading or trailing
// '&') so a rebuilt query never carries them.
std::vector<Param> split_params(std::string_view args, std::string_view name) {
  std::vector<Param> params;
  while (!args.empty()) {
    std::size_t amp = args.find('&');
    std::string_view seg = args.substr(0, amp);
    args.remove_prefix(amp == std::string_view::npos ? args.size() : amp + 1);
    if (seg.empty()) continue;
    std::string_view seg_name = seg.substr(0, seg.find('='));
    params.push_back({seg, percent_decode(seg_name) == name});
  }
  return params;
}

std::string join(const std::vector<std::string_view>& parts) {
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out += '&';
    out += p;
  }
  return out;
}

}  // namespace

std::string percent_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (is_unreserved(c)) {
      out += c;
    } else {
      unsigned char u = static_cast<unsigned char>(c);
      out += {'%', kHex[u >> 4], kHex[u & 0x0f]};
    }
  }
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

std::string query_set(std::string_view args, std::string_view name, std::string_view value) {
  std::string param = percent_encode(name) + '=' + percent_encode(value);
  std::vector<Param> params = split_params(args, name);
  std::vector<std::string_view> kept;
  bool placed = false;
  for (const Param& p : params) {
    if (!p.matches) {
      kept.push_back(p.text);
    } else if (!placed) {
      kept.push_back(param);  // the first occurrence keeps its position
      placed = true;
    }
  }
  if (!placed) {
    // Nothing to replace: leave the client's query as it was, only append.
    std::string out(args);
    if (!out.empty() && out.back() != '&') out += '&';
    return out + param;
  }
  return join(kept);
}

std::string query_remove(std::string_view args, std::string_view name) {
  std::vector<Param> params = split_params(args, name);
  std::vector<std::string_view> kept;
  for (const Param& p : params) {
    if (!p.matches) kept.push_back(p.text);
  }
  // Untouched when absent, so a query we did not need to edit stays byte-for-byte.
  if (kept.size() == params.size()) return std::string(args);
  return join(kept);
}

std::optional<std::string> query_get(std::string_view args, std::string_view name) {
  for (const Param& p : split_params(args, name)) {
    if (!p.matches) continue;
    std::size_t eq = p.text.find('=');
    if (eq == std::string_view::npos) return std::string();
    return percent_decode(p.text.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace edge_auth
