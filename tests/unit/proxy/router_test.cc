// Verifies route selection: host exact/suffix, path exact/prefix/regex, methods, headers.
#include "proxy/router.h"

#include <gtest/gtest.h>

#include <random>

namespace ciap {
namespace {

config::RouteConfig Route(std::string name, config::RouteMatch match) {
  config::RouteConfig route;
  route.name = std::move(name);
  route.match = std::move(match);
  return route;
}

// `prefix` followed by `n` (appended: GCC 12 warns falsely on "literal" + std::string).
std::string Numbered(std::string prefix, int n) { return prefix.append(std::to_string(n)); }

class RouterTest : public testing::Test {
 protected:
  void SetUp() override {
    config::RouteMatch exact_host;
    exact_host.host = "artifacts.example.com";
    exact_host.path_prefix = "/releases/";
    exact_host.methods = {"PUT", "POST"};
    listener_.routes.push_back(Route("uploads", exact_host));

    config::RouteMatch suffix;
    suffix.host = "*.ci.example.com";
    suffix.path = "/status";
    listener_.routes.push_back(Route("status", suffix));

    config::RouteMatch regex;
    regex.path_regex = "/v[0-9]+/items/[a-z]+";
    listener_.routes.push_back(Route("items", regex));

    config::RouteMatch header;
    header.path_prefix = "/env/";
    config::HeaderMatch prod;
    prod.name = "X-Env";
    prod.exact = "prod";
    header.headers.push_back(prod);
    config::HeaderMatch no_debug;
    no_debug.name = "x-debug";
    no_debug.present = false;
    header.headers.push_back(no_debug);
    listener_.routes.push_back(Route("env", header));

    listener_.routes.push_back(Route("fallback", {}));
  }

  std::string Match(std::string_view host, std::string_view path, std::string_view method,
                    const boost::beast::http::fields& headers = {}) {
    Router router(listener_);
    std::string canonical;
    CanonicalHost(host, &canonical);
    int index = router.Match(canonical, path, method, headers);
    return index < 0 ? "none" : listener_.routes[static_cast<std::size_t>(index)].name;
  }

  config::ListenerConfig listener_;
};

TEST_F(RouterTest, ExactHostPrefixAndMethod) {
  EXPECT_EQ(Match("artifacts.example.com", "/releases/x", "PUT"), "uploads");
  EXPECT_EQ(Match("ARTIFACTS.example.com:8443", "/releases/x", "POST"), "uploads");
  EXPECT_EQ(Match("artifacts.example.com.", "/releases/x", "PUT"), "uploads");
  EXPECT_EQ(Match("artifacts.example.com", "/releases/x", "GET"), "fallback");
  EXPECT_EQ(Match("artifacts.example.com", "/releasesx", "PUT"), "fallback");
  EXPECT_EQ(Match("evil-artifacts.example.com", "/releases/x", "PUT"), "fallback");
}

TEST_F(RouterTest, SuffixHostNeedsALabel) {
  EXPECT_EQ(Match("a.ci.example.com", "/status", "GET"), "status");
  EXPECT_EQ(Match("a.b.ci.example.com", "/status", "GET"), "status");
  EXPECT_EQ(Match("ci.example.com", "/status", "GET"), "fallback");
  EXPECT_EQ(Match("evilci.example.com", "/status", "GET"), "fallback");
  EXPECT_EQ(Match("a.ci.example.com", "/status/", "GET"), "fallback");
}

TEST_F(RouterTest, RegexIsAFullMatch) {
  EXPECT_EQ(Match("x", "/v2/items/abc", "GET"), "items");
  EXPECT_EQ(Match("x", "/v2/items/abc/more", "GET"), "fallback");
  EXPECT_EQ(Match("x", "/prefix/v2/items/abc", "GET"), "fallback");
}

TEST_F(RouterTest, HeaderConditionsAllHold) {
  boost::beast::http::fields prod;
  prod.set("x-env", "prod");
  EXPECT_EQ(Match("x", "/env/a", "GET", prod), "env");
  boost::beast::http::fields staging;
  staging.set("X-Env", "staging");
  EXPECT_EQ(Match("x", "/env/a", "GET", staging), "fallback");
  boost::beast::http::fields debug = prod;
  debug.set("X-Debug", "1");
  EXPECT_EQ(Match("x", "/env/a", "GET", debug), "fallback");
}

// The compiled lookup against trying every route in order, on randomized tables: hosts (exact,
// wildcards nested in each other, any, mixed case), exact paths and prefixes that nest and
// share bytes, regexes, no path, methods and header conditions; requests from the same
// vocabulary plus near misses.
TEST(RouterDifferential, PicksTheSameRouteAsFirstMatchInOrder) {
  const std::vector<std::string> hosts = {
      "",      "a.example.com",   "B.example.com", "*.example.com", "*.b.example.com",
      "*.com", "x.b.example.com", "example.com"};
  const std::vector<std::string> exact_paths = {"/", "/a", "/a/b", "/ab", "/a/b/c", "/api/v1/x"};
  const std::vector<std::string> prefixes = {"/",      "/a",    "/a/",     "/ab",     "/a/b",
                                             "/a/b/c", "/api/", "/api/v1", "/api/v10"};
  const std::vector<std::string> regexes = {"/a/.*", "/api/v[0-9]+/.*", "/a(b)?", ".*c"};
  const std::vector<std::string> methods = {"GET", "PUT", "POST"};
  const std::vector<std::string> request_hosts = {
      "a.example.com", "b.example.com", "x.b.example.com", "y.x.b.example.com", "example.com",
      "com",           "other.org",     "ab.example.com",  "b.example.co",      ""};
  const std::vector<std::string> request_paths = {
      "/",         "/a",         "/a/",       "/a/b", "/a/b/c", "/a/b/c/d", "/ab",    "/abc",
      "/api/v1/x", "/api/v10/y", "/api/v2/z", "/b",   "",       "/api/",    "/api/v1"};

  std::mt19937 random(20261205);
  auto pick = [&](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(random)];
  };
  auto chance = [&](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(random) < percent;
  };

