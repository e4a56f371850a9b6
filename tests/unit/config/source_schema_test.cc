// Tests of the identity sources in `identity_providers` (config/source_schema.h): each of the
// five types with its defaults, the keys each type takes (and JWT issuers refuse), the binding
// GitLab and AWS sources must have, client_secret's forms, the checks across providers (two
// sources that could claim one credential, client certificates) and the URLs they call.
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

constexpr std::string_view kPlainTail = R"(upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - { name: ci, upstream: u, authenticate: true, match: { path_prefix: /ci/ } }
)";

// A listener that asks for client certificates, as a client_certificate provider needs.
constexpr std::string_view kMtlsTail = R"(upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]
listeners:
  - name: l
    address: 127.0.0.1:0
    tls:
      certificates: [{ cert_file: "${CERTS}/tls.crt", key_file: "${CERTS}/tls.key" }]
      client_ca_file: ${CERTS}/ca.crt
      client_auth: optional
    routes:
      - { name: ci, upstream: u, authenticate: true, match: { path_prefix: /ci/ } }
)";

std::expected<std::shared_ptr<const Config>, ConfigErrors> Parse(const std::string& providers,
                                                                 std::string_view tail) {
  return ParseConfig("identity_providers:\n" + providers + std::string(tail), "test.yaml",
                     FakeEnv());
}

std::vector<IdentityProviderConfig> MustParse(const std::string& providers,
                                              std::string_view tail = kPlainTail) {
  auto result = Parse(providers, tail);
  if (!result) {
    for (const ConfigError& e : result.error()) ADD_FAILURE() << e.ToString();
    return {};
  }
  return (*result)->identity_providers;
}

// The config's one error, as "key_path: message".
std::string OnlyError(const std::string& providers, std::string_view tail = kPlainTail) {
  auto result = Parse(providers, tail);
  if (result) return "accepted";
  std::string all;
  for (const ConfigError& e : result.error()) all += (all.empty() ? "" : "\n") + e.ToString();
  EXPECT_EQ(result.error().size(), 1u) << all;
  return result.error().front().key_path + ": " + result.error().front().message;
}

const std::string kJobToken = R"(  - name: jobs
    type: gitlab_job_token
    url: https://gitlab.example.com/
    bound_claims: { namespace_path: acme/platform }
)";

TEST(SourceSchemaTest, GitLabJobTokenDefaults) {
  auto providers = MustParse(kJobToken);
  ASSERT_EQ(providers.size(), 1u);
  const IdentityProviderConfig& p = providers[0];
  EXPECT_EQ(p.type, ProviderType::kGitLabJobToken);
  EXPECT_EQ(p.url, "https://gitlab.example.com") << "without the trailing slash";
  EXPECT_EQ(p.token_headers, std::vector<std::string>{"JOB-TOKEN"});
  EXPECT_TRUE(p.token_prefixes.empty());
  EXPECT_EQ(p.cache_ttl, milliseconds(30000));
  EXPECT_EQ(p.timeout, milliseconds(5000));
  EXPECT_EQ(p.ca_file, "");
  EXPECT_TRUE(p.audiences.empty());
  EXPECT_EQ(p.issuer, "") << "no JWT issuer defaults leak into a source";
  EXPECT_TRUE(p.algorithms.empty());
  ASSERT_EQ(p.bound_claims.size(), 1u);
  EXPECT_EQ(p.bound_claims[0].path, std::vector<std::string>{"namespace_path"});
}

TEST(SourceSchemaTest, GitLabAccessTokenWithItsKeys) {
  auto providers = MustParse(R"(  - name: pats
    type: gitlab_access_token
    url: https://gitlab.example.com
    ca_file: ${CERTS}/ca.crt
    token_prefixes: [glpat-]
    cache_ttl: 10s
    timeout: 2s
    groups_claim: scopes
    bound_claims: { user_login: [deploy-bot, release-bot] }
)");
  ASSERT_EQ(providers.size(), 1u);
  const IdentityProviderConfig& p = providers[0];
  EXPECT_EQ(p.type, ProviderType::kGitLabAccessToken);
  EXPECT_EQ(p.token_headers, std::vector<std::string>{"PRIVATE-TOKEN"});
  EXPECT_EQ(p.token_prefixes, std::vector<std::string>{"glpat-"});
  EXPECT_EQ(p.ca_file, CertDir() + "/ca.crt");
  EXPECT_EQ(p.cache_ttl, milliseconds(10000));
  EXPECT_EQ(p.timeout, milliseconds(2000));
  EXPECT_EQ(p.groups_claim, "scopes");

  providers = MustParse(R"(  - name: pats
    type: gitlab_access_token
    url: https://gitlab.example.com
    bound_claims: { user_login: deploy-bot }
)");
  ASSERT_EQ(providers.size(), 1u);
  EXPECT_EQ(providers[0].token_headers, std::vector<std::string>{"PRIVATE-TOKEN"});
  EXPECT_EQ(providers[0].cache_ttl, milliseconds(30000));
  EXPECT_EQ(providers[0].timeout, milliseconds(5000));
}

