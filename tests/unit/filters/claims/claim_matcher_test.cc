// Tests of CompiledMatcher: a table over the CI vendors' real payload shapes (Buildkite numbers,
// CircleCI dotted names and arrays, GitLab string ids and "true"/"false" flags, GitHub strings),
// including the mistakes the README's recipes avoid, then the coercion rules and compile errors on
// their own.
#include "filters/claims/claim_matcher.h"

#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "tests/unit/filters/claims/matcher_builders.h"
#include "tests/unit/filters/claims/vendor_payloads.h"

namespace ciap::claims {
namespace {

using namespace testing;  // NOLINT: the builders and payloads of this test folder

struct VendorCase {
  std::string name;
  const boost::json::object& (*payload)();
  std::string claim;
  config::ClaimMatcher matcher;
  bool matches;
};

void PrintTo(const VendorCase& c, std::ostream* os) { *os << c.name; }

const boost::json::object& SyntheticSubjects() {
  // One value per glob pitfall: a prefix without a delimiter, a deeper path, another segment.
  static const boost::json::object o = ParseObject(R"({
    "app": "repo:org/app", "app_evil": "repo:org/app-evil", "app_slash_evil": "repo:org/app/evil",
    "app_colon_evil": "repo:org/app:evil", "org_evil": "org-evil/app", "empty": "",
    "utf8": "équipe/déploiement"})");
  return o;
}

std::vector<VendorCase> Cases() {
  return {
      // Buildkite: the tenant anchor, numbers as JSON numbers, a colon-separated `sub`.
      {"BuildkiteOrgSlugExact", BuildkitePayload, "organization_slug", Exact("acme-inc"), true},
      {"BuildkiteOtherOrg", BuildkitePayload, "organization_slug", Exact("evil-inc"), false},
      {"BuildkiteOrgSlugPrefixIsNotEqual", BuildkitePayload, "organization_slug", Exact("acme"),
       false},
      {"BuildkiteOrgIdOneOf", BuildkitePayload, "organization_id",
       OneOf({Exact("00000000-0000-0000-0000-000000000000"),
              Exact("f892efa9-103e-4d28-97a1-3b8616a0994d")}),
       true},
      {"BuildkitePipelineOneOfWithGlob", BuildkitePayload, "pipeline_slug",
       OneOf({Exact("release"), GlobOf("deploy-*")}), true},
      {"BuildkitePipelineOneOfNoneMatch", BuildkitePayload, "pipeline_slug",
       OneOf({Exact("deploy"), GlobOf("release-*")}), false},
      {"BuildkiteBuildNumberIsANumber", BuildkitePayload, "build_number", Number(1423), true},
      {"BuildkiteBuildNumberOtherNumber", BuildkitePayload, "build_number", Number(1424), false},
      {"BuildkiteExactStringDoesNotMatchNumber", BuildkitePayload, "build_number", Exact("1423"),
       false},
      {"BuildkiteNotTriggerJob", BuildkitePayload, "build_source",
       Not(OneOf({Exact("trigger_job")})), true},
      {"BuildkiteNotWebhook", BuildkitePayload, "build_source", Not(Exact("webhook")), false},
      {"BuildkiteTriggeredBuildIsRefused", BuildkiteNoStepKeyPayload, "build_source",
       Not(OneOf({Exact("trigger_job")})), false},
      {"BuildkiteMissingClaimNeverMatches", BuildkitePayload, "build_tag", GlobOf("v*"), false},
      {"BuildkiteNotOnMissingClaimIsFalse", BuildkitePayload, "build_tag", Not(Exact("v1")), false},
      {"BuildkiteNullStepKeyIsNotAString", BuildkiteNoStepKeyPayload, "step_key", Exact("deploy"),
       false},
      {"BuildkiteNullStepKeyIsPresentForNot", BuildkiteNoStepKeyPayload, "step_key",
       Not(Exact("deploy")), true},
      {"BuildkiteSubStarStopsAtColon", BuildkitePayload, "sub",
       GlobOf("organization:acme-inc:pipeline:deploy-api:ref:refs/heads/main:*"), false},
      {"BuildkiteSubDoubleStarCrossesColon", BuildkitePayload, "sub",
       GlobOf("organization:acme-inc:pipeline:deploy-api:ref:refs/heads/main:**"), true},
      {"BuildkiteSubStarInOneSegment", BuildkitePayload, "sub",
       GlobOf("organization:acme-inc:pipeline:*:ref:refs/heads/main:commit:*:step:deploy"), true},
      {"BuildkiteOrgIdRegex", BuildkitePayload, "organization_id",
       Regex("[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}"), true},
      {"BuildkiteRegexIsAFullMatch", BuildkitePayload, "organization_slug", Regex("acme"), false},

      // CircleCI: claim names with dots and slashes, an array of context ids, a JSON boolean.
      {"CircleCiOrgIdWithDottedName", CircleCiPayload, "oidc.circleci.com/org-id",
       Exact("a64b0a19-f221-4291-b000-8d24bd842b72"), true},
      {"CircleCiNameIsNotSplitOnDots", CircleCiPayload, "oidc.circleci.com", Exact("org-id"),
       false},
      {"CircleCiContextContains", CircleCiPayload, "oidc.circleci.com/context-ids",
       Contains(Exact("cb32986e-2f6f-4f43-b2bd-d3c2fd98e903")), true},
      {"CircleCiContextNotContained", CircleCiPayload, "oidc.circleci.com/context-ids",
       Contains(Exact("00000000-2f6f-4f43-b2bd-d3c2fd98e903")), false},
      {"CircleCiContextContainsGlob", CircleCiPayload, "oidc.circleci.com/context-ids",
       Contains(GlobOf("a74579f1-*")), true},
      {"CircleCiContextContainsOneOf", CircleCiPayload, "oidc.circleci.com/context-ids",
       Contains(OneOf({Exact("x"), Exact("a74579f1-2e7d-451e-b009-5c082ad2729e")})), true},
      {"CircleCiArrayIsNotAString", CircleCiPayload, "oidc.circleci.com/context-ids",
       Exact("a74579f1-2e7d-451e-b009-5c082ad2729e"), false},
      {"CircleCiContainsOnAStringIsFalse", CircleCiPayload, "oidc.circleci.com/project-id",
       Contains(Exact("5a301f56-eaa7-4cce-9441-37810f7c8452")), false},
      {"CircleCiNotContains", CircleCiPayload, "oidc.circleci.com/context-ids",
       Not(Contains(Exact("forbidden"))), true},
      {"CircleCiSshRerunFalse", CircleCiPayload, "oidc.circleci.com/ssh-rerun", Bool(false), true},
      {"CircleCiSshRerunIsNotTrue", CircleCiPayload, "oidc.circleci.com/ssh-rerun", Bool(true),
       false},
      {"CircleCiJsonBoolIsNotTheString", CircleCiPayload, "oidc.circleci.com/ssh-rerun",
       Exact("false"), false},
      {"CircleCiVcsOriginStarInLastSegment", CircleCiPayload, "oidc.circleci.com/vcs-origin",
       GlobOf("github.com/acme/*"), true},
      {"CircleCiVcsOriginStarDoesNotCrossSlash", CircleCiPayload, "oidc.circleci.com/vcs-origin",
       GlobOf("github.com/*"), false},
      {"CircleCiVcsOriginDoubleStarCrossesSlash", CircleCiPayload, "oidc.circleci.com/vcs-origin",
       GlobOf("github.com/**"), true},

      // GitLab: ids and flags are strings; "false" is never truthy.
      {"GitLabRefProtectedStringTrue", GitLabPayload, "ref_protected", Bool(true), true},
      {"GitLabEnvironmentProtected", GitLabPayload, "environment_protected", Bool(true), true},
      {"GitLabRefProtectedIsNotFalse", GitLabPayload, "ref_protected", Bool(false), false},
      {"GitLabStringFalseIsNotTrue", GitLabUnprotectedPayload, "ref_protected", Bool(true), false},
      {"GitLabStringFalseIsFalse", GitLabUnprotectedPayload, "ref_protected", Bool(false), true},
      {"GitLabStringFalseIsNotExactTrue", GitLabUnprotectedPayload, "ref_protected", Exact("true"),
       false},
      {"GitLabNotTrueOnStringFalse", GitLabUnprotectedPayload, "ref_protected", Not(Bool(true)),
       true},
      {"GitLabProjectIdStringEqualsNumber", GitLabPayload, "project_id", Number(20), true},
      {"GitLabProjectIdOtherNumber", GitLabPayload, "project_id", Number(2), false},
      {"GitLabNamespaceIdNumber", GitLabPayload, "namespace_id", Number(72), true},
      {"GitLabProjectIdExactString", GitLabPayload, "project_id", Exact("20"), true},
      {"GitLabRunnerIdIsAJsonNumber", GitLabPayload, "runner_id", Number(1), true},
      {"GitLabRunnerIdNumberIsNotAString", GitLabPayload, "runner_id", Exact("1"), false},
      {"GitLabRunnerIdIsNotTrue", GitLabPayload, "runner_id", Bool(true), false},
      {"GitLabProjectPathStarLastSegment", GitLabPayload, "project_path", GlobOf("acme/platform/*"),
       true},
      {"GitLabProjectPathStarOneLevelTooHigh", GitLabPayload, "project_path", GlobOf("acme/*"),
       false},
      {"GitLabProjectPathDoubleStar", GitLabPayload, "project_path", GlobOf("acme/**"), true},
      {"GitLabNamespaceExact", GitLabPayload, "namespace_path", Exact("acme/platform"), true},
      {"GitLabGroupsDirectContains", GitLabPayload, "groups_direct", Contains(Exact("acme/sre")),
       true},
      {"GitLabGroupsDirectContainsGlob", GitLabPayload, "groups_direct", Contains(GlobOf("acme/*")),
       true},
      {"GitLabGroupsDirectAbsent", GitLabUnprotectedPayload, "groups_direct",
       Contains(Exact("acme/sre")), false},
      {"GitLabSubGlobAcrossColons", GitLabPayload, "sub",
       GlobOf("project_path:acme/platform/*:ref_type:branch:ref:main"), true},
      {"GitLabStarRefRefusesSlashInRef", GitLabUnprotectedPayload, "ref", GlobOf("*"), false},
      {"GitLabMergeRequestRefused", GitLabUnprotectedPayload, "pipeline_source",
       Not(OneOf({Exact("merge_request_event"), Exact("external_pull_request_event")})), false},

      // GitHub: every custom claim is a string, `sub` is colon-separated.
      {"GitHubOwnerExact", GitHubPayload, "repository_owner", Exact("octo-org"), true},
      {"GitHubOwnerPrefixIsNotEqual", GitHubPayload, "repository_owner", Exact("octo"), false},
      {"GitHubOwnerIdNumber", GitHubPayload, "repository_owner_id", Number(65), true},
      {"GitHubOwnerIdExact", GitHubPayload, "repository_owner_id", Exact("65"), true},
      {"GitHubRepositoryIdNotAnother", GitHubPayload, "repository_id", Number(75), false},
      {"GitHubSubStarStopsAtColon", GitHubPayload, "sub", GlobOf("repo:octo-org/deploy-api:*"),
       false},
      {"GitHubSubDoubleStar", GitHubPayload, "sub", GlobOf("repo:octo-org/deploy-api:**"), true},
      {"GitHubSubEnvironment", GitHubPayload, "sub",
       GlobOf("repo:octo-org/*:environment:production"), true},
      {"GitHubJobWorkflowRefTag", GitHubPayload, "job_workflow_ref",
       GlobOf("octo-org/shared-workflows/.github/workflows/deploy.yml@refs/tags/*"), true},
      {"GitHubJobWorkflowRefOtherRepo", GitHubPayload, "job_workflow_ref",
       GlobOf("octo-org/deploy-api/**"), false},
      {"GitHubWorkflowRefRegex", GitHubPayload, "workflow_ref",
       Regex(R"(octo-org/deploy-api/\.github/workflows/[a-z-]+\.yml@refs/heads/main)"), true},
      {"GitHubRunAttemptNumber", GitHubPayload, "run_attempt", Number(1), true},
      {"GitHubEventOneOf", GitHubPayload, "event_name",
       OneOf({Exact("push"), Exact("workflow_dispatch")}), true},
      {"GitHubPullRequestTargetRefused", GitHubPayload, "event_name",
       OneOf({Exact("pull_request_target")}), false},
      {"GitHubEnvironmentNotProduction", GitHubPayload, "environment", Not(Exact("production")),
       false},

      // The glob pitfalls: `app*` matches `app-evil` (only a delimiter helps), never `app/evil`.
      {"GlobPrefixMatchesItself", SyntheticSubjects, "app", GlobOf("repo:org/app*"), true},
      {"GlobPrefixAlsoMatchesAppEvil", SyntheticSubjects, "app_evil", GlobOf("repo:org/app*"),
       true},
      {"GlobPrefixStopsAtSlash", SyntheticSubjects, "app_slash_evil", GlobOf("repo:org/app*"),
       false},
      {"GlobPrefixStopsAtColon", SyntheticSubjects, "app_colon_evil", GlobOf("repo:org/app*"),
       false},
      {"GlobDelimitedPrefixRefusesAppEvil", SyntheticSubjects, "app_evil", GlobOf("repo:org/app/*"),
       false},
      {"GlobDelimitedPrefixTakesPath", SyntheticSubjects, "app_slash_evil",
       GlobOf("repo:org/app/*"), true},
      {"GlobDoubleStarCrossesSlash", SyntheticSubjects, "app_slash_evil", GlobOf("repo:org/app**"),
       true},
      {"GlobOrgWithoutDelimiter", SyntheticSubjects, "org_evil", GlobOf("org*/app"), true},
      {"GlobOrgWithDelimiter", SyntheticSubjects, "org_evil", GlobOf("org/*"), false},
      {"GlobStarMatchesEmpty", SyntheticSubjects, "empty", GlobOf("*"), true},
      {"ExactEmptyString", SyntheticSubjects, "empty", Exact(""), true},
      {"GlobUtf8Literal", SyntheticSubjects, "utf8", GlobOf("équipe/*"), true},
  };
}

class ClaimVendorPayloadTest : public ::testing::TestWithParam<VendorCase> {};

TEST_P(ClaimVendorPayloadTest, MatchesAsExpected) {
  const VendorCase& c = GetParam();
  auto matcher = CompiledMatcher::Compile(c.matcher);
  ASSERT_TRUE(matcher.has_value()) << matcher.error();
  const boost::json::value* claim = c.payload().if_contains(c.claim);
  EXPECT_EQ(matcher->Matches(claim), c.matches)
      << c.claim << " = " << (claim ? ValueForExplanation(*claim) : "(missing)") << " vs "
      << matcher->Describe();
}

INSTANTIATE_TEST_SUITE_P(Vendors, ClaimVendorPayloadTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<VendorCase>& info) {
                           return info.param.name;
                         });

