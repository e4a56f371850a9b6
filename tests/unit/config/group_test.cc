// Tests of `groups` and of the access policy of routes (`allow`, `deny`, `mode`) in valid
// configs: the parsed GroupRule trees, dynamic "<provider>:<value>" groups, and the filter
// chain a listener gets. Broken forms are in broken_config_test.cc.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.h"
#include "tests/unit/config/test_util.h"

namespace ciap::config {
namespace {

using testing::FakeEnv;
using Kind = GroupRule::Kind;
using MatcherKind = ClaimMatcher::Kind;

constexpr std::string_view kProviders = R"(identity_providers:
  - name: buildkite
    type: buildkite
    audiences: [https://ci-proxy.acme.internal]
    bound_claims: { organization_slug: acme-inc }
  - name: gitlab
    type: gitlab
    issuer: https://gitlab.acme.internal
    audiences: [https://ci-proxy.acme.internal]
  - name: corp
    type: oidc
    issuer: https://idp.acme.internal
    audiences: [ci-proxy]
    groups_claim: groups
upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]
)";

// The groups of the architecture document (and of tests/fixtures/config/valid/groups.yaml).
constexpr std::string_view kGroups = R"(groups:
  release-pipelines:
    any:
      - provider: buildkite
        claims:
          pipeline_slug: [deploy-api, "release-*"]
          build_branch: main
          build_source: { not: [trigger_job] }
      - provider: gitlab
        claims:
          project_path: "acme/platform/*"
          ref_protected: true
  platform-admins:
    all:
      - provider: corp
        claims: { groups: { contains: platform-admins } }
      - { not: { provider: corp, claims: { amr: { contains: guest } } } }
  any-corp:
    provider: corp
)";

std::shared_ptr<const Config> MustParse(const std::string& yaml) {
  auto result = ParseConfig(yaml, "test.yaml", FakeEnv());
  if (!result) {
    for (const ConfigError& e : result.error()) ADD_FAILURE() << e.ToString();
    return nullptr;
  }
  return *result;
}

// kProviders and kGroups, and one plaintext listener with `listener_tail` (filters, routes).
std::shared_ptr<const Config> WithListener(std::string_view listener_tail) {
  return MustParse(std::string(kProviders) + std::string(kGroups) +
                   "listeners:\n  - name: l\n    address: 127.0.0.1:0\n    plaintext: true\n" +
                   std::string(listener_tail));
}

std::vector<std::string> Path(const ClaimCondition& c) { return c.path; }

TEST(GroupConfigTest, ParsesRuleTreesInFileOrder) {
  auto c = WithListener("    routes: [{ name: r, upstream: u, allow: [release-pipelines] }]\n");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->groups.size(), 3u);
  EXPECT_EQ(c->groups[0].name, "release-pipelines");
  EXPECT_EQ(c->groups[1].name, "platform-admins");
  EXPECT_EQ(c->groups[2].name, "any-corp");

  // release-pipelines: any of two leaves.
  const GroupRule& release = c->groups[0].rule;
  EXPECT_EQ(release.kind, Kind::kAny);
  ASSERT_EQ(release.children.size(), 2u);
  const GroupRule& bk = release.children[0];
  EXPECT_EQ(bk.kind, Kind::kLeaf);
  EXPECT_EQ(bk.provider, "buildkite");
  EXPECT_TRUE(bk.children.empty());
  ASSERT_EQ(bk.claims.size(), 3u);
  EXPECT_EQ(Path(bk.claims[0]), std::vector<std::string>{"pipeline_slug"});
  EXPECT_EQ(bk.claims[0].matcher.kind, MatcherKind::kOneOf);
  ASSERT_EQ(bk.claims[0].matcher.children.size(), 2u);
  EXPECT_EQ(bk.claims[0].matcher.children[0].kind, MatcherKind::kExact);
  EXPECT_EQ(bk.claims[0].matcher.children[0].text, "deploy-api");
  EXPECT_EQ(bk.claims[0].matcher.children[1].kind, MatcherKind::kGlob);
  EXPECT_EQ(bk.claims[0].matcher.children[1].text, "release-*");
  EXPECT_EQ(Path(bk.claims[1]), std::vector<std::string>{"build_branch"});
  EXPECT_EQ(bk.claims[1].matcher.kind, MatcherKind::kExact);
  EXPECT_EQ(bk.claims[1].matcher.text, "main");
  EXPECT_EQ(Path(bk.claims[2]), std::vector<std::string>{"build_source"});
  EXPECT_EQ(bk.claims[2].matcher.kind, MatcherKind::kNot);
  ASSERT_EQ(bk.claims[2].matcher.children.size(), 1u);
  EXPECT_EQ(bk.claims[2].matcher.children[0].kind, MatcherKind::kOneOf);