TEST(SourceSchemaTest, IntrospectionDefaultsAndSecretForms) {
  auto providers = MustParse(R"(  - name: idp
    type: introspection
    introspection_endpoint: https://idp.example.com/oauth2/introspect
    client_id: ciap
    client_secret: s3cret
    audiences: [ciap]
)");
  ASSERT_EQ(providers.size(), 1u);
  const IdentityProviderConfig& p = providers[0];
  EXPECT_EQ(p.type, ProviderType::kIntrospection);
  EXPECT_EQ(p.introspection_endpoint, "https://idp.example.com/oauth2/introspect");
  EXPECT_EQ(p.client_id, "ciap");
  EXPECT_EQ(p.client_secret, "s3cret");
  EXPECT_EQ(p.client_secret_file, "");
  EXPECT_EQ(p.audiences, std::vector<std::string>{"ciap"});
  EXPECT_EQ(p.token_headers, std::vector<std::string>{"Authorization"});
  EXPECT_EQ(p.cache_ttl, milliseconds(30000));
  EXPECT_EQ(p.timeout, milliseconds(5000));
  EXPECT_TRUE(p.bound_claims.empty()) << "the IdP's own tokens need no binding";

  providers = MustParse(R"(  - name: idp
    type: introspection
    introspection_endpoint: http://127.0.0.1:4444/introspect
    client_id: ciap
    client_secret: ${secret:${CERTS}/token}
)");
  ASSERT_EQ(providers.size(), 1u);
  EXPECT_EQ(providers[0].client_secret_file, CertDir() + "/token");
  EXPECT_EQ(providers[0].client_secret, "") << "read from the file, never kept in the config";
  EXPECT_EQ(providers[0].introspection_endpoint, "http://127.0.0.1:4444/introspect");
}

