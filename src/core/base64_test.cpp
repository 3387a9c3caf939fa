#include "core/base64.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <cstdint>
#include <random>
#include <string>

namespace edge_auth {
namespace {

struct Vector {
  std::string_view bytes, b64, b64url;
};

// RFC 4648 §10, with the unpadded base64url forms.
constexpr Vector kRfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

TEST(Base64, Rfc4648VectorsEncode) {
  for (const Vector& v : kRfc4648) {
    EXPECT_EQ(base64_encode(v.bytes), v.b64);
    EXPECT_EQ(base64url_encode(v.bytes), v.b64url);
  }
}

TEST(Base64, Rfc4648VectorsDecode) {
  for (const Vector& v : kRfc4648) {
    std::string out = "junk";
    ASSERT_TRUE(base64_decode(v.b64, out)) << v.b64;
    EXPECT_EQ(out, v.bytes);
    out = "junk";
    ASSERT_TRUE(base64url_decode(v.b64url, out)) << v.b64url;
    EXPECT_EQ(out, v.bytes);
  }
}

TEST(Base64, AlphabetsDifferInTwoCharacters) {
  std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(base64_encode(bytes), "+/+/");
  EXPECT_EQ(base64url_encode(bytes), "-_-_");
  std::string out;
  ASSERT_TRUE(base64url_decode("-_-_", out));
  EXPECT_EQ(out, bytes);
}

TEST(Base64, AllByteValuesRoundTrip) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t len = 0; len <= bytes.size(); len += 7) {
    std::string part = bytes.substr(0, len), out;
    ASSERT_TRUE(base64_decode(base64_encode(part), out));
    EXPECT_EQ(out, part);
    ASSERT_TRUE(base64url_decode(base64url_encode(part), out));
    EXPECT_EQ(out, part);
  }
}

TEST(Base64, StrictDecodeRejections) {
  const std::pair<std::string_view, const char*> kBad[] = {
      {"Zg=", "padding not to a multiple of 4"},
      {"Zg", "missing padding"},
      {"Zm8", "missing padding"},
      {"Zg===", "three padding characters"},
      {"Z===", "a lone character"},
      {"====", "only padding"},
      {"Zg==Zg==", "padding in the middle"},
      {"Z=g=", "padding in the middle"},
      {"Zm9v\n", "trailing newline"},
      {" Zm9v", "leading space"},
      {"Zm 9v", "inner space"},
      {"Zm9v\r\nYg==", "line break"},
      {"Zm9v\tYmFy", "tab"},
      {"YR==", "non-zero unused bits (YQ== is canonical)"},
      {"Zh==", "non-zero unused bits (Zg== is canonical)"},
      {"Zm9=", "non-zero unused bits (Zm8= is canonical)"},
      {"Zm-v", "base64url character in base64"},
      {"Zm_v", "base64url character in base64"},
      {"Zm9*", "outside both alphabets"},
      {std::string_view("Zm\0v", 4), "NUL"},
      {"Zm9v\xc3\xa4", "non-ASCII"},
  };
  for (auto [text, why] : kBad) {
    std::string out;
    EXPECT_FALSE(base64_decode(text, out)) << why << ": " << text;
  }
}

TEST(Base64UrlStrict, DecodeRejections) {
  const std::pair<std::string_view, const char*> kBad[] = {
      {"Zg==", "padding"},
      {"Zm8=", "padding"},
      {"Zm9v=", "padding"},
      {"Z", "a lone character"},
      {"Zm9vY", "a lone trailing character"},
      {"Zm+v", "base64 character in base64url"},
      {"Zm/v", "base64 character in base64url"},
      {"Zh", "non-zero unused bits"},
      {"Zm9", "non-zero unused bits"},
      {"Zm9v Yg", "space"},
      {"Zm9v\n", "newline"},
  };
  for (auto [text, why] : kBad) {
    std::string out;
    EXPECT_FALSE(base64url_decode(text, out)) << why << ": " << text;
  }
}

