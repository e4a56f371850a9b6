// The validated, immutable configuration of one ciap process (one "snapshot").
//
// Built by config/loader.cc from one YAML file; every other part of ciap reads it through
// `std::shared_ptr<const Config>` and never changes it. A reload builds a new one.
// Field defaults here are the documented defaults of the config format.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ciap::config {

using Duration = std::chrono::milliseconds;

// A "host:port" pair as written in the config. `host` is an IP literal (IPv6 without
// brackets) or a DNS name; `port` may be 0 for listener and admin addresses (the OS picks one).
struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;  // "host:port", IPv6 as "[::1]:port"

  bool operator==(const HostPort&) const = default;
};

// Where JSON log lines go: "stdout", "stderr", "off" or a file path (appended to).
struct LoggingConfig {
  std::string access_log = "stdout";
};

// The admin listener (/metrics, /healthz, /ready, /config, /jwks-status): on unless
// `enabled: false` (then nothing scrapes or probes ciap: for a process something else watches).
struct AdminConfig {
  bool enabled = true;
  HostPort address{"127.0.0.1", 9901};
};

// TLS towards an upstream. Present means "originate TLS"; verification is always on.
struct UpstreamTlsConfig {
  std::string sni;        // also the name verified against the certificate; default: endpoint host
  std::string ca_file;    // default: system trust store
  std::string cert_file;  // optional client certificate (mTLS to the upstream)
  std::string key_file;

  bool operator==(const UpstreamTlsConfig&) const = default;
};

// How ciap speaks to an upstream: HTTP/1.1 over a pool of keep-alive connections, or HTTP/2
// (ALPN h2 over TLS, h2c with prior knowledge in plain) with many requests on each connection.
enum class UpstreamProtocol { kHttp1, kHttp2 };

struct UpstreamConfig {
  std::string name;
  std::vector<HostPort> endpoints;  // at least one; round-robin
  std::optional<UpstreamTlsConfig> tls;
  UpstreamProtocol protocol = UpstreamProtocol::kHttp1;
  Duration connect_timeout{2000};
  Duration idle_timeout{60000};    // an idle pooled connection is closed after this
  uint32_t max_connections = 512;  // per upstream, per process (split across workers)
  // Requests waiting for a connection when all max_connections are busy, per upstream, per
  // process (split across workers). Over it: 503 at once instead of queueing.
  uint32_t max_pending = 1024;

  bool operator==(const UpstreamConfig&) const = default;
};

struct CertificateConfig {
  std::string cert_file;  // PEM, leaf first then intermediates
  std::string key_file;
};

enum class ClientAuth { kNone, kOptional, kRequire };
enum class TlsVersion { kTls12, kTls13 };

struct ListenerTlsConfig {
  std::vector<CertificateConfig> certificates;  // at least one; first is the default for SNI
  TlsVersion min_version = TlsVersion::kTls12;
  std::string client_ca_file;
  ClientAuth client_auth = ClientAuth::kNone;
};

struct LimitsConfig {
  uint32_t max_header_bytes = 65536;  // request line + headers; over it: 431
  uint32_t max_headers = 100;         // over it: 431
  Duration header_timeout{10000};  // from the first byte of a request to its last header byte: 408
  Duration idle_timeout{300000};   // keep-alive wait between requests; also any body stall
  uint32_t max_connections = 20000;       // per listener, per process
  uint32_t max_concurrent_streams = 100;  // HTTP/2: open streams per connection
};

// One header condition of a route match. Exactly one of exact/regex/present is set.
struct HeaderMatch {
  std::string name;                  // case-insensitive
  std::optional<std::string> exact;  // value equals this (case-sensitive)
  std::optional<std::string> regex;  // RE2 full match on the value
  std::optional<bool> present;       // header present (true) or absent (false)
};

struct RouteMatch {
  // Empty: any host. "api.example.com" exact (case-insensitive, port ignored);
  // "*.example.com" any name ending in ".example.com" (not example.com itself).
  std::string host;
  // At most one of these three. None: any path.
  std::optional<std::string> path;         // exact
  std::optional<std::string> path_prefix;  // string prefix of the normalized path
  std::optional<std::string> path_regex;   // RE2 full match on the normalized path
  std::vector<std::string> methods;        // empty: any method; upper-case
  std::vector<HeaderMatch> headers;        // all must hold
};

