// Tests of what the loader records and how it can be told to load: the files a config names
// (Config::files), offline loading, ${NAME:-default} and empty variables, and the config hash
// over the effective config.
#include <gtest/gtest.h>

#include <fstream>

#include "config/loader.h"
#include "config/syntax.h"
#include "config/yaml_reader.h"
#include "tests/unit/config/test_util.h"

namespace ciap::config {
namespace {

using testing::CertDir;
using testing::FakeEnv;

constexpr std::string_view kFiles = R"(identity_providers:
  - name: corp
    type: oidc
    issuer: https://idp.acme.internal
    audiences: [ci-proxy]
    ca_file: ${CERTS}/ca.crt
upstreams:
  - name: u
    endpoints: [127.0.0.1:1]
    tls: { ca_file: "${CERTS}/ca.crt", cert_file: "${CERTS}/client.crt", key_file: "${CERTS}/client.key" }
listeners:
  - name: agents
    address: 127.0.0.1:0
    tls:
      certificates:
        - { cert_file: "${CERTS}/tls.crt", key_file: "${DIR}/tls.key" }
      client_ca_file: ${CERTS}/ca.crt
    routes:
      - name: r
        upstream: u
        public: true
        request_headers:
          set: { Authorization: "Bearer ${secret:${DIR}/token}", X-B: "$${secret:/not/a/file}" }
)";

std::expected<std::shared_ptr<const Config>, ConfigErrors> Parse(std::string_view yaml,
                                                                 const std::string& dir,
                                                                 LoadOptions options = {}) {
  return ParseConfig(yaml, "files.yaml", FakeEnv({{"DIR", dir}}), options);
}

// Every file is recorded with where the config names it, in reading order.
TEST(LoadOptionsTest, FilesAreRecordedWithTheirPlace) {
  auto result = Parse(kFiles, CertDir());
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  const std::vector<FileReference>& files = (*result)->files;
  std::vector<std::string> where;
  for (const FileReference& f : files) {
    where.push_back(f.key_path + " " + std::to_string(f.line) + ":" + std::to_string(f.column) +
                    " " + f.path.substr(f.path.rfind('/') + 1));
  }
  EXPECT_EQ(where, (std::vector<std::string>{
                       "identity_providers[0].ca_file 6:14 ca.crt",
                       "upstreams[0].tls.ca_file 10:21 ca.crt",
                       "upstreams[0].tls.cert_file 10:51 client.crt",
                       "upstreams[0].tls.key_file 10:84 client.key",
                       "listeners[0].tls.certificates[0].cert_file 16:24 tls.crt",
                       "listeners[0].tls.certificates[0].key_file 16:54 tls.key",
                       "listeners[0].tls.client_ca_file 17:23 ca.crt",
                       "listeners[0].routes[0].request_headers.set.Authorization 23:33 token",
                   }));
  EXPECT_EQ(files.back().path, CertDir() + "/token") << "${NAME} in a ${secret:} path";
  EXPECT_EQ((*result)->listeners[0].routes[0].request_headers.set[0].value,
            "Bearer ${secret:" + CertDir() + "/token}");
}

// Offline, the files are recorded but never opened: the config alone is checked.
TEST(LoadOptionsTest, OfflineOpensNoFile) {
  auto online = Parse(kFiles, "/nonexistent");
  ASSERT_FALSE(online.has_value());
  ASSERT_EQ(online.error().size(), 2u);
  EXPECT_EQ(online.error()[0].ToString(),
            "files.yaml:16:54: listeners[0].tls.certificates[0].key_file: cannot read "
            "/nonexistent/tls.key: No such file or directory");
  EXPECT_EQ(online.error()[1].ToString(),
            "files.yaml:23:33: listeners[0].routes[0].request_headers.set.Authorization: cannot "
            "read /nonexistent/token: No such file or directory");

  auto offline = Parse(kFiles, "/nonexistent", {.offline = true});
  ASSERT_TRUE(offline.has_value()) << offline.error().front().ToString();
  EXPECT_EQ((*offline)->files.size(), 8u);
  EXPECT_EQ((*offline)->files[5].path, "/nonexistent/tls.key");

  // Everything else is still checked.
  auto broken = ParseConfig(std::string(kFiles) + "  - bogus\n", "files.yaml",
                            FakeEnv({{"DIR", "/nonexistent"}}), {.offline = true});
  ASSERT_FALSE(broken.has_value());
  EXPECT_EQ(broken.error().size(), 1u) << broken.error().front().ToString();
  auto unset = ParseConfig(kFiles, "files.yaml", FakeEnv(), {.offline = true});
  ASSERT_FALSE(unset.has_value());
  EXPECT_NE(unset.error().front().message.find("environment variable DIR is not set"),
            std::string::npos);
}

TEST(LoadOptionsTest, LoadConfigFileTakesTheOptions) {
  const std::string path = CertDir() + "/offline.yaml";
  std::ofstream(path) << "listeners: [{ name: l, address: 127.0.0.1:0, tls: { certificates: [{ "
                         "cert_file: /nonexistent/c, key_file: /nonexistent/k }] }, routes: [{ "
                         "name: r, upstream: u, public: true }] }]\n"
                         "upstreams: [{ name: u, endpoints: [127.0.0.1:1] }]\n";
  EXPECT_FALSE(LoadConfigFile(path).has_value());
  EXPECT_TRUE(LoadConfigFile(path, {.offline = true}).has_value());
}

constexpr std::string_view kBoundOrg = R"(identity_providers:
  - name: buildkite
    type: buildkite
    audiences: [https://ci-proxy.acme.internal]
    bound_claims: { organization_id: "${BK_ORG}" }
listeners:
  - { name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, upstream: u, authenticate: true }] }