// --- the same results as the earlier decoder -------------------------------
// The decoder now writes into a sized buffer (and a caller's buffer for
// parse_basic); this is the earlier push_back version, compared on random
// texts near the valid forms.
bool reference_decode(std::string_view text, std::string& out, bool url) {
  const std::string_view chars = url
      ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (!url) {
    if (text.size() % 4 != 0) return false;
    for (int pad = 0; pad < 2 && !text.empty() && text.back() == '='; ++pad) text.remove_suffix(1);
  }
  if (text.size() % 4 == 1) return false;
  std::string decoded;
  std::uint32_t bits = 0;
  int nbits = 0;
  for (char c : text) {
    std::size_t v = chars.find(c);
    if (v == std::string_view::npos) return false;
    bits = (bits << 6 | std::uint32_t(v)) & 0xffffff;
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      decoded.push_back(char(bits >> nbits & 0xff));
    }
  }
  if ((bits & ((1u << nbits) - 1)) != 0) return false;
  out = decoded;
  return true;
}

TEST(Base64, SameResultsAsTheReferenceOnRandomTexts) {
  std::mt19937 rng(5);
  const std::string_view kChars = "AQgwZz09+/-_=!";
  for (int i = 0; i < 50000; ++i) {
    std::string text;
    if (i % 2 == 0) {
      std::string bytes(rng() % 20, '\0');
      for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
      text = (i % 4 == 0) ? base64_encode(bytes) : base64url_encode(bytes);
      if (!text.empty() && i % 3 == 0) text[rng() % text.size()] = kChars[rng() % kChars.size()];
    } else {
      std::size_t n = rng() % 12;
      for (std::size_t k = 0; k < n; ++k) text += kChars[rng() % kChars.size()];
    }
    for (bool url : {false, true}) {
      std::string expected = "untouched", got = "untouched";
      bool ok = reference_decode(text, expected, url);
      ASSERT_EQ(url ? base64url_decode(text, got) : base64_decode(text, got), ok) << text;
      if (ok) ASSERT_EQ(got, expected) << text;
      if (!url) {
        std::array<char, 32> buf;  // room for the longest text here
        std::size_t size = 99;
        ASSERT_EQ(base64_decode(text, buf.data(), buf.size(), size), ok) << text;
        if (ok) ASSERT_EQ(std::string(buf.data(), size), expected) << text;
        if (!ok) ASSERT_EQ(size, 0u);
      }
    }
  }
}

TEST(Base64, BufferDecodeRefusesAShortBuffer) {
  char buf[3];
  std::size_t size = 99;
  EXPECT_TRUE(base64_decode("Zm9v", buf, 3, size));
  EXPECT_EQ(std::string(buf, size), "foo");
  EXPECT_FALSE(base64_decode("Zm9vYg==", buf, 3, size));  // 4 bytes
  EXPECT_EQ(size, 0u);
  EXPECT_TRUE(base64_decode("", buf, 0, size));
  EXPECT_EQ(size, 0u);
}

TEST(Base64, BufferDecodeWipesAPartialResult) {
  char buf[8];
  std::memset(buf, 'x', sizeof buf);
  std::size_t size = 99;
  // Six valid characters decode into the buffer before '!' is reached.
  EXPECT_FALSE(base64_decode("Zm9vYm!y", buf, sizeof buf, size));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(buf[i], '\0') << i;
}

TEST(Base64, YQPaddedIsTheOnlyFormOfA) {
  std::string out;
  ASSERT_TRUE(base64_decode("YQ==", out));
  EXPECT_EQ(out, "a");
  for (std::string_view alias : {"YR==", "YS==", "YT==", "Yf=="}) {
    EXPECT_FALSE(base64_decode(alias, out)) << alias;
  }
}

}  // namespace
}  // namespace edge_auth
