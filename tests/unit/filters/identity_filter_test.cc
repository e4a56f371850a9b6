// The identity filter on its own: tokens signed by a key of the test's (stand-in keys, as
// `ciap check` uses them), every provider of an issuer tried, refusals with their reasons and
// WWW-Authenticate, the token dropped before forwarding, public routes untouched.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>

#include "jose/jws_signer.h"
#include "tests/unit/filters/filter_fixture.h"

namespace ciap::testing {
namespace {

namespace http = boost::beast::http;

constexpr char kConfig[] = R"(
upstreams: [{ name: u, endpoints: ["127.0.0.1:1"] }]
identity_providers:
  - { name: acme, type: oidc, issuer: "https://idp.test", audiences: [ciap], algorithms: [ES256],
      jwks_uri: "https://idp.test/keys", bound_claims: { org: acme } }
  - { name: octo, type: oidc, issuer: "https://idp.test", audiences: [ciap], algorithms: [ES256],
      jwks_uri: "https://idp.test/keys", bound_claims: { org: octo } }
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - { name: any, upstream: u, authenticate: true, match: { path_prefix: /any/ } }
      - { name: fwd, upstream: u, authenticate: true, forward_token: true, match: { path_prefix: /fwd/ } }
      - { name: open, upstream: u, public: true }
)";

class IdentityFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signer = jose::JwsSigner::Generate(jose::Algorithm::kEs256, "test-key");
    ASSERT_TRUE(signer.has_value());
    signer_.emplace(std::move(*signer));
    filter_.emplace("identity", kConfig, OfflineInputs{.stand_in_jwks = signer_->PublicJwks()});
  }

  std::string Token(std::string_view org, int64_t lifetime = 300) {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    boost::json::object claims{{"iss", "https://idp.test"},
                               {"aud", "ciap"},
                               {"sub", "job-1"},
                               {"org", org},
                               {"iat", now - 5},
                               {"exp", now + lifetime}};
    auto token = signer_->Sign(boost::json::serialize(claims));
    EXPECT_TRUE(token.has_value());
    return *token;
  }

  Decision Run(TestRequest& t) {
    Request request = t.request();
    return (*filter_)->OnRequest(request, t.context);
  }

  std::optional<jose::JwsSigner> signer_;
  std::optional<BuiltFilter> filter_;
};

TEST_F(IdentityFilterTest, AcceptsAValidTokenNamesTheCallerAndDropsTheToken) {
  TestRequest t(0);
  t.headers.set(http::field::authorization, "Bearer " + Token("acme"));
  Decision decision = Run(t);
  ASSERT_TRUE(decision.is_continue());
  ASSERT_NE(t.context.caller, nullptr);
  EXPECT_EQ(t.context.caller->provider, "acme");
  EXPECT_EQ(t.context.caller->subject, "job-1");
  EXPECT_EQ(t.context.reason, "authenticated");
  EXPECT_EQ(t.headers.count(http::field::authorization), 0u);
}

TEST_F(IdentityFilterTest, ForwardTokenKeepsIt) {
  TestRequest t(1);
  t.headers.set(http::field::authorization, "Bearer " + Token("acme"));
  ASSERT_TRUE(Run(t).is_continue());
  EXPECT_EQ(t.headers.count(http::field::authorization), 1u);
}

TEST_F(IdentityFilterTest, EveryProviderOfTheIssuerIsTried) {
  TestRequest t(0);
  t.headers.set(http::field::authorization, "Bearer " + Token("octo"));
  ASSERT_TRUE(Run(t).is_continue());
  EXPECT_EQ(t.context.caller->provider, "octo");
}

TEST_F(IdentityFilterTest, NoProviderBindingHoldsIs401BoundClaimsAndExplained) {
  TestRequest t(0);
  t.headers.set(http::field::authorization, "Bearer " + Token("evil"));
  Decision decision = Run(t);
  EXPECT_EQ(decision.status(), http::status::unauthorized);
  EXPECT_EQ(decision.reason(), "bound_claims");
  ASSERT_EQ(decision.headers().size(), 1u);
  EXPECT_EQ(decision.headers()[0].second, "Bearer realm=\"ciap\", error=\"invalid_token\"");
  std::vector<std::string> lines;
  Request request = t.request();
  (*filter_)->Explain(request, t.context, lines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("provider acme bound_claims: no"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("provider octo bound_claims: no"), std::string::npos) << lines[1];
}

TEST_F(IdentityFilterTest, MissingTokenIs401WithoutAnErrorCode) {
  TestRequest t(0);
  Decision decision = Run(t);
  EXPECT_EQ(decision.status(), http::status::unauthorized);
  EXPECT_EQ(decision.reason(), "missing_token");
  ASSERT_EQ(decision.headers().size(), 1u);
  EXPECT_EQ(decision.headers()[0].second, "Bearer realm=\"ciap\"");
}

TEST_F(IdentityFilterTest, ExpiredAndForeignTokensAreRefused) {
  TestRequest expired(0);
  expired.headers.set(http::field::authorization, "Bearer " + Token("acme", -120));
  EXPECT_EQ(Run(expired).reason(), "expired");

  // Signed by another key: with keys that are never refetched, refused at once.
  auto other = jose::JwsSigner::Generate(jose::Algorithm::kEs256, "other-key");
  ASSERT_TRUE(other.has_value());
  TestRequest foreign(0);
  foreign.headers.set(http::field::authorization,
                      "Bearer " + *other->Sign(R"({"iss":"https://idp.test"})"));
  // An unknown kid suspends the request for a refetch; keys that are never refetched answer
  // as soon as it resumes.
  Decision decision = Run(foreign);
  ASSERT_TRUE(decision.is_suspend());
  boost::asio::io_context io;
  Request request = foreign.request();
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        decision = co_await (*filter_)->OnRequestAsync(request, foreign.context);
      },
      boost::asio::detached);
  const auto started = std::chrono::steady_clock::now();
  io.run();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
  EXPECT_EQ(decision.status(), http::status::unauthorized);
  EXPECT_EQ(decision.reason(), "unknown_kid");
}

TEST_F(IdentityFilterTest, PublicRoutesAreNotAuthenticated) {
  TestRequest t(2);
  t.headers.set(http::field::authorization, "Bearer not-even-a-token");
  ASSERT_TRUE(Run(t).is_continue());
  EXPECT_EQ(t.context.caller, nullptr);
  EXPECT_EQ(t.headers.count(http::field::authorization), 1u);  // public routes pass it on
}

}  // namespace
}  // namespace ciap::testing
