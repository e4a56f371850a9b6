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

// An identity provider from line 3 on (keys indented by 4, so at column 5), in front of a valid
// tail with a route that needs it.
std::string Provider(std::string_view body) {
  return "identity_providers:\n"  // line 1
         "  - name: p\n"          // 2
         + std::string(body) +    // 3...
         std::string(kUpstream) +
         "listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, "
         "upstream: u, authenticate: true }] }]\n";
}

// A valid generic provider on lines 3-5; cases add keys from line 6 on.
constexpr std::string_view kOidc =
    "    type: oidc\n"
    "    issuer: https://idp.example.com\n"
    "    audiences: [ciap]\n";

// A listener (lines 1-7) whose first route is written from line 8 on, after one provider.
std::string ListenerWithProvider(std::string_view listener_tail) {
  return "identity_providers: [{ name: p, type: oidc, issuer: 'https://idp.example.com', "
         "audiences: [ciap] }]\n" +     // line 1
         std::string(kUpstream) +       // 2
         "listeners:\n"                 // 3
         "  - name: l\n"                // 4
         "    address: 127.0.0.1:0\n"   // 5
         "    plaintext: true\n"        // 6
         + std::string(listener_tail);  // 7...
}

// Two providers (bk without, corp with a groups_claim) and the upstream, on lines 1-4.
constexpr std::string_view kGroupProviders =
    "identity_providers:\n"                                                                // line 1
    "  - { name: bk, type: oidc, issuer: 'https://bk.example.com', audiences: [ciap] }\n"  // 2
    "  - { name: corp, type: oidc, issuer: 'https://idp.example.com', audiences: [ciap], "
    "groups_claim: groups }\n"                                  // 3
    "upstreams: [{ name: u, endpoints: [127.0.0.1:9000] }]\n";  // 4

// A listener whose route allows group `g` (line 5), then `groups_section` from line 6 on.
std::string WithGroups(std::string_view groups_section) {
  return std::string(kGroupProviders) +
         "listeners: [{ name: l, address: 127.0.0.1:0, plaintext: true, routes: [{ name: r, "
         "upstream: u, allow: [g] }] }]\n" +  // line 5
         std::string(groups_section);         // 6...
}

// Groups g and h (line 5), and a route whose policy keys are written from line 13 on (at
// column 9); a listener key (filters) may follow at column 5.
std::string WithRoute(std::string_view route_body) {
  return std::string(kGroupProviders) +
         "groups: { g: { provider: bk }, h: { provider: corp } }\n"  // line 5
         "listeners:\n"                                              // 6
         "  - name: l\n"                                             // 7
         "    address: 127.0.0.1:0\n"                                // 8
         "    plaintext: true\n"                                     // 9
         "    routes:\n"                                             // 10
         "      - name: r\n"                                         // 11
         "        upstream: u\n"                                     // 12
         + std::string(route_body);                                  // 13...
}

// A group g whose rule is `depth` nested `not`s around a leaf, on line 7.
std::string NestedNots(int depth) {
  std::string rule = "  g: ";
  for (int i = 0; i < depth; ++i) rule += "{ not: ";
  rule += "{ provider: bk }";
  for (int i = 0; i < depth; ++i) rule += " }";
  return WithGroups("groups:\n" + rule + "\n");
}

