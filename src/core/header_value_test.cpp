#include "core/header_value.h"

#include <gtest/gtest.h>

#include <string>

namespace edge_auth {
namespace {

TEST(HeaderValue, SafeValuesRejectCrLfNul) {
  EXPECT_TRUE(is_safe_header_value(""));
  EXPECT_TRUE(is_safe_header_value("Bearer abc.def"));
  EXPECT_TRUE(is_safe_header_value("tab\tand \xc3\xbc and \x7f"));  // other bytes pass
  EXPECT_FALSE(is_safe_header_value("a\r\nSet-Cookie: x=1"));       // header injection
  EXPECT_FALSE(is_safe_header_value("a\nb"));
  EXPECT_FALSE(is_safe_header_value("a\rb"));
  EXPECT_FALSE(is_safe_header_value(std::string_view("a\0b", 3)));
}

TEST(HeaderValue, SafeValueEveryByteAtEveryPosition) {
  for (int c = 0; c < 256; ++c) {
    bool unsafe = c == '\r' || c == '\n' || c == '\0';
    for (std::size_t len : {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100}) {
      for (std::size_t at : {std::size_t(0), len / 2, len - 1}) {
        std::string v(len, 'v');
        v[at] = static_cast<char>(c);
        EXPECT_EQ(is_safe_header_value(v), !unsafe) << "byte " << c << " len " << len << " at " << at;
      }
    }
  }
}

TEST(HeaderValue, TcharIsExactlyRfc9110) {
  const std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  for (int c = 0; c < 256; ++c) {
    bool expected = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    (c != 0 && kSpecials.find(static_cast<char>(c)) != std::string_view::npos);
    EXPECT_EQ(is_tchar(static_cast<char>(c)), expected) << c;
  }
}

TEST(HeaderValue, HeaderNames) {
  EXPECT_TRUE(is_header_name("X-API-Key"));
  EXPECT_TRUE(is_header_name("x_custom.name!#$%&'*+^`|~09"));
  EXPECT_FALSE(is_header_name(""));
  EXPECT_FALSE(is_header_name("X API"));
  EXPECT_FALSE(is_header_name("X-Key:"));
  EXPECT_FALSE(is_header_name("X-Key\r\n"));
  EXPECT_FALSE(is_header_name("(x)"));
  EXPECT_FALSE(is_header_name("X-K\xc3\xa9y"));
}

TEST(HeaderValue, QuotedString) {
  EXPECT_EQ(quoted_string("Restricted"), "\"Restricted\"");
  EXPECT_EQ(quoted_string(""), "\"\"");
  EXPECT_EQ(quoted_string("My \"realm\""), "\"My \\\"realm\\\"\"");
  EXPECT_EQ(quoted_string("a\\b"), "\"a\\\\b\"");
  EXPECT_EQ(quoted_string("tab\tok"), "\"tab\tok\"");
  EXPECT_EQ(quoted_string("no\r\nsplit"), "\"nosplit\"");  // controls cannot be quoted
}

TEST(HeaderValue, LogSafeEscapes) {
  EXPECT_EQ(log_safe("alice"), "alice");
  EXPECT_EQ(log_safe("a\r\nb"), "a\\x0d\\x0ab");
  EXPECT_EQ(log_safe("say \"hi\" \\o/"), "say \\x22hi\\x22 \\x5co/");
  EXPECT_EQ(log_safe("j\xc3\xbc"), "j\\xc3\\xbc");
  EXPECT_EQ(log_safe(std::string_view("\0\x7f", 2)), "\\x00\\x7f");
}

TEST(HeaderValue, LogSafeCutsPastMax) {
  EXPECT_EQ(log_safe(std::string(64, 'a')), std::string(64, 'a'));
  EXPECT_EQ(log_safe(std::string(65, 'a')), std::string(64, 'a') + "...");
  EXPECT_EQ(log_safe("abcdef", 3), "abc...");
  EXPECT_EQ(log_safe("abc", 3), "abc");
  EXPECT_EQ(log_safe("\n\n\n\n", 2), "\\x0a\\x0a...");
  EXPECT_EQ(log_safe("abc", 0), "...");
}

}  // namespace
}  // namespace edge_auth
