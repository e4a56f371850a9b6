// Tests of what ciap presents to upstreams (config/upstream_auth_schema.h): the top-level
// `assertion` block, a route's `request_headers.assertion` and `credentials` of both types, read
// into the structs with their defaults; and each way they can be wrong, with the key path, the
// message, and where in the file the error points.
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

constexpr std::string_view kAssertion = R"(assertion:
  issuer: https://ciap.example.com
  signing_keys: ["${CERTS}/tls.key"]
)";

// A config whose one route (authenticated unless `access` says otherwise) gets `route` (lines
// indented 8 spaces), whose listener gets `listener` (indented 4), and whose top level ends with
// `top` (the assertion block by default). The route's extra lines start at line 16.
std::string Yaml(std::string_view route, std::string_view top = kAssertion,
                 std::string_view access = "authenticate: true", std::string_view listener = "") {
  return R"(identity_providers:
  - name: gha
    type: github
    audiences: [https://ciap.example.com]
    bound_claims: { repository_owner_id: 65 }
upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - name: r
        upstream: u
        )" +
         std::string(access) +
         R"(
        match: { path_prefix: /ci/ }
)" + std::string(route) +
         std::string(listener) + std::string(top);
}

const RouteConfig& MustParseRoute(const std::string& yaml, std::shared_ptr<const Config>& keep) {
  auto result = ParseConfig(yaml, "test.yaml", FakeEnv());
  if (!result) {
    for (const ConfigError& e : result.error()) ADD_FAILURE() << e.ToString();
    static const RouteConfig kEmpty;
    return kEmpty;
  }
  keep = *result;
  return keep->listeners.at(0).routes.at(0);
}

// The config's one error as "key_path: message", and the text of its line from where it points.
struct Found {
  std::string error;
  std::string at;
  std::string full;  // ConfigError::ToString()
};

Found OnlyError(const std::string& yaml) {
  auto result = ParseConfig(yaml, "test.yaml", FakeEnv());
  if (result) return {"accepted", "", ""};
  std::string all;
  for (const ConfigError& e : result.error()) all += (all.empty() ? "" : "\n") + e.ToString();
  EXPECT_EQ(result.error().size(), 1u) << all;
  const ConfigError& e = result.error().front();
  std::size_t start = 0;
  for (int line = 1; line < e.line && start != std::string::npos; ++line) {
    start = yaml.find('\n', start);
    if (start != std::string::npos) ++start;
  }
  std::string at;
  if (start != std::string::npos && e.line > 0) {
    std::string text = yaml.substr(start, yaml.find('\n', start) - start);
    if (static_cast<std::size_t>(e.column) <= text.size()) at = text.substr(e.column - 1);
  }
  return {e.key_path + ": " + e.message, at, e.ToString()};
}

constexpr std::string_view kRoute = "listeners[0].routes[0]";

std::string Path(std::string_view rest) { return std::string(kRoute) + "." + std::string(rest); }

const std::string kOAuth2 = R"(        credentials:
          type: oauth2_client_credentials
          token_endpoint: https://idp.example.com/oauth2/token
          client_id: ciap
          client_secret: s3cret
)";

const std::string kGitHub = R"(        credentials:
          type: github_app
          app_id: "12345"
          private_key_file: ${CERTS}/a.key
          installation_id: 42
)";

