#include "core/token_set.h"

#include <gtest/gtest.h>

#include <string>

namespace edge_auth {
namespace {

// printf 'hashed-token-1' | sha256sum
constexpr std::string_view kHashedTokenHex =
    "b994b24ad665aa12e2de126ec0de71a49b933e8792fef3a93a09434c438befad";

TEST(TokenSet, AddAndFind) {
  TokenSet set;
  EXPECT_TRUE(set.empty());
  set.add("s3cr3t", "ci");
  set.add("other-token", "deploy");
  EXPECT_EQ(set.size(), 2u);
  ASSERT_NE(set.find("s3cr3t"), nullptr);
  EXPECT_EQ(*set.find("s3cr3t"), "ci");
  EXPECT_EQ(*set.find("other-token"), "deploy");
  EXPECT_EQ(set.find("s3cr3"), nullptr);  // a prefix is not the token
  EXPECT_EQ(set.find("s3cr3t "), nullptr);
  EXPECT_EQ(set.find("S3CR3T"), nullptr);
  EXPECT_EQ(set.find(""), nullptr);
}

TEST(TokenSet, AddDigestFindsByTheTokenItself) {
  TokenSet set;
  set.add_digest(sha256("t"), "by-digest");
  ASSERT_NE(set.find("t"), nullptr);
  EXPECT_EQ(*set.find("t"), "by-digest");
}

TEST(TokenSet, SameTokenAgainTakesTheNewLabel) {
  TokenSet set;
  set.add("t", "old");
  set.add("t", "new");
  EXPECT_EQ(set.size(), 1u);
  EXPECT_EQ(*set.find("t"), "new");
}

TEST(TokenSetFile, PlainAndSha256Forms) {
  TokenSet set;
  std::string text =
      "# tokens\r\n\r\nci:plain-token-1\r\nhashed:sha256:" + std::string(kHashedTokenHex) +
      "\r\n  monitoring:tok:with:colons  \n";
  Result<bool> r = set.add_file_content(text);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(set.size(), 3u);
  EXPECT_EQ(*set.find("plain-token-1"), "ci");
  EXPECT_EQ(*set.find("hashed-token-1"), "hashed");
  EXPECT_EQ(set.find(kHashedTokenHex), nullptr);          // the hex is not itself a token
  EXPECT_EQ(*set.find("tok:with:colons"), "monitoring");  // only the first colon splits
}

TEST(TokenSetFile, UppercaseHexDigest) {
  TokenSet set;
  ASSERT_TRUE(set.add_file_content(
      "h:sha256:B994B24AD665AA12E2DE126EC0DE71A49B933E8792FEF3A93A09434C438BEFAD"));
  ASSERT_NE(set.find("hashed-token-1"), nullptr);
  EXPECT_EQ(*set.find("hashed-token-1"), "h");
}

TEST(TokenSetFile, ErrorsNameTheLineAndNeverTheToken) {
  const std::pair<std::string_view, std::string_view> kCases[] = {
      {"ok:fine\n# c\nnocolonSECRET\n", "line 3: expected label:token"},
      {":SECRETtok", "line 1: empty label"},
      {"label:", "line 1: empty token"},
      {"a:ok\nlabel:SECRET tok", "line 2: token must be visible ASCII, at most 4096 characters"},
      {"label:SECRET\x01tok", "line 1: token must be visible ASCII, at most 4096 characters"},
      {"label:SECR\xc3\xa9T", "line 1: token must be visible ASCII, at most 4096 characters"},
      {"la\x1b"
       "bel:SECRET",
       "line 1: label has control characters"},
      {"h:sha256:SECRET", "line 1: sha256: needs 64 hex digits"},
      {"h:sha256:b994b24ad665aa12e2de126ec0de71a49b933e8792fef3a93a09434c438befa",
       "line 1: sha256: needs 64 hex digits"},  // 63 digits
      {"h:sha256:g994b24ad665aa12e2de126ec0de71a49b933e8792fef3a93a09434c438befad",
       "line 1: sha256: needs 64 hex digits"},
  };
  for (auto [text, message] : kCases) {
    TokenSet set;
    Result<bool> r = set.add_file_content(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error(), message);
    EXPECT_EQ(r.error().find("SECRET"), std::string::npos);
  }
}

TEST(TokenSetFile, AFileWithAnErrorAddsNothing) {
  TokenSet set;
  set.add("existing", "e");
  EXPECT_FALSE(set.add_file_content("a:first-token\nbroken line\n"));
  EXPECT_EQ(set.size(), 1u);
  EXPECT_EQ(set.find("first-token"), nullptr);
  EXPECT_NE(set.find("existing"), nullptr);
}

TEST(TokenSetFile, EmptyFileIsFine) {
  TokenSet set;
  EXPECT_TRUE(set.add_file_content("# nothing yet\n\n"));
  EXPECT_TRUE(set.empty());
}

}  // namespace
}  // namespace edge_auth
