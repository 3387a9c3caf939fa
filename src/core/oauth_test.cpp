#include "core/oauth.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base64.h"

namespace edge_auth {
namespace {

OAuthClientConfig config() {
  OAuthClientConfig cfg;
  cfg.name = "billing";
  cfg.token_url = "https://idp.example/oauth2/token";
  cfg.client_id = "id:with%";
  cfg.client_secret = "s3cr&t +pw";
  return cfg;
}

std::string header(const HttpRequest& req, std::string_view name) {
  for (const auto& [n, v] : req.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

// ---- the token request ----

TEST(TokenRequest, ClientSecretBasic) {
  OAuthClientConfig cfg = config();
  cfg.scope = "read write";
  cfg.audience = "https://api.example";
  cfg.resource = "https://api.example/v1";
  cfg.params = {{"tenant", "a&b"}, {"x", "1"}};
  HttpRequest req = build_token_request(cfg);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, cfg.token_url);
  EXPECT_EQ(header(req, "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(header(req, "Accept"), "application/json");
  // RFC 6749 §2.3.1: id and secret are form-encoded, then joined by ':'.
  EXPECT_EQ(header(req, "Authorization"), "Basic " + base64_encode("id%3Awith%25:s3cr%26t+%2Bpw"));
  EXPECT_EQ(req.body,
            "grant_type=client_credentials&scope=read+write&audience=https%3A%2F%2Fapi.example"
            "&resource=https%3A%2F%2Fapi.example%2Fv1&tenant=a%26b&x=1");
  EXPECT_EQ(req.body.find("s3cr"), std::string::npos);
  EXPECT_EQ(req.body.find("client_id"), std::string::npos);
}

TEST(TokenRequest, ClientSecretPost) {
  OAuthClientConfig cfg = config();
  cfg.auth_method = ClientAuthMethod::ClientSecretPost;
  cfg.scope = "read";
  HttpRequest req = build_token_request(cfg);
  EXPECT_EQ(header(req, "Authorization"), "<absent>");
  EXPECT_EQ(req.body,
            "grant_type=client_credentials&scope=read"
            "&client_id=id%3Awith%25&client_secret=s3cr%26t+%2Bpw");
}

TEST(TokenRequest, NoEmptyFields) {
  HttpRequest req = build_token_request(config());
  EXPECT_EQ(req.body, "grant_type=client_credentials");
}

// ---- the cache key ----

TEST(TokenCacheKey, ChangesWithEverythingThatChangesTheToken) {
  const Digest base = token_cache_key(config());
  EXPECT_EQ(base, token_cache_key(config()));
  auto changed = [&](auto edit) {
    OAuthClientConfig cfg = config();
    edit(cfg);
    return token_cache_key(cfg) != base;
  };
  EXPECT_TRUE(changed([](auto& c) { c.name = "other"; }));
  EXPECT_TRUE(changed([](auto& c) { c.token_url += "2"; }));
  EXPECT_TRUE(changed([](auto& c) { c.client_id = "other"; }));
  EXPECT_TRUE(changed([](auto& c) { c.client_secret = "rotated"; }));
  EXPECT_TRUE(changed([](auto& c) { c.auth_method = ClientAuthMethod::ClientSecretPost; }));
  EXPECT_TRUE(changed([](auto& c) { c.scope = "read"; }));
  EXPECT_TRUE(changed([](auto& c) { c.audience = "api"; }));
  EXPECT_TRUE(changed([](auto& c) { c.resource = "https://r"; }));
  EXPECT_TRUE(changed([](auto& c) { c.params = {{"k", "v"}}; }));
  // Timing knobs do not change which token the IdP hands out.
  EXPECT_FALSE(changed([](auto& c) { c.refresh_before_ms = 1; }));
  EXPECT_FALSE(changed([](auto& c) { c.retries = 7; }));
}

TEST(TokenCacheKey, FieldBoundariesAreUnambiguous) {
  OAuthClientConfig a = config();
  OAuthClientConfig b = config();
  a.scope = "ab";
  a.audience = "c";
  b.scope = "a";
  b.audience = "bc";
  EXPECT_NE(token_cache_key(a), token_cache_key(b));
  a = b = config();
  a.params = {{"k", "v"}, {"", ""}};
  b.params = {{"k", "v"}};
  EXPECT_NE(token_cache_key(a), token_cache_key(b));
}

TEST(TokenCacheKey, DistinctAcrossClients) {
  OAuthClientConfig a = config();
  OAuthClientConfig b = config();
  b.name = "shipping";
  b.client_id = "ship";
  EXPECT_NE(token_cache_key(a), token_cache_key(b));
}

// ---- the token response ----

constexpr std::int64_t kNow = 1'700'000'000'000;

TokenResult parse(int status, std::string body, std::string error = "") {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.error = std::move(error);
  return parse_token_response(r, kNow, config());
}

TEST(TokenResponse, Good) {
  TokenResult t =
      parse(200, R"({"access_token":"eyJ.abc.def","token_type":"Bearer","expires_in":3600})");
  ASSERT_TRUE(t.ok) << t.error.summary();
  EXPECT_EQ(t.token.value, "eyJ.abc.def");
  EXPECT_EQ(t.token.token_type, "Bearer");
  EXPECT_EQ(t.token.obtained_ms, kNow);
  EXPECT_EQ(t.token.expires_ms, kNow + 3'600'000);
}

struct ResponseCase {
  const char* what;
  int status;
  std::string body;
  std::string transport_error;
  bool ok;
  std::int64_t lifetime_ms;  // when ok
  bool retryable;
  std::string summary;  // when not ok
};

TEST(TokenResponse, Table) {
  const std::int64_t kDefault = config().default_lifetime_ms;
  const ResponseCase cases[] = {
      {"missing expires_in", 200, R"({"access_token":"t","token_type":"Bearer"})", "", true,
       kDefault, false, ""},
      {"string expires_in", 200, R"({"access_token":"t","token_type":"bearer","expires_in":"60"})",
       "", true, 60'000, false, ""},
      {"null expires_in", 200, R"({"access_token":"t","token_type":"Bearer","expires_in":null})",
       "", true, kDefault, false, ""},
      {"integral real", 201, R"({"access_token":"t","expires_in":60.0})", "", true, 60'000, false,
       ""},
      {"missing token_type means Bearer", 200, R"({"access_token":"t","expires_in":5})", "", true,
       5'000, false, ""},
      {"huge expires_in clamped", 200, R"({"access_token":"t","expires_in":99999999999999})", "",
       true, 10LL * 366 * 24 * 3600 * 1000, false, ""},
      {"400 invalid_client with description", 400,
       R"({"error":"invalid_client","error_description":"Client authentication failed"})", "",
       false, 0, false, "HTTP 400 invalid_client: Client authentication failed"},
      {"401 without body", 401, "", "", false, 0, false, "HTTP 401"},
      {"403 HTML", 403, "<html>Forbidden</html>", "", false, 0, false, "HTTP 403"},
      {"429 is retryable", 429, R"({"error":"slow_down"})", "", false, 0, true,
       "HTTP 429 slow_down"},
      {"500 retryable", 500, R"({"error":"server_error","error_description":"db down"})", "", false,
       0, true, "HTTP 500 server_error: db down"},
      {"503 HTML", 503, "<html><body>Service Unavailable</body></html>", "", false, 0, true,
       "HTTP 503"},
      {"302 is not followed nor retried", 302, "", "", false, 0, false, "HTTP 302"},
      {"200 garbage", 200, "not json{", "", false, 0, false,
       "HTTP 200 invalid_response: body not valid JSON (line 1, column 3)"},
      {"200 empty", 200, "", "", false, 0, false,
       "HTTP 200 invalid_response: body not valid JSON (line 1, column 0)"},
      {"200 no access_token", 200, R"({"token_type":"Bearer"})", "", false, 0, false,
       "HTTP 200 invalid_response: no access_token"},
      {"200 with an error body", 200, R"({"error":"invalid_scope"})", "", false, 0, false,
       "HTTP 200 invalid_scope: no access_token"},
      {"200 array", 200, R"([{"access_token":"t"}])", "", false, 0, false,
       "HTTP 200 invalid_response: body is not a JSON object"},
      {"200 access_token not a string", 200, R"({"access_token":42})", "", false, 0, false,
       "HTTP 200 invalid_response: access_token is not a string"},
      {"200 empty access_token", 200, R"({"access_token":""})", "", false, 0, false,
       "HTTP 200 invalid_response: access_token is empty"},
      {"200 access_token with a space", 200, R"({"access_token":"a b"})", "", false, 0, false,
       "HTTP 200 invalid_response: access_token has characters a header cannot carry"},
      {"200 access_token with CRLF", 200, R"({"access_token":"a\r\nX-Evil: 1"})", "", false, 0,
       false, "HTTP 200 invalid_response: access_token has characters a header cannot carry"},
      {"200 token_type DPoP", 200, R"({"access_token":"t","token_type":"DPoP"})", "", false, 0,
       false, "HTTP 200 invalid_response: unsupported token_type \"DPoP\""},
      {"200 token_type not a string", 200, R"({"access_token":"t","token_type":1})", "", false, 0,
       false, "HTTP 200 invalid_response: token_type is not a string"},
      {"200 zero expires_in", 200, R"({"access_token":"t","expires_in":0})", "", false, 0, false,
       "HTTP 200 invalid_response: expires_in is not a positive number"},
      {"200 negative expires_in", 200, R"({"access_token":"t","expires_in":-5})", "", false, 0,
       false, "HTTP 200 invalid_response: expires_in is not a positive number"},
      {"200 fractional expires_in", 200, R"({"access_token":"t","expires_in":1.5})", "", false, 0,
       false, "HTTP 200 invalid_response: expires_in is not a positive number"},
      {"200 word expires_in", 200, R"({"access_token":"t","expires_in":"1h"})", "", false, 0, false,
       "HTTP 200 invalid_response: expires_in is not a positive number"},
      {"200 duplicate access_token", 200, R"({"access_token":"a","access_token":"b"})", "", false,
       0, false, "HTTP 200 invalid_response: body duplicate member name"},
      {"transport error", 0, "", "connection refused", false, 0, true,
       "transport: connection refused"},
      {"transport error without text", 0, "", "", false, 0, true, "transport: no response"},
  };
  for (const ResponseCase& c : cases) {
    SCOPED_TRACE(c.what);
    TokenResult t = parse(c.status, c.body, c.transport_error);
    ASSERT_EQ(t.ok, c.ok) << t.error.summary();
    if (c.ok) {
      EXPECT_EQ(t.token.expires_ms - t.token.obtained_ms, c.lifetime_ms);
      EXPECT_EQ(t.token.token_type.size() > 0, true);
    } else {
      EXPECT_EQ(t.error.http_status, c.status);
      EXPECT_EQ(t.error.retryable, c.retryable);
      EXPECT_EQ(t.error.summary(), c.summary);
    }
  }
}

// Fuzzing (token): "expires_in": -1e300 was cast to int64 before its sign
// was checked, a double outside int64's range (undefined behaviour; UBSan
// stops there). Huge negative reals are refused like any negative lifetime.
TEST(TokenResponse, HugeNegativeRealExpiresInIsRefusedBeforeTheCast) {
  for (const char* expires_in : {"-1e300", "-9.3e18", "-1.0", "-0.0"}) {
    SCOPED_TRACE(expires_in);
    TokenResult t = parse(200, std::string(R"({"access_token":"t","expires_in":)") + expires_in + "}");
    ASSERT_FALSE(t.ok);
    EXPECT_EQ(t.error.summary(), "HTTP 200 invalid_response: expires_in is not a positive number");
  }
}

TEST(TokenResponse, OversizedBodyIsAnError) {
  std::string body = R"({"access_token":"t","pad":")" + std::string(1024 * 1024, 'x') + "\"}";
  TokenResult t = parse(200, body);
  ASSERT_FALSE(t.ok);
  EXPECT_FALSE(t.error.retryable);
  EXPECT_EQ(t.error.summary(), "HTTP 200 invalid_response: body larger than 1048576 bytes");
}

// Regression: the HTTP client stops reading past its cap and says so; that
// was reported as a transport error and retried (3 x 12 MB to one IdP).
TEST(TokenResponse, BodyCutAtTheClientCapIsNotRetried) {
  edge_auth::HttpResponse response;
  response.status = 200;
  response.body_too_large = true;
  response.max_body = 1024 * 1024;
  edge_auth::OAuthClientConfig cfg;
  TokenResult t = edge_auth::parse_token_response(response, 0, cfg);
  ASSERT_FALSE(t.ok);
  EXPECT_FALSE(t.error.retryable);
  EXPECT_EQ(t.error.summary(), "HTTP 200 invalid_response: body larger than 1048576 bytes");
}

TEST(TokenResponse, OverlongAccessTokenIsAnError) {
  TokenResult t = parse(200, R"({"access_token":")" + std::string(16 * 1024 + 1, 'a') + "\"}");
  ASSERT_FALSE(t.ok);
  EXPECT_EQ(t.error.description, "access_token longer than 16384 bytes");
  EXPECT_TRUE(parse(200, R"({"access_token":")" + std::string(16 * 1024, 'a') + "\"}").ok);
}

TEST(TokenResponse, IdpTextIsBoundedAndEscaped) {
  TokenResult t =
      parse(400, R"({"error":"bad\nerror","error_description":")" + std::string(500, 'd') + "\"}");
  EXPECT_EQ(t.error.error, "bad\\x0aerror");
  EXPECT_EQ(t.error.description, std::string(200, 'd') + "...");
}

TEST(TokenResponse, SummaryNeverHoldsTheSecretOrTheToken) {
  // An IdP that echoes the request back, in every place text is taken from.
  const std::string secret = config().client_secret;
  const std::string encoded_secret = "s3cr%26t+%2Bpw";
  const std::string echo = "got client_secret=" + encoded_secret + " and '" + secret + "'";
  const std::string token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdmMifQ.c2ln";
  const std::vector<TokenResult> results = {
      parse(401, R"({"error":"invalid_client","error_description":")" + echo + "\"}"),
      parse(500, R"({"error":")" + secret + R"(","error_description":")" + echo + "\"}"),
      parse(200, R"({"error":"invalid_request","error_description":")" + echo + "\"}"),
      parse(0, "", "failed: " + secret),
      parse(200, R"({"access_token":")" + token + R"(","token_type":"mac"})"),
      parse(200, R"({"access_token":")" + token + R"(","expires_in":"soon"})"),
      parse(200, R"({"access_token":")" + token + R"( x"})"),
      parse(200, R"({"access_token":")" + token + R"("} trailing)"),
  };
  for (const TokenResult& t : results) {
    ASSERT_FALSE(t.ok);
    std::string s = t.error.summary();
    SCOPED_TRACE(s);
    EXPECT_EQ(s.find("s3cr"), std::string::npos);
    EXPECT_EQ(s.find("eyJ"), std::string::npos);
  }
  EXPECT_EQ(results[0].error.summary(),
            "HTTP 401 invalid_client: got client_secret=[redacted] and '[redacted]'");
}

