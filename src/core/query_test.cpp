#include "core/query.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace edge_auth {
namespace {

TEST(PercentEncode, UnreservedStayEverythingElseUppercaseHex) {
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode("a b&c=d+e/f?%"), "a%20b%26c%3Dd%2Be%2Ff%3F%25");
  EXPECT_EQ(percent_encode("j\xc3\xbcrgen"), "j%C3%BCrgen");
  EXPECT_EQ(percent_encode(std::string_view("\0", 1)), "%00");
  EXPECT_EQ(percent_encode(""), "");
}

TEST(PercentEncode, EveryByte) {
  for (int c = 0; c < 256; ++c) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    char hex[4];
    std::snprintf(hex, sizeof hex, "%%%02X", c);
    std::string expected = unreserved ? std::string(1, static_cast<char>(c)) : std::string(hex);
    EXPECT_EQ(percent_encode(std::string(1, static_cast<char>(c))), expected) << c;
  }
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

// --- the same results as the straightforward implementation -----------------
// query_set / query_remove / query_get work in one pass without temporaries;
// this is the earlier, obviously correct version (split, decode each name,
// rebuild), and random queries made of the characters that matter must give
// byte-identical results.
namespace reference {

struct Param {
  std::string_view text;
  bool matches;
};

std::vector<Param> split_params(std::string_view args, std::string_view name) {
  std::vector<Param> params;
  while (!args.empty()) {
    std::size_t amp = args.find('&');
    std::string_view seg = args.substr(0, amp);
    args.remove_prefix(amp == std::string_view::npos ? args.size() : amp + 1);
    if (seg.empty()) continue;
    params.push_back({seg, percent_decode(seg.substr(0, seg.find('='))) == name});
  }
  return params;
}

std::string join(const std::vector<std::string_view>& parts) {
  std::string out;
  for (std::string_view p : parts) {
    if (!out.empty()) out += '&';
    out += p;
  }
  return out;
}

std::string query_set(std::string_view args, std::string_view name, std::string_view value) {
  std::string param = percent_encode(name) + '=' + percent_encode(value);
  std::vector<std::string_view> kept;
  bool placed = false;
  for (const Param& p : split_params(args, name)) {
    if (!p.matches) {
      kept.push_back(p.text);
    } else if (!placed) {
      kept.push_back(param);
      placed = true;
    }
  }
  if (!placed) {
    std::string out(args);
    if (!out.empty() && out.back() != '&') out += '&';
    return out + param;
  }
  return join(kept);
}

std::string query_remove(std::string_view args, std::string_view name) {
  std::vector<Param> params = split_params(args, name);
  std::vector<std::string_view> kept;
  for (const Param& p : params) {
    if (!p.matches) kept.push_back(p.text);
  }
  if (kept.size() == params.size()) return std::string(args);
  return join(kept);
}

std::optional<std::string> query_get(std::string_view args, std::string_view name) {
  for (const Param& p : split_params(args, name)) {
    if (!p.matches) continue;
    std::size_t eq = p.text.find('=');
    if (eq == std::string_view::npos) return std::string();
    return percent_decode(p.text.substr(eq + 1));
  }
  return std::nullopt;
}

}  // namespace reference

std::string random_query_text(std::mt19937& rng, std::size_t max_pieces) {
  static const char* const kPieces[] = {"key", "k", "e", "y", "%6B", "%65", "%6", "%", "+",  " ",
                                        "=",   "&", "&&", "a", "1", "%25", "%2B", "%3D", "%26", "\xc3\xbc",
                                        "ke",  "ey", "%79", "%zz", "my", "%20"};
  std::string out;
  std::size_t n = rng() % (max_pieces + 1);
  for (std::size_t i = 0; i < n; ++i) out += kPieces[rng() % std::size(kPieces)];
  return out;
}

TEST(Query, SameResultsAsTheReferenceOnRandomQueries) {
  std::mt19937 rng(7);
  const std::string_view kNames[] = {"key", "k", "my key", "ke=y", "k&y", "", "\xc3\xbc", "+", "%"};
  for (int i = 0; i < 40000; ++i) {
    std::string args = random_query_text(rng, 12);
    std::string_view name = kNames[rng() % std::size(kNames)];
    std::string value = random_query_text(rng, 3);
    ASSERT_EQ(query_set(args, name, value), reference::query_set(args, name, value))
        << "args=" << args << " name=" << name << " value=" << value;
    ASSERT_EQ(query_remove(args, name), reference::query_remove(args, name))
        << "args=" << args << " name=" << name;
    ASSERT_EQ(query_get(args, name), reference::query_get(args, name))
        << "args=" << args << " name=" << name;
    // The buffer forms write the same bytes within the documented sizes.
    std::string buf(query_set_bound(args, name, value), '\0');
    buf.resize(query_set_to(buf.data(), args, name, value));
    ASSERT_EQ(buf, reference::query_set(args, name, value));
    buf.assign(args.size(), '\0');
    buf.resize(query_remove_to(buf.data(), args, name));
    ASSERT_EQ(buf, reference::query_remove(args, name));
  }
}

TEST(Query, SetThenGetRoundTripsAwkwardValues) {
  for (std::string_view v : {"a b", "a&b", "a=b", "a+b", "100%", "\xe2\x82\xac", "#frag"}) {
    EXPECT_EQ(query_get(query_set("x=1", "key", v), "key"), std::string(v)) << v;
  }
}

TEST(Query, RedactRequestLineHidesTheKeyForAccessLogs) {
  EXPECT_EQ(redact_request_line("GET /v1/x?a=1&api_key=s3cret&b=2 HTTP/1.1", "api_key"),
            "GET /v1/x?a=1&api_key=REDACTED&b=2 HTTP/1.1");
  // every occurrence, encoded names too
  EXPECT_EQ(redact_request_line("GET /?api%5Fkey=one&api_key=two HTTP/1.1", "api_key"),
            "GET /?api_key=REDACTED HTTP/1.1");
  EXPECT_EQ(redact_request_line("GET /?key=s HTTP/1.0", "key"), "GET /?key=REDACTED HTTP/1.0");
  // HTTP/0.9: no protocol
  EXPECT_EQ(redact_request_line("GET /?key=s", "key"), "GET /?key=REDACTED");
  EXPECT_FALSE(redact_request_line("GET /?other=1 HTTP/1.1", "key"));
  EXPECT_FALSE(redact_request_line("GET /path HTTP/1.1", "key"));
  EXPECT_FALSE(redact_request_line("GET", "key"));
  // a '?' after the target is not the query
  EXPECT_FALSE(redact_request_line("GET /p HTTP/1.1?key=1", "key"));
}

}  // namespace
}  // namespace edge_auth
