// Tests of config/loader: valid configs become the expected structs, defaults are filled in,
// ${NAME} substitution works on values only, and whole files load with their hash.
#include "config/loader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/config/test_util.h"

namespace ciap::config {
namespace {

using std::chrono::milliseconds;
using testing::CertDir;
using testing::FakeEnv;

// The config of the format's documentation, with certificate paths under ${CERTS}.
constexpr std::string_view kFullConfig = R"(logging:
  access_log: /var/log/ciap/access.log
admin:
  address: 127.0.0.1:9902
upstreams:
  - name: artifacts
    endpoints: [artifacts.internal:443, 10.0.0.7:443, "[::1]:8080"]
    tls: { sni: artifacts.internal, ca_file: "${CERTS}/ca.crt" }
    connect_timeout: 1500ms
    idle_timeout: 2m
    max_connections: 64
  - name: plain
    endpoints: [localhost:8080]
    protocol: http2
  - name: defaults-tls
    endpoints: [svc.internal:443]
    tls: {}
listeners:
  - name: agents
    address: 0.0.0.0:8443
    tls:
      certificates:
        - { cert_file: "${CERTS}/tls.crt", key_file: "${CERTS}/tls.key" }
        - cert_file: ${CERTS}/client.crt
          key_file: ${CERTS}/client.key
      min_version: 1.3
      client_ca_file: ${CERTS}/ca.crt
      client_auth: optional
    filters: [headers]
    limits: { max_header_bytes: 32768, max_headers: 50, header_timeout: 5s, idle_timeout: 1h, max_connections: 1000 }
    routes:
      - name: artifact-uploads
        match:
          host: Artifacts.CI.acme.internal
          path_prefix: /releases/
          methods: [PUT, post]
          headers:
            - { name: x-env, exact: prod }
            - { name: x-build, regex: '[0-9]+' }
            - { name: x-debug, present: false }
        upstream: artifacts
        public: true
        timeout: 300s
        request_headers:
          set: { X-Static: "abc", Authorization: "Bearer ${secret:/var/run/secrets/token}", X-Agent: "${claim:sub}" }
          remove: [X-Debug, Cookie]
          identity: true
        forward_token: true
      - name: wildcard
        match: { host: "*.ci.acme.internal", path_regex: '/v[0-9]+/.*' }
        upstream: plain
        public: true
      - name: exact
        match: { path: /healthz }
        upstream: defaults-tls
        public: true
  - name: sidecar
    address: "[::1]:0"
    plaintext: true
    routes:
      - name: everything
        upstream: plain
        public: true
)";

std::shared_ptr<const Config> MustParse(std::string_view yaml, const EnvLookup& env = FakeEnv(),
                                        const LoadOptions& options = {}) {
  auto result = ParseConfig(yaml, "test.yaml", env, options);
  if (!result) {
    for (const ConfigError& e : result.error()) ADD_FAILURE() << e.ToString();
    return nullptr;
  }
  return *result;
}

ConfigErrors MustFail(std::string_view yaml, const EnvLookup& env = FakeEnv()) {
  auto result = ParseConfig(yaml, "test.yaml", env);
  EXPECT_FALSE(result.has_value()) << "expected errors for:\n" << yaml;
  return result ? ConfigErrors{} : result.error();
}

// Every field of the full example is read, with the right types and units. (Offline: the
// ${secret:} file is not there; load_options_test.cc has what offline leaves out.)
TEST(LoaderTest, FullConfigParsesToExpectedValues) {
  std::shared_ptr<const Config> c = MustParse(kFullConfig, FakeEnv(), {.offline = true});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->source_path, "test.yaml");
  EXPECT_EQ(c->logging.access_log, "/var/log/ciap/access.log");
  EXPECT_EQ(c->admin.address.host, "127.0.0.1");
  EXPECT_EQ(c->admin.address.port, 9902);