  int compared = 0, matched = 0;
  for (int table = 0; table < 400; ++table) {
    config::ListenerConfig listener;
    // More routes than the router tries in order without its index.
    const int count = std::uniform_int_distribution<int>(17, 80)(random);
    for (int i = 0; i < count; ++i) {
      config::RouteMatch match;
      if (chance(70)) match.host = pick(hosts);
      int path_kind = std::uniform_int_distribution<int>(0, 3)(random);
      if (path_kind == 0) match.path = pick(exact_paths);
      if (path_kind == 1) match.path_prefix = pick(prefixes);
      if (path_kind == 2) match.path_regex = pick(regexes);
      if (chance(30)) match.methods = {pick(methods)};
      if (chance(20)) match.methods.push_back(pick(methods));
      if (chance(25)) {
        config::HeaderMatch header;
        header.name = chance(50) ? "x-env" : "X-Env";
        int kind = std::uniform_int_distribution<int>(0, 3)(random);
        if (kind == 0) header.exact = "prod";
        if (kind == 1) header.present = true;
        if (kind == 2) header.present = false;
        if (kind == 3) header.regex = "p.*";
        match.headers.push_back(header);
      }
      listener.routes.push_back(Route(Numbered("r", i), match));
    }
    Router router(listener);
    for (int request = 0; request < 150; ++request) {
      std::string host;
      CanonicalHost(pick(request_hosts), &host);
      const std::string path = pick(request_paths);
      const std::string method = pick(methods);
      boost::beast::http::fields headers;
      if (chance(50)) headers.set("x-env", chance(50) ? "prod" : "staging");
      const int expected = router.MatchInOrder(host, path, method, headers);
      ASSERT_EQ(router.Match(host, path, method, headers), expected)
          << "table " << table << ", host '" << host << "', path '" << path << "', " << method;
      ++compared;
      if (expected >= 0) ++matched;
    }
  }
  // The vocabulary must exercise both outcomes, not only misses.
  EXPECT_GT(matched, compared / 4);
  EXPECT_LT(matched, compared);
}

// A path under more nested prefixes than the lookup merges in place still gets the first
// match (the lookup falls back to trying routes in order).
TEST(RouterDifferential, ManyNestedPrefixes) {
  config::ListenerConfig listener;
  std::string prefix = "/";
  for (int i = 0; i < 40; ++i) {
    config::RouteMatch match;
    match.path_prefix = prefix;
    match.methods = {"PUT"};  // never the method asked: every prefix is a candidate
    listener.routes.push_back(Route(Numbered("p", i), match));
    prefix += "a";
  }
  config::RouteMatch last;
  last.path_prefix = "/aaa";
  listener.routes.push_back(Route("last", last));
  Router router(listener);
  EXPECT_EQ(router.Match("h", "/" + std::string(50, 'a'), "GET", {}), 40);
  EXPECT_EQ(router.Match("h", "/" + std::string(50, 'a'), "PUT", {}), 0);
}

// 10,000 routes: the last one is found, and the ones before it are not mistaken for it.
TEST(RouterDifferential, LargeTable) {
  config::ListenerConfig listener;
  for (int i = 0; i < 10000; ++i) {
    config::RouteMatch match;
    if (i % 3 == 0) match.host = Numbered("svc", i % 97) + ".ci.example.com";
    if (i % 3 == 1) match.host = Numbered("*.team", i % 31) + ".example.com";
    match.path_prefix = Numbered("/api/v", i) + "/";
    listener.routes.push_back(Route(Numbered("r", i), match));
  }
  Router router(listener);
  for (int i : {0, 1, 2, 4999, 9997, 9998, 9999}) {
    std::string host = i % 3 == 0   ? Numbered("svc", i % 97) + ".ci.example.com"
                       : i % 3 == 1 ? Numbered("x.team", i % 31) + ".example.com"
                                    : "anything";
    std::string path = Numbered("/api/v", i) + "/thing";
    EXPECT_EQ(router.Match(host, path, "GET", {}), i);
    EXPECT_EQ(router.MatchInOrder(host, path, "GET", {}), i);
  }
  EXPECT_EQ(router.Match("anything", "/api/v10000/", "GET", {}), -1);
}

TEST(CanonicalHost, StripsPortAndLowerCases) {
  std::string out;
  CanonicalHost("Example.COM:443", &out);
  EXPECT_EQ(out, "example.com");
  CanonicalHost("[::1]:8443", &out);
  EXPECT_EQ(out, "[::1]");
  CanonicalHost("", &out);
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace ciap
