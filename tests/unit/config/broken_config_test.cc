// Table of broken configs: each must fail with exactly one error at the right line, column and
// key path, with a message that says what is wrong. One error each also proves that a mistake
// does not cascade into follow-up noise.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"
#include "tests/unit/config/test_util.h"

namespace ciap::config {
namespace {

struct BrokenCase {
  std::string name;
  std::string yaml;
  int line;
  int column;
  std::string key_path;
  std::string message;  // a substring of the error message
};

// Failure messages name the case instead of dumping its bytes.
void PrintTo(const BrokenCase& c, std::ostream* os) { *os << c.name; }

// A valid tail that the cases append to, so each case shows only what it breaks. It starts on
// line 1 of its own, so cases that prepend text shift it down.
constexpr std::string_view kUpstream = "upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]\n";

std::string PlainListener(std::string_view route_body) {
  return std::string(kUpstream) +      // line 1
         "listeners:\n"                // 2
         "  - name: l\n"               // 3
         "    address: 127.0.0.1:0\n"  // 4
         "    plaintext: true\n"       // 5
         "    routes:\n"               // 6
         "      - name: r\n"           // 7
         "        upstream: u\n"       // 8
         + std::string(route_body);    // 9...
}

std::string TlsListener(std::string_view tls_body) {
  return std::string(kUpstream) +                                  // line 1
         "listeners:\n"                                            // 2
         "  - name: l\n"                                           // 3
         "    address: 127.0.0.1:0\n"                              // 4
         "    routes: [{ name: r, upstream: u, public: true }]\n"  // 5
         "    tls:\n"                                              // 6
         + std::string(tls_body);                                  // 7...
}

const std::vector<BrokenCase>& Cases() {
  static const std::vector<BrokenCase> cases = {
      {"UnknownTopLevelKey", PlainListener("        public: true\n") + "listner: {}\n", 10, 1,
       "listner", "unknown key 'listner'"},
      {"UnknownKeySuggestsSpelling", PlainListener("        public: true\n") + "upstream: []\n", 10,
       1, "upstream", "did you mean 'upstreams'?"},
      {"UnknownNestedKey",
       "upstreams: [{ name: u, endpoints: [a.internal:443], tls: { sni: a.internal, verify: "
       "false } }]\n" +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 77, "upstreams[0].tls.verify", "unknown key 'verify'; expected one of: sni, ca_file"},
      {"UnknownKeyInRoute", PlainListener("        public: true\n        methods: [GET]\n"), 10, 9,
       "listeners[0].routes[0].methods", "unknown key 'methods'"},
      {"BadDuration", PlainListener("        public: true\n        timeout: 5 minutes\n"), 10, 18,
       "listeners[0].routes[0].timeout", "no space between the number and the unit"},
      {"BareNumberDuration", PlainListener("        public: true\n        timeout: 30\n"), 10, 18,
       "listeners[0].routes[0].timeout", "durations need a unit: 30s, 500ms, 5m"},
      {"ZeroDuration", PlainListener("        public: true\n        timeout: 0s\n"), 10, 18,
       "listeners[0].routes[0].timeout", "must be greater than 0"},
      {"FractionalDuration", PlainListener("        public: true\n        timeout: 1.5s\n"), 10, 18,
       "listeners[0].routes[0].timeout", "fractions are not supported"},
      {"AddressWithoutPort",
       "admin: { address: localhost }\n" + PlainListener("        public: true\n"), 1, 19,
       "admin.address", "expected host:port"},
      {"ListenerAddressNotIp",
       "admin: { address: 'admin.internal:9901' }\n" + PlainListener("        public: true\n"), 1,
       19, "admin.address", "must be an IP address or localhost"},
      {"PortOutOfRange",
       "upstreams: [{ name: u, endpoints: [10.0.0.1:70000] }]\n" +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 36, "upstreams[0].endpoints[0]", "port 70000 is out of range (1-65535)"},
      {"UpstreamPortZero",
       "upstreams: [{ name: u, endpoints: [a.internal:443, 10.0.0.1:0] }]\n" +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 52, "upstreams[0].endpoints[1]", "out of range (1-65535)"},
      {"Ipv6WithoutBrackets",
       "admin: { address: '::1:9901' }\n" + PlainListener("        public: true\n"), 1, 19,
       "admin.address", "IPv6 addresses need brackets: [::1]:8080"},
      {"UnquotedIpv6InFlowList",
       "upstreams: [{ name: u, endpoints: [[::1]:80] }]\n" +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 36, "upstreams[0].endpoints[0]", "quote values that start with '['"},
      {"MissingListeners", std::string(kUpstream), 1, 1, "listeners",
       "required (ciap needs a listener to accept connections)"},
      {"EmptyListeners", std::string(kUpstream) + "listeners: []\n", 2, 12, "listeners",
       "needs at least one listener"},
      {"TlsAndPlaintext",
       PlainListener("        public: true\n") +
           "    tls: { certificates: [{ cert_file: /x, key_file: /y }] }\n",
       5, 5, "listeners[0].plaintext", "cannot be combined with tls"},
      {"NeitherTlsNorPlaintext",
       std::string(kUpstream) +
           "listeners:\n  - name: l\n    address: 127.0.0.1:0\n    routes: [{ name: r, upstream: "
           "u, public: true }]\n",
       3, 5, "listeners[0].tls",
       "required unless plaintext: true (ciap terminates TLS; plaintext must be explicit)"},
      {"PlaintextFalseWithoutTls",
       std::string(kUpstream) +
           "listeners:\n  - name: l\n    address: 127.0.0.1:0\n    plaintext: false\n    routes: "
           "[{ name: r, upstream: u, public: true }]\n",
       3, 5, "listeners[0].tls", "required unless plaintext: true"},
      {"UnknownUpstream",
       "upstreams: [{ name: a, endpoints: [127.0.0.1:1] }, { name: b, endpoints: [127.0.0.1:2] "
       "}]\nlisteners:\n  - name: l\n    address: 127.0.0.1:0\n    plaintext: true\n    routes:\n "
       "     - { name: r, upstream: c, public: true }\n",
       7, 30, "listeners[0].routes[0].upstream", "unknown upstream 'c' (defined: a, b)"},
      {"DuplicateUpstreamName",
       "upstreams:\n  - { name: u, endpoints: [127.0.0.1:1] }\n  - { name: u, endpoints: "
       "[127.0.0.1:2] }\n" +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       3, 13, "upstreams[1].name", "duplicate upstream name 'u' (first defined on line 2)"},
      {"DuplicateRouteName",
       PlainListener("        public: true\n      - { name: r, upstream: u, "
                     "public: true }\n"),
       10, 17, "listeners[0].routes[1].name", "duplicate route name 'r'"},
      {"InvalidName",
       std::string(kUpstream) +
           "listeners:\n  - name: l\n    address: 127.0.0.1:0\n    plaintext: true\n    routes: "
           "[{ name: 'uploads/v1', upstream: u, public: true }]\n",
       6, 22, "listeners[0].routes[0].name", "'uploads/v1' is not a valid name"},
      {"BadRegex",
       PlainListener("        public: true\n        match: { path_regex: '/v[0-9+' }\n"), 10, 30,
       "listeners[0].routes[0].match.path_regex", "invalid RE2 regular expression: missing ]"},
      {"PathWithoutLeadingSlash",
       PlainListener("        public: true\n        match: { path_prefix: releases/ }\n"), 10, 31,
       "listeners[0].routes[0].match.path_prefix", "must start with '/'"},
      {"TwoPathMatchers",
       PlainListener("        public: true\n        match:\n          path: /a\n          "
                     "path_prefix: /b\n"),
       12, 11, "listeners[0].routes[0].match.path_prefix",
       "at most one of path, path_prefix, path_regex (path is already set)"},
      {"BadHostMatch", PlainListener("        public: true\n        match: { host: 'a.*.com' }\n"),
       10, 24, "listeners[0].routes[0].match.host", "expected a host name"},
      {"EmptyMethods", PlainListener("        public: true\n        match: { methods: [] }\n"), 10,
       27, "listeners[0].routes[0].match.methods", "must not be empty"},
      {"HeaderMatchTwoConditions",
       PlainListener("        public: true\n        match:\n          headers:\n            - { "
                     "name: x-a, exact: b, present: true }\n"),
       12, 38, "listeners[0].routes[0].match.headers[0].present",
       "exactly one of exact, regex, present (exact is already set)"},
      {"HeaderMatchNoCondition",
       PlainListener("        public: true\n        match:\n          headers:\n            - { "
                     "name: x-a }\n"),
       12, 15, "listeners[0].routes[0].match.headers[0]",
       "needs exactly one of exact, regex, present"},
      {"UnknownFilter", PlainListener("        public: true\n") + "    filters: [headers, waf]\n",
       10, 24, "listeners[0].filters[1]",
       "unknown filter 'waf' (known: headers, identity, access, rate_limit)"},
      {"UnsupportedFilter", PlainListener("        public: true\n") + "    filters: [identity]\n",
       10, 15, "listeners[0].filters[0]", "filter 'identity' is not supported yet in this version"},
      {"DuplicateFilter",
       PlainListener("        public: true\n") + "    filters: [headers, headers]\n", 10, 24,
       "listeners[0].filters[1]", "listed twice"},
      {"IdentityProvidersSection",
       "identity_providers:\n  - name: gitlab\n" + PlainListener("        public: true\n"), 1, 1,
       "identity_providers", "not supported yet in this version"},
      {"GroupsSection", PlainListener("        public: true\n") + "groups: {}\n", 10, 1, "groups",
       "not supported yet in this version"},
      {"AllowOnRoute", PlainListener("        allow: [release-pipelines]\n"), 9, 9,
       "listeners[0].routes[0].allow",
       "not supported yet in this version (identity and access policy land later); use public: "
       "true"},
      {"ModeOnPublicRoute", PlainListener("        public: true\n        mode: shadow\n"), 10, 9,
       "listeners[0].routes[0].mode", "not supported yet in this version"},
      {"RouteWithoutPublic", PlainListener("        timeout: 5s\n"), 7, 9,
       "listeners[0].routes[0].public",
       "a route needs `allow` groups or `public: true` (there is no default-open route)"},
      {"RoutePublicFalse", PlainListener("        public: false\n"), 9, 17,
       "listeners[0].routes[0].public", "there is no default-open route"},
      {"BoolAsYes", PlainListener("        public: yes\n"), 9, 17, "listeners[0].routes[0].public",
       "expected true or false, got 'yes'"},
      {"WrongTypeListInsteadOfString",
       PlainListener("        public: true\n") + "logging: { access_log: [stdout] }\n", 10, 24,
       "logging.access_log", "expected a string, got a list"},
      {"WrongTypeStringInsteadOfList",
       "upstreams: [{ name: u, endpoints: 127.0.0.1:1 }]\n" +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 35, "upstreams[0].endpoints", "expected a list, got '127.0.0.1:1'"},
      {"WrongTypeScalarInsteadOfMapping", PlainListener("        public: true\n") + "admin: on\n",
       10, 8, "admin", "expected a mapping, got 'on'"},
      {"HopByHopHeaderInSet",
       PlainListener("        public: true\n        request_headers:\n          set: { X-A: b, "
                     "Connection: close }\n"),
       11, 26, "listeners[0].routes[0].request_headers.set.Connection",
       "cannot set 'Connection': hop-by-hop and framing headers"},
      {"ReservedIdentityHeaderInSet",
       PlainListener("        public: true\n        request_headers: { set: { X-Ciap-Subject: "
                     "admin } }\n"),
       10, 35, "listeners[0].routes[0].request_headers.set.X-Ciap-Subject",
       "reserved for the identity ciap injects"},
      {"EnvVarUnset", PlainListener("        public: true\n        timeout: ${NOT_SET_ANYWHERE}\n"),
       10, 18, "listeners[0].routes[0].timeout",
       "environment variable NOT_SET_ANYWHERE is not set"},
      {"EnvRefUnterminated",
       PlainListener("        public: true\n") + "logging: { access_log: '/x/${LOG' }\n", 10, 24,
       "logging.access_log", "unterminated ${ (write $${ for a literal ${)"},
      {"SecretOutsideHeaderSet",
       PlainListener("        public: true\n") + "logging: { access_log: '${secret:/x}' }\n", 10,
       24, "logging.access_log", "${secret:} is only allowed in request_headers.set values"},
      {"MissingCertFile",
       TlsListener("      certificates:\n        - { cert_file: /nonexistent/tls.crt, key_file: "
                   "\"${CERTS}/tls.key\" }\n"),
       8, 24, "listeners[0].tls.certificates[0].cert_file",
       "cannot read /nonexistent/tls.crt: No such file or directory"},
      {"CertFileIsDirectory",
       TlsListener("      certificates:\n        - { cert_file: /, key_file: \"${CERTS}/tls.key\" "
                   "}\n"),
       8, 24, "listeners[0].tls.certificates[0].cert_file", "cannot read /: Is a directory"},
      {"NoCertificates", TlsListener("      certificates: []\n"), 7, 21,
       "listeners[0].tls.certificates", "needs at least one certificate"},
      {"InvalidClientAuth",
       TlsListener("      certificates: [{ cert_file: \"${CERTS}/tls.crt\", key_file: "
                   "\"${CERTS}/tls.key\" }]\n      client_ca_file: ${CERTS}/ca.crt\n      "
                   "client_auth: required\n"),
       9, 20, "listeners[0].tls.client_auth", "expected none, optional or require, got 'required'"},
      {"ClientAuthWithoutCa",
       TlsListener("      certificates: [{ cert_file: \"${CERTS}/tls.crt\", key_file: "
                   "\"${CERTS}/tls.key\" }]\n      client_auth: require\n"),
       8, 20, "listeners[0].tls.client_auth", "client_auth: require needs client_ca_file"},
      {"InvalidMinVersion",
       TlsListener("      certificates: [{ cert_file: \"${CERTS}/tls.crt\", key_file: "
                   "\"${CERTS}/tls.key\" }]\n      min_version: 1.1\n"),
       8, 20, "listeners[0].tls.min_version", "expected \"1.2\" or \"1.3\", got '1.1'"},
      {"MaxHeaderBytesTooSmall",
       PlainListener("        public: true\n") + "    limits: { max_header_bytes: 512 }\n", 10, 33,
       "listeners[0].limits.max_header_bytes",
       "512 is out of range (expected from 1024 to 1048576)"},
      {"NegativeLimit",
       PlainListener("        public: true\n") + "    limits: { max_connections: -1 }\n", 10, 32,
       "listeners[0].limits.max_connections", "expected a whole number"},
      {"DuplicateKey", PlainListener("        public: true\n        public: true\n"), 10, 9,
       "listeners[0].routes[0].public", "duplicate key (first set on line 9)"},
      {"AddressClash",
       std::string(kUpstream) +
           "admin: { address: 127.0.0.1:9901 }\nlisteners:\n  - { name: a, address: "
           "127.0.0.1:9901, plaintext: true, routes: [{ name: r, upstream: u, public: true }] }\n",
       4, 25, "listeners[0].address",
       "address 127.0.0.1:9901 is already used by the admin endpoint"},
      {"SniIsAnAddress",
       "upstreams: [{ name: u, endpoints: [10.0.0.1:443], tls: { sni: 10.0.0.1 } }]\n" +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 63, "upstreams[0].tls.sni", "is not a DNS name"},
      {"ClientCertWithoutKey",
       "upstreams: [{ name: u, endpoints: [a.internal:443], tls: { cert_file: "
       "\"${CERTS}/client.crt\" } }]\n" +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 58, "upstreams[0].tls.key_file",
       "a client certificate needs both cert_file and key_file"},
      {"SetHeaderTwiceDifferentCase",
       PlainListener("        public: true\n        request_headers: { set: { X-A: b, x-a: c } "
                     "}\n"),
       10, 43, "listeners[0].routes[0].request_headers.set.x-a", "header 'x-a' is set twice"},
      {"InvalidEnvReference",
       PlainListener("        public: true\n") + "logging: { access_log: '${LOG-DIR}/x' }\n", 10,
       24, "logging.access_log", "'${LOG-DIR}' is not a valid environment variable reference"},
      {"MissingEndpoints",
       "upstreams: [{ name: u }]\n" +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 13, "upstreams[0].endpoints", "required"},
      {"ListenerNotAMapping", std::string(kUpstream) + "listeners: [agents]\n", 2, 13,
       "listeners[0]", "expected a mapping, got 'agents'"},
      {"TopLevelList", "- listeners\n", 1, 1, "", "expected a mapping at the top level"},
      {"YamlSyntaxError", "listeners: [\n  { name: l\n", 3, 1, "", "invalid YAML:"},
      {"YamlBadIndentation", "listeners:\n  - name: l\n   address: x\n", 3, 4, "", "invalid YAML:"},
      {"EmptyFile", "", 1, 1, "", "the config file is empty"},
      {"OnlyComments", "# nothing here yet\n", 1, 1, "", "the config file is empty"},
      {"TwoDocuments", "listeners: []\n---\nlisteners: []\n", 2, 1, "",
       "expected one YAML document, found more"},
      // yaml-cpp 0.7 loops forever on these unless the loader guards against it.
      {"StrayComma", ",\n", 1, 1, "", "invalid YAML: unexpected ','"},
      {"StrayCommaBeforeMapping", "  ,\nlisteners: []\n", 1, 3, "",
       "invalid YAML: unexpected ','"},
  };
  return cases;
}

class BrokenConfigTest : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenConfigTest, FailsWithOneErrorAtTheRightPlace) {
  const BrokenCase& c = GetParam();
  auto result = ParseConfig(c.yaml, "broken.yaml", testing::FakeEnv());
  ASSERT_FALSE(result.has_value()) << "parsed without errors:\n" << c.yaml;
  std::string all;
  for (const ConfigError& e : result.error()) all += "\n  " + e.ToString();
  ASSERT_EQ(result.error().size(), 1u) << "errors:" << all << "\nfor:\n" << c.yaml;
  const ConfigError& e = result.error()[0];
  EXPECT_EQ(e.file, "broken.yaml");
  EXPECT_EQ(e.line, c.line) << e.ToString();
  EXPECT_EQ(e.column, c.column) << e.ToString();
  EXPECT_EQ(e.key_path, c.key_path) << e.ToString();
  EXPECT_NE(e.message.find(c.message), std::string::npos)
      << "message: " << e.message << "\nexpected to contain: " << c.message;
}

INSTANTIATE_TEST_SUITE_P(Table, BrokenConfigTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<BrokenCase>& info) {
                           return info.param.name;
                         });

// The table must keep covering the acceptance list (at least 25 cases).
TEST(BrokenConfigTableTest, HasEnoughCases) { EXPECT_GE(Cases().size(), 25u); }

}  // namespace
}  // namespace ciap::config
