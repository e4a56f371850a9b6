// The rate_limit filter on its own: a bucket per caller, 429 with Retry-After once the burst
// is spent, callers independent of each other.
#include "tests/unit/filters/filter_fixture.h"

namespace ciap::testing {
namespace {

constexpr char kConfig[] = R"(
upstreams: [{ name: u, endpoints: ["127.0.0.1:1"] }]
identity_providers:
  - { name: corp, type: oidc, issuer: "https://idp.test", audiences: [ciap],
      jwks_uri: "https://idp.test/keys" }
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - { name: r, upstream: u, authenticate: true,
          rate_limit: { per: subject, requests_per_second: 0.01, burst: 2 } }
)";

TEST(RateLimitFilterTest, EachCallerHasItsOwnBurst) {
  BuiltFilter filter("rate_limit", kConfig);
  auto run = [&](std::string_view subject) {
    TestRequest t(0);
    t.context.caller = MakeCaller("corp", "{\"sub\":\"" + std::string(subject) + "\"}");
    Request request = t.request();
    return filter->OnRequest(request, t.context);
  };
  EXPECT_TRUE(run("a").is_continue());
  EXPECT_TRUE(run("a").is_continue());
  Decision limited = run("a");
  EXPECT_EQ(limited.status(), boost::beast::http::status::too_many_requests);
  EXPECT_EQ(limited.reason(), "rate_limited");
  ASSERT_EQ(limited.headers().size(), 1u);
  EXPECT_EQ(limited.headers()[0].first, "Retry-After");
  EXPECT_GE(std::stoi(limited.headers()[0].second), 1);
  EXPECT_TRUE(run("b").is_continue());
}

}  // namespace
}  // namespace ciap::testing
