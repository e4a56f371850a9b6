// The access filter on its own: deny wins over allow, dynamic groups from a groups claim,
// shadow mode lets through and says why, a route without a caller fails closed, and the
// explanation (ciap check) reaches the same verdict as the decision for every caller.
#include "tests/unit/filters/filter_fixture.h"

namespace ciap::testing {
namespace {

namespace http = boost::beast::http;

constexpr char kConfig[] = R"(
upstreams: [{ name: u, endpoints: ["127.0.0.1:1"] }]
identity_providers:
  - { name: corp, type: oidc, issuer: "https://idp.test", audiences: [ciap],
      jwks_uri: "https://idp.test/keys", groups_claim: teams }
groups:
  deployers: { all: [ { provider: corp, claims: { sub: "pipeline:*" } },
                      { not: { provider: corp, claims: { job: blocked } } } ] }
  evil: { provider: corp, claims: { org: evil } }
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - { name: deploy, upstream: u, allow: [deployers, "corp:platform"], deny: [evil], match: { path_prefix: /deploy/ } }
      - { name: shadow, upstream: u, allow: [deployers], mode: shadow, match: { path_prefix: /shadow/ } }
      - { name: any, upstream: u, authenticate: true }
)";

struct Case {
  const char* claims;
  std::size_t route;
  bool passes;
  const char* reason;
};

class AccessFilterTest : public ::testing::Test {
 protected:
  Decision Run(TestRequest& t) {
    Request request = t.request();
    return filter_->OnRequest(request, t.context);
  }
  BuiltFilter filter_{"access", kConfig};
};

TEST_F(AccessFilterTest, DecidesEachCaseAndExplainsTheSameVerdict) {
  const Case cases[] = {
      {R"({"sub":"pipeline:deploy"})", 0, true, "allowed_group"},
      {R"({"sub":"user:alice","teams":["platform"]})", 0, true, "allowed_group"},
      {R"({"sub":"pipeline:deploy","org":"evil"})", 0, false, "denied_group"},
      {R"({"sub":"pipeline:deploy","job":"blocked"})", 0, false, "no_allowed_group"},
      {R"({"sub":"user:alice","teams":"other"})", 0, false, "no_allowed_group"},
      {R"({"sub":"user:alice"})", 1, true, "no_allowed_group"},  // shadow: passes anyway
      {R"({"sub":"pipeline:x"})", 1, true, "allowed_group"},
      {R"({"sub":"anyone"})", 2, true, ""},  // no policy on the route
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.claims) + " on route " + std::to_string(c.route));
    TestRequest t(c.route);
    t.context.caller = MakeCaller("corp", c.claims);
    Decision decision = Run(t);
    EXPECT_EQ(decision.is_continue(), c.passes);
    EXPECT_EQ(decision.is_continue() ? t.context.reason : decision.reason(), c.reason);
    if (!decision.is_continue()) {
      EXPECT_EQ(decision.status(), http::status::forbidden);
    }

    std::vector<std::string> lines;
    Request request = t.request();
    filter_->Explain(request, t.context, lines);
    if (c.route == 2) {
      EXPECT_TRUE(lines.empty());
      continue;
    }
    // The explanation's group verdicts agree with the group the decision recorded.
    bool member = false;
    for (const std::string& line : lines) member = member || line == "  => member";
    EXPECT_EQ(member, std::string(c.reason) != "no_allowed_group");
  }
}

TEST_F(AccessFilterTest, TheDecidingGroupIsRecorded) {
  TestRequest t(0);
  t.context.caller = MakeCaller("corp", R"({"sub":"pipeline:deploy","org":"evil"})");
  Run(t);
  ASSERT_EQ(t.context.groups.size(), 1u);
  EXPECT_EQ(t.context.groups[0], "evil");
}

TEST_F(AccessFilterTest, ARouteWithPolicyButNoCallerFailsClosed) {
  TestRequest t(0);
  Decision decision = Run(t);
  EXPECT_EQ(decision.status(), http::status::internal_server_error);
  EXPECT_EQ(decision.reason(), "policy_without_identity");
}

TEST_F(AccessFilterTest, DecisionsAreCountedPerRoute) {
  TestRequest t(0);
  t.context.caller = MakeCaller("corp", R"({"sub":"pipeline:deploy"})");
  Run(t);
  Run(t);
  double allowed = 0;
  for (const auto& family : filter_.registry().Collect()) {
    if (family.name != "ciap_authz_total") continue;
    for (const auto& metric : family.metric) {
      bool deploy = false, allow = false;
      for (const auto& label : metric.label) {
        deploy = deploy || (label.name == "route" && label.value == "deploy");
        allow = allow || (label.name == "decision" && label.value == "allow");
      }
      if (deploy && allow) allowed = metric.counter.value;
    }
  }
  EXPECT_EQ(allowed, 2);
}

}  // namespace
}  // namespace ciap::testing
