// What the core asks of an HTTP client, and a client-agnostic request/response.
// The connector implements HttpClient on libcurl's multi socket API driven by
// nginx's event loop; unit tests implement it with a fake.
//   client.send(build_token_request(cfg), opts, [](HttpResponse r) { ... });
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edge_auth {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // name, value
  std::string body;
};

struct HttpOptions {
  std::int64_t timeout_ms = 5000;  // whole exchange
  std::int64_t connect_timeout_ms = 2000;
  std::size_t max_body = 1024 * 1024;  // larger = error, nothing buffered past it
  std::string ca_file;                 // empty = system store; verification is always on
};

struct HttpResponse {
  int status = 0;     // 0 = transport error (see error)
  std::string error;  // "connection refused", "timeout", "response larger than 1048576 bytes"
  std::string body;
  std::string cache_control;  // the Cache-Control header, if any (JWKS max-age)
  // The body went past HttpOptions::max_body: the client stopped reading, so
  // `body` is empty and `status` is the status line that was received.
  bool body_too_large = false;
  std::size_t max_body = 0;  // the limit that was exceeded
  bool ok() const { return status >= 200 && status < 300; }
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Starts the exchange; `done` is called exactly once, later, on the
  // caller's event loop (never from inside send()).
  virtual void send(HttpRequest request, HttpOptions options,
                    std::function<void(HttpResponse)> done) = 0;
};

// Timers on the caller's event loop (nginx timers in the connector).
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::int64_t now_ms() = 0;  // wall clock, milliseconds
  virtual void after(std::int64_t delay_ms, std::function<void()> fn) = 0;
};

// application/x-www-form-urlencoded body (RFC 6749 appendix B): name=value
// pairs joined by '&', each side encoded by form_urlencode.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);
// One form value: unreserved characters (ALPHA DIGIT - . _ ~) kept, space as
// '+', every other byte %XX (uppercase). Also used for client_secret_basic.
std::string form_urlencode(std::string_view value);

}  // namespace edge_auth