TEST(UpstreamAuthSchemaTest, OAuth2DefaultsAndEveryKey) {
  std::shared_ptr<const Config> keep;
  const RouteConfig& r = MustParseRoute(Yaml(kOAuth2, ""), keep);
  ASSERT_TRUE(r.credentials.has_value());
  const CredentialsConfig& c = *r.credentials;
  EXPECT_EQ(c.type, CredentialsConfig::Type::kOAuth2ClientCredentials);
  EXPECT_EQ(c.header, "Authorization");
  EXPECT_EQ(c.timeout, milliseconds(5000));
  EXPECT_EQ(c.ca_file, "");
  EXPECT_EQ(c.token_endpoint, "https://idp.example.com/oauth2/token");
  EXPECT_EQ(c.client_id, "ciap");
  EXPECT_EQ(c.client_secret, "s3cret");
  EXPECT_EQ(c.client_secret_file, "");
  EXPECT_EQ(c.scope, "");
  EXPECT_EQ(c.resource, "");
  EXPECT_FALSE(r.request_headers.assertion.has_value());
  EXPECT_FALSE(keep->assertion.has_value()) << "credentials need no assertion block";

  std::shared_ptr<const Config> keep_full;
  const RouteConfig& full = MustParseRoute(Yaml(R"(        credentials:
          type: oauth2_client_credentials
          token_endpoint: http://127.0.0.1:4444/token
          client_id: ciap
          client_secret: ${secret:${CERTS}/token}
          scope: "deploy read"
          resource: urn:example:upstream
          header: X-Api-Key
          ca_file: ${CERTS}/ca.crt
          timeout: 60s
)",
                                                ""),
                                           keep_full);
  ASSERT_TRUE(full.credentials.has_value());
  EXPECT_EQ(full.credentials->token_endpoint, "http://127.0.0.1:4444/token");
  EXPECT_EQ(full.credentials->client_secret, "") << "read from the file, never kept";
  EXPECT_EQ(full.credentials->client_secret_file, CertDir() + "/token");
  EXPECT_EQ(full.credentials->scope, "deploy read");
  EXPECT_EQ(full.credentials->resource, "urn:example:upstream");
  EXPECT_EQ(full.credentials->header, "X-Api-Key");
  EXPECT_EQ(full.credentials->ca_file, CertDir() + "/ca.crt");
  EXPECT_EQ(full.credentials->timeout, milliseconds(60000));
}

TEST(UpstreamAuthSchemaTest, GitHubAppDefaultsAndEveryKey) {
  std::shared_ptr<const Config> keep;
  const RouteConfig& r = MustParseRoute(Yaml(kGitHub, ""), keep);
  ASSERT_TRUE(r.credentials.has_value());
  const CredentialsConfig& c = *r.credentials;
  EXPECT_EQ(c.type, CredentialsConfig::Type::kGitHubApp);
  EXPECT_EQ(c.api_url, "https://api.github.com");
  EXPECT_EQ(c.app_id, "12345");
  EXPECT_EQ(c.private_key_file, CertDir() + "/a.key");
  EXPECT_EQ(c.installation_id, 42u);
  EXPECT_EQ(c.header, "Authorization");
  EXPECT_EQ(c.timeout, milliseconds(5000));
  EXPECT_TRUE(c.permissions.empty()) << "omitted: everything the installation has";
  EXPECT_TRUE(c.repositories.empty());
  EXPECT_EQ(c.token_endpoint, "");

  std::shared_ptr<const Config> keep_full;
  const RouteConfig& full =
      MustParseRoute(Yaml(kGitHub + R"(          api_url: https://github.example.com/api/v3/
          permissions: { contents: read, pull_requests: write, administration: admin }
          repositories: [app, infra.config, my_repo-2]
          header: X-GitHub-Token
          timeout: 2s
)",
                          ""),
                     keep_full);
  ASSERT_TRUE(full.credentials.has_value());
  EXPECT_EQ(full.credentials->api_url, "https://github.example.com/api/v3")
      << "without the trailing slash";
  using Permissions = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(
      full.credentials->permissions,
      (Permissions{{"contents", "read"}, {"pull_requests", "write"}, {"administration", "admin"}}));
  EXPECT_EQ(full.credentials->repositories,
            (std::vector<std::string>{"app", "infra.config", "my_repo-2"}));
  EXPECT_EQ(full.credentials->header, "X-GitHub-Token");
  EXPECT_EQ(full.credentials->timeout, milliseconds(2000));
  // The app's client id instead of its numeric id.
  std::string client_id = kGitHub;
  client_id.replace(client_id.find("\"12345\""), 7, "Iv1.8a61f9b3a7aba766");
  EXPECT_EQ(OnlyError(Yaml(client_id, "")).error, "accepted");
}

