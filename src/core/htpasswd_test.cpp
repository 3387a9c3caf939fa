#include "core/htpasswd.h"

#include <gtest/gtest.h>

#include <string>

namespace edge_auth {
namespace {

// Fixtures made once with the real tools and pasted here (never generated at
// test time, so a broken generator cannot hide a broken verifier):
//   htpasswd -nbB -C 4 alice secret     htpasswd -nbm alice secret
//   htpasswd -nbs alice secret          htpasswd -nb2 / -nb5 alice secret
//   openssl passwd -apr1 -salt ...      (printf 'secretSALT1234' | openssl dgst -sha1 -binary;
//                                        printf SALT1234) | base64
constexpr std::string_view kBcrypt = "$2y$04$IhvRcwSivgjDGXFSz/53qO7Rm10CCLg13o7ilBCsGsvenpjqocD36";
constexpr std::string_view kApr1 = "$apr1$a9gklTxA$E/I5BG1eDY3A3b86ElwQY.";
constexpr std::string_view kSha = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";
constexpr std::string_view kSsha = "{SSHA}pk4Fn8XUDD1Ke8Vxjljh1/aaouBTQUxUMTIzNA==";
constexpr std::string_view kSha256Crypt =
    "$5$UEPkoFlhVhFws5IN$iltzLIaVaYGlQPYvUxXmzCZEzYCwB7d.NL2fOY0hVI.";
constexpr std::string_view kSha512Crypt =
    "$6$rwP7yUvThabebcvg$FUlvhTXoz4JCsQbbsHAQN/"
    "Sz90LWeKVBbwh56atowiKENJ4LKxKwwZ.L2C3eyr2TbrMV92BdTG3vRVK6jixDi/";

struct Fixture {
  std::string_view hash;
  HashScheme scheme;
  bool slow;
};

constexpr Fixture kSecretFixtures[] = {
    {kBcrypt, HashScheme::Bcrypt, true},
    {kApr1, HashScheme::Apr1, false},
    {kSha, HashScheme::Sha1, false},
    {kSsha, HashScheme::Ssha, false},
    {kSha256Crypt, HashScheme::Sha256Crypt, true},
    {kSha512Crypt, HashScheme::Sha512Crypt, true},
    {"{PLAIN}secret", HashScheme::Plain, false},
};

TEST(Htpasswd, ClassifyAndSlowness) {
  for (const Fixture& f : kSecretFixtures) {
    EXPECT_EQ(classify_hash(f.hash), f.scheme) << f.hash;
    EXPECT_EQ(is_slow_hash(f.hash), f.slow) << f.hash;
  }
  for (std::string_view unknown :
       {"", "secret", "$1$abc$def", "abJnggxhB/yWI", "{sha}x", "$2x$04$x", "$apr1", "{SSHA"}) {
    EXPECT_EQ(classify_hash(unknown), HashScheme::Unknown) << unknown;
    EXPECT_FALSE(is_slow_hash(unknown));
  }
}

TEST(Htpasswd, RightPasswordVerifiesWrongDoesNot) {
  for (const Fixture& f : kSecretFixtures) {
    EXPECT_TRUE(verify_password("secret", f.hash)) << f.hash;
    EXPECT_FALSE(verify_password("Secret", f.hash)) << f.hash;
    EXPECT_FALSE(verify_password("secret ", f.hash)) << f.hash;
    EXPECT_FALSE(verify_password("secre", f.hash)) << f.hash;
    EXPECT_FALSE(verify_password("", f.hash)) << f.hash;
  }
}

TEST(Htpasswd, TruncatedOrGarbledHashNeverVerifies) {
  for (const Fixture& f : kSecretFixtures) {
    std::string h(f.hash);
    EXPECT_FALSE(verify_password("secret", h.substr(0, h.size() - 1))) << h;
    EXPECT_FALSE(verify_password("secret", h.substr(0, h.size() / 2))) << h;
    std::string garbled = h;
    char& last = garbled[garbled.size() - 2];
    last = last == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify_password("secret", garbled)) << garbled;
    EXPECT_FALSE(verify_password("secret", h + "x")) << h;
  }
}

TEST(Htpasswd, PrefixOnlyHashesNeverVerify) {
  // Guards against an empty computed value comparing equal to an empty stored one.
  for (std::string_view h : {"$2y$", "$apr1$", "{SHA}", "{SSHA}", "$5$", "$6$", "$apr1$$"}) {
    EXPECT_FALSE(verify_password("", h)) << h;
    EXPECT_FALSE(verify_password("secret", h)) << h;
  }
}

TEST(Htpasswd, AllBcryptPrefixesWork) {
  std::string tail(kBcrypt.substr(3));
  for (std::string_view prefix : {"$2a", "$2b", "$2y"}) {
    std::string h = std::string(prefix) + tail;
    EXPECT_TRUE(verify_password("secret", h)) << h;
    EXPECT_FALSE(verify_password("wrong", h)) << h;
  }
}

TEST(Htpasswd, Apr1MatchesOpensslForOtherLengths) {
  // Lengths above 16 exercise the alt-digest loop; 0 and 1 the bit loop's ends.
  EXPECT_TRUE(verify_password("a much longer password than sixteen chars",
                              "$apr1$xyz12345$SWCapfJ8grOA8FLUYn4L90"));
  EXPECT_TRUE(verify_password("", "$apr1$S$IhmRhmfrUSO/4BPKKyRI90"));
  EXPECT_TRUE(verify_password("p", "$apr1$abc$EVDwK4Zx0fpte1ekLFa3D0"));
  EXPECT_FALSE(verify_password("q", "$apr1$abc$EVDwK4Zx0fpte1ekLFa3D0"));
  // htpasswd -nbm bob 'pässwörd:x' (UTF-8 and a colon in the password)
  EXPECT_TRUE(verify_password("p\xc3\xa4ssw\xc3\xb6rd:x", "$apr1$ZH4MOW7P$HsBEIfKyNkng0wzZsiq1y0"));
}

TEST(Htpasswd, SshaNeedsASalt) {
  // base64 of a bare 20-byte SHA-1 of "secret": no salt, so not valid {SSHA}.
  EXPECT_FALSE(verify_password("secret", "{SSHA}5en6G6MezRroT3XKqkdPOmY/BfQ="));
  EXPECT_FALSE(verify_password("secret", "{SSHA}not base64!"));
}

TEST(Htpasswd, NulInPasswordIsRefusedForCryptFormats) {
  // crypt() would stop at the NUL and check only "secret".
  EXPECT_FALSE(verify_password(std::string_view("secret\0tail", 11), kBcrypt));
  EXPECT_FALSE(verify_password(std::string_view("secret\0tail", 11), kSha512Crypt));
}

TEST(Htpasswd, PlainHash) {
  EXPECT_EQ(plain_hash("pw"), "{PLAIN}pw");
  EXPECT_TRUE(verify_password("pw", plain_hash("pw")));
  EXPECT_FALSE(verify_password("pw2", plain_hash("pw")));
  EXPECT_FALSE(verify_password("p", plain_hash("pw")));
}

TEST(Htpasswd, UnknownFormatNeverVerifies) {
  EXPECT_FALSE(verify_password("secret", "secret"));  // cleartext without {PLAIN}
  EXPECT_FALSE(verify_password("", ""));
}

TEST(ParseHtpasswd, CommentsBlankLinesCrlf) {
  std::string text = "# users\r\n\r\nalice:" + std::string(kApr1) +
                     "\r\n   \n  # indented comment\n" + "bob:" + std::string(kSha) +
                     "\nlast:" + std::string(kSsha);  // no final newline
  UserTable t = parse_htpasswd(text);
  EXPECT_TRUE(t.warnings.empty()) << t.warnings.front();
  ASSERT_EQ(t.users.size(), 3u);
  ASSERT_NE(t.find("alice"), nullptr);
  EXPECT_EQ(*t.find("alice"), kApr1);  // no '\r' left on the hash
  EXPECT_EQ(*t.find("bob"), kSha);
  EXPECT_EQ(*t.find("last"), kSsha);
  EXPECT_EQ(t.find("carol"), nullptr);
  EXPECT_EQ(t.find("Alice"), nullptr);  // user names are case-sensitive
  EXPECT_TRUE(verify_password("secret", *t.find("alice")));
}

TEST(ParseHtpasswd, SkippedLinesWarnWithLineNumbers) {
  std::string text = "alice:" + std::string(kApr1) + "\n";
  text += "no colon here\n";
  text += "bob:cleartext\n";
  text += ":" + std::string(kSha) + "\n";
  UserTable t = parse_htpasswd(text);
  EXPECT_EQ(t.users.size(), 1u);
  ASSERT_EQ(t.warnings.size(), 3u);
  EXPECT_EQ(t.warnings[0], "line 2: expected user:hash");
  EXPECT_EQ(t.warnings[1], "line 3: unsupported hash format for user \"bob\"");
  EXPECT_EQ(t.warnings[2], "line 4: empty user name");
  EXPECT_EQ(t.find("bob"), nullptr);
}

TEST(ParseHtpasswd, WarningsNeverShowTheHashOrRawControlBytes) {
  UserTable t = parse_htpasswd("ev\x1bil:cleartextpw\n");
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_EQ(t.warnings[0], "line 1: unsupported hash format for user \"ev\\x1bil\"");
  EXPECT_EQ(t.warnings[0].find("cleartextpw"), std::string::npos);
}

TEST(ParseHtpasswd, DuplicateUserLaterEntryWinsWithWarning) {
  UserTable t =
      parse_htpasswd("alice:" + std::string(kSha) + "\nalice:" + std::string(kApr1) + "\n");
  ASSERT_EQ(t.users.size(), 1u);
  EXPECT_EQ(*t.find("alice"), kApr1);
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_EQ(t.warnings[0], "line 2: duplicate user \"alice\" replaces the earlier entry");
}

TEST(ParseHtpasswd, EmptyFile) {
  UserTable t = parse_htpasswd("");
  EXPECT_TRUE(t.users.empty());
  EXPECT_TRUE(t.warnings.empty());
}

}  // namespace
}  // namespace edge_auth