bool MatchesJson(const config::ClaimMatcher& m, std::string_view json) {
  auto compiled = CompiledMatcher::Compile(m);
  EXPECT_TRUE(compiled.has_value());
  boost::json::object o = ParseObject(std::string("{\"v\":") + std::string(json) + "}");
  return compiled->Matches(o.if_contains("v"));
}

// Booleans: the JSON boolean or exactly "true"/"false"; never truthiness.
TEST(ClaimMatcherTest, BoolIsNeverTruthiness) {
  EXPECT_TRUE(MatchesJson(Bool(true), "true"));
  EXPECT_TRUE(MatchesJson(Bool(true), R"("true")"));
  EXPECT_TRUE(MatchesJson(Bool(false), "false"));
  EXPECT_TRUE(MatchesJson(Bool(false), R"("false")"));
  for (std::string_view v : {R"("false")", R"("yes")", R"("True")", R"("TRUE")", R"("1")", R"("")",
                             R"(" true")", "1", "0", "null", "[true]", "{}"}) {
    EXPECT_FALSE(MatchesJson(Bool(true), v)) << v;
  }
  for (std::string_view v : {R"("true")", R"("no")", R"("0")", R"("")", "0", "null", "[]"}) {
    EXPECT_FALSE(MatchesJson(Bool(false), v)) << v;
  }
  auto absent = CompiledMatcher::Compile(Bool(false));
  EXPECT_FALSE(absent->Matches(nullptr)) << "a missing flag is not false";
}

