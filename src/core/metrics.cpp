#include "core/metrics.h"

#include <algorithm>
#include <array>

#include "core/json.h"

namespace edge_auth {

namespace {

constexpr char kSeparator = '\x1f';
constexpr std::size_t kMaxLabelValue = 256;

const std::array<MetricInfo, kMetricCount>& table() {
  static const std::array<MetricInfo, kMetricCount> metrics = {{
      {"edge_auth_requests_total", "counter",
       "Client authentication decisions by location, method and outcome.",
       {"location", "method", "outcome"}},
      {"edge_auth_upstream_injections_total", "counter",
       "Credentials set on proxied requests by location and kind.",
       {"location", "kind"}},
      {"edge_auth_token_fetches_total", "counter",
       "OAuth client-credentials token requests by client and result.",
       {"client", "result"}},
      {"edge_auth_token_cache_total", "counter",
       "Upstream token cache lookups by client and result (hit, miss, refresh_ahead).",
       {"client", "result"}},
      {"edge_auth_jwks_fetches_total", "counter", "JWKS fetches by source URL and result.",
       {"source", "result"}},
      {"edge_auth_jwt_cache_hits_total", "counter",
       "JWTs found already verified in the shared cache, by location.",
       {"location"}},
      {"edge_auth_sessions_total", "counter",
       "Login sessions created, refreshed and ended, by provider.",
       {"provider", "event"}},
      {"edge_auth_redis_errors_total", "counter",
       "Redis commands that failed (down, too slow, error reply).",
       {}},
      {"edge_auth_zone_bytes", "gauge", "Bytes of the shared zone used and free.", {"state"}},
      {"edge_auth_info", "gauge", "The edge-auth module version.", {"version"}},
  }};
  return metrics;
}

std::vector<std::string_view> split_key(std::string_view key) {
  std::vector<std::string_view> values;
  if (key.empty()) return values;
  for (;;) {
    std::size_t at = key.find(kSeparator);
    values.push_back(key.substr(0, at));
    if (at == std::string_view::npos) break;
    key.remove_prefix(at + 1);
  }
  return values;
}

void append_escaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void sort_samples(std::vector<Sample>& samples) {
  std::sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) {
    if (a.metric != b.metric) return a.metric < b.metric;
    return a.key < b.key;
  });
}

}  // namespace

const MetricInfo& metric_info(Metric metric) {
  return table()[static_cast<std::size_t>(metric)];
}

std::string series_key(Metric metric, std::initializer_list<std::string_view> values) {
  (void)metric;
  std::string key;
  bool first = true;
  for (std::string_view v : values) {
    if (!first) key += kSeparator;
    first = false;
    for (char c : v.substr(0, kMaxLabelValue)) {
      key += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
    }
  }
  return key;
}

std::string_view method_label(std::string_view method) {
  static constexpr std::string_view known[] = {"GET", "HEAD", "POST", "PUT",
                                               "DELETE", "PATCH", "OPTIONS"};
  for (std::string_view m : known) {
    if (m == method) return m;
  }
  return "other";
}

std::string url_label(std::string_view url) {
  std::size_t cut = url.find_first_of("?#");
  if (cut != std::string_view::npos) url = url.substr(0, cut);
  std::size_t scheme = url.find("://");
  std::size_t host = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::size_t path = url.find('/', host);
  std::string_view authority = url.substr(host, path == std::string_view::npos
                                                    ? std::string_view::npos
                                                    : path - host);
  std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, host));
  out.append(authority.substr(at + 1));
  if (path != std::string_view::npos) out.append(url.substr(path));
  return out;
}

std::string render_prometheus(std::vector<Sample> samples) {
  sort_samples(samples);
  std::string out;
  int last = -1;
  for (const Sample& s : samples) {
    const MetricInfo& info = metric_info(s.metric);
    if (static_cast<int>(s.metric) != last) {
      last = static_cast<int>(s.metric);
      out.append("# HELP ").append(info.name).append(" ").append(info.help).append("\n");
      out.append("# TYPE ").append(info.name).append(" ").append(info.type).append("\n");
    }
    out.append(info.name);
    std::vector<std::string_view> values = split_key(s.key);
    if (!info.labels.empty()) {
      out += '{';
      for (std::size_t i = 0; i < info.labels.size(); i++) {
        if (i > 0) out += ',';
        out.append(info.labels[i]).append("=\"");
        append_escaped(out, i < values.size() ? values[i] : std::string_view());
        out += '"';
      }
      out += '}';
    }
    out.append(" ").append(std::to_string(s.value)).append("\n");
  }
  return out;
}

std::string render_json(std::vector<Sample> samples, std::string_view version) {
  sort_samples(samples);
  JsonPtr root(json_object());
  json_t* list = json_array();
  json_object_set_new(root.get(), "version", json_stringn(version.data(), version.size()));
  json_object_set_new(root.get(), "metrics", list);
  for (const Sample& s : samples) {
    const MetricInfo& info = metric_info(s.metric);
    json_t* item = json_object();
    json_t* labels = json_object();
    std::vector<std::string_view> values = split_key(s.key);
    for (std::size_t i = 0; i < info.labels.size(); i++) {
      std::string_view v = i < values.size() ? values[i] : std::string_view();
      std::string name(info.labels[i]);
      // json_stringn refuses invalid UTF-8: such a value is shown as null
      json_t* value = json_stringn(v.data(), v.size());
      json_object_set_new(labels, name.c_str(), value != nullptr ? value : json_null());
    }
    json_object_set_new(item, "name", json_stringn(info.name.data(), info.name.size()));
    json_object_set_new(item, "labels", labels);
    json_object_set_new(item, "value", json_integer(static_cast<json_int_t>(s.value)));
    json_array_append_new(list, item);
  }
  char* text = json_dumps(root.get(), JSON_INDENT(1) | JSON_PRESERVE_ORDER);
  std::string out = text != nullptr ? text : "{}";
  free(text);
  out += '\n';
  return out;
}

}  // namespace edge_auth
