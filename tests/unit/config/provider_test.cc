// Tests of `identity_providers` and `authenticate` in valid configs: what each vendor preset fills
// in, that explicit values win, which tenant bindings count, how each YAML form of a claim
// matcher is typed (a quoted "true" is a string, a plain true a boolean), and the filter chain
// an authenticated route gets.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.h"
#include "tests/unit/config/test_util.h"

namespace ciap::config {
namespace {

using std::chrono::milliseconds;
using testing::CertDir;
using testing::FakeEnv;
using Kind = ClaimMatcher::Kind;

constexpr std::string_view kTail = R"(upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - { name: ci, upstream: u, authenticate: true, match: { path_prefix: /ci/ } }
      - { name: health, upstream: u, public: true, match: { path: /healthz } }
)";

std::shared_ptr<const Config> MustParse(const std::string& providers,
                                        const EnvLookup& env = FakeEnv()) {
  const std::string yaml = "identity_providers:\n" + providers + std::string(kTail);
  auto result = ParseConfig(yaml, "test.yaml", env);
  if (!result) {
    for (const ConfigError& e : result.error()) ADD_FAILURE() << e.ToString();
    return nullptr;
  }
  return *result;
}

const IdentityProviderConfig& OnlyProvider(const std::shared_ptr<const Config>& c) {
  EXPECT_EQ(c->identity_providers.size(), 1u);
  return c->identity_providers.at(0);
}

const ClaimCondition* FindCondition(const IdentityProviderConfig& p, const std::string& claim) {
  for (const ClaimCondition& c : p.bound_claims) {
    if (c.path == std::vector<std::string>{claim}) return &c;
  }
  ADD_FAILURE() << "no bound claim " << claim;
  return nullptr;
}

const std::vector<std::string> kAuthorizationOnly = {"Authorization"};

TEST(ProviderConfigTest, BuildkitePreset) {
  auto c = MustParse(R"(  - name: buildkite
    type: buildkite
    audiences: [https://ci-proxy.acme.internal]
    bound_claims: { organization_slug: acme-inc }
)");
  ASSERT_NE(c, nullptr);
  const IdentityProviderConfig& p = OnlyProvider(c);
  EXPECT_EQ(p.name, "buildkite");
  EXPECT_EQ(p.type, ProviderType::kBuildkite);
  EXPECT_EQ(p.issuer, "https://agent.buildkite.com");
  EXPECT_EQ(p.audiences, std::vector<std::string>{"https://ci-proxy.acme.internal"});
  EXPECT_EQ(p.algorithms, std::vector<JwsAlgorithm>{JwsAlgorithm::kRs256});
  EXPECT_EQ(p.clock_skew, milliseconds(60000));
  EXPECT_EQ(p.max_token_lifetime, milliseconds(3600000));
  EXPECT_EQ(p.token_headers, kAuthorizationOnly);
  EXPECT_EQ(p.jwks_uri, "") << "empty: OIDC discovery from the issuer";
  EXPECT_EQ(p.jwks_file, "");
  EXPECT_EQ(p.ca_file, "");
  EXPECT_EQ(p.groups_claim, "");
  ASSERT_EQ(p.bound_claims.size(), 1u);
  EXPECT_EQ(p.bound_claims[0].path, std::vector<std::string>{"organization_slug"});
  EXPECT_EQ(p.bound_claims[0].matcher.kind, Kind::kExact);
  EXPECT_EQ(p.bound_claims[0].matcher.text, "acme-inc");
}

TEST(ProviderConfigTest, GitHubPreset) {
  auto c = MustParse(R"(  - name: gha
    type: github
    audiences: [https://ci-proxy.acme.internal, "https://github.com/octo-org/ciap"]
    bound_claims: { repository_owner_id: 65 }
)");
  ASSERT_NE(c, nullptr);
  const IdentityProviderConfig& p = OnlyProvider(c);
  EXPECT_EQ(p.type, ProviderType::kGitHub);
  EXPECT_EQ(p.issuer, "https://token.actions.githubusercontent.com");
  EXPECT_EQ(p.algorithms, std::vector<JwsAlgorithm>{JwsAlgorithm::kRs256});
  EXPECT_EQ(p.bound_claims[0].matcher.kind, Kind::kNumber) << "a number pins one owner too";
}

TEST(ProviderConfigTest, GitLabPresetOnGitLabCom) {
  auto c = MustParse(R"(  - name: gitlab
    type: gitlab
    audiences: [https://ci-proxy.acme.internal]
    bound_claims:
      namespace_path: [acme/platform, acme/sre]
      ref_protected: true
)");
  ASSERT_NE(c, nullptr);
  const IdentityProviderConfig& p = OnlyProvider(c);
  EXPECT_EQ(p.type, ProviderType::kGitLab);
  EXPECT_EQ(p.issuer, "https://gitlab.com");
  EXPECT_EQ(p.algorithms, std::vector<JwsAlgorithm>{JwsAlgorithm::kRs256});
  EXPECT_EQ(p.bound_claims[0].matcher.kind, Kind::kOneOf) << "a list of exact values pins too";
}

// A self-managed instance is single-tenant: no anchor needed, globs are fine.
TEST(ProviderConfigTest, GitLabSelfManagedNeedsNoAnchor) {
  auto c = MustParse(R"(  - name: gitlab
    type: gitlab
    issuer: https://gitlab.acme.internal
    audiences: [https://ci-proxy.acme.internal]
    bound_claims: { namespace_path: "acme/**" }
  - name: gitlab-plain
    type: gitlab
    issuer: https://gitlab.example.org
    audiences: [ciap]
)");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->identity_providers.size(), 2u);
  EXPECT_EQ(c->identity_providers[0].issuer, "https://gitlab.acme.internal");
  EXPECT_EQ(c->identity_providers[0].bound_claims[0].matcher.kind, Kind::kGlob);
  EXPECT_TRUE(c->identity_providers[1].bound_claims.empty());
}

TEST(ProviderConfigTest, CircleCiPerOrganizationIssuerNeedsNoAnchor) {
  auto c = MustParse(R"(  - name: circleci
    type: circleci
    issuer: https://oidc.circleci.com/org/a64b0a19-f221-4291-b000-8d24bd842b72
    audiences: [https://ci-proxy.acme.internal]
    bound_claims:
      oidc.circleci.com/context-ids: { contains: a74579f1-2e7d-451e-b009-5c082ad2729e }
      oidc.circleci.com/ssh-rerun: false
)");
  ASSERT_NE(c, nullptr);
  const IdentityProviderConfig& p = OnlyProvider(c);
  EXPECT_EQ(p.type, ProviderType::kCircleCi);
  EXPECT_EQ(p.algorithms, std::vector<JwsAlgorithm>{JwsAlgorithm::kRs256});
  const ClaimCondition* contexts = FindCondition(p, "oidc.circleci.com/context-ids");
  ASSERT_NE(contexts, nullptr) << "claim names with dots are one key";
  EXPECT_EQ(contexts->matcher.kind, Kind::kContains);
  ASSERT_EQ(contexts->matcher.children.size(), 1u);
  EXPECT_EQ(contexts->matcher.children[0].text, "a74579f1-2e7d-451e-b009-5c082ad2729e");
  const ClaimCondition* rerun = FindCondition(p, "oidc.circleci.com/ssh-rerun");
  ASSERT_NE(rerun, nullptr);
  EXPECT_EQ(rerun->matcher.kind, Kind::kBool);
  EXPECT_FALSE(rerun->matcher.boolean);
}

TEST(ProviderConfigTest, CircleCiRootIssuerWithAnchor) {
  auto c = MustParse(R"(  - name: circleci
    type: circleci
    issuer: https://oidc.circleci.com
    audiences: [ciap]
    bound_claims: { "oidc.circleci.com/org-id": a64b0a19-f221-4291-b000-8d24bd842b72 }
)");
  ASSERT_NE(c, nullptr);
}

TEST(ProviderConfigTest, OidcPreset) {
  auto c = MustParse(R"(  - name: corp
    type: oidc
    issuer: https://idp.acme.internal
    audiences: [ci-proxy, ci-proxy-2]
)");
  ASSERT_NE(c, nullptr);
  const IdentityProviderConfig& p = OnlyProvider(c);
  EXPECT_EQ(p.type, ProviderType::kOidc);
  EXPECT_EQ(p.issuer, "https://idp.acme.internal");
  EXPECT_EQ(p.audiences, (std::vector<std::string>{"ci-proxy", "ci-proxy-2"}));
  EXPECT_EQ(p.algorithms, (std::vector<JwsAlgorithm>{JwsAlgorithm::kRs256, JwsAlgorithm::kEs256}));
  EXPECT_TRUE(p.bound_claims.empty());
}

// Everything a preset fills in can be given explicitly, and the explicit value wins.
TEST(ProviderConfigTest, ExplicitValuesWinOverThePreset) {
  auto c = MustParse(R"(  - name: buildkite
    type: buildkite
    issuer: http://127.0.0.1:8080
    audiences: [ciap]
    jwks_uri: http://localhost:8080/keys?v=2
    ca_file: ${CERTS}/ca.crt
    token_headers: [Authorization, X-Buildkite-Token]
    algorithms: [PS256, RS256, ES384, EdDSA]
    clock_skew: 0s
    max_token_lifetime: 10m
    groups_claim: groups
  - name: corp
    type: oidc
    issuer: "https://[::1]:9443/realms/ci"
    audiences: [ciap]
    jwks_file: ${CERTS}/ca.crt
    clock_skew: 5m
    max_token_lifetime: 24h
)");
  ASSERT_NE(c, nullptr);
  const IdentityProviderConfig& p = c->identity_providers[0];
  EXPECT_EQ(p.issuer, "http://127.0.0.1:8080") << "a local test issuer needs no tenant binding";
  EXPECT_EQ(p.jwks_uri, "http://localhost:8080/keys?v=2");
  EXPECT_EQ(p.ca_file, CertDir() + "/ca.crt");
  EXPECT_EQ(p.token_headers, (std::vector<std::string>{"Authorization", "X-Buildkite-Token"}));
  EXPECT_EQ(p.algorithms, (std::vector<JwsAlgorithm>{JwsAlgorithm::kPs256, JwsAlgorithm::kRs256,
                                                     JwsAlgorithm::kEs384, JwsAlgorithm::kEdDsa}));
  EXPECT_EQ(p.clock_skew, milliseconds(0));
  EXPECT_EQ(p.max_token_lifetime, milliseconds(600000));
  EXPECT_EQ(p.groups_claim, "groups");
  const IdentityProviderConfig& corp = c->identity_providers[1];
  EXPECT_EQ(corp.issuer, "https://[::1]:9443/realms/ci");
  EXPECT_EQ(corp.jwks_file, CertDir() + "/ca.crt");
  EXPECT_EQ(corp.clock_skew, milliseconds(300000));
  EXPECT_EQ(corp.max_token_lifetime, milliseconds(86400000));
}

// The anchor counts when one of the two anchor claims pins a tenant, whatever the other does.
TEST(ProviderConfigTest, OneExactAnchorIsEnough) {
  auto c = MustParse(R"(  - name: buildkite
    type: buildkite
    audiences: [ciap]
    bound_claims:
      organization_slug: "acme-*"
      organization_id: [f892efa9-103e-4d28-97a1-3b8616a0994d]
)");
  ASSERT_NE(c, nullptr);
}

// Every YAML form of a matcher, and how scalars are typed by YAML style, not by content.
TEST(ProviderConfigTest, MatcherForms) {
  auto c = MustParse(
      R"(  - name: corp
    type: oidc
    issuer: https://idp.acme.internal
    audiences: [ciap]
    bound_claims:
      exact: main
      glob: "release-*"
      plain_glob: acme/**
      plain_true: true
      quoted_true: "true"
      single_quoted_false: 'false'
      tagged_str: !!str true
      tagged_bool: !!bool false
      integer: 42
      negative: -7
      float: 2.5
      quoted_number: "42"
      sha: 9f3182061f1e2cca4702c368cbc039b7dc9d4485
      version: 1.4.0
      one_of: [deploy-api, "release-*", true, 20]
      not_list: { not: [trigger_job, ui] }
      not_contains: { not: { contains: forbidden } }
      contains_glob: { contains: "acme/*" }
      regex: { regex: '.*@acme\.com' }
      from_env: ${ORG}
      env_glob: "${ORG}-*"
      block: |-
        multi
)",
      FakeEnv({{"ORG", "true"}}));
  ASSERT_NE(c, nullptr);
  const IdentityProviderConfig& p = OnlyProvider(c);
  ASSERT_EQ(p.bound_claims.size(), 22u);
  auto kind = [&](const std::string& claim) {
    const ClaimCondition* condition = FindCondition(p, claim);
    return condition ? condition->matcher.kind : Kind::kExact;
  };
  auto matcher = [&](const std::string& claim) -> const ClaimMatcher& {
    return FindCondition(p, claim)->matcher;
  };
  EXPECT_EQ(kind("exact"), Kind::kExact);
  EXPECT_EQ(matcher("exact").text, "main");
  EXPECT_EQ(kind("glob"), Kind::kGlob);
  EXPECT_EQ(kind("plain_glob"), Kind::kGlob);
  EXPECT_EQ(kind("plain_true"), Kind::kBool);
  EXPECT_TRUE(matcher("plain_true").boolean);
  EXPECT_EQ(kind("quoted_true"), Kind::kExact) << "a quoted \"true\" is the string";
  EXPECT_EQ(matcher("quoted_true").text, "true");
  EXPECT_EQ(kind("single_quoted_false"), Kind::kExact);
  EXPECT_EQ(kind("tagged_str"), Kind::kExact);
  EXPECT_EQ(kind("tagged_bool"), Kind::kBool);
  EXPECT_FALSE(matcher("tagged_bool").boolean);
  EXPECT_EQ(kind("integer"), Kind::kNumber);
  EXPECT_EQ(matcher("integer").number, 42);
  EXPECT_EQ(matcher("negative").number, -7);
  EXPECT_EQ(matcher("float").number, 2.5);
  EXPECT_EQ(kind("quoted_number"), Kind::kExact) << "a quoted \"42\" is the string";
  EXPECT_EQ(kind("sha"), Kind::kExact);
  EXPECT_EQ(kind("version"), Kind::kExact);
  EXPECT_EQ(matcher("version").text, "1.4.0");

  const ClaimMatcher& one_of = matcher("one_of");
  EXPECT_EQ(one_of.kind, Kind::kOneOf);
  ASSERT_EQ(one_of.children.size(), 4u);
  EXPECT_EQ(one_of.children[0].kind, Kind::kExact);
  EXPECT_EQ(one_of.children[1].kind, Kind::kGlob);
  EXPECT_EQ(one_of.children[2].kind, Kind::kBool);
  EXPECT_EQ(one_of.children[3].kind, Kind::kNumber);

  const ClaimMatcher& not_list = matcher("not_list");
  EXPECT_EQ(not_list.kind, Kind::kNot);
  ASSERT_EQ(not_list.children.size(), 1u);
  EXPECT_EQ(not_list.children[0].kind, Kind::kOneOf);
  const ClaimMatcher& not_contains = matcher("not_contains");
  EXPECT_EQ(not_contains.kind, Kind::kNot);
  EXPECT_EQ(not_contains.children[0].kind, Kind::kContains);
  EXPECT_EQ(not_contains.children[0].children[0].text, "forbidden");
  EXPECT_EQ(matcher("contains_glob").children[0].kind, Kind::kGlob);
  EXPECT_EQ(kind("regex"), Kind::kRegex);
  EXPECT_EQ(matcher("regex").text, R"(.*@acme\.com)");

  // ${VAR} is data: its value never becomes a boolean or changes the matcher's shape.
  EXPECT_EQ(kind("from_env"), Kind::kExact);
  EXPECT_EQ(matcher("from_env").text, "true");
  EXPECT_EQ(kind("env_glob"), Kind::kGlob);
  EXPECT_EQ(matcher("env_glob").text, "true-*");
  EXPECT_EQ(kind("block"), Kind::kExact);
  EXPECT_EQ(matcher("block").text, "multi");

  // Conditions keep the order of the file.
  EXPECT_EQ(p.bound_claims.front().path, std::vector<std::string>{"exact"});
  EXPECT_EQ(p.bound_claims.back().path, std::vector<std::string>{"block"});
}

TEST(ProviderConfigTest, AuthenticatedRouteGetsTheIdentityFilter) {
  auto c = MustParse(
      R"(  - { name: corp, type: oidc, issuer: "https://idp.acme.internal", audiences: [ciap] }
)");
  ASSERT_NE(c, nullptr);
  const ListenerConfig& l = c->listeners[0];
  EXPECT_EQ(l.filters, (std::vector<std::string>{"identity", "access", "rate_limit", "headers"}));
  EXPECT_TRUE(l.routes[0].authenticate);
  EXPECT_FALSE(l.routes[0].is_public);
  EXPECT_FALSE(l.routes[1].authenticate);
  EXPECT_TRUE(l.routes[1].is_public);
}

TEST(ProviderConfigTest, ExplicitChainWithIdentity) {
  auto result = ParseConfig(R"(identity_providers:
  - { name: corp, type: oidc, issuer: "https://idp.acme.internal", audiences: [ciap] }
upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    filters: [identity]
    routes: [{ name: ci, upstream: u, authenticate: true }]
  - name: public-only
    address: 127.0.0.1:0
    plaintext: true
    filters: [headers]
    routes: [{ name: all, upstream: u, public: true }]
)",
                            "test.yaml", FakeEnv());
  ASSERT_TRUE(result.has_value()) << result.error()[0].ToString();
  EXPECT_EQ((*result)->listeners[0].filters, std::vector<std::string>{"identity"});
  EXPECT_EQ((*result)->listeners[1].filters, std::vector<std::string>{"headers"});
}

// Independent mistakes in providers are all reported, in file order.
TEST(ProviderConfigTest, CollectsAllProviderErrors) {
  auto result = ParseConfig(R"(identity_providers:
  - name: bk
    type: buildkite
    audiences: []
    algorithms: [HS256]
  - name: gh
    type: github
    audiences: [ciap]
    bound_claims: { repository_owner: "octo-*" }
    clock_skew: 1h
upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]
listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, upstream: u, authenticate: true }] }]
)",
                            "test.yaml", FakeEnv());
  ASSERT_FALSE(result.has_value());
  std::vector<std::string> paths;
  for (const ConfigError& e : result.error()) paths.push_back(e.key_path);
  EXPECT_EQ(paths, (std::vector<std::string>{"identity_providers[0].bound_claims",
                                             "identity_providers[0].audiences",
                                             "identity_providers[0].algorithms[0]",
                                             "identity_providers[1].bound_claims.repository_owner",
                                             "identity_providers[1].clock_skew"}));
}

// The message format of the architecture document, on a whole file.
TEST(ProviderConfigTest, ErrorFormatMatchesTheDocumentation) {
  auto result = ParseConfig(R"(admin:
  address: 127.0.0.1:9901
identity_providers:
  - name: buildkite
    type: buildkite
    audiences: [https://ci-proxy.acme.internal]
upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]
listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, upstream: u, authenticate: true }] }]
)",
                            "ciap.yaml", FakeEnv());
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_EQ(result.error()[0].ToString(),
            "ciap.yaml:4:5: identity_providers[0].bound_claims: a buildkite provider must bind "
            "organization_slug or organization_id (agent.buildkite.com is shared by every "
            "Buildkite organization; without it any organization's pipelines get in)");
}

}  // namespace
}  // namespace ciap::config
