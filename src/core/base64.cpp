#include "core/base64.h"

#include <array>
#include <cstdint>

#include "core/crypto.h"

namespace edge_auth {
namespace {

struct Alphabet {
  const char* chars;  // 64 characters
  bool padded;
  std::array<std::int8_t, 256> values;  // -1 = not in the alphabet
};

constexpr Alphabet make_alphabet(const char* chars, bool padded) {
  Alphabet a{chars, padded, {}};
  for (auto& v : a.values) v = -1;
  for (int i = 0; i < 64; ++i) a.values[static_cast<unsigned char>(chars[i])] = std::int8_t(i);
  return a;
}

constexpr Alphabet kStandard =
    make_alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", true);
constexpr Alphabet kUrl =
    make_alphabet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", false);

std::string encode(std::string_view bytes, const Alphabet& a) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t n =
        std::uint8_t(bytes[i]) << 16 | std::uint8_t(bytes[i + 1]) << 8 | std::uint8_t(bytes[i + 2]);
    out += {a.chars[n >> 18], a.chars[n >> 12 & 63], a.chars[n >> 6 & 63], a.chars[n & 63]};
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t n = std::uint8_t(bytes[i]) << 16;
    out += {a.chars[n >> 18], a.chars[n >> 12 & 63]};
    if (a.padded) out += "==";
  } else if (rest == 2) {
    std::uint32_t n = std::uint8_t(bytes[i]) << 16 | std::uint8_t(bytes[i + 1]) << 8;
    out += {a.chars[n >> 18], a.chars[n >> 12 & 63], a.chars[n >> 6 & 63]};
    if (a.padded) out += '=';
  }
  return out;
}

// Strict decoding: exactly one textual form per byte string is accepted, so
// two different texts never decode to the same credential.
bool decode(std::string_view text, std::string& out, const Alphabet& a) {
  if (a.padded) {
    if (text.size() % 4 != 0) return false;
    // Up to two '=' and only at the end; anything else fails the lookup below.
    for (int pad = 0; pad < 2 && !text.empty() && text.back() == '='; ++pad) text.remove_suffix(1);
  }
  // A lone trailing character carries only 6 bits: never a whole byte.
  if (text.size() % 4 == 1) return false;

  out.clear();
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int nbits = 0;
  for (unsigned char c : text) {
    int v = a.values[c];
    if (v < 0) {
      wipe(out);  // the partial output may be part of a password
      return false;
    }
    bits = (bits << 6 | std::uint32_t(v)) & 0xffffff;
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.push_back(char(bits >> nbits & 0xff));
    }
  }
  // The unused low bits of the last character must be zero ("YR==" is not "YQ==").
  if ((bits & ((1u << nbits) - 1)) != 0) {
    wipe(out);
    return false;
  }
  return true;
}

}  // namespace

std::string base64_encode(std::string_view bytes) { return encode(bytes, kStandard); }
std::string base64url_encode(std::string_view bytes) { return encode(bytes, kUrl); }

bool base64_decode(std::string_view text, std::string& out) { return decode(text, out, kStandard); }
bool base64url_decode(std::string_view text, std::string& out) { return decode(text, out, kUrl); }

}  // namespace edge_auth