// Numbers: JSON numbers by value, strings only when they are entirely that number.
TEST(ClaimMatcherTest, NumberCoercion) {
  EXPECT_TRUE(MatchesJson(Number(20), "20"));
  EXPECT_TRUE(MatchesJson(Number(20), "20.0"));
  EXPECT_TRUE(MatchesJson(Number(20), R"("20")"));
  EXPECT_TRUE(MatchesJson(Number(20), R"("20.0")"));
  EXPECT_TRUE(MatchesJson(Number(20), R"("2e1")"));
  EXPECT_TRUE(MatchesJson(Number(-3), R"("-3")"));
  EXPECT_TRUE(MatchesJson(Number(2.5), R"("2.5")"));
  EXPECT_TRUE(MatchesJson(Number(2.5), "2.5"));
  EXPECT_FALSE(MatchesJson(Number(18446744073709551615.0), "18446744073709551615"))
      << "above 2^53 a number is not an exact integer and never equals a uint64";
  for (std::string_view v :
       {R"("20abc")", R"(" 20")", R"("20 ")", R"("+20")", R"("0x14")", R"("")", R"("twenty")",
        R"("2O")", "true", "null", "[20]", R"(["20"])", "21", "20.5", R"("inf")"}) {
    EXPECT_FALSE(MatchesJson(Number(20), v)) << v;
  }
  // Integer strings compare exactly, beyond what a double can tell apart.
  EXPECT_TRUE(MatchesJson(Number(9007199254740992.0), R"("9007199254740992")"));
  EXPECT_FALSE(MatchesJson(Number(9007199254740992.0), R"("9007199254740993")"));
  EXPECT_FALSE(MatchesJson(Number(20), R"("99999999999999999999999")"));
  EXPECT_TRUE(MatchesJson(Number(7), "7"));
  EXPECT_TRUE(MatchesJson(Number(7), "7") && !MatchesJson(Number(7), "-7"));
}