  ASSERT_EQ(c->upstreams.size(), 3u);
  const UpstreamConfig& art = c->upstreams[0];
  EXPECT_EQ(art.name, "artifacts");
  ASSERT_EQ(art.endpoints.size(), 3u);
  EXPECT_EQ(art.endpoints[0].host, "artifacts.internal");
  EXPECT_EQ(art.endpoints[0].port, 443);
  EXPECT_EQ(art.endpoints[1].ToString(), "10.0.0.7:443");
  EXPECT_EQ(art.endpoints[2].host, "::1");
  EXPECT_EQ(art.endpoints[2].port, 8080);
  EXPECT_EQ(art.endpoints[2].ToString(), "[::1]:8080");
  ASSERT_TRUE(art.tls.has_value());
  EXPECT_EQ(art.tls->sni, "artifacts.internal");
  EXPECT_EQ(art.tls->ca_file, CertDir() + "/ca.crt");
  EXPECT_EQ(art.tls->cert_file, "");
  EXPECT_EQ(art.connect_timeout, milliseconds(1500));
  EXPECT_EQ(art.idle_timeout, milliseconds(120000));
  EXPECT_EQ(art.max_connections, 64u);
  EXPECT_EQ(art.protocol, UpstreamProtocol::kHttp1);
  EXPECT_EQ(c->upstreams[1].protocol, UpstreamProtocol::kHttp2);
  EXPECT_FALSE(c->upstreams[1].tls.has_value());
  EXPECT_EQ(c->upstreams[1].endpoints[0].host, "localhost");
  ASSERT_TRUE(c->upstreams[2].tls.has_value()) << "tls: {} means TLS with defaults";
  EXPECT_EQ(c->upstreams[2].tls->sni, "");
  EXPECT_EQ(c->FindUpstream("plain"), &c->upstreams[1]);
  EXPECT_EQ(c->FindUpstream("nope"), nullptr);

  ASSERT_EQ(c->listeners.size(), 2u);
  const ListenerConfig& l = c->listeners[0];
  EXPECT_EQ(l.name, "agents");
  EXPECT_EQ(l.address.ToString(), "0.0.0.0:8443");
  EXPECT_FALSE(l.plaintext);
  ASSERT_TRUE(l.tls.has_value());
  ASSERT_EQ(l.tls->certificates.size(), 2u);
  EXPECT_EQ(l.tls->certificates[0].cert_file, CertDir() + "/tls.crt");
  EXPECT_EQ(l.tls->certificates[0].key_file, CertDir() + "/tls.key");
  EXPECT_EQ(l.tls->certificates[1].key_file, CertDir() + "/client.key");
  EXPECT_EQ(l.tls->min_version, TlsVersion::kTls13);
  EXPECT_EQ(l.tls->client_ca_file, CertDir() + "/ca.crt");
  EXPECT_EQ(l.tls->client_auth, ClientAuth::kOptional);
  EXPECT_EQ(l.filters, std::vector<std::string>{"headers"});
  EXPECT_EQ(l.limits.max_header_bytes, 32768u);
  EXPECT_EQ(l.limits.max_headers, 50u);
  EXPECT_EQ(l.limits.header_timeout, milliseconds(5000));
  EXPECT_EQ(l.limits.idle_timeout, milliseconds(3600000));
  EXPECT_EQ(l.limits.max_connections, 1000u);

