// Tests of ClaimConditions: all conditions must hold, the first failure is found in config order,
// its explanation is short, deterministic and bounded; and a provider's bound_claims read by the
// real config loader evaluate as the config format documents (quoted "true" vs plain true).
#include "filters/claims/claim_conditions.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/loader.h"
#include "tests/unit/filters/claims/matcher_builders.h"
#include "tests/unit/filters/claims/vendor_payloads.h"

namespace ciap::claims {
namespace {

using namespace testing;  // NOLINT: the builders and payloads of this test folder

config::ClaimCondition Condition(std::string claim, config::ClaimMatcher matcher) {
  return {{std::move(claim)}, std::move(matcher)};
}

ClaimConditions MustCompile(const std::vector<config::ClaimCondition>& conditions) {
  auto compiled = ClaimConditions::Compile(conditions);
  EXPECT_TRUE(compiled.has_value()) << compiled.error();
  return std::move(*compiled);
}

TEST(ClaimConditionsTest, AllMustHold) {
  ClaimConditions c = MustCompile({Condition("organization_slug", Exact("acme-inc")),
                                   Condition("pipeline_slug", OneOf({Exact("deploy-api")})),
                                   Condition("build_branch", Exact("main"))});
  EXPECT_EQ(c.size(), 3u);
  EXPECT_TRUE(c.Matches(BuildkitePayload()));
  EXPECT_EQ(c.FirstFailure(BuildkitePayload()), std::nullopt);
  EXPECT_EQ(c.Explain(BuildkitePayload()), std::nullopt);
  EXPECT_FALSE(c.Matches(GitHubPayload()));
  EXPECT_EQ(c.FirstFailure(GitHubPayload()), 0u);
}

TEST(ClaimConditionsTest, EmptyListHolds) {
  ClaimConditions c = MustCompile({});
  EXPECT_TRUE(c.Matches(boost::json::object()));
}

TEST(ClaimConditionsTest, ExplainsTheFirstFailureInConfigOrder) {
  ClaimConditions c = MustCompile({Condition("organization_slug", Exact("acme-inc")),
                                   Condition("build_branch", Exact("release")),
                                   Condition("build_source", Exact("ui"))});
  EXPECT_EQ(c.FirstFailure(BuildkitePayload()), 1u);
  EXPECT_EQ(c.Explain(BuildkitePayload()), R"(build_branch: "main" does not match "release")");
  EXPECT_EQ(c.ExplainCondition(2, BuildkitePayload()),
            R"(build_source: "webhook" does not match "ui")");
  EXPECT_EQ(c.ExplainCondition(0, BuildkitePayload()),
            R"(organization_slug: "acme-inc" matches "acme-inc")");
}

TEST(ClaimConditionsTest, ExplanationForms) {
  boost::json::object evil = ParseObject(R"({"organization_slug":"evil-inc"})");
  EXPECT_EQ(MustCompile({Condition("organization_slug", Exact("acme-inc"))}).Explain(evil),
            R"(organization_slug: "evil-inc" does not match "acme-inc")");
  EXPECT_EQ(
      MustCompile({Condition("pipeline_slug", OneOf({Exact("deploy-api"), GlobOf("release-*")}))})
          .Explain(evil),
      R"(pipeline_slug: missing, expected one of ["deploy-api", glob "release-*"])");
  EXPECT_EQ(
      MustCompile({Condition("ref_protected", Bool(true))}).Explain(GitLabUnprotectedPayload()),
      R"(ref_protected: "false" does not match true)");
  EXPECT_EQ(MustCompile({Condition("build_number", Exact("1423"))}).Explain(BuildkitePayload()),
            R"(build_number: 1423 does not match "1423")");
  EXPECT_EQ(
      MustCompile({Condition("oidc.circleci.com/context-ids", Contains(Exact("prod")))})
          .Explain(CircleCiPayload()),
      R"(oidc.circleci.com/context-ids: ["a74579f1-2e7d-451e-b009-5c082ad2729e","cb32986e-2f6f-4f43-b2bd...)"
      R"( does not match an array containing "prod")");
  EXPECT_EQ(MustCompile({Condition("oidc.circleci.com/ssh-rerun", Bool(true))})
                .Explain(CircleCiPayload()),
            "oidc.circleci.com/ssh-rerun: false does not match true");
  EXPECT_EQ(MustCompile({Condition("build_tag", Not(Exact("v1")))}).Explain(BuildkitePayload()),
            R"(build_tag: missing, expected not "v1")");
  EXPECT_EQ(
      MustCompile({Condition("step_key", Exact("deploy"))}).Explain(BuildkiteNoStepKeyPayload()),
      R"(step_key: null does not match "deploy")");
}

// Values are cut to 64 bytes, never inside a UTF-8 sequence, and escaped as JSON.
TEST(ClaimConditionsTest, ExplanationIsBounded) {
  boost::json::object o;
  o["sub"] = std::string(200, 'x');
  o["utf8"] = std::string(63, 'a') + "é" + std::string(10, 'b');  // é straddles byte 64
  o["control"] = "a\nb\x1b[31m";
  EXPECT_EQ(MustCompile({Condition("sub", Exact("y"))}).Explain(o),
            "sub: \"" + std::string(64, 'x') + "\"... does not match \"y\"");
  EXPECT_EQ(MustCompile({Condition("utf8", Exact("y"))}).Explain(o),
            "utf8: \"" + std::string(63, 'a') + "\"... does not match \"y\"");
  EXPECT_EQ(MustCompile({Condition("control", Exact("y"))}).Explain(o),
            R"(control: "a\nb\u001b[31m" does not match "y")");
  // Deterministic: the same input gives the same text.
  ClaimConditions c = MustCompile({Condition("sub", GlobOf("repo:*"))});
  EXPECT_EQ(c.Explain(o), c.Explain(o));
}

TEST(ClaimConditionsTest, NestedPaths) {
  boost::json::object o = ParseObject(R"({"a":{"b.c":{"d":"x"}},"s":"str"})");
  const std::vector<std::string> path = {"a", "b.c", "d"};
  ASSERT_NE(FindClaim(o, path), nullptr);
  EXPECT_EQ(FindClaim(o, path)->as_string(), "x");
  EXPECT_EQ(FindClaim(o, std::vector<std::string>{"s", "x"}), nullptr) << "a string has no keys";
  EXPECT_EQ(FindClaim(o, std::vector<std::string>{}), nullptr);
  ClaimConditions c = MustCompile({{{"a", "b.c", "d"}, Exact("y")}});
  EXPECT_EQ(c.Explain(o), R"(a.b.c.d: "x" does not match "y")");
}

// Several condition lists share one slot per distinct claim; resolved claims give the same
// answers as lookups on the object.
TEST(ClaimConditionsTest, SharedSlots) {
  ClaimSlots slots;
  auto buildkite = ClaimConditions::Compile(
      std::vector<config::ClaimCondition>{Condition("organization_slug", Exact("acme-inc")),
                                          Condition("build_branch", Exact("main"))},
      &slots);
  auto github = ClaimConditions::Compile(
      std::vector<config::ClaimCondition>{Condition("organization_slug", Not(Exact("x"))),
                                          Condition("repository_owner", Exact("octo-org")),
                                          {{"a", "b"}, Exact("c")}},
      &slots);
  ASSERT_TRUE(buildkite.has_value() && github.has_value());
  EXPECT_EQ(slots.size(), 4u);
  EXPECT_EQ(slots.path(0), std::vector<std::string>{"organization_slug"});
  EXPECT_EQ(slots.path(3), (std::vector<std::string>{"a", "b"}));
  for (const boost::json::object* payload :
       {&BuildkitePayload(), &GitHubPayload(), &GitLabPayload(), &CircleCiPayload()}) {
    std::vector<const boost::json::value*> resolved(slots.size());
    slots.Resolve(*payload, resolved);
    EXPECT_EQ(buildkite->Matches(resolved), buildkite->Matches(*payload));
    EXPECT_EQ(buildkite->FirstFailure(resolved), buildkite->FirstFailure(*payload));
    EXPECT_EQ(github->FirstFailure(resolved), github->FirstFailure(*payload));
  }
  std::vector<const boost::json::value*> resolved(slots.size());
  slots.Resolve(BuildkitePayload(), resolved);
  EXPECT_TRUE(buildkite->Matches(resolved));
  EXPECT_EQ(github->FirstFailure(resolved), 1u);
  EXPECT_EQ(resolved[2], nullptr) << "repository_owner is not in a Buildkite token";
}

TEST(ClaimConditionsTest, CompileErrorNamesTheClaim) {
  auto compiled = ClaimConditions::Compile(
      std::vector<config::ClaimCondition>{Condition("email", Regex("(unclosed"))});
  ASSERT_FALSE(compiled.has_value());
  EXPECT_EQ(compiled.error().find("email: invalid RE2 regular expression"), 0u) << compiled.error();
}

// From YAML to a decision: the loader's matcher kinds evaluate as the config format documents.
TEST(ClaimConditionsTest, BoundClaimsFromTheConfigLoader) {
  constexpr std::string_view kYaml = R"(identity_providers:
  - name: gitlab
    type: gitlab
    audiences: [https://ci-proxy.acme.internal]
    bound_claims:
      namespace_id: 72
      project_path: "acme/platform/*"
      ref_protected: true
      environment_protected: "true"
      pipeline_source: { not: [merge_request_event, external_pull_request_event] }
      groups_direct: { contains: acme/sre }
      user_login: { regex: '[a-z-]+' }
upstreams: [{ name: u, endpoints: [127.0.0.1:1] }]
listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, upstream: u, authenticate: true }] }]
)";
  auto config = config::ParseConfig(
      kYaml, "test.yaml", [](const std::string&) { return std::optional<std::string>(); });
  ASSERT_TRUE(config.has_value()) << config.error()[0].ToString();
  ClaimConditions c = MustCompile((*config)->identity_providers[0].bound_claims);
  EXPECT_EQ(c.size(), 7u);
  EXPECT_EQ(c.Explain(GitLabPayload()), std::nullopt);

  // GitLab sends "true"; a JSON true passes plain `true` but not the quoted string "true".
  boost::json::object json_bools = GitLabPayload();
  json_bools["ref_protected"] = true;
  EXPECT_TRUE(c.Matches(json_bools));
  json_bools["environment_protected"] = true;
  EXPECT_EQ(c.Explain(json_bools), R"(environment_protected: true does not match "true")");

  EXPECT_EQ(c.Explain(GitLabUnprotectedPayload()), R"(ref_protected: "false" does not match true)");
}

}  // namespace
}  // namespace ciap::claims
