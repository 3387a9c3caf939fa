#include "core/credentials.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/base64.h"
#include "core/text.h"

namespace edge_auth {
namespace {

// --- split_authorization --------------------------------------------------

TEST(SplitAuthorization, SchemeAndCredentials) {
  AuthorizationHeader h;
  ASSERT_TRUE(split_authorization("Basic YWxpY2U6cHc=", h));
  EXPECT_EQ(h.scheme, "Basic");
  EXPECT_EQ(h.credentials, "YWxpY2U6cHc=");
}

TEST(SplitAuthorization, SeveralSpacesAndTrailingSpacesAreTrimmed) {
  AuthorizationHeader h;
  ASSERT_TRUE(split_authorization("Bearer    abc.def  ", h));
  EXPECT_EQ(h.scheme, "Bearer");
  EXPECT_EQ(h.credentials, "abc.def");
}

TEST(SplitAuthorization, SchemeAloneGivesEmptyCredentials) {
  for (std::string_view v : {"Basic", "Basic ", "Basic    "}) {
    AuthorizationHeader h;
    ASSERT_TRUE(split_authorization(v, h)) << v;
    EXPECT_EQ(h.scheme, "Basic");
    EXPECT_EQ(h.credentials, "") << v;
  }
}

TEST(SplitAuthorization, Rejections) {
  for (std::string_view v : {"", " Basic abc", "\tBasic abc", "Ba/sic abc", "Basic\tabc",
                             "Basic:abc", "(Basic) abc", "=abc", "B\xc3\xa4sic abc"}) {
    AuthorizationHeader h;
    EXPECT_FALSE(split_authorization(v, h)) << v;
  }
}

TEST(SplitAuthorization, CredentialsKeepInnerSpaces) {
  // Digest-style auth-params are the credentials as a whole; parsing them is
  // the method's business.
  AuthorizationHeader h;
  ASSERT_TRUE(split_authorization("Digest a=1, b=2", h));
  EXPECT_EQ(h.credentials, "a=1, b=2");
}

TEST(SchemeEquals, AsciiCaseInsensitive) {
  EXPECT_TRUE(scheme_equals("bAsIc", "basic"));
  EXPECT_TRUE(scheme_equals("BASIC", "Basic"));
  EXPECT_TRUE(scheme_equals("", ""));
  EXPECT_FALSE(scheme_equals("Basic", "Basi"));
  EXPECT_FALSE(scheme_equals("Basic", "Bearer"));
  EXPECT_FALSE(scheme_equals("Basic", "Basic "));
  // Only ASCII letters fold: '[' is not '{' although they differ by 0x20 too.
  EXPECT_FALSE(scheme_equals("a[", "a{"));
}

// --- parse_basic ----------------------------------------------------------

struct BasicCase {
  std::string decoded;  // what the client base64-encodes
  AuthStatus status;
  std::string user = {}, password = {};
};

TEST(ParseBasic, Table) {
  const BasicCase kCases[] = {
      {"alice:secret", AuthStatus::Ok, "alice", "secret"},
      {"a:b:c", AuthStatus::Ok, "a", "b:c"},  // the first colon splits
      {"j\xc3\xbcrgen:p\xc3\xa4ss", AuthStatus::Ok, "j\xc3\xbcrgen", "p\xc3\xa4ss"},
      {"alice: spaced pw ", AuthStatus::Ok, "alice", " spaced pw "},
      {"alice", AuthStatus::MalformedCredential},       // no colon
      {"", AuthStatus::MalformedCredential},            // empty
      {":", AuthStatus::MalformedCredential},           // empty user and password
      {":secret", AuthStatus::MalformedCredential},     // empty user
      {"alice:", AuthStatus::MalformedCredential},      // empty password
      {"ali\nce:pw", AuthStatus::MalformedCredential},  // control character in user
      {"alice:p\rw", AuthStatus::MalformedCredential},  // control character in password
      {std::string("alice:p\0w", 9), AuthStatus::MalformedCredential},
      {"alice:p\x7fw", AuthStatus::MalformedCredential},
      {"alice:p\tw", AuthStatus::MalformedCredential},
      {"j\xfcrgen:pw", AuthStatus::MalformedCredential},    // Latin-1, not UTF-8
      {"alice:\xc0\xaf", AuthStatus::MalformedCredential},  // overlong '/'
  };
  for (const BasicCase& c : kCases) {
    BasicCredentials creds;
    EXPECT_EQ(parse_basic(base64_encode(c.decoded), creds), c.status) << c.decoded;
    if (c.status == AuthStatus::Ok) {
      EXPECT_EQ(creds.user, c.user);
      EXPECT_EQ(creds.password, c.password);
    }
  }
}

TEST(ParseBasic, BadBase64IsMalformed) {
  for (std::string_view bad : {"", "YWxpY2U6cHc", "YWxpY2U6cHc=\n", "YWxp Y2U6cHc=", "!!!!",
                               "YWxpY2U6cHd=" /* non-canonical bits */}) {
    BasicCredentials creds;
    EXPECT_EQ(parse_basic(bad, creds), AuthStatus::MalformedCredential) << bad;
  }
}

TEST(ParseBasic, SixKilobyteHeaderIsTooLongNotParsed) {
  BasicCredentials creds;
  std::string big = base64_encode("alice:" + std::string(4500, 'x'));  // ~6 KB of text
  ASSERT_GT(big.size(), 6000u);
  EXPECT_EQ(parse_basic(big, creds), AuthStatus::CredentialTooLong);
  // The limit applies before decoding: even invalid base64 of that size is "too long".
  EXPECT_EQ(parse_basic(std::string(6144, '!'), creds), AuthStatus::CredentialTooLong);
}

TEST(ParseBasic, LimitIsOnTheToken68Text) {
  BasicCredentials creds;
  std::string at_limit = base64_encode("u:" + std::string(3070, 'p'));  // 3072 bytes -> 4096 chars
  ASSERT_EQ(at_limit.size(), kMaxCredentialLength);
  EXPECT_EQ(parse_basic(at_limit, creds), AuthStatus::Ok);
  std::string over = base64_encode("u:" + std::string(3071, 'p'));
  ASSERT_GT(over.size(), kMaxCredentialLength);
  EXPECT_EQ(parse_basic(over, creds), AuthStatus::CredentialTooLong);
}

TEST(ParseBasic, FailureDoesNotKeepOldValuesLookingValid) {
  BasicCredentials creds;
  ASSERT_EQ(parse_basic(base64_encode("alice:secret"), creds), AuthStatus::Ok);
  ASSERT_EQ(parse_basic(base64_encode("bob:other"), creds), AuthStatus::Ok);
  EXPECT_EQ(creds.user, "bob");
  EXPECT_EQ(creds.password, "other");
}

// parse_basic decodes into a stack buffer; random input must give the same
// status and fields as the straightforward version (decode into a string,
// split, check).
AuthStatus reference_parse_basic(std::string_view token68, std::string& user,
                                 std::string& password) {
  if (token68.size() > kMaxCredentialLength) return AuthStatus::CredentialTooLong;
  std::string decoded;
  if (!base64_decode(token68, decoded)) return AuthStatus::MalformedCredential;
  std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return AuthStatus::MalformedCredential;
  user = decoded.substr(0, colon);
  password = decoded.substr(colon + 1);
  if (user.empty() || password.empty()) return AuthStatus::MalformedCredential;
  if (has_control_chars(decoded) || !is_valid_utf8(decoded)) return AuthStatus::MalformedCredential;
  return AuthStatus::Ok;
}

TEST(ParseBasic, SameResultsAsTheReferenceOnRandomInput) {
  std::mt19937 rng(11);
  const std::string kAlphabet = "ab:\xc3\xbc\x01 \x7f\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string decoded;
    std::size_t n = rng() % (i % 100 == 0 ? 3100 : 40);
    for (std::size_t k = 0; k < n; ++k) decoded += kAlphabet[rng() % kAlphabet.size()];
    std::string text = base64_encode(decoded);
    if (i % 7 == 0 && !text.empty()) text[rng() % text.size()] = "A=/!"[rng() % 4];  // damage
    std::string user, password;
    AuthStatus expected = reference_parse_basic(text, user, password);
    BasicCredentials creds;
    ASSERT_EQ(parse_basic(text, creds), expected) << i;
    if (expected == AuthStatus::Ok) {
      ASSERT_EQ(creds.user, user) << i;
      ASSERT_EQ(creds.password, password) << i;
    }
  }
}

// --- check_token_syntax ---------------------------------------------------

TEST(CheckTokenSyntax, Table) {
  EXPECT_EQ(check_token_syntax("abc.DEF-123_~+/="), AuthStatus::Ok);
  EXPECT_EQ(check_token_syntax("!"), AuthStatus::Ok);
  EXPECT_EQ(check_token_syntax(""), AuthStatus::MalformedCredential);
  EXPECT_EQ(check_token_syntax("ab c"), AuthStatus::MalformedCredential);
  EXPECT_EQ(check_token_syntax("abc\n"), AuthStatus::MalformedCredential);
  EXPECT_EQ(check_token_syntax("ab\x7f"), AuthStatus::MalformedCredential);
  EXPECT_EQ(check_token_syntax("t\xc3\xb6ken"), AuthStatus::MalformedCredential);
  EXPECT_EQ(check_token_syntax(std::string(kMaxCredentialLength, 'a')), AuthStatus::Ok);
  EXPECT_EQ(check_token_syntax(std::string(kMaxCredentialLength + 1, 'a')),
            AuthStatus::CredentialTooLong);
}

// --- is_valid_utf8 --------------------------------------------------------

TEST(IsValidUtf8, Accepts) {
  for (std::string_view s :
       {"", "ascii", "j\xc3\xbcrgen", "\xe2\x82\xac", "\xf0\x9f\x94\x91", "\xc2\x80", "\xdf\xbf",
        "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(is_valid_utf8(s)) << s;
  }
  EXPECT_TRUE(is_valid_utf8(std::string_view("a\0b", 3)));  // NUL is valid UTF-8
}

TEST(IsValidUtf8, Rejects) {
  const std::pair<std::string_view, const char*> kBad[] = {
      {"\xc0\x80", "overlong NUL"},
      {"\xc1\xbf", "overlong 2-byte"},
      {"\xe0\x80\xaf", "overlong 3-byte '/'"},
      {"\xe0\x9f\xbf", "overlong 3-byte"},
      {"\xf0\x80\x80\xaf", "overlong 4-byte"},
      {"\xf0\x8f\xbf\xbf", "overlong 4-byte"},
      {"\xed\xa0\x80", "surrogate U+D800"},
      {"\xed\xbf\xbf", "surrogate U+DFFF"},
      {"\xf4\x90\x80\x80", "U+110000"},
      {"\xf5\x80\x80\x80", "lead byte above U+10FFFF"},
      {"\xf8\x88\x80\x80\x80", "5-byte form"},
      {"\xff", "0xff"},
      {"\x80", "lone continuation"},
      {"a\xbf", "lone continuation after ASCII"},
      {"\xc3", "truncated 2-byte"},
      {"\xe2\x82", "truncated 3-byte"},
      {"\xf0\x9f\x94", "truncated 4-byte"},
      {"\xc3(", "bad continuation"},
      {"\xe2\x28\xa1", "bad continuation"},
  };
  for (auto [s, why] : kBad) EXPECT_FALSE(is_valid_utf8(s)) << why;
}

}  // namespace
}  // namespace edge_auth
