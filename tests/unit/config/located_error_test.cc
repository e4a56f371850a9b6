// Tests of config/located_error: an error of loading a file the config names is placed at the
// key that names it.
#include "config/located_error.h"

#include <gtest/gtest.h>

#include "tests/unit/config/test_util.h"

namespace ciap::config {
namespace {

using testing::CertDir;

std::shared_ptr<const Config> Load() {
  const std::string yaml = R"(identity_providers:
  - { name: corp, type: oidc, issuer: "https://idp.acme.internal", audiences: [c], jwks_file: "${CERTS}/ca.crt" }
upstreams:
  - { name: u, endpoints: [127.0.0.1:1], tls: { ca_file: "${CERTS}/ca.crt" } }
listeners:
  - name: agents
    address: 127.0.0.1:0
    tls:
      certificates:
        - { cert_file: "${CERTS}/tls.crt", key_file: "${CERTS}/tls.key" }
        - { cert_file: "${CERTS}/a.crt", key_file: "${CERTS}/tls.crt" }
    routes:
      - name: r
        upstream: u
        public: true
        request_headers: { set: { Authorization: "Bearer ${secret:/var/run/token}" } }
  - name: other
    address: 127.0.0.1:0
    tls: { certificates: [{ cert_file: "${CERTS}/tls.crt", key_file: "${CERTS}/tls.key" }] }
    routes: [{ name: r, upstream: u, public: true }]
)";
  auto result = ParseConfig(yaml, "ciap.yaml", testing::FakeEnv(), {.offline = true});
  EXPECT_TRUE(result.has_value()) << result.error().front().ToString();
  return result ? *result : nullptr;
}

TEST(LocatedErrorTest, AtTheKeyThatNamesTheFile) {
  auto config = Load();
  ASSERT_NE(config, nullptr);
  const std::string certs = CertDir();
  EXPECT_EQ(LocateError(*config, "listener agents: " + certs +
                                     "/tls.key does not match "
                                     "certificate " +
                                     certs + "/tls.crt")
                .ToString(),
            "ciap.yaml:10:54: listeners[0].tls.certificates[0].key_file: " + certs +
                "/tls.key does not match certificate " + certs + "/tls.crt");
  // The same files in another listener: the owner the message names decides.
  EXPECT_EQ(LocateError(*config, "listener other: cannot load certificate " + certs +
                                     "/tls.crt: no PEM certificate in it")
                .key_path,
            "listeners[1].tls.certificates[0].cert_file");
  // A file named as a certificate and as a key: the words before it say which.
  EXPECT_EQ(LocateError(*config, "listener agents: cannot load private key " + certs +
                                     "/tls.crt: no PEM private key")
                .key_path,
            "listeners[0].tls.certificates[1].key_file");
  EXPECT_EQ(LocateError(*config, "upstream u: cannot load CA " + certs + "/ca.crt: x").ToString(),
            "ciap.yaml:4:58: upstreams[0].tls.ca_file: cannot load CA " + certs + "/ca.crt: x");
  EXPECT_EQ(LocateError(*config, "identity: provider corp, jwks_file " + certs +
                                     "/ca.crt: JWKS is not valid JSON")
                .ToString(),
            "ciap.yaml:2:95: identity_providers[0].jwks_file: jwks_file " + certs +
                "/ca.crt: JWKS is not valid JSON");
  EXPECT_EQ(LocateError(*config,
                        "listener agents, route r, header Authorization: cannot read "
                        "secret /var/run/token: No such file or directory")
                .ToString(),
            "ciap.yaml:16:50: listeners[0].routes[0].request_headers.set.Authorization: cannot "
            "read secret /var/run/token: No such file or directory");
}

TEST(LocatedErrorTest, AnErrorWithoutAFileIsAboutTheWholeFile) {
  auto config = Load();
  ASSERT_NE(config, nullptr);
  const ConfigError error = LocateError(*config, "upstream u: cannot load the system trust store");
  EXPECT_EQ(error.ToString(), "ciap.yaml: upstream u: cannot load the system trust store");
  // A path inside a longer one is not a mention.
  EXPECT_EQ(LocateError(*config, "cannot read /var/run/token.old").line, 0);
}

}  // namespace
}  // namespace ciap::config