// Exact, glob and regex only ever match strings.
TEST(ClaimMatcherTest, StringMatchersNeedStrings) {
  for (const config::ClaimMatcher& m : {Exact("1"), GlobOf("*"), Regex(".*")}) {
    EXPECT_FALSE(MatchesJson(m, "1"));
    EXPECT_FALSE(MatchesJson(m, "true"));
    EXPECT_FALSE(MatchesJson(m, "null"));
    EXPECT_FALSE(MatchesJson(m, R"(["1"])"));
    EXPECT_FALSE(MatchesJson(m, R"({"a":"1"})"));
    auto compiled = CompiledMatcher::Compile(m);
    EXPECT_FALSE(compiled->Matches(nullptr));
  }
  EXPECT_TRUE(MatchesJson(Exact("a\"b"), R"("a\"b")"));
  EXPECT_FALSE(MatchesJson(Exact("main"), R"("Main")")) << "case-sensitive";
  EXPECT_FALSE(MatchesJson(Exact("main"), R"("main\u0000")"));
}

// `not` needs the claim present; `contains` needs an array; both nest.
TEST(ClaimMatcherTest, NotAndContainsNest) {
  EXPECT_TRUE(MatchesJson(Not(Contains(Exact("x"))), R"(["a","b"])"));
  EXPECT_FALSE(MatchesJson(Not(Contains(Exact("a"))), R"(["a","b"])"));
  EXPECT_TRUE(MatchesJson(Not(Contains(Exact("a"))), R"("a")"))
      << "a string is not an array containing a";
  EXPECT_TRUE(MatchesJson(Contains(Number(3)), R"([1,"3"])"));
  EXPECT_TRUE(MatchesJson(Contains(Bool(true)), R"(["false","true"])"));
  EXPECT_FALSE(MatchesJson(Contains(Exact("a")), "[]"));
  EXPECT_TRUE(MatchesJson(Contains(Contains(Exact("a"))), R"([["b"],["a"]])"));
  EXPECT_TRUE(MatchesJson(Not(Not(Exact("a"))), R"("a")"));
  EXPECT_FALSE(CompiledMatcher::Compile(Not(Not(Exact("a"))))->Matches(nullptr));
}

TEST(ClaimMatcherTest, RegexIsAFullMatch) {
  EXPECT_TRUE(MatchesJson(Regex(R"(.*@acme\.com)"), R"("dev@acme.com")"));
  EXPECT_FALSE(MatchesJson(Regex(R"(.*@acme\.com)"), R"("dev@acme.com.evil")"));
  EXPECT_FALSE(MatchesJson(Regex("acme"), R"("not-acme-really")"));
}

TEST(ClaimMatcherTest, CompileErrors) {
  EXPECT_EQ(CompiledMatcher::Compile(Regex("a(")).error().find("invalid RE2 regular expression"),
            0u);
  EXPECT_EQ(CompiledMatcher::Compile(OneOf({})).error(), "an empty one-of list matches nothing");
  config::ClaimMatcher bare_not;
  bare_not.kind = Kind::kNot;
  EXPECT_EQ(CompiledMatcher::Compile(bare_not).error(), "not needs exactly one matcher");
  config::ClaimMatcher nested_bad = Contains(OneOf({Exact("a"), Regex("[")}));
  EXPECT_FALSE(CompiledMatcher::Compile(nested_bad).has_value());
}

TEST(ClaimMatcherTest, DescribeIsDeterministic) {
  config::ClaimMatcher m = OneOf({Exact("deploy-api"), GlobOf("release-*"), Bool(true), Number(20),
                                  Regex("a+"), Not(Exact("x")), Contains(Exact("y"))});
  auto compiled = CompiledMatcher::Compile(m);
  EXPECT_EQ(compiled->Describe(),
            R"(one of ["deploy-api", glob "release-*", true, 20, regex "a+", not "x", )"
            R"(an array containing "y"])");
  config::ClaimMatcher from_config = Number(20);
  from_config.text = "20.0";  // the loader keeps the number as written
  EXPECT_EQ(CompiledMatcher::Compile(from_config)->Describe(), "20.0");
  EXPECT_EQ(CompiledMatcher::Compile(Number(0.5))->Describe(), "0.5");
  EXPECT_EQ(CompiledMatcher::Compile(Exact("a\"b\n"))->Describe(), R"("a\"b\n")");
}

// A compiled matcher is movable and keeps working after its source is gone.
TEST(ClaimMatcherTest, OwnsItsState) {
  std::vector<CompiledMatcher> matchers;
  {
    config::ClaimMatcher m = OneOf({Regex("a+"), GlobOf("b/*")});
    matchers.push_back(*CompiledMatcher::Compile(m));
    matchers.push_back(*CompiledMatcher::Compile(Contains(m)));
  }
  EXPECT_TRUE(MatchesJson(OneOf({Regex("a+"), GlobOf("b/*")}), R"("aaa")"));
  boost::json::value v = "b/c";
  EXPECT_TRUE(matchers[0].Matches(&v));
  boost::json::value array = boost::json::array{"x", "aa"};
  EXPECT_TRUE(matchers[1].Matches(&array));
}

}  // namespace
}  // namespace ciap::claims