// Fuzzing (token): the "unsupported token_type" error quoted the IdP's
// token_type through log_safe alone, so a secret echoed there reached the log.
TEST(TokenResponse, UnsupportedTokenTypeIsRedactedLikeOtherIdpText) {
  const std::string secret = config().client_secret;
  TokenResult t = parse(200, R"({"access_token":"x","token_type":"D)" + secret + R"(PoP"})");
  ASSERT_FALSE(t.ok);
  EXPECT_EQ(t.error.summary(),
            "HTTP 200 invalid_response: unsupported token_type \"D[redacted]PoP\"");
  t = parse(200, R"({"access_token":"x","token_type":"s3cr%26t+%2Bpw"})");
  EXPECT_EQ(t.error.summary(),
            "HTTP 200 invalid_response: unsupported token_type \"[redacted]\"");
}

TEST(TokenError, SummaryShapes) {
  TokenError e;
  EXPECT_EQ(e.summary(), "unknown error");
  e.http_status = 401;
  EXPECT_EQ(e.summary(), "HTTP 401");
  e.error = "invalid_client";
  EXPECT_EQ(e.summary(), "HTTP 401 invalid_client");
  e.description = "Client authentication failed";
  EXPECT_EQ(e.summary(), "HTTP 401 invalid_client: Client authentication failed");
}