  const GroupRule& gl = release.children[1];
  EXPECT_EQ(gl.kind, Kind::kLeaf);
  EXPECT_EQ(gl.provider, "gitlab");
  ASSERT_EQ(gl.claims.size(), 2u);
  EXPECT_EQ(Path(gl.claims[0]), std::vector<std::string>{"project_path"});
  EXPECT_EQ(gl.claims[0].matcher.kind, MatcherKind::kGlob);
  EXPECT_EQ(gl.claims[0].matcher.text, "acme/platform/*");
  EXPECT_EQ(Path(gl.claims[1]), std::vector<std::string>{"ref_protected"});
  EXPECT_EQ(gl.claims[1].matcher.kind, MatcherKind::kBool);
  EXPECT_TRUE(gl.claims[1].matcher.boolean);

  // platform-admins: all of a leaf and a not of a leaf.
  const GroupRule& admins = c->groups[1].rule;
  EXPECT_EQ(admins.kind, Kind::kAll);
  ASSERT_EQ(admins.children.size(), 2u);
  const GroupRule& member = admins.children[0];
  EXPECT_EQ(member.kind, Kind::kLeaf);
  EXPECT_EQ(member.provider, "corp");
  ASSERT_EQ(member.claims.size(), 1u);
  EXPECT_EQ(Path(member.claims[0]), std::vector<std::string>{"groups"});
  EXPECT_EQ(member.claims[0].matcher.kind, MatcherKind::kContains);
  ASSERT_EQ(member.claims[0].matcher.children.size(), 1u);
  EXPECT_EQ(member.claims[0].matcher.children[0].text, "platform-admins");
  const GroupRule& not_guest = admins.children[1];
  EXPECT_EQ(not_guest.kind, Kind::kNot);
  ASSERT_EQ(not_guest.children.size(), 1u);
  const GroupRule& guest = not_guest.children[0];
  EXPECT_EQ(guest.kind, Kind::kLeaf);
  EXPECT_EQ(guest.provider, "corp");
  ASSERT_EQ(guest.claims.size(), 1u);
  EXPECT_EQ(Path(guest.claims[0]), std::vector<std::string>{"amr"});
  EXPECT_EQ(guest.claims[0].matcher.kind, MatcherKind::kContains);
  EXPECT_EQ(guest.claims[0].matcher.children[0].text, "guest");

  // any-corp: a bare leaf without claims.
  const GroupRule& any_corp = c->groups[2].rule;
  EXPECT_EQ(any_corp.kind, Kind::kLeaf);
  EXPECT_EQ(any_corp.provider, "corp");
  EXPECT_TRUE(any_corp.claims.empty());
  EXPECT_TRUE(any_corp.children.empty());
}

TEST(GroupConfigTest, NestingUpToTheLimitIsAccepted) {
  // 7 nots around a leaf: 8 levels, the most allowed (one more is in broken_config_test.cc).
  std::string rule = "  deep: ";
  for (int i = 0; i < 7; ++i) rule += "{ not: ";
  rule += "{ provider: corp }";
  for (int i = 0; i < 7; ++i) rule += " }";
  rule += "\n";
  auto c = MustParse(std::string(kProviders) + "groups:\n" + rule +
                     "listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ "
                     "name: r, upstream: u, allow: [deep] }] }]\n");
  ASSERT_NE(c, nullptr);
  const GroupRule* node = &c->groups[0].rule;
  int nots = 0;
  while (node->kind == Kind::kNot) {
    ++nots;
    ASSERT_EQ(node->children.size(), 1u);
    node = &node->children[0];
  }
  EXPECT_EQ(nots, 7);
  EXPECT_EQ(node->kind, Kind::kLeaf);
}

TEST(GroupConfigTest, ManyLeavesUpToTheLimitAreAccepted) {
  std::string rule = "  many: { any: [";
  for (int i = 0; i < 256; ++i) rule += "{ provider: corp }, ";
  rule += "] }\n";
  auto c = MustParse(std::string(kProviders) + "groups:\n" + rule +
                     "listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ "
                     "name: r, upstream: u, allow: [many] }] }]\n");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->groups[0].rule.children.size(), 256u);
}