struct HeaderValue {
  std::string name;
  // As configured after ${ENV} substitution. `${secret:...}`/`${claim:...}` references and a
  // literal `$${` are kept verbatim here, for the headers filter to expand.
  std::string value;
};

// `request_headers.assertion`: a JWS ciap signs (top-level `assertion` keys) naming the caller,
// for the upstream to verify against ciap's published keys.
struct AssertionHeaderConfig {
  std::string header = "x-ciap-assertion";
  std::string audience;             // the `aud` claim: the upstream
  std::vector<std::string> claims;  // caller claims copied in (besides the fixed ones)

  bool operator==(const AssertionHeaderConfig&) const = default;
};

struct RequestHeadersConfig {
  std::vector<HeaderValue> set;     // replace (or add) these headers, in this order
  std::vector<std::string> remove;  // drop these headers (case-insensitive)
  bool identity = false;            // inject x-ciap-* identity headers (identity issue)
  std::optional<AssertionHeaderConfig> assertion;
};

// A route's `credentials`: a short-lived credential ciap obtains for the upstream and injects.
struct CredentialsConfig {
  enum class Type { kOAuth2ClientCredentials, kGitHubApp };
  Type type = Type::kOAuth2ClientCredentials;
  // Where it goes: `Authorization` gets "Bearer <token>", any other header the token alone.
  std::string header = "Authorization";
  std::string ca_file;     // trust for the source's HTTPS; default: system store
  Duration timeout{5000};  // one mint, connect to answer
  // oauth2_client_credentials (RFC 6749 4.4; client_secret_basic)
  std::string token_endpoint;
  std::string client_id;
  std::string client_secret;       // a literal, or (from ${secret:PATH}) empty and
  std::string client_secret_file;  // the file that holds it, re-read when it changes
  std::string scope;
  std::string resource;  // RFC 8707
  // github_app: POST {api_url}/app/installations/{installation_id}/access_tokens
  std::string api_url = "https://api.github.com";
  std::string app_id;  // the app's id (digits) or client id: the app JWT's `iss`
  std::string private_key_file;
  uint64_t installation_id = 0;
  std::vector<std::pair<std::string, std::string>> permissions;  // name, read|write|admin
  std::vector<std::string> repositories;

  bool operator==(const CredentialsConfig&) const = default;
};

// A condition on one claim value, as written in `bound_claims` (and, later, group rules).
//   "main"             exact string (matches string claims only)
//   "release-*"        glob: `*` matches within one segment (never '/' or ':'), `**` any run
//   [a, "b-*"]         one of (any element matches)
//   true / false       the JSON boolean or the string "true"/"false" (never truthiness)
//   42                 numeric equality (also the string "42", as GitLab sends ids as strings)
//   {not: M}           M does not match (a missing claim is not matched by `not`)
//   {contains: M}      the claim is an array with an element matching M
//   {regex: 'RE2'}     RE2 full match on a string claim
struct ClaimMatcher {
  enum class Kind { kExact, kGlob, kOneOf, kBool, kNumber, kNot, kContains, kRegex };
  Kind kind = Kind::kExact;
  std::string text;                    // kExact, kGlob, kRegex
  bool boolean = false;                // kBool
  double number = 0;                   // kNumber
  std::vector<ClaimMatcher> children;  // kOneOf: the alternatives; kNot/kContains: exactly one
};

// One `claim: matcher` entry. Claim names are literal keys ("oidc.circleci.com/org-id" is one
// key); a nested claim is written as a YAML list path and stored as several elements.
struct ClaimCondition {
  std::vector<std::string> path;
  ClaimMatcher matcher;
};

