#include "core/query.h"

#include <gtest/gtest.h>

namespace edge_auth {
namespace {

TEST(PercentEncode, UnreservedStayEverythingElseUppercaseHex) {
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode("a b&c=d+e/f?%"), "a%20b%26c%3Dd%2Be%2Ff%3F%25");
  EXPECT_EQ(percent_encode("j\xc3\xbcrgen"), "j%C3%BCrgen");
  EXPECT_EQ(percent_encode(std::string_view("\0", 1)), "%00");
  EXPECT_EQ(percent_encode(""), "");
}

TEST(PercentDecode, EscapesPlusAndInvalidEscapes) {
  EXPECT_EQ(percent_decode("a%20b+c"), "a b c");
  EXPECT_EQ(percent_decode("%c3%BC"), "\xc3\xbc");
  EXPECT_EQ(percent_decode("100%"), "100%");  // kept as is
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("%zz%41"), "%zzA");
  EXPECT_EQ(percent_decode("%%41"), "%A");
  EXPECT_EQ(percent_decode("%2B"), "+");  // an encoded '+' is a plus
}

struct SetCase {
  std::string_view args, name, value, expected;
};

TEST(QuerySet, Table) {
  const SetCase kCases[] = {
      {"", "key", "v", "key=v"},
      {"a=1", "key", "v", "a=1&key=v"},
      {"a=1&", "key", "v", "a=1&key=v"},
      {"a=1&key=x", "key", "v w", "a=1&key=v%20w"},
      {"key=x&a=1", "key", "v", "key=v&a=1"},
      {"a=1&key=x&b=2&key=y", "key", "v", "a=1&key=v&b=2"},  // all replaced by one, first place
      {"key&a=1", "key", "v", "key=v&a=1"},                  // a name without '='
      {"k%65y=x&a=1", "key", "v", "key=v&a=1"},              // encoded name matches
      {"a=1&keys=x&mykey=y", "key", "v", "a=1&keys=x&mykey=y&key=v"},
      {"a=1&key=x", "key", "a&b=c", "a=1&key=a%26b%3Dc"},  // value cannot inject params
      {"a=1", "key", "\xc3\xbc", "a=1&key=%C3%BC"},
      {"a=1", "my key", "v", "a=1&my%20key=v"},   // the name is encoded too
      {"my+key=x", "my key", "v", "my%20key=v"},  // '+' in names decodes to space
      {"a=1", "key", "", "a=1&key="},
      {"a=1&&key=x&&b=2", "key", "v", "a=1&key=v&b=2"},
  };
  for (const SetCase& c : kCases) {
    EXPECT_EQ(query_set(c.args, c.name, c.value), c.expected)
        << "args=" << c.args << " name=" << c.name;
  }
}

struct RemoveCase {
  std::string_view args, name, expected;
};

TEST(QueryRemove, Table) {
  const RemoveCase kCases[] = {
      {"", "key", ""},
      {"key=x", "key", ""},
      {"key", "key", ""},
      {"a=1&key=x&b=2", "key", "a=1&b=2"},
      {"key=x&a=1", "key", "a=1"},              // no leading '&'
      {"a=1&key=x", "key", "a=1"},              // no trailing '&'
      {"key=1&key=2&a=1&key=3", "key", "a=1"},  // every occurrence
      {"a=1&k%65y=x&b=2", "key", "a=1&b=2"},
      {"a=1&keys=x", "key", "a=1&keys=x"},
      {"a=1&&b=2", "key", "a=1&&b=2"},        // untouched when absent
      {"a=1&&key=x&&b=2", "key", "a=1&b=2"},  // no '&&' left behind
      {"a=key&b=2", "key", "a=key&b=2"},      // values are not names
  };
  for (const RemoveCase& c : kCases) {
    EXPECT_EQ(query_remove(c.args, c.name), c.expected) << "args=" << c.args;
  }
}

TEST(QueryGet, Table) {
  EXPECT_EQ(query_get("a=1&key=v%20w&key=2", "key"), "v w");
  EXPECT_EQ(query_get("key=a+b", "key"), "a b");
  EXPECT_EQ(query_get("k%65y=x", "key"), "x");
  EXPECT_EQ(query_get("key", "key"), "");
  EXPECT_EQ(query_get("key=", "key"), "");
  EXPECT_EQ(query_get("key=a=b", "key"), "a=b");  // the first '=' splits
  EXPECT_EQ(query_get("a=1", "key"), std::nullopt);
  EXPECT_EQ(query_get("", "key"), std::nullopt);
  EXPECT_EQ(query_get("keys=1", "key"), std::nullopt);
}

TEST(Query, SetThenGetRoundTripsAwkwardValues) {
  for (std::string_view v : {"a b", "a&b", "a=b", "a+b", "100%", "\xe2\x82\xac", "#frag"}) {
    EXPECT_EQ(query_get(query_set("x=1", "key", v), "key"), std::string(v)) << v;
  }
}

}  // namespace
}  // namespace edge_auth