TEST(GroupConfigTest, RoutePolicyIsParsed) {
  auto c = WithListener(R"(    routes:
      - name: uploads
        match: { path_prefix: /releases/ }
        upstream: u
        allow: [release-pipelines, "corp:release-managers"]
        deny: [corp:contractors]
        mode: shadow
      - name: admin
        match: { path_prefix: /admin/ }
        upstream: u
        allow: [platform-admins]
        mode: enforce
      - name: any-token
        match: { path_prefix: /api/ }
        upstream: u
        authenticate: true
        deny: [any-corp]
      - name: health
        upstream: u
        public: true
)");
  ASSERT_NE(c, nullptr);
  const ListenerConfig& l = c->listeners[0];
  ASSERT_EQ(l.routes.size(), 4u);
  const RouteConfig& uploads = l.routes[0];
  EXPECT_EQ(uploads.allow,
            (std::vector<std::string>{"release-pipelines", "corp:release-managers"}));
  EXPECT_EQ(uploads.deny, std::vector<std::string>{"corp:contractors"});
  EXPECT_EQ(uploads.mode, PolicyMode::kShadow);
  EXPECT_FALSE(uploads.authenticate);
  EXPECT_FALSE(uploads.is_public);
  const RouteConfig& admin = l.routes[1];
  EXPECT_EQ(admin.allow, std::vector<std::string>{"platform-admins"});
  EXPECT_TRUE(admin.deny.empty());
  EXPECT_EQ(admin.mode, PolicyMode::kEnforce);
  const RouteConfig& any_token = l.routes[2];
  EXPECT_TRUE(any_token.authenticate);
  EXPECT_TRUE(any_token.allow.empty());
  EXPECT_EQ(any_token.deny, std::vector<std::string>{"any-corp"});
  EXPECT_EQ(any_token.mode, PolicyMode::kEnforce) << "enforce is the default";
  const RouteConfig& health = l.routes[3];
  EXPECT_TRUE(health.is_public);
  EXPECT_TRUE(health.allow.empty() && health.deny.empty());
}

TEST(GroupConfigTest, DefaultChainHasAccessBetweenIdentityAndHeaders) {
  auto c = WithListener("    routes: [{ name: r, upstream: u, allow: [any-corp] }]\n");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->listeners[0].filters,
            (std::vector<std::string>{"identity", "access", "rate_limit", "headers"}));
}

TEST(GroupConfigTest, ExplicitChainWithAccess) {
  auto c = WithListener(
      "    filters: [identity, access]\n"
      "    routes: [{ name: r, upstream: u, allow: [any-corp] }]\n");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->listeners[0].filters, (std::vector<std::string>{"identity", "access"}));
}

// Without allow/deny routes, a chain may leave access out.
TEST(GroupConfigTest, ChainWithoutAccessForAuthenticateOnly) {
  auto c = WithListener(
      "    filters: [identity, headers]\n"
      "    routes: [{ name: r, upstream: u, authenticate: true }]\n");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->listeners[0].filters, (std::vector<std::string>{"identity", "headers"}));
}

TEST(GroupConfigTest, EmptyGroupsSectionIsAccepted) {
  auto c = MustParse(std::string(kProviders) +
                     "groups: {}\n"
                     "listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ "
                     "name: r, upstream: u, allow: [corp:admins] }] }]\n");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->groups.empty());
  EXPECT_EQ(c->listeners[0].routes[0].allow, std::vector<std::string>{"corp:admins"});
}

// Independent mistakes in groups and routes are all reported, in file order.
TEST(GroupConfigTest, CollectsAllGroupErrors) {
  auto result = ParseConfig(std::string(kProviders) + R"(groups:
  a: { any: [] }
  b: { provider: okta }
  c: { not: [{ provider: corp }] }
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - { name: r1, upstream: u, allow: [a, nope] }
      - { name: r2, upstream: u, deny: [b] }
)",
                            "test.yaml", FakeEnv());
  ASSERT_FALSE(result.has_value());
  std::vector<std::string> paths;
  for (const ConfigError& e : result.error()) paths.push_back(e.key_path);
  EXPECT_EQ(paths, (std::vector<std::string>{"groups.a.any", "groups.b.provider", "groups.c.not",
                                             "listeners[0].routes[0].allow[1]",
                                             "listeners[0].routes[1].deny"}));
}

// A list key reaches into nested objects; a plain key with dots stays one literal claim name.
TEST(GroupConfigTest, ListKeysAreNestedClaimPaths) {
  auto c = MustParse(std::string(kProviders) + R"(groups:
  nested:
    provider: corp
    claims:
      [realm_access, roles]: { contains: deployer }
      oidc.circleci.com/org-id: a64b0a19
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes: [{ name: r, upstream: u, allow: [nested] }]
)");
  ASSERT_NE(c, nullptr);
  const GroupRule& rule = c->groups[0].rule;
  ASSERT_EQ(rule.claims.size(), 2u);
  EXPECT_EQ(Path(rule.claims[0]), (std::vector<std::string>{"realm_access", "roles"}));
  EXPECT_EQ(rule.claims[0].matcher.kind, MatcherKind::kContains);
  EXPECT_EQ(Path(rule.claims[1]), (std::vector<std::string>{"oidc.circleci.com/org-id"}));
}

TEST(GroupConfigTest, BadListKeyIsAnError) {
  auto result = ParseConfig(std::string(kProviders) + R"(groups:
  nested:
    provider: corp
    claims:
      [realm_access, [x]]: admin
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes: [{ name: r, upstream: u, allow: [nested] }]
)",
                            "test.yaml", FakeEnv());
  ASSERT_FALSE(result.has_value());
  EXPECT_NE(result.error()[0].message.find("a claim path must be a non-empty list"),
            std::string::npos)
      << result.error()[0].ToString();
}

}  // namespace
}  // namespace ciap::config