// A group g (line 7) that is `any` of `leaves` leaves, all on one line.
std::string ManyLeaves(int leaves) {
  std::string rule = "  g: { any: [";
  for (int i = 0; i < leaves; ++i) rule += "{ provider: bk }, ";
  rule += "] }";
  return WithGroups("groups:\n" + rule + "\n");
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
      {"FractionalMillisecond", PlainListener("        public: true\n        timeout: 1.5ms\n"), 10,
       18, "listeners[0].routes[0].timeout", "'1.5ms' is not a whole number of milliseconds"},
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
       "unknown filter 'waf' (known: identity, access, rate_limit, headers)"},
      {"RequestHeadersNotInChain",
       PlainListener("        public: true\n        request_headers: { remove: [cookie] }\n") +
           "    filters: [identity]\n",
       11, 14, "listeners[0].filters",
       "must include headers: route 'r' has request_headers, and without the headers filter "
       "they would never be applied"},
      {"RateLimitNotInChain",
       PlainListener("        public: true\n        rate_limit: { per: route, requests_per_second: "
                     "5 }\n") +
           "    filters: [headers]\n",
       11, 14, "listeners[0].filters",
       "must include rate_limit: route 'r' has a rate_limit, and without the rate_limit filter "
       "it would never be applied"},
      {"DuplicateFilter",
       PlainListener("        public: true\n") + "    filters: [headers, headers]\n", 10, 24,
       "listeners[0].filters[1]", "listed twice"},
      {"AllowWithoutGroups", PlainListener("        allow: [release-pipelines]\n"), 9, 17,
       "listeners[0].routes[0].allow[0]",
       "unknown group 'release-pipelines' (no groups are defined; or <provider>:<value> for a "
       "provider's groups_claim)"},
      {"RateLimitPublicPerSubject",
       PlainListener("        public: true\n        rate_limit: { requests_per_second: 5 }\n"), 10,
       21, "listeners[0].routes[0].rate_limit",
       "needs per: client or per: route on a public route"},
      {"RateLimitPublicPerProvider",
       PlainListener("        public: true\n        rate_limit: { per: provider, "
                     "requests_per_second: 5 }\n"),
       10, 28, "listeners[0].routes[0].rate_limit.per",
       "per: provider needs an authenticated caller, and a public route has none"},
      {"ReplayOnPublicRoute", PlainListener("        public: true\n        replay: single_use\n"),
       10, 17, "listeners[0].routes[0].replay", "a public route has no caller token to use once"},
      {"ReplayBadValue", PlainListener("        public: true\n        replay: twice\n"), 10, 17,
       "listeners[0].routes[0].replay", "expected single_use or allow, got 'twice'"},
      {"RateLimitNoRate",
       PlainListener("        public: true\n        rate_limit: { per: route }\n"), 10, 21,
       "listeners[0].routes[0].rate_limit.requests_per_second", "required"},
      {"RateLimitBadPer",
       PlainListener("        public: true\n        rate_limit: { per: ip, requests_per_second: "
                     "1 }\n"),
       10, 28, "listeners[0].routes[0].rate_limit.per",
       "expected subject, provider, route or client, got 'ip'"},
      {"RateLimitZeroRate",
       PlainListener("        public: true\n        rate_limit: { per: route, "
                     "requests_per_second: 0 }\n"),
       10, 56, "listeners[0].routes[0].rate_limit.requests_per_second", "0 is out of range"},
      {"RateLimitRateNotNumber",
       PlainListener("        public: true\n        rate_limit: { per: route, "
                     "requests_per_second: fast }\n"),
       10, 56, "listeners[0].routes[0].rate_limit.requests_per_second",
       "expected a number from 0.001 to 1e+06, got 'fast'"},
      {"RateLimitZeroBurst",
       PlainListener("        public: true\n        rate_limit: { per: route, "
                     "requests_per_second: 2, burst: 0 }\n"),
       10, 66, "listeners[0].routes[0].rate_limit.burst", "out of range"},
      {"MaxPendingNegative",
       std::string("upstreams: [{ name: u, endpoints: [127.0.0.1:9000], max_pending: -1 }]\n") +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 66, "upstreams[0].max_pending", "expected a whole number"},
      {"UpstreamProtocolUnknown",
       std::string("upstreams: [{ name: u, endpoints: [127.0.0.1:9000], protocol: h3 }]\n") +
           PlainListener("        public: true\n").substr(kUpstream.size()),
       1, 63, "upstreams[0].protocol", "expected http1 or http2, got 'h3'"},
      {"GlobalLimitsUnknownKey",
       PlainListener("        public: true\n") + "limits: { max_connection: 5 }\n", 10, 11,
       "limits.max_connection", "unknown key"},
      {"RouteWithoutPublic", PlainListener("        timeout: 5s\n"), 7, 9,
       "listeners[0].routes[0].public",
       "a route needs `allow` groups, `authenticate: true` or `public: true` (there is no "
       "default-open route)"},
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
      // Identity providers and authenticated routes.
      {"ProvidersNotAList",
       "identity_providers: { name: p }\n" + PlainListener("        public: true\n"), 1, 21,
       "identity_providers", "expected a list, got a mapping"},
      {"ProviderMissingAudiences",
       Provider("    type: oidc\n    issuer: https://idp.example.com\n"), 2, 5,
       "identity_providers[0].audiences",
       "required (a provider without audiences accepts tokens minted for anyone)"},
      {"ProviderEmptyAudiences",
       Provider("    type: oidc\n    issuer: https://idp.example.com\n    audiences: []\n"), 5, 16,
       "identity_providers[0].audiences",
       "must not be empty (a provider without audiences accepts tokens minted for anyone)"},
      {"ProviderMissingType", Provider("    issuer: https://idp.example.com\n    audiences: [c]\n"),
       2, 5, "identity_providers[0].type",
       "required (a JWT issuer: buildkite, circleci, gitlab, github, oidc; or gitlab_job_token, "
       "gitlab_access_token, introspection, client_certificate, aws_iam)"},
      {"ProviderUnknownType", Provider("    type: jenkins\n    audiences: [c]\n"), 3, 11,
       "identity_providers[0].type",
       "expected buildkite, circleci, gitlab, github, oidc (JWT issuers) or gitlab_job_token, "
       "gitlab_access_token, introspection, client_certificate, aws_iam, got 'jenkins'"},
      {"ProviderUnknownKey", Provider(std::string(kOidc) + "    jwks_url: https://x.example/k\n"),
       6, 5, "identity_providers[0].jwks_url", "unknown key 'jwks_url' (did you mean 'jwks_uri'?)"},
      {"DuplicateProviderName",
       "identity_providers:\n  - { name: p, type: oidc, issuer: 'https://a.example', audiences: "
       "[c] }\n  - { name: p, type: oidc, issuer: 'https://b.example', audiences: [c] }\n" +
           PlainListener("        public: true\n"),
       3, 13, "identity_providers[1].name", "duplicate identity provider name 'p'"},
      {"OidcWithoutIssuer", Provider("    type: oidc\n    audiences: [c]\n"), 2, 5,
       "identity_providers[0].issuer", "required (the exact `iss` of the tokens to accept)"},
      {"CircleCiWithoutIssuer", Provider("    type: circleci\n    audiences: [c]\n"), 2, 5,
       "identity_providers[0].issuer",
       "required (CircleCI issues tokens per organization: https://oidc.circleci.com/org/<ORG_ID>"},
      {"BuildkiteWithoutTenantBinding",
       Provider("    type: buildkite\n    audiences: [https://ci-proxy.acme.internal]\n"), 2, 5,
       "identity_providers[0].bound_claims",
       "a buildkite provider must bind organization_slug or organization_id (agent.buildkite.com "
       "is shared by every Buildkite organization; without it any organization's pipelines get "
       "in)"},
      {"GitHubBoundClaimsWithoutAnchor",
       Provider("    type: github\n    audiences: [c]\n    bound_claims: { repository: "
                "octo-org/app }\n"),
       5, 5, "identity_providers[0].bound_claims",
       "a github provider must bind repository_owner or repository_owner_id "
       "(token.actions.githubusercontent.com is shared by every GitHub repository"},
      {"GitLabComWithoutAnchor",
       Provider("    type: gitlab\n    audiences: [c]\n    bound_claims:\n      project_path: "
                "\"acme/*\"\n"),
       5, 5, "identity_providers[0].bound_claims",
       "a gitlab provider must bind namespace_path or namespace_id (gitlab.com is shared by every "
       "GitLab.com project"},
      {"CircleCiRootIssuerWithoutAnchor",
       Provider("    type: circleci\n    issuer: https://oidc.circleci.com\n    audiences: [c]\n"),
       2, 5, "identity_providers[0].bound_claims",
       "a circleci provider must bind oidc.circleci.com/org-id (the root issuer oidc.circleci.com "
       "is shared by every CircleCI organization"},
      {"OidcTypeOnSharedIssuer",
       Provider("    type: oidc\n    issuer: https://token.actions.githubusercontent.com\n    "
                "audiences: [c]\n"),
       2, 5, "identity_providers[0].bound_claims",
       "a provider with issuer https://token.actions.githubusercontent.com must bind "
       "repository_owner or repository_owner_id"},
      {"AnchorGivenAsGlob",
       Provider("    type: buildkite\n    audiences: [c]\n    bound_claims: { organization_slug: "
                "\"acme-*\" }\n"),
       5, 40, "identity_providers[0].bound_claims.organization_slug",
       "must pin one organization: an exact value or a list of exact values (a glob, regex, not "
       "or contains also lets other organizations in"},
      {"AnchorGivenAsDoubleStar",
       Provider("    type: github\n    audiences: [c]\n    bound_claims:\n      repository_owner: "
                "\"**\"\n      repository: octo-org/app\n"),
       6, 25, "identity_providers[0].bound_claims.repository_owner", "must pin one owner"},
      {"AnchorGivenAsNot",
       Provider("    type: buildkite\n    audiences: [c]\n    bound_claims:\n      "
                "organization_id: { not: f892efa9 }\n"),
       6, 24, "identity_providers[0].bound_claims.organization_id", "must pin one organization"},
      {"AnchorOneOfWithGlob",
       Provider("    type: gitlab\n    audiences: [c]\n    bound_claims:\n      namespace_path: "
                "[acme, \"acme/*\"]\n"),
       6, 23, "identity_providers[0].bound_claims.namespace_path", "must pin one namespace"},
      {"VendorIssuerWithTrailingSlash",
       Provider("    type: gitlab\n    issuer: https://gitlab.com/\n    audiences: [c]\n"), 4, 13,
       "identity_providers[0].issuer",
       "tokens from this issuer carry iss 'https://gitlab.com' exactly"},
      {"ProviderTypeMisspelt", Provider("    type: GitHub\n    audiences: [c]\n"), 3, 11,
       "identity_providers[0].type", "got 'GitHub' (did you mean 'github'?)"},
      {"VendorDefaultAudience",
       Provider("    type: github\n    audiences: [\"https://github.com/octo-org\"]\n    "
                "bound_claims: { repository_owner: octo-org }\n"),
       4, 17, "identity_providers[0].audiences[0]", "is the vendor's default audience"},
      {"HttpIssuer",
       Provider("    type: oidc\n    issuer: http://idp.example.com\n    audiences: [c]\n"), 4, 13,
       "identity_providers[0].issuer",
       "must be an https URL (http is only allowed for localhost, 127.0.0.1 and [::1]"},
      {"IssuerWithFragment",
       Provider("    type: oidc\n    issuer: 'https://idp.example.com/#x'\n    audiences: [c]\n"),
       4, 13, "identity_providers[0].issuer", "an issuer has no query or fragment"},
      {"IssuerNotAUrl",
       Provider("    type: oidc\n    issuer: idp.example.com\n    audiences: [c]\n"), 4, 13,
       "identity_providers[0].issuer", "expected an absolute https URL"},
      {"HttpJwksUri", Provider(std::string(kOidc) + "    jwks_uri: http://idp.example.com/keys\n"),
       6, 15, "identity_providers[0].jwks_uri", "must be an https URL"},
      {"JwksUriAndJwksFile",
       Provider(std::string(kOidc) +
                "    jwks_uri: https://idp.example.com/keys\n    jwks_file: ${CERTS}/ca.crt\n"),
       7, 5, "identity_providers[0].jwks_file",
       "only one of jwks_uri, jwks_file (jwks_uri is already set"},
      {"JwksFileMissing", Provider(std::string(kOidc) + "    jwks_file: /nonexistent/jwks.json\n"),
       6, 16, "identity_providers[0].jwks_file", "cannot read /nonexistent/jwks.json"},
      {"CaFileWithJwksFile",
       Provider(std::string(kOidc) +
                "    jwks_file: ${CERTS}/ca.crt\n    ca_file: ${CERTS}/ca.crt\n"),
       7, 5, "identity_providers[0].ca_file", "with jwks_file nothing is fetched"},
      {"UnknownAlgorithm", Provider(std::string(kOidc) + "    algorithms: [RS256, RS257]\n"), 6, 25,
       "identity_providers[0].algorithms[1]", "unknown algorithm 'RS257' (did you mean 'RS256'?)"},
      {"AlgorithmNone", Provider(std::string(kOidc) + "    algorithms: [none]\n"), 6, 18,
       "identity_providers[0].algorithms[0]",
       "'none' is not allowed: it means an unsigned token, which anyone can mint"},
      {"AlgorithmHs256", Provider(std::string(kOidc) + "    algorithms: [RS256, HS256]\n"), 6, 25,
       "identity_providers[0].algorithms[1]",
       "'HS256' is not allowed: HMAC needs a secret shared with the issuer"},
      {"AlgorithmsEmpty", Provider(std::string(kOidc) + "    algorithms: []\n"), 6, 17,
       "identity_providers[0].algorithms", "must not be empty"},
      {"ClockSkewTooLarge", Provider(std::string(kOidc) + "    clock_skew: 10m\n"), 6, 17,
       "identity_providers[0].clock_skew", "at most 5m"},
      {"TokenLifetimeTooLong", Provider(std::string(kOidc) + "    max_token_lifetime: 48h\n"), 6,
       25, "identity_providers[0].max_token_lifetime", "at most 24h"},
      {"TokenHeaderInvalid", Provider(std::string(kOidc) + "    token_headers: [\"X Token\"]\n"), 6,
       21, "identity_providers[0].token_headers[0]", "'X Token' is not a valid header name"},
      {"MatcherTwoOperators",
       Provider(std::string(kOidc) + "    bound_claims: { env: { not: dev, regex: 'p.*' } }\n"), 6,
       38, "identity_providers[0].bound_claims.env.regex",
       "exactly one of not, contains, regex (not is already set)"},
      {"MatcherUnknownOperator",
       Provider(std::string(kOidc) + "    bound_claims: { env: { equals: prod } }\n"), 6, 28,
       "identity_providers[0].bound_claims.env.equals",
       "unknown key 'equals'; expected one of: not, contains, regex"},
      {"MatcherEmptyMapping", Provider(std::string(kOidc) + "    bound_claims: { env: {} }\n"), 6,
       26, "identity_providers[0].bound_claims.env", "needs exactly one of not, contains, regex"},
      {"MatcherBadRegex",
       Provider(std::string(kOidc) + "    bound_claims: { email: { regex: '.*@acme\\.[a-' } }\n"),
       6, 37, "identity_providers[0].bound_claims.email.regex",
       "invalid RE2 regular expression: missing ]"},
      {"MatcherEmptyList", Provider(std::string(kOidc) + "    bound_claims: { env: [] }\n"), 6, 26,
       "identity_providers[0].bound_claims.env", "an empty list matches nothing"},
      {"MatcherNothing", Provider(std::string(kOidc) + "    bound_claims:\n      env:\n"), 7, 7,
       "identity_providers[0].bound_claims.env", "expected a claim matcher"},
      {"MatcherMappingInOneOf",
       Provider(std::string(kOidc) + "    bound_claims: { env: [prod, { regex: 'p.*' }] }\n"), 6,
       33, "identity_providers[0].bound_claims.env[1]",
       "expected a single value in a one-of list (a string, glob, true/false or number), got a "
       "mapping"},
      {"MatcherAmbiguousYes",
       Provider(std::string(kOidc) + "    bound_claims: { protected: yes }\n"), 6, 32,
       "identity_providers[0].bound_claims.protected",
       "'yes' is ambiguous: write true or false for a boolean claim, or quote it"},
      {"MatcherCapitalTrue",
       Provider(std::string(kOidc) + "    bound_claims: { protected: True }\n"), 6, 32,
       "identity_providers[0].bound_claims.protected", "'True' is ambiguous"},
      {"MatcherHugeInteger",
       Provider(std::string(kOidc) + "    bound_claims: { id: 12345678901234567890 }\n"), 6, 25,
       "identity_providers[0].bound_claims.id",
       "too large to compare exactly as a number; quote it (\"12345678901234567890\")"},
      {"MatcherTripleStar", Provider(std::string(kOidc) + "    bound_claims: { ref: 'v***' }\n"), 6,
       26, "identity_providers[0].bound_claims.ref", "'***' is ambiguous in a glob"},
      {"MatcherNotWithEmptyList",
       Provider(std::string(kOidc) + "    bound_claims: { ref: { not: [] } }\n"), 6, 33,
       "identity_providers[0].bound_claims.ref.not", "an empty list matches nothing"},
      {"AuthenticateWithoutProviders", PlainListener("        authenticate: true\n"), 9, 23,
       "listeners[0].routes[0].authenticate",
       "needs at least one identity provider (identity_providers is empty, so no token could "
       "ever be valid)"},
      {"AuthenticateWithEmptyProviders",
       "identity_providers: []\n" + PlainListener("        authenticate: true\n"), 10, 23,
       "listeners[0].routes[0].authenticate", "needs at least one identity provider"},
      {"PublicAndAuthenticate",
       ListenerWithProvider("    routes:\n      - { name: r, upstream: u, public: true, "
                            "authenticate: true }\n"),
       8, 47, "listeners[0].routes[0].authenticate",
       "cannot be combined with public: true (a public route skips authentication; remove one)"},
      {"AuthenticateFalseWithoutPublic",
       ListenerWithProvider("    routes:\n      - { name: r, upstream: u, authenticate: false }\n"),
       8, 47, "listeners[0].routes[0].authenticate",
       "a route needs `allow` groups, `authenticate: true` or `public: true`"},
      {"IdentityFilterMissing",
       ListenerWithProvider(
           "    filters: [headers]\n    routes:\n      - { name: pub, upstream: u, "
           "public: true, match: { path: /healthz } }\n      - { name: ci, upstream: u, "
           "authenticate: true }\n"),
       7, 14, "listeners[0].filters",
       "must include identity: route 'ci' has authenticate: true, and without the identity filter "
       "its requests would never be authenticated"},
      {"IdentityFilterAfterHeaders",
       ListenerWithProvider("    filters: [headers, identity]\n    routes:\n      - { name: ci, "
                            "upstream: u, authenticate: true }\n"),
       7, 24, "listeners[0].filters[1]", "identity must come before headers"},
      {"AllowUnknownGroupWithProviders",
       ListenerWithProvider("    routes:\n      - { name: r, upstream: u, allow: [g] }\n"), 8, 41,
       "listeners[0].routes[0].allow[0]", "unknown group 'g' (no groups are defined"},

      // groups
      {"GroupsNotAMapping", WithGroups("groups: [g]\n"), 6, 9, "groups",
       "expected a mapping, got a list"},
      {"GroupUnknownRuleKey", WithGroups("groups:\n  g:\n    anyof: [{ provider: bk }]\n"), 8, 5,
       "groups.g.anyof", "unknown key 'anyof'; expected one of: any, all, not, provider, claims"},
      {"GroupTwoRuleKinds",
       WithGroups("groups:\n  g:\n    provider: bk\n    any: [{ provider: corp }]\n"), 9, 5,
       "groups.g.any",
       "a rule has exactly one of any, all, not or provider (provider is already set"},
      {"GroupEmptyAny", WithGroups("groups:\n  g: { any: [] }\n"), 7, 13, "groups.g.any",
       "needs at least one rule"},
      {"GroupEmptyRule", WithGroups("groups:\n  g:\n"), 7, 3, "groups.g",
       "a rule needs exactly one of any, all, not or provider"},
      {"GroupNotWithList",
       WithGroups("groups:\n  g:\n    not: [{ provider: bk }, { provider: corp }]\n"), 8, 10,
       "groups.g.not", "expected one rule (a mapping), got a list"},
      {"GroupLeafUnknownProvider",
       WithGroups("groups:\n  g:\n    any:\n      - provider: github\n"), 9, 19,
       "groups.g.any[0].provider", "unknown identity provider 'github' (defined: bk, corp)"},
      {"GroupLeafBadMatcher",
       WithGroups("groups:\n  g:\n    provider: bk\n    claims:\n      build_branch: { regex: '(' "
                  "}\n"),
       10, 30, "groups.g.claims.build_branch.regex", "invalid RE2 regular expression"},
      {"GroupLeafMatcherTwoOperators",
       WithGroups("groups:\n  g: { provider: bk, claims: { x: { not: a, contains: b } } }\n"), 7,
       45, "groups.g.claims.x.contains", "exactly one of not, contains, regex"},
      {"GroupClaimsWithoutProvider", WithGroups("groups:\n  g: { claims: { a: b } }\n"), 7, 6,
       "groups.g.provider", "required: claims are conditions on the tokens of one identity"},
      {"GroupClaimsOnAny",
       WithGroups("groups:\n  g: { any: [{ provider: bk }], claims: { a: b } }\n"), 7, 33,
       "groups.g.claims", "only a provider leaf has claims"},
      {"GroupTooDeep", NestedNots(8), 7, 62, "groups.g.not.not.not.not.not.not.not.not",
       "rules are nested too deeply (at most 8 levels"},
      {"GroupTooManyLeaves", ManyLeaves(257), 7, 14 + 18 * 256 + 12, "groups.g.any[256].provider",
       "too many provider conditions in one group (at most 256"},
      {"GroupNameWithColon",
       WithGroups("groups:\n  g: { provider: bk }\n  corp:admins: { provider: corp }\n"), 8, 3,
       "groups.corp:admins", "':' is reserved for the groups of a provider's groups_claim"},
      {"GroupNameInvalid",
       WithGroups("groups:\n  g: { provider: bk }\n  'a b': { provider: bk }\n"), 8, 3,
       "groups.a b", "'a b' is not a valid name"},
      {"GroupDuplicateName",
       WithGroups("groups:\n  g: { provider: bk }\n  g: { provider: corp }\n"), 8, 3, "groups.g",
       "duplicate key (first set on line 7)"},

      // allow / deny / mode on routes
      {"AllowUnknownGroup", WithRoute("        allow: [g, releases]\n"), 13, 20,
       "listeners[0].routes[0].allow[1]",
       "unknown group 'releases' (defined: g, h; or <provider>:<value>"},
      {"AllowDynamicGroupWithoutGroupsClaim", WithRoute("        allow: [bk:admins]\n"), 13, 17,
       "listeners[0].routes[0].allow[0]",
       "bk:admins names provider bk's groups_claim, but bk has no groups_claim"},
      {"DenyDynamicGroupUnknownProvider", WithRoute("        allow: [g]\n        deny: [okta:x]\n"),
       14, 16, "listeners[0].routes[0].deny[0]",
       "'okta:x' names identity provider 'okta', which is not defined (defined: bk, corp)"},
      {"AllowDynamicGroupEmptyValue", WithRoute("        allow: ['corp:']\n"), 13, 17,
       "listeners[0].routes[0].allow[0]", "is not a valid group"},
      {"AllowListedTwice", WithRoute("        allow: [g, g]\n"), 13, 20,
       "listeners[0].routes[0].allow[1]", "group 'g' is listed twice"},
      {"AllowEmpty", WithRoute("        allow: []\n"), 13, 16, "listeners[0].routes[0].allow",
       "must not be empty"},
      {"AllowNotAList", WithRoute("        allow: g\n"), 13, 16, "listeners[0].routes[0].allow",
       "expected a list"},
      {"DenyOnly", WithRoute("        deny: [g]\n"), 13, 9, "listeners[0].routes[0].deny",
       "needs `allow` groups or `authenticate: true`"},
      {"PublicAndAllow", WithRoute("        public: true\n        allow: [g]\n"), 14, 9,
       "listeners[0].routes[0].allow", "cannot be combined with public: true"},
      {"PublicAndDeny", WithRoute("        public: true\n        deny: [g]\n"), 14, 9,
       "listeners[0].routes[0].deny", "cannot be combined with public: true"},
      {"AuthenticateAndAllow", WithRoute("        authenticate: true\n        allow: [g]\n"), 13, 9,
       "listeners[0].routes[0].authenticate", "cannot be combined with allow"},
      {"ModeOnPublicRoute", WithRoute("        public: true\n        mode: shadow\n"), 14, 9,
       "listeners[0].routes[0].mode",
       "only applies to routes with allow or deny groups (a public route has no access decision"},
      {"ModeWithoutGroups", WithRoute("        authenticate: true\n        mode: shadow\n"), 14, 9,
       "listeners[0].routes[0].mode", "only applies to routes with allow or deny groups"},
      {"BadModeValue", WithRoute("        allow: [g]\n        mode: audit\n"), 14, 15,
       "listeners[0].routes[0].mode", "expected enforce or shadow, got 'audit'"},
      {"AccessFilterMissing",
       WithRoute("        allow: [g]\n") + "    filters: [identity, headers]\n", 14, 14,
       "listeners[0].filters",
       "must include access: route 'r' has allow groups, and without the access filter they would "
       "never be checked"},
      {"AccessBeforeIdentity",
       WithRoute("        allow: [g]\n") + "    filters: [access, identity]\n", 14, 23,
       "listeners[0].filters[1]", "identity must come before access"},
      {"IdentityFilterMissingForAllow",
       WithRoute("        allow: [g]\n") + "    filters: [access, headers]\n", 14, 14,
       "listeners[0].filters", "must include identity: route 'r' has allow groups"},

      // yaml-cpp 0.7 loops forever on these unless the loader guards against it.
      {"StrayComma", ",\n", 1, 1, "", "invalid YAML: unexpected ','"},
      {"StrayCommaBeforeMapping", "  ,\nlisteners: []\n", 1, 3, "", "invalid YAML: unexpected ','"},
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