TEST(SourceSchemaTest, ClientCertificateAndAwsIam) {
  auto providers = MustParse(R"(  - name: mtls
    type: client_certificate
    bound_claims: { trust_domain: example.org }
  - name: aws
    type: aws_iam
    sts_endpoints: [https://sts.eu-west-1.amazonaws.com/, "https://sts.amazonaws.com"]
    audience: ciap.example.com
    bound_claims: { account: "123456789012" }
)",
                             kMtlsTail);
  ASSERT_EQ(providers.size(), 2u);
  EXPECT_EQ(providers[0].type, ProviderType::kClientCertificate);
  EXPECT_TRUE(providers[0].token_headers.empty()) << "the credential is the TLS handshake's";
  const IdentityProviderConfig& aws = providers[1];
  EXPECT_EQ(aws.type, ProviderType::kAwsIam);
  EXPECT_EQ(aws.sts_endpoints, (std::vector<std::string>{"https://sts.eu-west-1.amazonaws.com",
                                                         "https://sts.amazonaws.com"}));
  EXPECT_EQ(aws.audience, "ciap.example.com");
  EXPECT_EQ(aws.token_headers, std::vector<std::string>{"Authorization"});
  EXPECT_EQ(aws.cache_ttl, milliseconds(30000));
  EXPECT_EQ(aws.timeout, milliseconds(5000));

  // An arn binding is as good as an account one.
  providers = MustParse(R"(  - name: aws
    type: aws_iam
    sts_endpoints: [http://127.0.0.1:5000]
    audience: ciap.example.com
    bound_claims: { arn: "arn:aws:sts::123456789012:assumed-role/ci/*" }
)");
  ASSERT_EQ(providers.size(), 1u);
  EXPECT_EQ(providers[0].sts_endpoints, std::vector<std::string>{"http://127.0.0.1:5000"});
}

const std::string kGitLabWhy =
    "a GitLab provider must bind the projects or users it lets in: namespace_path, project_path, "
    "project_id, user_login, user_id or token_id, to exact values or a glob with a fixed start "
    "(the instance vouches for every job and token it has)";

TEST(SourceSchemaTest, GitLabAndAwsSourcesMustBind) {
  EXPECT_EQ(OnlyError("  - { name: jobs, type: gitlab_job_token, url: https://gitlab.example.com "
                      "}\n"),
            "identity_providers[0].bound_claims: " + kGitLabWhy);
  EXPECT_EQ(OnlyError("  - { name: pats, type: gitlab_access_token, url: "
                      "https://gitlab.example.com }\n"),
            "identity_providers[0].bound_claims: " + kGitLabWhy);
  EXPECT_EQ(OnlyError("  - { name: jobs, type: gitlab_job_token, url: https://gitlab.example.com, "
                      "bound_claims: {} }\n"),
            "identity_providers[0].bound_claims: " + kGitLabWhy)
      << "an empty map binds nothing";
  const std::string aws = R"(  - name: aws
    type: aws_iam
    sts_endpoints: [https://sts.eu-west-1.amazonaws.com]
    audience: ciap.example.com
)";
  const std::string why =
      "an aws_iam provider must bind account to exact values, or arn to exact values or a glob "
      "that fixes the account (STS answers for every AWS account: without it any account's "
      "roles get in)";
  EXPECT_EQ(OnlyError(aws), "identity_providers[0].bound_claims: " + why);
  EXPECT_EQ(OnlyError(aws + "    bound_claims: {}\n"),
            "identity_providers[0].bound_claims: " + why);
  EXPECT_EQ(OnlyError(aws + "    bound_claims: { role: ci-deployer }\n"),
            "identity_providers[0].bound_claims: " + why);
  EXPECT_EQ(OnlyError(aws + "    bound_claims: { [account, x]: \"1\" }\n"),
            "identity_providers[0].bound_claims: " + why)
      << "a claim inside `account` is no binding of the account";
  // Matchers that let unnamed accounts (projects, users) in are no binding.
  for (const char* loose : {"{ account: { not: \"1\" } }", "{ account: { regex: \".*\" } }",
                            "{ arn: \"arn:aws:sts::**\" }", "{ account: \"1*\" }"}) {
    EXPECT_EQ(OnlyError(aws + "    bound_claims: " + loose + "\n"),
              "identity_providers[0].bound_claims: " + why)
        << loose;
  }
  const std::string jobs =
      "  - { name: jobs, type: gitlab_job_token, url: https://gitlab.example.com, bound_claims: ";
  for (const char* loose : {"{ status: running }", "{ namespace_path: \"**\" }",
                            "{ project_path: { not: evil/app } }", "{ user_login: \"*-bot\" }"}) {
    EXPECT_EQ(OnlyError(jobs + loose + " }\n"), "identity_providers[0].bound_claims: " + kGitLabWhy)
        << loose;
  }
  for (const char* tight : {"{ namespace_path: acme/platform }", "{ project_path: \"acme/**\" }",
                            "{ project_id: [20, 21] }", "{ user_login: \"project_42_bot*\" }"}) {
    EXPECT_EQ(OnlyError(jobs + tight + " }\n"), "accepted") << tight;
  }
}

TEST(SourceSchemaTest, EachKindTakesOnlyItsOwnKeys) {
  EXPECT_EQ(
      OnlyError(kJobToken + "    jwks_uri: https://gitlab.example.com/oauth/discovery/keys\n"),
      "identity_providers[0].jwks_uri: a gitlab_job_token provider has no jwks_uri (its "
      "own keys: url, ca_file, timeout, cache_ttl, token_headers)");
  EXPECT_EQ(OnlyError(kJobToken + "    token_prefixes: [glcbt-]\n"),
            "identity_providers[0].token_prefixes: a gitlab_job_token provider has no "
            "token_prefixes (its own keys: url, ca_file, timeout, cache_ttl, token_headers)");
  EXPECT_EQ(OnlyError(kJobToken + "    audiences: [ciap]\n"),
            "identity_providers[0].audiences: a gitlab_job_token provider has no audiences (its "
            "own keys: url, ca_file, timeout, cache_ttl, token_headers)");
  EXPECT_EQ(OnlyError(R"(  - name: gha
    type: github
    audiences: [https://ci-proxy.acme.internal]
    bound_claims: { repository_owner_id: 65 }
    url: https://github.com
)"),
            "identity_providers[0].url: only the identity sources (gitlab_job_token, "
            "gitlab_access_token, introspection, aws_iam) take this key, not a JWT issuer");
  EXPECT_EQ(OnlyError("  - { name: mtls, type: client_certificate, ca_file: x }\n", kMtlsTail),
            "identity_providers[0].ca_file: a client_certificate provider has no ca_file (it "
            "takes only name, type, bound_claims and groups_claim: the listener's tls settings "
            "decide which certificates are verified)");
}

std::string Introspection(std::string_view secret,
                          std::string_view endpoint = "https://idp.example.com/introspect") {
  return "  - name: idp\n    type: introspection\n    introspection_endpoint: " +
         std::string(endpoint) +
         "\n    client_id: ciap\n    client_secret: " + std::string(secret) + "\n";
}

TEST(SourceSchemaTest, ClientSecretIsTheSecretOrOneFileReference) {
  const std::string around =
      "identity_providers[0].client_secret: must be the secret itself or one ${secret:FILE} "
      "reference, nothing around it (write $${ for a literal ${)";
  EXPECT_EQ(OnlyError(Introspection("\"x${secret:${CERTS}/token}\"")), around);
  EXPECT_EQ(OnlyError(Introspection("\"${secret:${CERTS}/token}x\"")), around);
  EXPECT_EQ(OnlyError(Introspection("\"${secret:${CERTS}/token}${secret:${CERTS}/token}\"")),
            around);
  EXPECT_EQ(OnlyError(Introspection("\"${secret:}\"")),
            "identity_providers[0].client_secret: ${secret:} needs a file path");
  EXPECT_EQ(OnlyError(Introspection("\"${secret:/nonexistent/ciap-secret}\"")),
            "identity_providers[0].client_secret: cannot read /nonexistent/ciap-secret: No such "
            "file or directory");
  EXPECT_EQ(OnlyError(Introspection("\"\"")),
            "identity_providers[0].client_secret: must not be empty");
  EXPECT_EQ(OnlyError(Introspection("${CERTS}")), "accepted") << "${NAME} is the secret itself";
  EXPECT_EQ(OnlyError(Introspection("\"${secret:${CERTS}/token}\"")), "accepted");
  EXPECT_EQ(OnlyError(Introspection("\"s3cret\"")), "accepted");
  EXPECT_EQ(OnlyError(Introspection("\"a$${b}\"")), "accepted") << "$${ is a literal ${";
}

TEST(SourceSchemaTest, TwoSourcesMustNotClaimOneCredential) {
  const std::string a = R"(  - name: a
    type: introspection
    introspection_endpoint: https://idp.example.com/introspect
    client_id: ciap
    client_secret: s
    token_prefixes: [ory_]
)";
  const std::string b = R"(  - name: b
    type: gitlab_access_token
    url: https://gitlab.example.com
    token_headers: [authorization]
    bound_claims: { user_login: deploy-bot }
)";
  const std::string clash =  // header names are case-insensitive; named as `b` spells it
      "identity_providers[1]: provider 'a' already takes credentials from authorization: give "
      "the two providers different token_headers, or token_prefixes that tell their "
      "credentials apart";
  EXPECT_EQ(OnlyError(a + b), clash) << "no prefixes: every credential in the header";
  EXPECT_EQ(OnlyError(a + b + "    token_prefixes: [ory_at_]\n"), clash) << "ory_ covers ory_at_";
  EXPECT_EQ(OnlyError(a + b + "    token_prefixes: [o]\n"), clash);
  EXPECT_EQ(OnlyError(a + b + "    token_prefixes: [glpat-, ory_]\n"), clash);
  EXPECT_EQ(OnlyError(a + b + "    token_prefixes: [glpat-]\n"), "accepted");
  EXPECT_EQ(OnlyError(a + b + "    token_prefixes: [glpat-, oryx]\n"), "accepted");
  EXPECT_EQ(OnlyError(a + R"(  - name: b
    type: gitlab_access_token
    url: https://gitlab.example.com
    bound_claims: { user_login: deploy-bot }
)"),
            "accepted")
      << "PRIVATE-TOKEN is another header";

  // aws_iam always claims "k8s-aws-v1.".
  const std::string aws = R"(  - name: aws
    type: aws_iam
    sts_endpoints: [https://sts.eu-west-1.amazonaws.com]
    audience: ciap.example.com
    bound_claims: { account: "123456789012" }
)";
  EXPECT_EQ(OnlyError(a + aws), "accepted");
  EXPECT_EQ(OnlyError(aws + std::string(a).replace(a.find("[ory_]"), 6, "[k8s-]")),
            "identity_providers[1]: provider 'aws' already takes credentials from Authorization: "
            "give the two providers different token_headers, or token_prefixes that tell their "
            "credentials apart");
}

