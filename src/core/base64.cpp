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
// Checks the length and padding and strips the padding; false when the text
// cannot be canonical whatever its characters.
bool strip_padding(std::string_view& text, const Alphabet& a) {
  if (a.padded) {
    if (text.size() % 4 != 0) return false;
    // Up to two '=' and only at the end; anything else fails the lookup below.
    for (int pad = 0; pad < 2 && !text.empty() && text.back() == '='; ++pad) text.remove_suffix(1);
  }
  // A lone trailing character carries only 6 bits: never a whole byte.
  return text.size() % 4 != 1;
}

// The decoded size of unpadded text (4 characters = 3 bytes, 2 = 1, 3 = 2).
std::size_t decoded_size(std::string_view text) { return text.size() / 4 * 3 + text.size() % 4 * 3 / 4; }

// Writes exactly decoded_size(text) bytes unless a character is invalid or
// the unused low bits of the last character are not zero (false; the caller
// wipes what was written: it may be part of a password).
bool decode_unpadded(std::string_view text, char* out, const Alphabet& a) {
  std::uint32_t bits = 0;
  int nbits = 0;
  for (unsigned char c : text) {
    int v = a.values[c];
    if (v < 0) return false;
    bits = (bits << 6 | std::uint32_t(v)) & 0xffffff;
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      *out++ = char(bits >> nbits & 0xff);
    }
  }
  // The unused low bits of the last character must be zero ("YR==" is not "YQ==").
  return (bits & ((1u << nbits) - 1)) == 0;
}

bool decode(std::string_view text, std::string& out, const Alphabet& a) {
  if (!strip_padding(text, a)) return false;
  out.resize(decoded_size(text));
  if (!decode_unpadded(text, out.data(), a)) {
    wipe(out);
    return false;
  }
  return true;
}

}  // namespace

std::string base64_encode(std::string_view bytes) { return encode(bytes, kStandard); }
std::string base64url_encode(std::string_view bytes) { return encode(bytes, kUrl); }

bool base64_decode(std::string_view text, std::string& out) { return decode(text, out, kStandard); }

bool base64_decode(std::string_view text, char* out, std::size_t capacity, std::size_t& size) {
  size = 0;
  if (!strip_padding(text, kStandard)) return false;
  std::size_t n = decoded_size(text);
  if (n > capacity) return false;
  if (!decode_unpadded(text, out, kStandard)) {
    wipe_bytes(out, n);
    return false;
  }
  size = n;
  return true;
}
bool base64url_decode(std::string_view text, std::string& out) { return decode(text, out, kUrl); }

}  // namespace edge_auth