// The CI vendors' JWT issuers and any OIDC issuer (tokens verified offline with published keys),
// then the identity sources whose credentials are looked up or come from the TLS handshake.
enum class ProviderType {
  kBuildkite,
  kCircleCi,
  kGitLab,
  kGitHub,
  kOidc,
  kGitLabJobToken,     // GitLab's CI_JOB_TOKEN, checked with GET /api/v4/job
  kGitLabAccessToken,  // personal/project/group access tokens: /personal_access_tokens/self
  kIntrospection,      // RFC 7662 token introspection
  kClientCertificate,  // the listener's verified client certificate (X.509, SPIFFE)
  kAwsIam,             // a presigned sts:GetCallerIdentity request
};

// Whether the provider verifies JWTs with published keys (the key manager's business).
inline bool IsJwtProvider(ProviderType type) { return type <= ProviderType::kOidc; }
// Whether the provider checks a credential by calling its source (cached; see cache_ttl).
inline bool IsLookupProvider(ProviderType type) {
  return !IsJwtProvider(type) && type != ProviderType::kClientCertificate;
}
enum class JwsAlgorithm { kRs256, kRs384, kRs512, kPs256, kPs384, kPs512, kEs256, kEs384, kEdDsa };

struct IdentityProviderConfig {
  std::string name;
  ProviderType type = ProviderType::kOidc;
  std::string issuer;                  // exact `iss`; presets fill the vendor's issuer when omitted
  std::vector<std::string> audiences;  // required, non-empty
  std::vector<ClaimCondition> bound_claims;  // all must hold for every token
  // Where keys come from: exactly one of jwks_uri / jwks_file, or neither for OIDC discovery
  // (<issuer>/.well-known/openid-configuration).
  std::string jwks_uri;
  std::string jwks_file;
  std::string ca_file;  // trust for the IdP's HTTPS; default: system store
  std::vector<std::string> token_headers{"Authorization"};  // "Authorization" means Bearer
  std::vector<JwsAlgorithm> algorithms;  // default per preset (RS256 for the CI vendors)
  Duration clock_skew{60000};
  Duration max_token_lifetime{3600000};  // presets: the vendor's documented lifetime
  std::string groups_claim;              // values become groups "<provider>:<value>"

  // The sources that are called (IsLookupProvider); ca_file and token_headers above apply too.
  std::string url;                     // gitlab_*: the instance, "https://gitlab.example.com"
  std::string introspection_endpoint;  // introspection
  std::string client_id;               // introspection, client_secret_basic
  // A literal, or the file of a `${secret:PATH}` reference (client_secret_file), read when the
  // source is made and again when the file changes. Never logged nor shown by /config.
  std::string client_secret;
  std::string client_secret_file;
  // When given, only credentials starting with one of these go to this provider ("glpat-").
  std::vector<std::string> token_prefixes;
  std::vector<std::string> sts_endpoints;  // aws_iam: the only URLs ever called
  std::string audience;                    // aws_iam: the signed x-ciap-audience header's value
  Duration cache_ttl{30000};               // positive answers; never past the credential's end
  Duration timeout{5000};                  // one lookup, connect to answer
};

// A group's rule: `any` / `all` / `not` of rules (nestable), or a leaf that names a provider
// and claim conditions that must all hold for that provider's tokens.
struct GroupRule {
  enum class Kind { kAny, kAll, kNot, kLeaf };
  Kind kind = Kind::kLeaf;
  std::vector<GroupRule> children;     // kAny/kAll: at least one; kNot: exactly one
  std::string provider;                // kLeaf: an identity provider's name
  std::vector<ClaimCondition> claims;  // kLeaf: all must hold (empty: any token of provider)
};

struct GroupConfig {
  std::string name;
  GroupRule rule;
};

enum class PolicyMode { kEnforce, kShadow };

// Token-bucket rate limit of a route: `requests_per_second` on average, bursts of `burst`.
struct RateLimitConfig {
  enum class Per { kSubject, kProvider, kRoute, kClient };
  Per per = Per::kSubject;  // one bucket per caller (provider + subject), per provider, per
                            // route, or per client IP address
  double requests_per_second = 0;
  uint32_t burst = 0;  // default: requests_per_second rounded up (at least 1)
  // `scope: global`: one bucket per key across every replica (in shared_state's Redis).
  bool global = false;