// ---- freshness, backoff, serialisation ----

TEST(Freshness, Boundaries) {
  AccessToken t;
  t.obtained_ms = 1'000'000;
  t.expires_ms = t.obtained_ms + 3'600'000;
  const std::int64_t rb = 60'000;
  EXPECT_EQ(freshness(t, t.obtained_ms, rb), Freshness::Fresh);
  EXPECT_EQ(freshness(t, t.expires_ms - rb - 1, rb), Freshness::Fresh);
  EXPECT_EQ(freshness(t, t.expires_ms - rb, rb), Freshness::RefreshAhead);
  EXPECT_EQ(freshness(t, t.expires_ms - 1, rb), Freshness::RefreshAhead);
  EXPECT_EQ(freshness(t, t.expires_ms, rb), Freshness::Expired);
  EXPECT_EQ(freshness(t, t.expires_ms + 1, rb), Freshness::Expired);
  EXPECT_EQ(freshness(t, t.expires_ms - 1, 0), Freshness::Fresh);
}

TEST(Freshness, ShortLivedTokenRefreshesAtHalfLife) {
  // A 30 s token with refresh_before 60 s would otherwise be "refresh ahead"
  // from the moment it arrived, and be refetched on every request.
  AccessToken t;
  t.obtained_ms = 0;
  t.expires_ms = 30'000;
  EXPECT_EQ(freshness(t, 14'999, 60'000), Freshness::Fresh);
  EXPECT_EQ(freshness(t, 15'000, 60'000), Freshness::RefreshAhead);
  // The issue's refresh-ahead scenario: a 4 s token, refresh_before 2 s.
  t.expires_ms = 4'000;
  EXPECT_EQ(freshness(t, 1'999, 2'000), Freshness::Fresh);
  EXPECT_EQ(freshness(t, 2'000, 2'000), Freshness::RefreshAhead);
  EXPECT_EQ(freshness(t, 4'000, 2'000), Freshness::Expired);
}