  ASSERT_EQ(l.routes.size(), 3u);
  const RouteConfig& r = l.routes[0];
  EXPECT_EQ(r.name, "artifact-uploads");
  EXPECT_EQ(r.match.host, "artifacts.ci.acme.internal") << "hosts are stored lower-case";
  EXPECT_EQ(r.match.path_prefix, "/releases/");
  EXPECT_FALSE(r.match.path.has_value());
  EXPECT_FALSE(r.match.path_regex.has_value());
  EXPECT_EQ(r.match.methods, (std::vector<std::string>{"PUT", "POST"}));
  ASSERT_EQ(r.match.headers.size(), 3u);
  EXPECT_EQ(r.match.headers[0].name, "x-env");
  EXPECT_EQ(r.match.headers[0].exact, "prod");
  EXPECT_FALSE(r.match.headers[0].regex.has_value());
  EXPECT_EQ(r.match.headers[1].regex, "[0-9]+");
  EXPECT_EQ(r.match.headers[2].present, false);
  EXPECT_EQ(r.upstream, "artifacts");
  EXPECT_TRUE(r.is_public);
  EXPECT_EQ(r.timeout, milliseconds(300000));
  ASSERT_EQ(r.request_headers.set.size(), 3u) << "set keeps the order of the file";
  EXPECT_EQ(r.request_headers.set[0].name, "X-Static");
  EXPECT_EQ(r.request_headers.set[0].value, "abc");
  EXPECT_EQ(r.request_headers.set[1].name, "Authorization");
  EXPECT_EQ(r.request_headers.set[1].value, "Bearer ${secret:/var/run/secrets/token}");
  EXPECT_EQ(r.request_headers.set[2].value, "${claim:sub}");
  EXPECT_EQ(r.request_headers.remove, (std::vector<std::string>{"X-Debug", "Cookie"}));
  EXPECT_TRUE(r.request_headers.identity);
  EXPECT_TRUE(r.forward_token);
  EXPECT_EQ(l.routes[1].match.host, "*.ci.acme.internal");
  EXPECT_EQ(l.routes[1].match.path_regex, "/v[0-9]+/.*");
  EXPECT_EQ(l.routes[2].match.path, "/healthz");

  const ListenerConfig& sidecar = c->listeners[1];
  EXPECT_TRUE(sidecar.plaintext);
  EXPECT_FALSE(sidecar.tls.has_value());
  EXPECT_EQ(sidecar.address.host, "::1");
  EXPECT_EQ(sidecar.address.port, 0);
  EXPECT_EQ(sidecar.address.ToString(), "[::1]:0");
}

// Everything optional takes the documented default from config.h.
TEST(LoaderTest, MinimalConfigGetsDefaults) {
  std::shared_ptr<const Config> c = MustParse(R"(listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - name: r
        upstream: u
        public: true
upstreams:
  - { name: u, endpoints: [127.0.0.1:9000] }
)");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->logging.access_log, "stdout");
  EXPECT_EQ(c->admin.address.ToString(), "127.0.0.1:9901");
  const UpstreamConfig& u = c->upstreams[0];
  EXPECT_FALSE(u.tls.has_value());
  EXPECT_EQ(u.connect_timeout, milliseconds(2000));
  EXPECT_EQ(u.idle_timeout, milliseconds(60000));
  EXPECT_EQ(u.max_connections, 512u);
  EXPECT_TRUE(c->identity_providers.empty());
  const ListenerConfig& l = c->listeners[0];
  EXPECT_EQ(l.filters, (std::vector<std::string>{"identity", "access", "rate_limit", "headers"}));
  EXPECT_EQ(l.limits.max_header_bytes, 65536u);
  EXPECT_EQ(l.limits.max_headers, 100u);
  EXPECT_EQ(l.limits.header_timeout, milliseconds(10000));
  EXPECT_EQ(l.limits.idle_timeout, milliseconds(300000));
  EXPECT_EQ(l.limits.max_connections, 20000u);
  const RouteConfig& r = l.routes[0];
  EXPECT_EQ(r.match.host, "");
  EXPECT_FALSE(r.match.path.has_value() || r.match.path_prefix.has_value() ||
               r.match.path_regex.has_value());
  EXPECT_TRUE(r.match.methods.empty());
  EXPECT_EQ(r.timeout, milliseconds(60000));
  EXPECT_TRUE(r.request_headers.set.empty());
  EXPECT_FALSE(r.request_headers.identity);
  EXPECT_FALSE(r.forward_token);
  EXPECT_FALSE(r.authenticate);
}

