// Verifies route selection: host exact/suffix, path exact/prefix/regex, methods, headers.
#include "proxy/router.h"

#include <gtest/gtest.h>

namespace ciap {
namespace {

config::RouteConfig Route(std::string name, config::RouteMatch match) {
  config::RouteConfig route;
  route.name = std::move(name);
  route.match = std::move(match);
  return route;
}

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