TEST(UpstreamAuthSchemaTest, AssertionDefaultsAndEveryKey) {
  std::shared_ptr<const Config> keep;
  const RouteConfig& r = MustParseRoute(Yaml(R"(        request_headers:
          assertion: { audience: https://upstream.example.com }
)"),
                                        keep);
  ASSERT_TRUE(keep->assertion.has_value());
  EXPECT_EQ(keep->assertion->issuer, "https://ciap.example.com");
  EXPECT_EQ(keep->assertion->signing_keys, std::vector<std::string>{CertDir() + "/tls.key"});
  EXPECT_EQ(keep->assertion->lifetime, milliseconds(60000));
  ASSERT_TRUE(r.request_headers.assertion.has_value());
  EXPECT_EQ(r.request_headers.assertion->header, "x-ciap-assertion");
  EXPECT_EQ(r.request_headers.assertion->audience, "https://upstream.example.com");
  EXPECT_TRUE(r.request_headers.assertion->claims.empty());
  EXPECT_FALSE(r.credentials.has_value());

  std::shared_ptr<const Config> keep_full;
  const RouteConfig& full = MustParseRoute(Yaml(R"(        request_headers:
          assertion:
            header: X-Caller
            audience: deployer
            claims: [pipeline_slug, ref, "oidc.circleci.com/project-id"]
)",
                                                R"(assertion:
  issuer: https://ciap.example.com
  signing_keys: ["${CERTS}/tls.key", "${CERTS}/a.key"]
  lifetime: 5m
)"),
                                           keep_full);
  EXPECT_EQ(keep_full->assertion->signing_keys,
            (std::vector<std::string>{CertDir() + "/tls.key", CertDir() + "/a.key"}));
  EXPECT_EQ(keep_full->assertion->lifetime, milliseconds(300000));
  ASSERT_TRUE(full.request_headers.assertion.has_value());
  EXPECT_EQ(full.request_headers.assertion->header, "X-Caller");
  EXPECT_EQ(full.request_headers.assertion->audience, "deployer");
  EXPECT_EQ(full.request_headers.assertion->claims,
            (std::vector<std::string>{"pipeline_slug", "ref", "oidc.circleci.com/project-id"}));
}

std::string WithLifetime(std::string_view lifetime) {
  return Yaml("", std::string(kAssertion) + "  lifetime: " + std::string(lifetime) + "\n");
}

TEST(UpstreamAuthSchemaTest, AssertionBlockErrors) {
  const std::string bounds =
      "assertion.lifetime: between 2s and 1h (upstreams check `exp`; assertions are short-lived)";
  for (const char* bad : {"1s", "1999ms", "61m", "2h"}) {
    Found f = OnlyError(WithLifetime(bad));
    EXPECT_EQ(f.error, bounds) << bad;
    EXPECT_EQ(f.at, bad);
  }
  for (const char* good : {"2s", "1h", "90s"})
    EXPECT_EQ(OnlyError(WithLifetime(good)).error, "accepted");

  Found empty =
      OnlyError(Yaml("", "assertion: { issuer: https://ciap.example.com, signing_keys: [] }\n"));
  EXPECT_EQ(empty.error, "assertion.signing_keys: needs at least one key (the first signs)");
  EXPECT_EQ(empty.at, "[] }");
  EXPECT_EQ(OnlyError(Yaml("", "assertion: { issuer: https://ciap.example.com }\n")).error,
            "assertion.signing_keys: required (PEM files of EC P-256 or Ed25519 private keys; the "
            "first signs)");
  EXPECT_EQ(OnlyError(Yaml("", "assertion: { signing_keys: [\"${CERTS}/tls.key\"] }\n")).error,
            "assertion.issuer: required (the assertions' `iss`: this proxy's URL)");
  EXPECT_EQ(
      OnlyError(Yaml("", "assertion: { issuer: x, signing_keys: [/nonexistent/k.pem] }\n")).error,
      "assertion.signing_keys[0]: cannot read /nonexistent/k.pem: No such file or directory");
  EXPECT_EQ(OnlyError(Yaml("", std::string(kAssertion) + "  algorithm: ES256\n")).error,
            "assertion.algorithm: unknown key 'algorithm'; expected one of: issuer, signing_keys, "
            "lifetime");
}

