// Google Benchmark of the core functions on the per-request path (not part of
// the library or of ctest; src/core/*.cpp does not glob this directory).
//
//   make core    # or: cmake --build build/core
//   g++ -O2 -std=c++20 -Isrc src/core/bench/core_bench.cpp build/core/libedge_auth_core.a \
//       -lbenchmark -lpthread -lssl -lcrypto -ljansson -lcrypt -o build/core_bench
//   build/core_bench --benchmark_min_time=0.5
//
// Inputs mirror bench/run: a 20-character bearer token, Basic "bench:bench-password-10"
// against a bcrypt hash, the query "page=1" with one injected parameter.
#include <benchmark/benchmark.h>

#include <string>

#include "core/basic_cache.h"
#include "core/base64.h"
#include "core/credentials.h"
#include "core/crypto.h"
#include "core/header_value.h"
#include "core/htpasswd.h"
#include "core/query.h"
#include "core/token_set.h"

namespace {

using namespace edge_auth;

const std::string kSecret(32, '\x5a');
const std::string kHash = "$2y$10$1qm0EkJ0MU0/g9icKCQaTezJCEFxD7Y4CXf0GebNDD/Pfw.LEvXDm";
constexpr std::string_view kToken = "bench-token-5f0e9c2a";
constexpr std::string_view kBasic = "YmVuY2g6YmVuY2gtcGFzc3dvcmQtMTA=";  // bench:bench-password-10

void BM_Sha256Token(benchmark::State& s) {
  for (auto _ : s) benchmark::DoNotOptimize(sha256(kToken));
}
BENCHMARK(BM_Sha256Token)->ThreadRange(1, 2);

void BM_HmacSha256(benchmark::State& s) {
  std::string msg(120, 'm');
  for (auto _ : s) benchmark::DoNotOptimize(hmac_sha256(kSecret, msg));
}
BENCHMARK(BM_HmacSha256)->ThreadRange(1, 2);

void BM_BasicCacheKey(benchmark::State& s) {
  for (auto _ : s) {
    benchmark::DoNotOptimize(basic_cache_key(kSecret, 0x1234, "bench", "bench-password-10", kHash));
  }
}
BENCHMARK(BM_BasicCacheKey)->ThreadRange(1, 2);

// Two zone secrets alternating: the per-thread keyed context must follow the key.
void BM_BasicCacheKeyTwoSecrets(benchmark::State& s) {
  const std::string other(32, '\x33');
  bool flip = false;
  for (auto _ : s) {
    flip = !flip;
    benchmark::DoNotOptimize(
        basic_cache_key(flip ? kSecret : other, 1, "bench", "bench-password-10", kHash));
  }
}
BENCHMARK(BM_BasicCacheKeyTwoSecrets);

void BM_ParseBasic(benchmark::State& s) {
  for (auto _ : s) {
    BasicCredentials c;
    benchmark::DoNotOptimize(parse_basic(kBasic, c));
  }
}
BENCHMARK(BM_ParseBasic);

void BM_SplitAuthorization(benchmark::State& s) {
  std::string v = "Bearer " + std::string(kToken);
  for (auto _ : s) {
    AuthorizationHeader h;
    benchmark::DoNotOptimize(split_authorization(v, h));
    benchmark::DoNotOptimize(scheme_equals(h.scheme, "bearer"));
  }
}
BENCHMARK(BM_SplitAuthorization);

void BM_TokenCheckAndFind(benchmark::State& s) {
  TokenSet set;
  set.add(kToken, "bench");
  for (auto _ : s) {
    benchmark::DoNotOptimize(check_token_syntax(kToken));
    benchmark::DoNotOptimize(set.find(kToken));
  }
}
BENCHMARK(BM_TokenCheckAndFind);

void BM_UserTableFind(benchmark::State& s) {
  UserTable t = parse_htpasswd("bench:" + kHash + "\nother:{PLAIN}x\n");
  for (auto _ : s) benchmark::DoNotOptimize(t.find("bench"));
}
BENCHMARK(BM_UserTableFind);

// The bench's Basic request on the event loop, core part: parse, find, key.
void BM_BasicCachedPath(benchmark::State& s) {
  UserTable t = parse_htpasswd("bench:" + kHash + "\n");
  for (auto _ : s) {
    BasicCredentials c;
    parse_basic(kBasic, c);
    const std::string* h = t.find(c.user);
    benchmark::DoNotOptimize(basic_cache_key(kSecret, 7, c.user, c.password, *h));
  }
}
BENCHMARK(BM_BasicCachedPath);

void BM_QuerySetAppend(benchmark::State& s) {
  for (auto _ : s) benchmark::DoNotOptimize(query_set("page=1", "api_key", "bench-upstream-query-2c3d"));
}
BENCHMARK(BM_QuerySetAppend);

void BM_QuerySetReplace(benchmark::State& s) {
  for (auto _ : s) {
    benchmark::DoNotOptimize(query_set("page=1&api_key=x&sort=asc&limit=20", "api_key", "v w"));
  }
}
BENCHMARK(BM_QuerySetReplace);

void BM_QueryRemoveAbsent(benchmark::State& s) {
  for (auto _ : s) benchmark::DoNotOptimize(query_remove("page=1&sort=asc&limit=20", "api_key"));
}
BENCHMARK(BM_QueryRemoveAbsent);

void BM_QueryGet(benchmark::State& s) {
  for (auto _ : s) benchmark::DoNotOptimize(query_get("page=1&sort=asc&api_key=k%2Dx", "api_key"));
}
BENCHMARK(BM_QueryGet);

void BM_IsSafeHeaderValue(benchmark::State& s) {
  std::string v(s.range(0), 'v');
  for (auto _ : s) benchmark::DoNotOptimize(is_safe_header_value(v));
}
BENCHMARK(BM_IsSafeHeaderValue)->Arg(24)->Arg(200);

void BM_Base64Decode(benchmark::State& s) {
  std::string out;
  for (auto _ : s) {
    benchmark::DoNotOptimize(base64_decode(kBasic, out));
  }
}
BENCHMARK(BM_Base64Decode);

}  // namespace

BENCHMARK_MAIN();
