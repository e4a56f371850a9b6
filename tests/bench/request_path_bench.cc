// Micro-benchmarks of the per-request work that is not I/O: path normalization, route
// matching and running a filter chain that decides synchronously.
#include <benchmark/benchmark.h>

#include "config/config.h"
#include "filters/headers/headers_filter.h"
#include "proxy/filter_chain.h"
#include "proxy/metrics.h"
#include "proxy/path.h"
#include "proxy/router.h"

namespace ciap {
namespace {

void BM_NormalizePath(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    auto error = NormalizePath("/releases/acme/../deploy-api/%61rtifact//v1.4.0/app.tar.gz", &out);
    benchmark::DoNotOptimize(error);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_NormalizePath);

config::ListenerConfig ListenerWithRoutes(int count) {
  config::ListenerConfig listener;
  for (int i = 0; i < count; ++i) {
    config::RouteConfig route;
    const std::string n = std::to_string(i);
    route.name = std::string("r").append(n);
    route.match.host = std::string("svc").append(n).append(".ci.example.com");
    route.match.path_prefix = std::string("/api/v").append(n).append("/");
    route.match.methods = {"GET", "PUT"};
    route.request_headers.set.push_back({"X-Team", "platform"});
    route.request_headers.remove.push_back("X-Debug");
    listener.routes.push_back(route);
  }
  listener.filters = {"headers"};
  return listener;
}

// Worst case for a linear router: the request matches the last of N routes.
void BM_RouterMatchLast(benchmark::State& state) {
  int count = static_cast<int>(state.range(0));
  config::ListenerConfig listener = ListenerWithRoutes(count);
  Router router(listener);
  boost::beast::http::fields headers;
  const std::string n = std::to_string(count - 1);
  std::string host = std::string("svc").append(n).append(".ci.example.com");
  std::string path = std::string("/api/v").append(n).append("/items");
  for (auto _ : state) benchmark::DoNotOptimize(router.Match(host, path, "GET", headers));
}
BENCHMARK(BM_RouterMatchLast)->Arg(1)->Arg(10)->Arg(100);

// The headers filter on a typical CI request: the synchronous path is one virtual call.
void BM_HeadersFilterChain(benchmark::State& state) {
  config::ListenerConfig listener = ListenerWithRoutes(1);
  config::Config config;
  Metrics metrics;
  auto chain = FilterChain::Build(listener, FilterEnv{config, metrics});
  if (!chain) {
    state.SkipWithError(chain.error().c_str());
    return;
  }
  boost::beast::http::fields headers;
  headers.set("Host", "svc0.ci.example.com");
  headers.set("User-Agent", "buildkite-agent/3.60");
  headers.set("Accept", "*/*");
  headers.set("Authorization", "Bearer x");
  StreamContext context;
  context.listener = "agents";
  context.route = &listener.routes[0];
  context.route_index = 0;
  for (auto _ : state) {
    Request request{headers, "GET", "svc0.ci.example.com", "/api/v0/items", ""};
    for (const auto& filter : chain->filters()) {
      Decision decision = filter->OnRequest(request, context);
      benchmark::DoNotOptimize(decision.is_continue());
    }
  }
}
BENCHMARK(BM_HeadersFilterChain);

}  // namespace
}  // namespace ciap

BENCHMARK_MAIN();