TEST(UpstreamAuthSchemaTest, RouteAssertionNeedsTheBlockAndCallers) {
  const std::string route = R"(        request_headers:
          assertion: { audience: deployer }
)";
  Found f = OnlyError(Yaml(route, ""));
  EXPECT_EQ(f.error, Path("request_headers: request_headers.assertion needs the top-level "
                          "`assertion` block (issuer and signing_keys)"));
  EXPECT_EQ(f.full.substr(0, 16), "test.yaml:17:11:") << f.full;
  EXPECT_EQ(f.at, "assertion: { audience: deployer }");
  EXPECT_EQ(OnlyError(Yaml(route, kAssertion, "public: true")).error,
            Path("request_headers: a public route has no caller to vouch for; an assertion needs a "
                 "route whose callers authenticate"));
  EXPECT_EQ(OnlyError(Yaml(R"(        request_headers:
          assertion: { header: X-Caller }
)"))
                .error,
            Path("request_headers.assertion.audience: required (the assertion's `aud`: the "
                 "upstream's name)"));
}

TEST(UpstreamAuthSchemaTest, ClaimsEveryAssertionCarriesCannotBeListed) {
  for (const char* name :
       {"iss", "aud", "iat", "exp", "jti", "sub", "provider", "groups", "route"}) {
    Found f = OnlyError(Yaml(R"(        request_headers:
          assertion: { audience: deployer, claims: [ref, )" +
                             std::string(name) + "] }\n"));
    EXPECT_EQ(f.error, Path("request_headers.assertion.claims[1]: '") + name +
                           "' is a claim every assertion carries (iss, aud, iat, exp, jti, sub, "
                           "provider, groups, route); list caller claims to add");
    EXPECT_EQ(f.at.substr(0, std::string(name).size()), name);
  }
  EXPECT_EQ(OnlyError(Yaml(R"(        request_headers:
          assertion: { audience: deployer, claims: [subject, issuer, group] }
)"))
                .error,
            "accepted");
}

TEST(UpstreamAuthSchemaTest, CredentialsNeedAnAuthenticatedRoute) {
  Found f = OnlyError(Yaml(kOAuth2, "", "public: true"));
  EXPECT_EQ(f.error, Path("credentials: a public route would hand the minted credential to anyone; "
                          "credentials need a route whose callers authenticate"));
  EXPECT_EQ(f.full.substr(0, 16), "test.yaml:17:11:") << f.full;
  EXPECT_EQ(OnlyError(Yaml(kGitHub, "", "public: true")).error, f.error);
}

TEST(UpstreamAuthSchemaTest, CredentialsType) {
  Found bogus = OnlyError(Yaml("        credentials: { type: oauth2, client_id: x }\n", ""));
  EXPECT_EQ(bogus.error, Path("credentials.type: expected oauth2_client_credentials or github_app, "
                              "got 'oauth2'"));
  EXPECT_EQ(bogus.at, "oauth2, client_id: x }");
  EXPECT_EQ(bogus.full.substr(0, 16), "test.yaml:16:30:") << bogus.full;
  EXPECT_EQ(OnlyError(Yaml("        credentials: { client_id: x }\n", "")).error,
            Path("credentials.type: required (oauth2_client_credentials or github_app)"));
  const std::string keys =
      "type, header, ca_file, timeout, token_endpoint, client_id, client_secret, scope, "
      "resource, api_url, app_id, private_key_file, installation_id, permissions, repositories";
  EXPECT_EQ(OnlyError(Yaml("        credentials: github_app\n", "")).error,
            Path("credentials: expected a mapping, got 'github_app' (keys: ") + keys + ")");
  EXPECT_EQ(OnlyError(Yaml(kOAuth2 + "          audience: x\n", "")).error,
            Path("credentials.audience: unknown key 'audience'; expected one of: ") + keys);
}

TEST(UpstreamAuthSchemaTest, EachTypeTakesOnlyItsOwnKeys) {
  const std::string github_key =
      "is a github_app key (oauth2_client_credentials takes token_endpoint, client_id, "
      "client_secret, scope, resource, header, ca_file, timeout)";
  const std::pair<const char*, const char*> github_keys[] = {
      {"api_url", "https://api.github.com"},  {"app_id", "\"1\""},
      {"private_key_file", "${CERTS}/a.key"}, {"installation_id", "1"},
      {"permissions", "{ contents: read }"},  {"repositories", "[app]"}};
  for (const auto& [key, value] : github_keys) {
    Found f = OnlyError(Yaml(kOAuth2 + "          " + key + ": " + value + "\n", ""));
    EXPECT_EQ(f.error, Path("credentials.") + key + ": " + github_key);
    EXPECT_EQ(f.at.substr(0, std::string(key).size() + 1), std::string(key) + ":")
        << "reported at the key";
  }
  const std::string oauth2_key =
      "is an oauth2_client_credentials key (github_app takes api_url, app_id, private_key_file, "
      "installation_id, permissions, repositories, header, ca_file, timeout)";
  const std::pair<const char*, const char*> oauth2_keys[] = {
      {"token_endpoint", "https://idp.example.com/token"},
      {"client_id", "ciap"},
      {"client_secret", "s"},
      {"scope", "read"},
      {"resource", "https://x.example.com"}};
  for (const auto& [key, value] : oauth2_keys) {
    Found f = OnlyError(Yaml(kGitHub + "          " + key + ": " + value + "\n", ""));
    EXPECT_EQ(f.error, Path("credentials.") + key + ": " + oauth2_key);
    EXPECT_EQ(f.at.substr(0, std::string(key).size() + 1), std::string(key) + ":");
  }
}

// `text` without the line that starts with `key`.
std::string Without(std::string text, std::string_view key) {
  const std::size_t at = text.find("          " + std::string(key) + ":");
  EXPECT_NE(at, std::string::npos) << key;
  return text.erase(at, text.find('\n', at) + 1 - at);
}

TEST(UpstreamAuthSchemaTest, RequiredKeysOfEachType) {
  const std::pair<const char*, const char*> oauth2[] = {
      {"token_endpoint", "required (the OAuth 2.0 token endpoint's URL)"},
      {"client_id", "required (ciap's client at the authorization server)"},
      {"client_secret", "required (e.g. ${secret:/etc/ciap/secrets/client})"}};
  for (const auto& [key, message] : oauth2) {
    Found f = OnlyError(Yaml(Without(kOAuth2, key), ""));
    EXPECT_EQ(f.error, Path("credentials.") + key + ": " + message);
    EXPECT_EQ(f.at, "type: oauth2_client_credentials") << "reported at the credentials mapping";
  }
  const std::pair<const char*, const char*> github[] = {
      {"app_id", "required (the GitHub App's id or client id)"},
      {"private_key_file", "required (the app's private key, PEM)"},
      {"installation_id", "required (the app's installation in the organization)"}};
  for (const auto& [key, message] : github) {
    EXPECT_EQ(OnlyError(Yaml(Without(kGitHub, key), "")).error,
              Path("credentials.") + key + ": " + message);
  }
  EXPECT_EQ(OnlyError(Yaml(R"(        credentials:
          type: github_app
          app_id: "12345"
          private_key_file: /nonexistent/app.pem
          installation_id: 42
)",
                           ""))
                .error,
            Path("credentials.private_key_file: cannot read /nonexistent/app.pem: No such file or "
                 "directory"));
}

std::string WithKey(const std::string& base, std::string_view key, std::string_view value) {
  return Yaml(base + "          " + std::string(key) + ": " + std::string(value) + "\n", "");
}

TEST(UpstreamAuthSchemaTest, ResourceIsAnAbsoluteUriWithoutFragment) {
  for (const char* bad : {"api.example.com", "/relative/path", ":no-scheme",
                          "\"https://api.example.com/#part\"", "1https://api.example.com"}) {
    std::string text = bad;
    if (text.front() == '"') text = text.substr(1, text.size() - 2);
    Found f = OnlyError(WithKey(kOAuth2, "resource", bad));
    EXPECT_EQ(f.error, Path("credentials.resource: must be an absolute URI without a fragment (RFC "
                            "8707), got '") +
                           text + "'");
    EXPECT_EQ(f.at, bad);
  }
  for (const char* good : {"https://api.example.com/v1", "urn:example:api", "api:x"}) {
    EXPECT_EQ(OnlyError(WithKey(kOAuth2, "resource", good)).error, "accepted") << good;
  }
}

TEST(UpstreamAuthSchemaTest, GitHubPermissionsRepositoriesAndInstallation) {
  Found level = OnlyError(WithKey(kGitHub, "permissions", "{ contents: read, issues: none }"));
  EXPECT_EQ(level.error, Path("credentials.permissions.issues: expected read, write or admin, got "
                              "'none'"));
  EXPECT_EQ(level.at, "none }");
  EXPECT_EQ(OnlyError(WithKey(kGitHub, "permissions", "{ contents: Read }")).error,
            Path("credentials.permissions.contents: expected read, write or admin, got 'Read'"));
  EXPECT_EQ(
      OnlyError(WithKey(kGitHub, "permissions", "{ Contents: read }")).error,
      Path("credentials.permissions.Contents: 'Contents' is not a GitHub App permission name"));
  EXPECT_EQ(OnlyError(WithKey(kGitHub, "permissions", "{}")).error,
            Path("credentials.permissions: must not be empty (omit it for all)"));

  Found slash = OnlyError(WithKey(kGitHub, "repositories", "[app, acme/infra]"));
  EXPECT_EQ(slash.error, Path("credentials.repositories[1]: expected a repository name without its "
                              "owner, got 'acme/infra'"));
  EXPECT_EQ(slash.at, "acme/infra]");
  EXPECT_EQ(OnlyError(WithKey(kGitHub, "repositories", "[\"my app\"]")).error,
            Path("credentials.repositories[0]: expected a repository name without its owner, got "
                 "'my app'"));
  EXPECT_EQ(OnlyError(WithKey(kGitHub, "repositories", "[]")).error,
            Path("credentials.repositories: must not be empty (omit it for all)"));

  std::string zero = kGitHub;
  zero.replace(zero.find("installation_id: 42"), 19, "installation_id: 0");
  Found z = OnlyError(Yaml(zero, ""));
  EXPECT_EQ(z.error, Path("credentials.installation_id: 0 is out of range (expected from 1 to "
                          "9007199254740991)"));
  EXPECT_EQ(z.at, "0");
  std::string bad_app = kGitHub;
  bad_app.replace(bad_app.find("\"12345\""), 7, "\"acme/app\"");
  EXPECT_EQ(OnlyError(Yaml(bad_app, "")).error,
            Path("credentials.app_id: expected the app's numeric id or its client id, got "
                 "'acme/app'"));
  EXPECT_EQ(OnlyError(WithKey(kGitHub, "api_url", "http://github.example.com")).error,
            Path("credentials.api_url: must be an https URL (http is only allowed for localhost, "
                 "127.0.0.1 and [::1], e.g. a test IdP), got 'http://github.example.com'"));
}

TEST(UpstreamAuthSchemaTest, InjectedHeadersMustNotBeManaged) {
  const std::string managed =
      "': hop-by-hop and framing headers are managed by ciap on each connection";
  for (const char* name : {"Connection", "host", "Content-Length", "Transfer-Encoding", "TE"}) {
    Found c = OnlyError(WithKey(kOAuth2, "header", name));
    EXPECT_EQ(c.error, Path("credentials.header: cannot use '") + name + managed);
    EXPECT_EQ(c.at, name);
    Found a = OnlyError(Yaml(R"(        request_headers:
          assertion: { audience: deployer, header: )" +
                             std::string(name) + " }\n"));
    EXPECT_EQ(a.error, Path("request_headers.assertion.header: cannot use '") + name + managed);
  }
  EXPECT_EQ(OnlyError(WithKey(kOAuth2, "header", "\"X Api Key\"")).error,
            Path("credentials.header: 'X Api Key' is not a valid header name"));
  EXPECT_EQ(OnlyError(WithKey(kOAuth2, "timeout", "61s")).error,
            Path("credentials.timeout: at most 60s (a request waits this long for the "
                 "credential)"));
}

TEST(UpstreamAuthSchemaTest, CredentialsHeaderBelongsToTheCredential) {
  Found set = OnlyError(Yaml(kOAuth2 + R"(        request_headers:
          set: { authorization: "Bearer static" }
)",
                             ""));
  EXPECT_EQ(set.error, Path("credentials: header 'Authorization' is also in request_headers.set; "
                            "the minted credential goes there"));
  EXPECT_EQ(set.at, "type: oauth2_client_credentials");
  EXPECT_EQ(OnlyError(Yaml(kOAuth2 + R"(          header: X-Api-Key
        request_headers:
          set: { Authorization: "Bearer static" }
)",
                           ""))
                .error,
            "accepted");

  Found forward = OnlyError(Yaml(kOAuth2 + "        forward_token: true\n", ""));
  EXPECT_EQ(forward.error,
            Path("credentials: forward_token: true forwards the caller's Authorization header, "
                 "where the minted credential goes; set credentials.header to another header"));
  EXPECT_EQ(
      OnlyError(
          Yaml(kOAuth2 + "          header: authorization\n        forward_token: true\n", ""))
          .error,
      forward.error)
      << "header names are case-insensitive";
  EXPECT_EQ(
      OnlyError(Yaml(kOAuth2 + "          header: X-Api-Key\n        forward_token: true\n", ""))
          .error,
      "accepted");
}

