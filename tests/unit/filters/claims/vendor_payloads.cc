// The CI vendors' example payloads; see vendor_payloads.h.
#include "tests/unit/filters/claims/vendor_payloads.h"

#include <boost/json/parse.hpp>
#include <cstdio>
#include <cstdlib>

namespace ciap::claims::testing {
namespace {

constexpr std::string_view kBuildkite = R"({"iss":"https://agent.buildkite.com",
 "sub":"organization:acme-inc:pipeline:deploy-api:ref:refs/heads/main:commit:9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:deploy",
 "aud":"https://ci-proxy.acme.internal","iat":1767225600,"nbf":1767225600,"exp":1767225900,
 "organization_slug":"acme-inc","pipeline_slug":"deploy-api","build_number":1423,"build_branch":"main",
 "build_commit":"9f3182061f1e2cca4702c368cbc039b7dc9d4485","step_key":"deploy",
 "job_id":"0184990a-477b-4fa8-9968-496074483cee","agent_id":"0184990a-4782-42b5-afc1-16715b10b8ff",
 "build_source":"webhook","runner_environment":"self-hosted",
 "organization_id":"f892efa9-103e-4d28-97a1-3b8616a0994d","pipeline_id":"0191f956-4782-42b5-afc1-16715b10b1a0"})";

constexpr std::string_view kBuildkiteNoStepKey = R"({"iss":"https://agent.buildkite.com",
 "sub":"organization:acme-inc:pipeline:deploy-api:ref:refs/heads/main:commit:9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:",
 "aud":"https://ci-proxy.acme.internal","iat":1767225600,"nbf":1767225600,"exp":1767225900,
 "organization_slug":"acme-inc","pipeline_slug":"deploy-api","build_number":1424,"build_branch":"main",
 "step_key":null,"build_source":"trigger_job"})";

constexpr std::string_view kCircleCi =
    R"({"iss":"https://oidc.circleci.com/org/a64b0a19-f221-4291-b000-8d24bd842b72",
 "sub":"org/a64b0a19-f221-4291-b000-8d24bd842b72/project/5a301f56-eaa7-4cce-9441-37810f7c8452/user/2f1c0c8e-8f7a-4b7e-9a52-1d2f3e4a5b6c/vcs-origin/github.com/acme/deploy-api/vcs-ref/refs/heads/main",
 "aud":"https://ci-proxy.acme.internal","iat":1767225600,"exp":1767229200,
 "oidc.circleci.com/org-id":"a64b0a19-f221-4291-b000-8d24bd842b72",
 "oidc.circleci.com/project-id":"5a301f56-eaa7-4cce-9441-37810f7c8452",
 "oidc.circleci.com/pipeline-id":"cd267951-f409-44fc-a0f0-81512f5840b0",
 "oidc.circleci.com/job-id":"1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
 "oidc.circleci.com/context-ids":["a74579f1-2e7d-451e-b009-5c082ad2729e","cb32986e-2f6f-4f43-b2bd-d3c2fd98e903"],
 "oidc.circleci.com/vcs-origin":"github.com/acme/deploy-api",
 "oidc.circleci.com/vcs-ref":"refs/heads/main","oidc.circleci.com/ssh-rerun":false})";

constexpr std::string_view kGitLab =
    R"({"iss":"https://gitlab.com","aud":"https://ci-proxy.acme.internal",
 "sub":"project_path:acme/platform/deploy-api:ref_type:branch:ref:main",
 "iat":1767225600,"nbf":1767225595,"exp":1767229200,"jti":"235b3a54-b797-45c7-ae9a-f72d7bc6ef5b",
 "namespace_id":"72","namespace_path":"acme/platform","project_id":"20","project_path":"acme/platform/deploy-api",
 "user_login":"sample-user","user_access_level":"maintainer","groups_direct":["acme/platform","acme/sre"],
 "pipeline_id":"574","pipeline_source":"push","job_id":"302",
 "ref":"main","ref_type":"branch","ref_path":"refs/heads/main","ref_protected":"true",
 "environment":"production","environment_protected":"true","deployment_tier":"production",
 "runner_id":1,"runner_environment":"gitlab-hosted","sha":"714a629c0b401fdce83e847fc9589983fc6f46bc",
 "job_project_id":"20","job_project_path":"acme/platform/deploy-api"})";

constexpr std::string_view kGitLabUnprotected =
    R"({"iss":"https://gitlab.com","aud":"https://ci-proxy.acme.internal",
 "sub":"project_path:acme/platform/deploy-api:ref_type:branch:ref:feature/x",
 "namespace_id":"72","namespace_path":"acme/platform","project_id":"20","project_path":"acme/platform/deploy-api",
 "ref":"feature/x","ref_type":"branch","ref_protected":"false","environment_protected":"false",
 "pipeline_source":"merge_request_event","runner_id":1})";

constexpr std::string_view kGitHub =
    R"({"iss":"https://token.actions.githubusercontent.com","aud":"https://ci-proxy.acme.internal",
 "sub":"repo:octo-org/deploy-api:environment:production","jti":"1e410ab1-302e-4e33-8c5f-869a4bd12c3b",
 "iat":1767225600,"nbf":1767225300,"exp":1767225900,
 "repository":"octo-org/deploy-api","repository_id":"74","repository_owner":"octo-org","repository_owner_id":"65",
 "environment":"production","event_name":"push","ref":"refs/heads/main","ref_type":"branch",
 "workflow_ref":"octo-org/deploy-api/.github/workflows/deploy.yml@refs/heads/main",
 "job_workflow_ref":"octo-org/shared-workflows/.github/workflows/deploy.yml@refs/tags/v3",
 "run_id":"32291736541","run_attempt":"1","runner_environment":"github-hosted"})";

const boost::json::object& Parsed(std::string_view json) {
  // Leaked on purpose: shared by every test of the program.
  return *new boost::json::object(ParseObject(json));
}

}  // namespace

boost::json::object ParseObject(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) {
    std::fprintf(stderr, "bad test JSON: %.*s\n", static_cast<int>(json.size()), json.data());
    std::abort();
  }
  return std::move(v.as_object());
}

const boost::json::object& BuildkitePayload() {
  static const boost::json::object& o = Parsed(kBuildkite);
  return o;
}
const boost::json::object& BuildkiteNoStepKeyPayload() {
  static const boost::json::object& o = Parsed(kBuildkiteNoStepKey);
  return o;
}
const boost::json::object& CircleCiPayload() {
  static const boost::json::object& o = Parsed(kCircleCi);
  return o;
}
const boost::json::object& GitLabPayload() {
  static const boost::json::object& o = Parsed(kGitLab);
  return o;
}
const boost::json::object& GitLabUnprotectedPayload() {
  static const boost::json::object& o = Parsed(kGitLabUnprotected);
  return o;
}
const boost::json::object& GitHubPayload() {
  static const boost::json::object& o = Parsed(kGitHub);
  return o;
}

}  // namespace ciap::claims::testing