// The listener TLS defaults: TLS 1.2 and no client certificates.
TEST(LoaderTest, ListenerTlsDefaults) {
  std::shared_ptr<const Config> c = MustParse(R"(listeners:
  - name: l
    address: 127.0.0.1:0
    tls: { certificates: [{ cert_file: "${CERTS}/tls.crt", key_file: "${CERTS}/tls.key" }], min_version: "1.2" }
    filters: []
    routes: [{ name: r, upstream: u, public: true }]
upstreams: [{ name: u, endpoints: ["[fd00::7]:443"] }]
)");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->listeners[0].tls->min_version, TlsVersion::kTls12);
  EXPECT_EQ(c->listeners[0].tls->client_auth, ClientAuth::kNone);
  EXPECT_TRUE(c->listeners[0].filters.empty()) << "an explicit empty chain is kept";
}

constexpr std::string_view kEnvConfig = R"(logging:
  access_log: ${LOG_DIR}/access-$${literal}.log
listeners:
  - name: l
    address: ${ADDR}
    plaintext: true
    routes:
      - name: r
        upstream: u
        public: true
        timeout: ${TIMEOUT}
        request_headers:
          set: { X-Token: "${TOKEN} $${claim:sub} ${secret:/s}", X-Empty: "${EMPTY:-}", X-D: "${EMPTY:-d} ${UNSET:-u}" }
upstreams: [{ name: u, endpoints: ["${UPSTREAM_HOST}:8080"] }]
)";

// ${NAME} is replaced inside scalar values, `$${` is a literal `${`, and ${NAME:-default} gives
// the default for an unset or empty variable (${NAME:-}: empty is meant). Offline: /s is no file.
TEST(LoaderTest, EnvSubstitution) {
  std::shared_ptr<const Config> c = MustParse(kEnvConfig,
                                              FakeEnv({{"LOG_DIR", "/logs"},
                                                       {"ADDR", "127.0.0.1:0"},
                                                       {"TIMEOUT", "45s"},
                                                       {"TOKEN", "t0k"},
                                                       {"EMPTY", ""},
                                                       {"UPSTREAM_HOST", "backend.internal"}}),
                                              {.offline = true});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->logging.access_log, "/logs/access-${literal}.log");
  EXPECT_EQ(c->listeners[0].address.ToString(), "127.0.0.1:0");
  EXPECT_EQ(c->listeners[0].routes[0].timeout, milliseconds(45000));
  EXPECT_EQ(c->upstreams[0].endpoints[0].host, "backend.internal");
  const auto& set = c->listeners[0].routes[0].request_headers.set;
  ASSERT_EQ(set.size(), 3u);
  // In set values the escape is kept for the per-request ${secret:}/${claim:} expansion.
  EXPECT_EQ(set[0].value, "t0k $${claim:sub} ${secret:/s}");
  EXPECT_EQ(set[1].value, "");
  EXPECT_EQ(set[2].value, "d u");
}

// An unset variable is an error at the scalar that uses it; every one is reported.
TEST(LoaderTest, EnvSubstitutionUnsetVariables) {
  ConfigErrors errors = MustFail(kEnvConfig, FakeEnv({{"LOG_DIR", "/logs"}, {"EMPTY", ""}}));
  ASSERT_EQ(errors.size(), 4u) << "errors are sorted by position";
  EXPECT_EQ(errors[0].ToString(),
            "test.yaml:5:14: listeners[0].address: environment variable ADDR is not set");
  EXPECT_EQ(errors[1].key_path, "listeners[0].routes[0].timeout");
  EXPECT_EQ(errors[1].message, "environment variable TIMEOUT is not set");
  EXPECT_EQ(errors[2].key_path, "listeners[0].routes[0].request_headers.set.X-Token");
  EXPECT_EQ(errors[2].message, "environment variable TOKEN is not set");
  EXPECT_EQ(errors[3].key_path, "upstreams[0].endpoints[0]");
  EXPECT_EQ(errors[3].line, 14);
  EXPECT_EQ(errors[3].column, 36);
}

