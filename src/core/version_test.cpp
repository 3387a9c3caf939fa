#include "core/version.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

TEST(Version, IsMajorMinorPatch) {
  EXPECT_TRUE(std::regex_match(std::string(edge_auth::kVersion), std::regex(R"(\d+\.\d+\.\d+)")))
      << edge_auth::kVersion;
}