upstreams: [{ name: u, endpoints: ["${HOST:-127.0.0.1}:1"] }]
)";

// A variable set to nothing is an error where it is used, like an unset one: a tenant anchor of
// "${BK_ORG}" must not quietly become "".
TEST(LoadOptionsTest, AnEmptyVariableIsAnError) {
  auto result = ParseConfig(kBoundOrg, "t.yaml", FakeEnv({{"BK_ORG", ""}}));
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_EQ(result.error()[0].ToString(),
            "t.yaml:5:38: identity_providers[0].bound_claims.organization_id: environment "
            "variable BK_ORG is empty (set it, or write ${BK_ORG:-default} for a default, "
            "${BK_ORG:-} if empty is meant)");
  auto set = ParseConfig(kBoundOrg, "t.yaml", FakeEnv({{"BK_ORG", "f892efa9"}, {"HOST", ""}}));
  ASSERT_TRUE(set.has_value()) << set.error().front().ToString();
  EXPECT_EQ((*set)->upstreams[0].endpoints[0].host, "127.0.0.1") << "empty takes the default";
}

TEST(LoadOptionsTest, DefaultsAndTheirMistakes) {
  auto value = [](std::string_view text, std::map<std::string, std::string> vars) {
    auto result = yaml::SubstituteEnv(text, FakeEnv(std::move(vars)), yaml::Refs::kEnvOnly);
    return result ? *result : "error: " + result.error();
  };
  EXPECT_EQ(value("${A:-x}", {}), "x");
  EXPECT_EQ(value("${A:-x}", {{"A", ""}}), "x");
  EXPECT_EQ(value("${A:-x}", {{"A", "a"}}), "a");
  EXPECT_EQ(value("${A:-}", {{"A", ""}}), "");
  EXPECT_EQ(value("${A:-a b:-c}", {}), "a b:-c");
  EXPECT_EQ(value("[${A:-}]", {}), "[]");
  EXPECT_EQ(value("${A-x}", {}).substr(0, 9), "error: '$");
  EXPECT_NE(value("${:-x}", {}).find("${NAME:-default}"), std::string::npos);
  EXPECT_EQ(value("${A}", {{"A", ""}}),
            "error: environment variable A is empty (set it, or write ${A:-default} for a "
            "default, ${A:-} if empty is meant)");
}

// The hash names the config in effect: the file's bytes and what its ${NAME}s became; a file
// without variables hashes as sha256sum does. A ${secret:} file's content is never part of it.
TEST(LoadOptionsTest, TheHashCoversSubstitutedValues) {
  auto hash = [](std::string_view text, std::map<std::string, std::string> vars) {
    auto result = ParseConfig(text, "t.yaml", FakeEnv(std::move(vars)));
    EXPECT_TRUE(result.has_value()) << result.error().front().ToString();
    return result ? (*result)->hash : "";
  };
  const std::map<std::string, std::string> acme = {{"BK_ORG", "acme"}};
  EXPECT_EQ(hash(kBoundOrg, acme), hash(kBoundOrg, acme));
  EXPECT_NE(hash(kBoundOrg, acme), hash(kBoundOrg, {{"BK_ORG", "evil"}}));
  EXPECT_EQ(hash(kBoundOrg, acme), hash(kBoundOrg, {{"BK_ORG", "acme"}, {"HOST", "127.0.0.1"}}))
      << "the default and the same value written out are one config";
  EXPECT_NE(hash(kBoundOrg, acme), hash(kBoundOrg, {{"BK_ORG", "acme"}, {"HOST", "10.0.0.1"}}));
  EXPECT_NE(hash(kBoundOrg, acme), Sha256Hex(kBoundOrg));
  EXPECT_EQ(hash(kBoundOrg, {{"BK_ORG", "acme"}, {"UNUSED", "x"}}), hash(kBoundOrg, acme))
      << "only the variables the file uses";

  const std::string plain =
      "listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, "
      "upstream: u, public: true, request_headers: { set: { A: \"${secret:" +
      CertDir() + "/token}\" } } }] }]\nupstreams: [{ name: u, endpoints: [127.0.0.1:1] }]\n";
  const std::string before = hash(plain, {});
  EXPECT_EQ(before, Sha256Hex(plain));
  std::ofstream(CertDir() + "/token") << "another-token\n";
  EXPECT_EQ(hash(plain, {}), before);
}

}  // namespace
}  // namespace ciap::config