// Substituted text is data: YAML syntax in a variable cannot add keys or change types.
TEST(LoaderTest, EnvValuesCannotInjectYaml) {
  std::shared_ptr<const Config> c = MustParse(
      R"(logging: { access_log: "${LOG}" }
listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, upstream: u, public: true }] }]
upstreams: [{ name: u, endpoints: [127.0.0.1:1] }]
)",
      FakeEnv({{"LOG", "x\nadmin: {address: 0.0.0.0:1}"}}));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->logging.access_log, "x\nadmin: {address: 0.0.0.0:1}");
  EXPECT_EQ(c->admin.address.ToString(), "127.0.0.1:9901");
}

// A variable carrying CR/LF into a header value would split the forwarded request.
TEST(LoaderTest, EnvValueWithNewlineInHeaderIsRejected) {
  ConfigErrors errors = MustFail(
      R"(listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - { name: r, upstream: u, public: true, request_headers: { set: { X-A: "${V}" } } }
upstreams: [{ name: u, endpoints: [127.0.0.1:1] }]
)",
      FakeEnv({{"V", "a\r\nX-Injected: 1"}}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "listeners[0].routes[0].request_headers.set.X-A");
  EXPECT_NE(errors[0].message.find("CR, LF"), std::string::npos);
}

// Keys are never substituted: `${X}` as a header name stays literal and is not a valid token.
TEST(LoaderTest, EnvSubstitutionDoesNotApplyToKeys) {
  ConfigErrors errors = MustFail(
      R"(listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - { name: r, upstream: u, public: true, request_headers: { set: { "${X}": v } } }
upstreams: [{ name: u, endpoints: [127.0.0.1:1] }]
)",
      FakeEnv({{"X", "X-Name"}}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "'${X}' is not a valid header name");
}

// A config is UTF-8 text: every value can end up in JSON (/config, logs, audit events), which
// must be UTF-8, and yaml-cpp passes stray bytes through. Refused at the first bad byte; found
// by tests/fuzz/fuzz_config (an example config with a mutated byte made /config invalid JSON).
TEST(LoaderTest, RefusesInvalidUtf8) {
  constexpr std::string_view kRest = R"(.log
listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, upstream: u, public: true }] }]
upstreams: [{ name: u, endpoints: [127.0.0.1:1] }]
)";
  // A stray byte, a truncated sequence, an overlong '.', a surrogate, and beyond U+10FFFF.
  for (std::string bad : {"\xff", "\xc3", "\xc0\xae", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
    ConfigErrors errors =
        MustFail("logging:\n  access_log: /var/log/caf" + bad + std::string(kRest));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].line, 2);
    EXPECT_EQ(errors[0].column, 27);
    EXPECT_TRUE(errors[0].message.starts_with("invalid UTF-8 (byte 0x")) << errors[0].message;
  }
  std::shared_ptr<const Config> c = MustParse(
      "logging:\n  access_log: /var/log/caf\xc3\xa9-\xf0\x9f\x9a\x80" + std::string(kRest));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->logging.access_log, "/var/log/caf\xc3\xa9-\xf0\x9f\x9a\x80.log");
}

// Likewise the characters YAML does not allow at all (C0/C1 controls other than tab and line
// breaks, DEL): yaml-cpp turned a NUL inside a claim name into bytes that are not UTF-8, and
// /config into invalid JSON (found by tests/fuzz/fuzz_config).
TEST(LoaderTest, RefusesControlCharacters) {
  constexpr std::string_view kRest = R"(.log"
listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, upstream: u, public: true }] }]
upstreams: [{ name: u, endpoints: [127.0.0.1:1] }]
)";
  const std::pair<std::string, std::string> cases[] = {{std::string(1, '\0'), "U+0000"},
                                                       {"\x1b", "U+001B"},
                                                       {"\x7f", "U+007F"},
                                                       {"\xc2\x80", "U+0080"}};
  for (const auto& [bad, name] : cases) {
    ConfigErrors errors =
        MustFail("logging:\n  access_log: \"/var/log/caf" + bad + std::string(kRest));
    ASSERT_EQ(errors.size(), 1u) << name;
    EXPECT_EQ(errors[0].line, 2);
    EXPECT_EQ(errors[0].column, 28);
    EXPECT_EQ(errors[0].message, "control character " + name + " is not allowed in YAML");
  }
  // Tabs and CR LF line ends are YAML.
  EXPECT_NE(MustParse("logging:\r\n  access_log: \"/var/log/a\tb" + std::string(kRest)), nullptr);
}