TEST(SourceSchemaTest, ClientCertificateProviders) {
  const std::string mtls = "  - { name: m1, type: client_certificate }\n";
  EXPECT_EQ(OnlyError(mtls, kMtlsTail), "accepted");
  EXPECT_EQ(OnlyError(mtls + "  - { name: m2, type: client_certificate }\n", kMtlsTail),
            "identity_providers[1]: only one client_certificate provider is allowed ('m1' is "
            "one): tell certificates apart with groups and bound_claims");
  EXPECT_EQ(OnlyError(mtls),
            "identity_providers[0]: no listener asks for client certificates: give one "
            "tls.client_ca_file and client_auth: optional or require");
}

TEST(SourceSchemaTest, UrlsTheSourcesCall) {
  const std::string aws = R"(  - name: aws
    type: aws_iam
    audience: ciap.example.com
    bound_claims: { account: "123456789012" }
    sts_endpoints: )";
  EXPECT_EQ(OnlyError(aws + "[https://sts.eu-west-1.amazonaws.com/v1]\n"),
            "identity_providers[0].sts_endpoints[0]: an STS endpoint is a scheme and host "
            "(https://sts.eu-west-1.amazonaws.com), without a path");
  EXPECT_EQ(OnlyError(aws + "[\"https://sts.eu-west-1.amazonaws.com/?Action=AssumeRole\"]\n"),
            "identity_providers[0].sts_endpoints[0]: must not have a query or fragment, got "
            "'https://sts.eu-west-1.amazonaws.com/?Action=AssumeRole'");
  EXPECT_EQ(OnlyError(aws + "[http://sts.eu-west-1.amazonaws.com]\n"),
            "identity_providers[0].sts_endpoints[0]: must be an https URL (http is only allowed "
            "for localhost, 127.0.0.1 and [::1], e.g. a test IdP), got "
            "'http://sts.eu-west-1.amazonaws.com'");
  EXPECT_EQ(OnlyError(aws + "[]\n"),
            "identity_providers[0].sts_endpoints: must not be empty (the STS hosts that may be "
            "called)");
  EXPECT_EQ(OnlyError(R"(  - name: jobs
    type: gitlab_job_token
    url: http://gitlab.example.com
    bound_claims: { namespace_path: acme }
)"),
            "identity_providers[0].url: must be an https URL (http is only allowed for "
            "localhost, 127.0.0.1 and [::1], e.g. a test IdP), got 'http://gitlab.example.com'");
  EXPECT_EQ(OnlyError(Introspection("s", "http://10.0.0.1/introspect")),
            "identity_providers[0].introspection_endpoint: must be an https URL (http is only "
            "allowed for localhost, 127.0.0.1 and [::1], e.g. a test IdP), got "
            "'http://10.0.0.1/introspect'");
  EXPECT_EQ(OnlyError(Introspection("s", "http://localhost:4444/introspect")), "accepted");
}

TEST(SourceSchemaTest, LookupBounds) {
  EXPECT_EQ(OnlyError(kJobToken + "    cache_ttl: 2h\n"),
            "identity_providers[0].cache_ttl: at most 1h (a revoked credential stays good this "
            "long)");
  EXPECT_EQ(OnlyError(kJobToken + "    timeout: 61s\n"),
            "identity_providers[0].timeout: at most 60s (a request waits this long for the "
            "source)");
  EXPECT_EQ(OnlyError(kJobToken + "    cache_ttl: 1h\n    timeout: 60s\n"), "accepted");
}

}  // namespace
}  // namespace ciap::config
