#include "core/secret_ref.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace edge_auth {
namespace {

class SecretFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/edge_auth_secret_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) unlink(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string write(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    files_.push_back(path);
    return path;
  }
  std::string dir_;
  std::vector<std::string> files_;
};

TEST(SecretRef, LiteralIsItself) {
  EXPECT_FALSE(is_secret_ref("s3cr3t"));
  EXPECT_FALSE(is_secret_ref("File:/x"));  // prefixes are case-sensitive
  EXPECT_FALSE(is_secret_ref("envy"));
  Result<std::string> r = resolve_secret_ref("s3cr3t");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "s3cr3t");
  EXPECT_EQ(*resolve_secret_ref(""), "");
}

TEST_F(SecretFile, OneTrailingNewlineIsStripped) {
  const std::pair<std::string, std::string> kCases[] = {
      {"key", "key"},
      {"key\n", "key"},
      {"key\r\n", "key"},
      {"key\n\n", "key\n"},  // only one
      {"key\r\n\r\n", "key\r\n"},
      {"multi\nline\n", "multi\nline"},
      {"key\r", "key\r"},  // a lone CR is content
      {std::string("a\0b\n", 4), std::string("a\0b", 3)},
  };
  int i = 0;
  for (const auto& [content, expected] : kCases) {
    std::string spec = "file:" + write("s" + std::to_string(i++), content);
    EXPECT_TRUE(is_secret_ref(spec));
    Result<std::string> r = resolve_secret_ref(spec);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(*r, expected);
  }
}

TEST_F(SecretFile, MissingFileErrorNamesThePathAndReason) {
  std::string path = dir_ + "/missing";
  Result<std::string> r = resolve_secret_ref("file:" + path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "cannot read \"" + path + "\": No such file or directory");
}

TEST_F(SecretFile, DirectoryIsAnError) {
  Result<std::string> r = resolve_secret_ref("file:" + dir_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find(dir_), std::string::npos);
}

TEST_F(SecretFile, EmptyFileIsAnErrorWithoutContents) {
  for (std::string content : {"", "\n", "\r\n"}) {
    std::string path = write("empty", content);
    Result<std::string> r = resolve_secret_ref("file:" + path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "\"" + path + "\" is empty");
  }
}

TEST_F(SecretFile, LargerThanOneMebibyteIsRefused) {
  std::string at_limit = write("limit", std::string(1 << 20, 'k'));
  EXPECT_TRUE(resolve_secret_ref("file:" + at_limit));
  std::string path = write("big", "SECRET" + std::string(1 << 20, 'k'));
  Result<std::string> r = resolve_secret_ref("file:" + path);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "\"" + path + "\" is larger than 1 MiB");
}

TEST(SecretRef, FileNeedsAPath) {
  Result<std::string> r = resolve_secret_ref("file:");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "file: needs a path");
}

TEST(SecretRef, EnvSetUnsetEmpty) {
  ASSERT_EQ(setenv("EDGE_AUTH_TEST_SECRET", "from-env", 1), 0);
  Result<std::string> r = resolve_secret_ref("env:EDGE_AUTH_TEST_SECRET");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, "from-env");  // no newline stripping for variables

  ASSERT_EQ(setenv("EDGE_AUTH_TEST_SECRET", "", 1), 0);
  r = resolve_secret_ref("env:EDGE_AUTH_TEST_SECRET");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "environment variable \"EDGE_AUTH_TEST_SECRET\" is empty");

  ASSERT_EQ(unsetenv("EDGE_AUTH_TEST_SECRET"), 0);
  r = resolve_secret_ref("env:EDGE_AUTH_TEST_SECRET");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "environment variable \"EDGE_AUTH_TEST_SECRET\" is not set");

  r = resolve_secret_ref("env:");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), "env: needs a variable name");
}

}  // namespace
}  // namespace edge_auth
