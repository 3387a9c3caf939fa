#include "core/version.h"

#include <gtest/gtest.h>

TEST(Version, IsSemver) { EXPECT_EQ(edge_auth::kVersion.find('.') != std::string_view::npos, true); }