  bool operator==(const RateLimitConfig&) const = default;
};

struct RouteConfig {
  std::string name;
  RouteMatch match;
  std::string upstream;    // name of an UpstreamConfig (validated to exist)
  bool is_public = false;  // `public: true`
  // Longest the upstream may take to answer once the request is forwarded, and the longest
  // stall while relaying either body to or from the upstream. Over it: 504.
  Duration timeout{60000};
  RequestHeadersConfig request_headers;
  bool forward_token = false;
  // Require a valid token from any provider (until routes can name groups with `allow`).
  bool authenticate = false;
  // Group names: a defined group, or "<provider>:<value>" for a provider with groups_claim.
  // A caller needs one `allow` group and no `deny` group (deny wins). Non-empty `allow`
  // implies authentication.
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  // shadow: decide, log and count the decision, but let the request through.
  PolicyMode mode = PolicyMode::kEnforce;
  std::optional<RateLimitConfig> rate_limit;
  std::optional<CredentialsConfig> credentials;
  // Lets an authorized `Upgrade: websocket` through, then tunnels the connection both ways.
  bool websocket = false;
  // `replay: single_use`: a token's jti is accepted once on this route (per process).
  bool single_use = false;
};

struct ListenerConfig {
  std::string name;
  HostPort address;
  std::optional<ListenerTlsConfig> tls;  // required unless plaintext
  bool plaintext = false;
  // HTTP/2 beside HTTP/1.1: ALPN h2 on TLS, h2c with prior knowledge on plaintext.
  bool http2 = true;
  std::vector<std::string> filters;  // filter names in order; default filled in by the loader
  LimitsConfig limits;
  std::vector<RouteConfig> routes;  // first match wins
};

// State shared by replicas (top-level `shared_state`): a Redis, and what to do without it.
struct SharedStateConfig {
  HostPort address;
  std::string password;       // a literal, or (from ${secret:PATH}) empty and
  std::string password_file;  // the file that holds it, read for every new connection
  bool tls = false;
  std::string ca_file;  // with tls: trust for Redis's certificate (default: the system store)
  std::string sni;      // with tls: the name verified (default: the address's host)
  Duration timeout{50};
  enum class OnFailure { kLocal, kDeny, kAllow };
  OnFailure on_failure = OnFailure::kLocal;

  bool operator==(const SharedStateConfig&) const = default;
};

// ciap's own signing identity towards upstreams (top-level `assertion`).
struct AssertionConfig {
  std::string issuer;
  // PEM private keys (EC P-256 or Ed25519): the first signs, all are published; each file is
  // re-read when it changes.
  std::vector<std::string> signing_keys;
  Duration lifetime{60000};
};

// Process-wide limits (top-level `limits`).
struct GlobalLimitsConfig {
  uint32_t max_connections = 50000;  // downstream connections, all listeners together
};

// A file the config names (a certificate, key, CA, jwks_file, ${secret:} file) and where: for
// errors found when the file is loaded, after the config (ciap validate, ciap run).
struct FileReference {
  std::string path;      // as written, after ${NAME} substitution
  std::string key_path;  // "listeners[0].tls.certificates[0].key_file"
  int line = 0;          // 1-based
  int column = 0;
};

struct Config {
  std::string source_path;  // the file it was read from
  // Hex SHA-256 of the effective config: the file's bytes, and, when it uses ${NAME}
  // substitutions, each reference with the text it became (the same file with other variables
  // is another config). ${secret:} contents are read per request and are never part of it.
  std::string hash;
  std::vector<FileReference> files;  // in the order the loader read them
  LoggingConfig logging;
  AdminConfig admin;
  GlobalLimitsConfig limits;
  std::optional<AssertionConfig> assertion;
  std::optional<SharedStateConfig> shared_state;
  std::vector<IdentityProviderConfig> identity_providers;
  std::vector<GroupConfig> groups;  // in file order
  std::vector<UpstreamConfig> upstreams;
  std::vector<ListenerConfig> listeners;

  const UpstreamConfig* FindUpstream(const std::string& name) const;
};

}  // namespace ciap::config
