// Tests of config/route_shadowing: which routes can never be chosen, decided on the router's
// matching rules, only when provably shadowed; and how the loader reports them.
#include "config/route_shadowing.h"

#include <gtest/gtest.h>

#include <chrono>

#include "config/loader.h"
#include "tests/unit/config/test_util.h"

namespace ciap::config {
namespace {

RouteMatch Match(std::string host = "", std::optional<std::string> path = std::nullopt,
                 std::optional<std::string> prefix = std::nullopt,
                 std::optional<std::string> regex = std::nullopt,
                 std::vector<std::string> methods = {}, std::vector<HeaderMatch> headers = {}) {
  RouteMatch m;
  m.host = std::move(host);
  m.path = std::move(path);
  m.path_prefix = std::move(prefix);
  m.path_regex = std::move(regex);
  m.methods = std::move(methods);
  m.headers = std::move(headers);
  return m;
}

RouteMatch Prefix(std::string prefix) { return Match("", std::nullopt, std::move(prefix)); }
RouteMatch Path(std::string path) { return Match("", std::move(path)); }
RouteMatch Host(std::string host) { return Match(std::move(host)); }
HeaderMatch Header(std::string name, std::optional<std::string> exact,
                   std::optional<std::string> regex = std::nullopt,
                   std::optional<bool> present = std::nullopt) {
  return HeaderMatch{std::move(name), std::move(exact), std::move(regex), present};
}

TEST(RouteShadowingTest, Paths) {
  EXPECT_TRUE(MatchCovers(RouteMatch{}, Path("/a")));
  EXPECT_TRUE(MatchCovers(Prefix("/"), RouteMatch{})) << "every normalized path starts with /";
  EXPECT_TRUE(MatchCovers(Prefix("/"), Match("", std::nullopt, std::nullopt, ".*")));
  EXPECT_TRUE(MatchCovers(Prefix("/api/"), Prefix("/api/v1/")));
  EXPECT_TRUE(MatchCovers(Prefix("/api/"), Path("/api/x")));
  EXPECT_TRUE(MatchCovers(Prefix("/api"), Prefix("/api-v2/")));
  EXPECT_FALSE(MatchCovers(Prefix("/api/"), Prefix("/api")));
  EXPECT_FALSE(MatchCovers(Prefix("/api/"), RouteMatch{}));
  EXPECT_TRUE(MatchCovers(Path("/a"), Path("/a")));
  EXPECT_FALSE(MatchCovers(Path("/a"), Path("/a/")));
  EXPECT_FALSE(MatchCovers(Path("/a"), Prefix("/a")));
  const RouteMatch regex = Match("", std::nullopt, std::nullopt, "/v[0-9]+/.*");
  EXPECT_TRUE(MatchCovers(regex, regex));
  EXPECT_TRUE(MatchCovers(regex, Path("/v2/x")));
  EXPECT_FALSE(MatchCovers(regex, Path("/v/x")));
  EXPECT_FALSE(MatchCovers(regex, Prefix("/v1/"))) << "not provable without analysing the regex";
  EXPECT_FALSE(MatchCovers(Prefix("/v1/"), regex));
}

TEST(RouteShadowingTest, Hosts) {
  EXPECT_TRUE(MatchCovers(RouteMatch{}, Host("a.example.com")));
  EXPECT_FALSE(MatchCovers(Host("a.example.com"), RouteMatch{}));
  EXPECT_TRUE(MatchCovers(Host("a.example.com"), Host("a.example.com")));
  EXPECT_FALSE(MatchCovers(Host("a.example.com"), Host("b.example.com")));
  EXPECT_TRUE(MatchCovers(Host("*.example.com"), Host("a.example.com")));
  EXPECT_TRUE(MatchCovers(Host("*.example.com"), Host("a.b.example.com")));
  EXPECT_FALSE(MatchCovers(Host("*.example.com"), Host("example.com")));
  EXPECT_FALSE(MatchCovers(Host("*.example.com"), Host("aexample.com")));
  EXPECT_TRUE(MatchCovers(Host("*.example.com"), Host("*.b.example.com")));
  EXPECT_TRUE(MatchCovers(Host("*.example.com"), Host("*.example.com")));
  EXPECT_FALSE(MatchCovers(Host("*.b.example.com"), Host("*.example.com")));
  EXPECT_FALSE(MatchCovers(Host("a.example.com"), Host("*.example.com")));
}

TEST(RouteShadowingTest, MethodsAndHeaders) {
  const RouteMatch get = Match("", std::nullopt, std::nullopt, std::nullopt, {"GET", "HEAD"});
  EXPECT_TRUE(MatchCovers(get, Match("", std::nullopt, std::nullopt, std::nullopt, {"GET"})));
  EXPECT_FALSE(MatchCovers(get, Match("", std::nullopt, std::nullopt, std::nullopt, {"PUT"})));
  EXPECT_FALSE(MatchCovers(get, RouteMatch{})) << "any method is more than GET and HEAD";
  EXPECT_TRUE(MatchCovers(RouteMatch{}, get));

  auto with = [](std::vector<HeaderMatch> headers) {
    return Match("", std::nullopt, std::nullopt, std::nullopt, {}, std::move(headers));
  };
  const HeaderMatch prod = Header("X-Env", "prod");
  const HeaderMatch present = Header("x-env", std::nullopt, std::nullopt, true);
  const HeaderMatch absent = Header("x-env", std::nullopt, std::nullopt, false);
  const HeaderMatch digits = Header("x-env", std::nullopt, "[a-z]+");
  EXPECT_FALSE(MatchCovers(with({prod}), RouteMatch{}));
  EXPECT_TRUE(MatchCovers(RouteMatch{}, with({prod})));
  EXPECT_TRUE(MatchCovers(with({prod}), with({Header("x-env", "prod")}))) << "case-insensitive";
  EXPECT_FALSE(MatchCovers(with({prod}), with({Header("x-env", "dev")})));
  EXPECT_TRUE(MatchCovers(with({present}), with({prod})));
  EXPECT_TRUE(MatchCovers(with({present}), with({digits})));
  EXPECT_FALSE(MatchCovers(with({present}), with({absent})));
  EXPECT_TRUE(MatchCovers(with({absent}), with({absent})));
  EXPECT_FALSE(MatchCovers(with({absent}), with({prod})));
  EXPECT_TRUE(MatchCovers(with({digits}), with({prod})));
  EXPECT_FALSE(MatchCovers(with({digits}), with({Header("x-env", "p1")})));
  EXPECT_FALSE(MatchCovers(with({digits}), with({present})));
  EXPECT_TRUE(MatchCovers(with({prod}), with({Header("x-other", "1"), prod})));
  EXPECT_FALSE(MatchCovers(with({prod, Header("x-other", "1")}), with({prod})));
}

std::vector<RouteConfig> Routes(std::vector<RouteMatch> matches) {
  std::vector<RouteConfig> routes;
  for (RouteMatch& m : matches) {
    routes.emplace_back().name = "r" + std::to_string(routes.size());
    routes.back().match = std::move(m);
  }
  return routes;
}

std::string Shadowed(const std::vector<RouteConfig>& routes) {
  std::string out;
  for (const ShadowedRoute& s : FindShadowedRoutes(routes)) {
    out += std::to_string(s.route) + "<" + std::to_string(s.by) + " ";
  }
  return out;
}

TEST(RouteShadowingTest, FindsTheFirstShadowingRoute) {
  EXPECT_EQ(Shadowed(Routes({Prefix("/"), Path("/healthz"), Host("a.example.com")})), "1<0 2<0 ");
  EXPECT_EQ(Shadowed(Routes({Path("/healthz"), Prefix("/")})), "") << "specific routes first";
  EXPECT_EQ(
      Shadowed(Routes({Host("*.example.com"), Prefix("/a/"), Match("x.example.com", "/a/b")})),
      "2<0 ");
  EXPECT_EQ(Shadowed(Routes({Prefix("/a/b/"), Prefix("/a/"), Path("/a/b/c")})), "2<0 ");
  EXPECT_EQ(Shadowed(Routes({Match("", std::nullopt, std::nullopt, std::nullopt, {"GET"}),
                             Match("", std::nullopt, "/x/", std::nullopt, {"PUT"}),
                             Match("", "/x/y", std::nullopt, std::nullopt, {"PUT"})})),
            "2<1 ");
}

// The bench's gateway shape (tests/bench/routes.py): 40,000 routes, none shadowed, checked fast.
TEST(RouteShadowingTest, ScalesToTensOfThousandsOfRoutes) {
  std::vector<RouteMatch> matches;
  constexpr int kCount = 40000;
  for (int i = 0; i < kCount; ++i) {
    std::string host;
    if (i < kCount - 1 && i % 3 == 0) host = "svc" + std::to_string(i % 97) + ".ci.example.com";
    if (i < kCount - 1 && i % 3 == 1) host = "*.team" + std::to_string(i % 31) + ".example.com";
    matches.push_back(Match(host, std::nullopt, "/teams/" + std::to_string(i) + "/", std::nullopt,
                            {"GET", "PUT"}));
  }
  matches.push_back(Match("a.team3.example.com", std::nullopt, "/teams/34/x/", std::nullopt,
                          {"GET"}));  // under route 34 ("*.team3.example.com", /teams/34/)
  const std::vector<RouteConfig> routes = Routes(std::move(matches));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Shadowed(routes), std::to_string(kCount) + "<34 ");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// The loader reports a shadowed route at the route, naming the one before it; not when the
// routes had errors (a route read with errors may look broader than meant).
TEST(RouteShadowingTest, TheLoaderReportsIt) {
  const std::string config = R"(upstreams: [{ name: u, endpoints: [127.0.0.1:1] }]
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - name: everything
        match: { path_prefix: / }
        upstream: u
        public: true
      - name: health
        match: { path: /healthz }
        upstream: u
        public: true
)";
  auto result = ParseConfig(config, "t.yaml", testing::FakeEnv());
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_EQ(result.error()[0].ToString(),
            "t.yaml:11:9: listeners[0].routes[1]: can never match: route 'everything' (line 7) "
            "comes first and matches every request this route matches (the first matching route "
            "wins); move this route above 'everything', or narrow 'everything'");
  std::string broken = config;
  broken.replace(broken.find("path_prefix: /"), 14, "path_prefix: x");
  auto errors = ParseConfig(broken, "t.yaml", testing::FakeEnv());
  ASSERT_FALSE(errors.has_value());
  ASSERT_EQ(errors.error().size(), 1u) << errors.error()[1].ToString();
  EXPECT_NE(errors.error()[0].message.find("must start with '/'"), std::string::npos);
}

}  // namespace
}  // namespace ciap::config
