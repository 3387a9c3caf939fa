#include "core/metrics.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/json.h"

namespace edge_auth {
namespace {

TEST(Metrics, EveryMetricHasAUniqueNameTypeAndHelp) {
  std::set<std::string_view> names;
  for (int i = 0; i < kMetricCount; i++) {
    const MetricInfo& info = metric_info(static_cast<Metric>(i));
    EXPECT_TRUE(info.name.rfind("edge_auth_", 0) == 0) << info.name;
    EXPECT_TRUE(info.type == "counter" || info.type == "gauge") << info.name;
    EXPECT_EQ(info.type == "counter", info.name.size() > 6 &&
                                          info.name.substr(info.name.size() - 6) == "_total")
        << "counters end in _total: " << info.name;
    EXPECT_FALSE(info.help.empty());
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
  }
}

TEST(Metrics, SeriesKeyJoinsValuesAndNeutralisesControlCharacters) {
  EXPECT_EQ(series_key(Metric::Requests, {"/api/", "GET", "allowed"}),
            "/api/\x1fGET\x1f" "allowed");
  EXPECT_EQ(series_key(Metric::RedisErrors, {}), "");
  // a separator inside a value cannot shift the labels
  EXPECT_EQ(series_key(Metric::Injections, {"/a\x1f" "b\n", "header"}), "/a?b?\x1fheader");
  std::string longer(1000, 'x');
  EXPECT_EQ(series_key(Metric::JwtCacheHits, {longer}).size(), 256u);
}

TEST(Metrics, MethodLabelIsBounded) {
  EXPECT_EQ(method_label("GET"), "GET");
  EXPECT_EQ(method_label("OPTIONS"), "OPTIONS");
  EXPECT_EQ(method_label("PROPFIND"), "other");
  EXPECT_EQ(method_label("get"), "other");
  EXPECT_EQ(method_label(""), "other");
}

TEST(Metrics, UrlLabelDropsUserInfoQueryAndFragment) {
  EXPECT_EQ(url_label("https://idp.example/jwks.json"), "https://idp.example/jwks.json");
  EXPECT_EQ(url_label("https://user:s3cret@idp.example:8443/keys?token=abc#x"),
            "https://idp.example:8443/keys");
  EXPECT_EQ(url_label("https://u:p@idp.example"), "https://idp.example");
  EXPECT_EQ(url_label("http://idp.example/a@b"), "http://idp.example/a@b");
  EXPECT_EQ(url_label(""), "");
}

TEST(Metrics, PrometheusTextGroupsByMetricAndSortsSeries) {
  std::string text = render_prometheus({
      {Metric::Sessions, series_key(Metric::Sessions, {"corp", "created"}), 2},
      {Metric::Requests, series_key(Metric::Requests, {"/b/", "POST", "denied_401"}), 1},
      {Metric::Requests, series_key(Metric::Requests, {"/a/", "GET", "allowed"}), 7},
      {Metric::RedisErrors, "", 0},
  });
  EXPECT_EQ(text,
            "# HELP edge_auth_requests_total Client authentication decisions by location, method "
            "and outcome.\n"
            "# TYPE edge_auth_requests_total counter\n"
            "edge_auth_requests_total{location=\"/a/\",method=\"GET\",outcome=\"allowed\"} 7\n"
            "edge_auth_requests_total{location=\"/b/\",method=\"POST\",outcome=\"denied_401\"} 1\n"
            "# HELP edge_auth_sessions_total Login sessions created, refreshed and ended, by "
            "provider.\n"
            "# TYPE edge_auth_sessions_total counter\n"
            "edge_auth_sessions_total{provider=\"corp\",event=\"created\"} 2\n"
            "# HELP edge_auth_redis_errors_total Redis commands that failed (down, too slow, error "
            "reply).\n"
            "# TYPE edge_auth_redis_errors_total counter\n"
            "edge_auth_redis_errors_total 0\n");
}

TEST(Metrics, PrometheusEscapesLabelValues) {
  // a regex location name may hold backslashes and quotes
  std::string text = render_prometheus(
      {{Metric::JwtCacheHits, series_key(Metric::JwtCacheHits, {"~ \"^/v\\d+/\""}), 3}});
  EXPECT_NE(text.find("edge_auth_jwt_cache_hits_total{location=\"~ \\\"^/v\\\\d+/\\\"\"} 3\n"),
            std::string::npos)
      << text;
}

TEST(Metrics, MissingLabelValuesAreEmpty) {
  std::string text = render_prometheus({{Metric::Requests, "/only", 1}});
  EXPECT_NE(text.find("{location=\"/only\",method=\"\",outcome=\"\"} 1"), std::string::npos);
}

TEST(Metrics, NoSamplesNoText) { EXPECT_EQ(render_prometheus({}), ""); }

TEST(Metrics, JsonHasVersionNamesLabelsAndValues) {
  std::string text = render_json(
      {{Metric::ZoneBytes, series_key(Metric::ZoneBytes, {"free"}), 1024},
       {Metric::Requests, series_key(Metric::Requests, {"/a/", "GET", "allowed"}), 5}},
      "0.1.0");
  std::string error;
  JsonPtr doc = parse_json(text, 1 << 20, error);
  ASSERT_TRUE(doc) << error;
  EXPECT_STREQ(json_string_value(json_object_get(doc.get(), "version")), "0.1.0");
  json_t* list = json_object_get(doc.get(), "metrics");
  ASSERT_EQ(json_array_size(list), 2u);
  json_t* first = json_array_get(list, 0);
  EXPECT_STREQ(json_string_value(json_object_get(first, "name")), "edge_auth_requests_total");
  json_t* labels = json_object_get(first, "labels");
  EXPECT_STREQ(json_string_value(json_object_get(labels, "location")), "/a/");
  EXPECT_STREQ(json_string_value(json_object_get(labels, "outcome")), "allowed");
  EXPECT_EQ(json_integer_value(json_object_get(first, "value")), 5);
  json_t* second = json_array_get(list, 1);
  EXPECT_STREQ(json_string_value(json_object_get(second, "name")), "edge_auth_zone_bytes");
  EXPECT_EQ(json_integer_value(json_object_get(second, "value")), 1024);
}

TEST(Metrics, JsonShowsInvalidUtf8LabelAsNull) {
  std::string text =
      render_json({{Metric::JwtCacheHits, series_key(Metric::JwtCacheHits, {"\xff"}), 1}}, "v");
  std::string error;
  JsonPtr doc = parse_json(text, 1 << 20, error);
  ASSERT_TRUE(doc) << error;
  json_t* labels = json_object_get(json_array_get(json_object_get(doc.get(), "metrics"), 0), "labels");
  EXPECT_TRUE(json_is_null(json_object_get(labels, "location")));
}

}  // namespace
}  // namespace edge_auth