TEST(Backoff, RangesDoubleAndCap) {
  const std::uint64_t kMax = ~std::uint64_t{0};
  EXPECT_EQ(backoff_delay_ms(1, 0), 100);
  EXPECT_EQ(backoff_delay_ms(1, 100), 200);  // the range [100, 200] has 101 values
  EXPECT_EQ(backoff_delay_ms(1, 101), 100);
  EXPECT_EQ(backoff_delay_ms(2, 0), 200);
  EXPECT_EQ(backoff_delay_ms(2, 200), 400);
  EXPECT_EQ(backoff_delay_ms(3, 0), 400);
  EXPECT_EQ(backoff_delay_ms(3, 400), 800);
  EXPECT_EQ(backoff_delay_ms(10, 0), 2'500);  // 200 * 2^9 capped at 5000
  EXPECT_EQ(backoff_delay_ms(10, 2'500), 5'000);
  EXPECT_EQ(backoff_delay_ms(1000, 2'500), 5'000);  // no overflow for silly attempts
  EXPECT_EQ(backoff_delay_ms(0, 0), 100);           // treated as the first attempt
  EXPECT_EQ(backoff_delay_ms(3, 0, 1000, 1500), 750);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    for (std::uint64_t r : {std::uint64_t{0}, std::uint64_t{7}, kMax, kMax / 3}) {
      std::int64_t d = backoff_delay_ms(attempt, r);
      std::int64_t full = std::min<std::int64_t>(5'000, 200LL << (attempt - 1));
      EXPECT_GE(d, full / 2);
      EXPECT_LE(d, full);
    }
  }
}

TEST(TokenSerialisation, RoundTrip) {
  AccessToken t{"eyJ.payload.sig", "Bearer", kNow, kNow + 3'600'000};
  std::optional<AccessToken> back = deserialize_token(serialize_token(t));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->value, t.value);
  EXPECT_EQ(back->token_type, t.token_type);
  EXPECT_EQ(back->obtained_ms, t.obtained_ms);
  EXPECT_EQ(back->expires_ms, t.expires_ms);
}

TEST(TokenSerialisation, RejectsAnythingMalformed) {
  const std::string good = serialize_token({"tok", "Bearer", 10, 20});
  ASSERT_TRUE(deserialize_token(good));
  EXPECT_FALSE(deserialize_token(""));
  EXPECT_FALSE(deserialize_token(good + "x"));  // trailing bytes
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(deserialize_token(good.substr(0, n))) << "truncated to " << n;
  }
  std::string v2 = good;
  v2[0] = 2;
  EXPECT_FALSE(deserialize_token(v2));
  std::string huge_length = good;
  huge_length[1 + 16] = '\x7f';  // length of token_type
  EXPECT_FALSE(deserialize_token(huge_length));
  EXPECT_FALSE(deserialize_token(serialize_token({"tok", "Bearer", 20, 20})));  // no lifetime
  EXPECT_FALSE(deserialize_token(serialize_token({"tok", "Bearer", -1, 20})));
  EXPECT_FALSE(deserialize_token(serialize_token({"", "Bearer", 10, 20})));
  EXPECT_FALSE(deserialize_token(serialize_token({"t\r\nX: y", "Bearer", 10, 20})));
  EXPECT_FALSE(deserialize_token(serialize_token({"tok", "", 10, 20})));
  EXPECT_FALSE(
      deserialize_token(serialize_token({std::string(16 * 1024 + 1, 'a'), "Bearer", 10, 20})));
}

// ---- TokenFetch with a fake client and a manual clock ----

class FakeHttpClient : public HttpClient {
 public:
  struct Call {
    HttpRequest request;
    HttpOptions options;
    std::function<void(HttpResponse)> done;
  };
  void send(HttpRequest request, HttpOptions options,
            std::function<void(HttpResponse)> done) override {
    calls.push_back({std::move(request), options, std::move(done)});
    ++sent;
  }
  // Answers the oldest pending call with the next canned response.
  void deliver() {
    ASSERT_FALSE(calls.empty()) << "no request in flight";
    ASSERT_FALSE(responses.empty()) << "no canned response";
    Call call = std::move(calls.front());
    calls.pop_front();
    HttpResponse response = std::move(responses.front());
    responses.pop_front();
    call.done(std::move(response));
  }
  std::deque<HttpResponse> responses;
  std::deque<Call> calls;
  int sent = 0;
};

class FakeScheduler : public Scheduler {
 public:
  std::int64_t now_ms() override { return now; }
  void after(std::int64_t delay_ms, std::function<void()> fn) override {
    delays.push_back(delay_ms);
    timers.emplace(now + delay_ms, std::move(fn));
  }
  // Moves the clock forward, running each timer that falls due, in order.
  void advance(std::int64_t ms) {
    std::int64_t until = now + ms;
    while (!timers.empty() && timers.begin()->first <= until) {
      auto it = timers.begin();
      now = it->first;
      std::function<void()> fn = std::move(it->second);
      timers.erase(it);
      fn();
    }
    now = until;
  }
  std::int64_t now = kNow;
  std::multimap<std::int64_t, std::function<void()>> timers;
  std::vector<std::int64_t> delays;
};

HttpResponse status(int code, std::string body = "") {
  HttpResponse r;
  r.status = code;
  r.body = std::move(body);
  if (code == 0) r.error = "connection refused";
  return r;
}

const char kGoodBody[] = R"({"access_token":"tok","token_type":"Bearer","expires_in":60})";

class TokenFetchTest : public ::testing::Test {
 protected:
  void start() {
    fetch = std::make_unique<TokenFetch>(cfg, http, scheduler);
    fetch->start([this](TokenResult r) {
      ++done_calls;
      result = std::move(r);
    });
  }
  // Delivers responses and fires backoff timers until the fetch is done.
  void run() {
    for (int guard = 0; guard < 100 && done_calls == 0; ++guard) {
      if (!http.calls.empty()) {
        http.deliver();
      } else {
        scheduler.advance(10'000);
      }
    }
  }
  OAuthClientConfig cfg = config();
  FakeHttpClient http;
  FakeScheduler scheduler;
  std::unique_ptr<TokenFetch> fetch;
  int done_calls = 0;
  TokenResult result;
};

TEST_F(TokenFetchTest, SendsTheRequestWithTheTimeout) {
  cfg.timeout_ms = 1'500;
  cfg.ca_file = "/etc/ca.pem";
  start();
  ASSERT_EQ(http.calls.size(), 1u);
  EXPECT_EQ(http.calls[0].request.body, build_token_request(cfg).body);
  EXPECT_EQ(http.calls[0].options.timeout_ms, 1'500);
  EXPECT_EQ(http.calls[0].options.connect_timeout_ms, 1'500);
  EXPECT_EQ(http.calls[0].options.ca_file, "/etc/ca.pem");
  EXPECT_EQ(done_calls, 0);  // nothing happens inside start()
}

TEST_F(TokenFetchTest, RetriesOn500ThenSucceeds) {
  http.responses = {status(500), status(0), status(200, kGoodBody)};
  start();
  run();
  EXPECT_EQ(done_calls, 1);
  ASSERT_TRUE(result.ok) << result.error.summary();
  EXPECT_EQ(result.token.value, "tok");
  EXPECT_EQ(fetch->attempts(), 3);
  ASSERT_EQ(scheduler.delays.size(), 2u);
  EXPECT_GE(scheduler.delays[0], 100);
  EXPECT_LE(scheduler.delays[0], 200);
  EXPECT_GE(scheduler.delays[1], 200);
  EXPECT_LE(scheduler.delays[1], 400);
  // The token's clock is the time of the answer, after the backoffs.
  EXPECT_EQ(result.token.obtained_ms, scheduler.now);
}

TEST_F(TokenFetchTest, NoRetryOn401) {
  http.responses = {status(401, R"({"error":"invalid_client"})"), status(200, kGoodBody)};
  start();
  run();
  EXPECT_EQ(done_calls, 1);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error.summary(), "HTTP 401 invalid_client");
  EXPECT_EQ(http.sent, 1);
  EXPECT_TRUE(scheduler.timers.empty());
}

TEST_F(TokenFetchTest, NoRetryOnAnInvalid2xx) {
  http.responses = {status(200, "garbage"), status(200, kGoodBody)};
  start();
  run();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(http.sent, 1);
}

TEST_F(TokenFetchTest, GivesUpAfterRetries) {
  cfg.retries = 2;
  http.responses = {status(503), status(0), status(502, R"({"error":"bad_gateway"})"),
                    status(200, kGoodBody)};
  start();
  run();
  EXPECT_EQ(done_calls, 1);
  EXPECT_FALSE(result.ok);
  EXPECT_TRUE(result.error.retryable);
  EXPECT_EQ(result.error.summary(), "HTTP 502 bad_gateway");  // the last answer
  EXPECT_EQ(http.sent, 3);                                    // one attempt + two retries
  EXPECT_EQ(fetch->attempts(), 3);
  EXPECT_TRUE(scheduler.timers.empty());
}

TEST_F(TokenFetchTest, ZeroRetries) {
  cfg.retries = 0;
  http.responses = {status(500)};
  start();
  run();
  EXPECT_EQ(done_calls, 1);
  EXPECT_EQ(http.sent, 1);
}

TEST_F(TokenFetchTest, DoneIsCalledExactlyOnce) {
  http.responses = {status(200, kGoodBody)};
  start();
  run();
  scheduler.advance(60'000);
  EXPECT_EQ(done_calls, 1);
  EXPECT_TRUE(http.calls.empty());
  EXPECT_THROW(fetch->start([](TokenResult) {}), std::logic_error);
}

TEST_F(TokenFetchTest, DestroyingTheFetchInsideDoneIsSafe) {
  // The connector frees the fetch in its completion: nothing may touch it after.
  http.responses = {status(500), status(200, kGoodBody)};
  fetch = std::make_unique<TokenFetch>(cfg, http, scheduler);
  fetch->start([this](TokenResult r) {
    ++done_calls;
    result = std::move(r);
    fetch.reset();
  });
  run();
  EXPECT_EQ(done_calls, 1);
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(fetch, nullptr);
}

TEST_F(TokenFetchTest, DestroyedWhileARequestIsInFlight) {
  // Shutdown: the owner drops the fetch; the late answer must not reach it.
  http.responses = {status(200, kGoodBody)};
  start();
  fetch.reset();
  http.deliver();
  EXPECT_EQ(done_calls, 0);
}

TEST_F(TokenFetchTest, DestroyedWhileWaitingToRetry) {
  http.responses = {status(500)};
  start();
  http.deliver();
  ASSERT_EQ(scheduler.timers.size(), 1u);
  fetch.reset();
  scheduler.advance(10'000);
  EXPECT_EQ(http.sent, 1);
  EXPECT_EQ(done_calls, 0);
}

class ThrowingHttpClient : public FakeHttpClient {
 public:
  void send(HttpRequest request, HttpOptions options,
            std::function<void(HttpResponse)> done) override {
    if (sent >= 1) throw std::runtime_error("curl_multi_add_handle failed");
    FakeHttpClient::send(std::move(request), options, std::move(done));
  }
};

TEST(TokenFetch, ASendThatThrowsOnARetryEndsTheFetch) {
  OAuthClientConfig cfg = config();
  ThrowingHttpClient http;
  FakeScheduler scheduler;
  http.responses = {status(500)};
  int done_calls = 0;
  TokenResult result;
  TokenFetch fetch(cfg, http, scheduler);
  fetch.start([&](TokenResult r) {
    ++done_calls;
    result = std::move(r);
  });
  http.deliver();
  scheduler.advance(10'000);
  EXPECT_EQ(done_calls, 1);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.error.summary(), "transport: curl_multi_add_handle failed");
}

}  // namespace
}  // namespace edge_auth
