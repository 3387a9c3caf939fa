// The module's metrics: their names, label names and help texts, the compact
// key a series is stored under (the connector keeps the counters in shared
// memory), and the two expositions of edge_auth_status.
//   std::string key = series_key(Metric::Requests, {"/api/", "GET", "allowed"});
//   std::string text = render_prometheus({{Metric::Requests, key, 42}});
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace edge_auth {

enum class Metric : std::uint8_t {
  Requests,       // {location, method, outcome}: client authentication decisions
  Injections,     // {location, kind}: upstream credentials set on proxied requests
  TokenFetches,   // {client, result}: OAuth client-credentials requests to the IdP
  TokenCache,     // {client, result}: hit, miss or refresh_ahead of the token cache
  JwksFetches,    // {source, result}: JWKS documents fetched from URLs
  JwtCacheHits,   // {location}: JWTs found already verified
  Sessions,       // {provider, event}: created, refreshed, ended
  RedisErrors,    // {}: commands that failed (down, slow, error reply)
  ZoneBytes,      // {state}: used / free bytes of the shared zone (a gauge)
  Info,           // {version}: always 1
};
inline constexpr int kMetricCount = 10;

struct MetricInfo {
  std::string_view name;  // edge_auth_requests_total
  std::string_view type;  // counter | gauge
  std::string_view help;
  std::vector<std::string_view> labels;
};

const MetricInfo& metric_info(Metric metric);

// The key of one series: the label values in the order of metric_info().labels,
// separated by '\x1f'. Values longer than 256 bytes are cut; control
// characters (the separator included) become '?'.
std::string series_key(Metric metric, std::initializer_list<std::string_view> values);

// The label for a request method (bounded: anything unusual is "other").
std::string_view method_label(std::string_view method);

// A URL as a label: scheme, host, port and path; user info, query and
// fragment are dropped (they may hold credentials).
std::string url_label(std::string_view url);

struct Sample {
  Metric metric;
  std::string key;  // series_key
  std::uint64_t value;
};

// Prometheus text format 0.0.4: HELP and TYPE once per metric, series sorted,
// label values escaped (\\, \", \n). Metrics without samples are left out.
std::string render_prometheus(std::vector<Sample> samples);

// {"version": "...", "metrics": [{"name": ..., "labels": {...}, "value": N}, ...]}
// in the same order as the text format.
std::string render_json(std::vector<Sample> samples, std::string_view version);

}  // namespace edge_auth