// ... and so is what an environment variable brings in.
TEST(LoaderTest, EnvValueWithInvalidUtf8IsRejected) {
  ConfigErrors errors = MustFail(
      R"(logging: { access_log: "${LOG}" }
listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, upstream: u, public: true }] }]
upstreams: [{ name: u, endpoints: [127.0.0.1:1] }]
)",
      FakeEnv({{"LOG", "/var/log/caf\xe9.log"}}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key_path, "logging.access_log");
  EXPECT_EQ(errors[0].message, "environment variable LOG is not valid UTF-8");
}

// ProcessEnv reads the real environment.
TEST(LoaderTest, ProcessEnvReadsEnvironment) {
  ::setenv("CIAP_CONFIG_TEST_VAR", "value", 1);
  ::unsetenv("CIAP_CONFIG_TEST_UNSET");
  EnvLookup env = ProcessEnv();
  EXPECT_EQ(env("CIAP_CONFIG_TEST_VAR"), "value");
  EXPECT_EQ(env("CIAP_CONFIG_TEST_UNSET"), std::nullopt);
}

// Errors from independent places are all reported, in document order.
TEST(LoaderTest, CollectsAllErrors) {
  ConfigErrors errors = MustFail(R"(admin: { address: nowhere }
upstreams:
  - { name: u, endpoints: [127.0.0.1:0], connect_timeout: 5 }
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    limits: { max_headers: 0 }
    routes:
      - { name: r, upstream: u, public: maybe }
)");
  ASSERT_EQ(errors.size(), 5u);
  EXPECT_EQ(errors[0].key_path, "admin.address");
  EXPECT_EQ(errors[1].key_path, "upstreams[0].endpoints[0]");
  EXPECT_EQ(errors[2].key_path, "upstreams[0].connect_timeout");
  EXPECT_EQ(errors[3].key_path, "listeners[0].limits.max_headers");
  EXPECT_EQ(errors[4].key_path, "listeners[0].routes[0].public");
}

// LoadConfigFile reads the bytes, hashes them, and records the path as given.
TEST(LoaderTest, LoadConfigFileHashesBytes) {
  const std::string path = CertDir() + "/load.yaml";
  const std::string text =
      "listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, "
      "upstream: u, public: true }] }]\nupstreams: [{ name: u, endpoints: [127.0.0.1:1] }]\n";
  std::ofstream(path) << text;
  auto result = LoadConfigFile(path);
  ASSERT_TRUE(result.has_value()) << result.error()[0].ToString();
  EXPECT_EQ((*result)->source_path, path);
  EXPECT_EQ((*result)->hash.size(), 64u);
  // The same bytes give the same hash; one changed byte gives another.
  EXPECT_EQ((*ParseConfig(text, "x", FakeEnv()))->hash, (*result)->hash);
  std::string changed = text + " ";
  EXPECT_NE((*ParseConfig(changed, "x", FakeEnv()))->hash, (*result)->hash);
}

TEST(LoaderTest, LoadConfigFileMissing) {
  auto result = LoadConfigFile("/nonexistent/ciap.yaml");
  ASSERT_FALSE(result.has_value());
  ASSERT_EQ(result.error().size(), 1u);
  EXPECT_EQ(
      result.error()[0].ToString(),
      "/nonexistent/ciap.yaml: cannot read /nonexistent/ciap.yaml: No such file or directory");
}

TEST(LoaderTest, ConfigErrorToString) {
  ConfigError e{"ciap.yaml", 14, 7, "listeners[0].tls", "required unless plaintext: true"};
  EXPECT_EQ(e.ToString(), "ciap.yaml:14:7: listeners[0].tls: required unless plaintext: true");
  e.key_path = "";
  EXPECT_EQ(e.ToString(), "ciap.yaml:14:7: required unless plaintext: true");
}

}  // namespace
}  // namespace ciap::config
