#include "core/http.h"

#include <gtest/gtest.h>

namespace edge_auth {
namespace {

TEST(FormUrlencode, SpaceIsPlusUnreservedKeptRestEscaped) {
  EXPECT_EQ(form_urlencode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(form_urlencode("read write"), "read+write");
  EXPECT_EQ(form_urlencode("a+b"), "a%2Bb");  // a literal '+' must not read back as a space
  EXPECT_EQ(form_urlencode("id:with%"), "id%3Awith%25");
  EXPECT_EQ(form_urlencode("%20"), "%2520");  // an escape-looking input is not mistaken for a space
  EXPECT_EQ(form_urlencode("&=?/#"), "%26%3D%3F%2F%23");
  EXPECT_EQ(form_urlencode("\xc3\xa9t\xc3\xa9"), "%C3%A9t%C3%A9");
  EXPECT_EQ(form_urlencode(std::string_view("a\0b", 3)), "a%00b");
  EXPECT_EQ(form_urlencode(" "), "+");
  EXPECT_EQ(form_urlencode(""), "");
}

TEST(FormEncode, FieldsInOrderJoinedByAmpersand) {
  EXPECT_EQ(form_encode({}), "");
  EXPECT_EQ(form_encode({{"grant_type", "client_credentials"}}), "grant_type=client_credentials");
  EXPECT_EQ(form_encode({{"scope", "a b"}, {"audience", "https://api/x?y=1&z"}, {"k y", ""}}),
            "scope=a+b&audience=https%3A%2F%2Fapi%2Fx%3Fy%3D1%26z&k+y=");
}

}  // namespace
}  // namespace edge_auth