TEST(UpstreamAuthSchemaTest, AssertionHeaderIsItsOwn) {
  Found both = OnlyError(Yaml(kOAuth2 + R"(          header: X-Upstream-Auth
        request_headers:
          assertion: { audience: deployer, header: x-upstream-auth }
)"));
  EXPECT_EQ(both.error, Path("request_headers: the assertion and the credentials both go to header "
                             "'x-upstream-auth'"));
  Found set = OnlyError(Yaml(R"(        request_headers:
          set: { X-Ciap-Assertion: forged }
          assertion: { audience: deployer }
)"));
  EXPECT_EQ(set.error, Path("request_headers.set.X-Ciap-Assertion: cannot set 'X-Ciap-Assertion': "
                            "x-ciap-* headers are reserved for the identity ciap injects "
                            "(request_headers.identity: true)"))
      << "the default assertion header cannot be set either";
  Found custom = OnlyError(Yaml(R"(        request_headers:
          set: { X-Caller: forged }
          assertion: { audience: deployer, header: x-caller }
)"));
  EXPECT_EQ(custom.error, Path("request_headers: header 'x-caller' is both request_headers.set and "
                               "the assertion's header"));
  EXPECT_EQ(OnlyError(Yaml(kOAuth2 + R"(        request_headers:
          assertion: { audience: deployer }
)"))
                .error,
            "accepted")
      << "x-ciap-assertion and Authorization";
}

TEST(UpstreamAuthSchemaTest, ListenerFiltersMustIncludeHeaders) {
  Found f = OnlyError(Yaml(kOAuth2, "", "authenticate: true", "    filters: [identity, access]\n"));
  EXPECT_EQ(f.error,
            "listeners[0].filters: must include headers: route 'r' has credentials, and "
            "without the headers filter they would never be applied");
  EXPECT_EQ(f.at, "[identity, access]");
  Found assertion =
      OnlyError(Yaml(R"(        request_headers:
          assertion: { audience: deployer }
)",
                     kAssertion, "authenticate: true", "    filters: [identity, access]\n"));
  EXPECT_EQ(assertion.error,
            "listeners[0].filters: must include headers: route 'r' has "
            "request_headers, and without the headers filter they would never be "
            "applied");
  EXPECT_EQ(OnlyError(Yaml(kOAuth2, "", "authenticate: true",
                           "    filters: [identity, access, headers]\n"))
                .error,
            "accepted");
}

}  // namespace
}  // namespace ciap::config
