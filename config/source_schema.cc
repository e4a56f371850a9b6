// Reading the identity sources of `identity_providers`; see source_schema.h.
#include "config/source_schema.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "config/claim_schema.h"
#include "config/provider_schema.h"
#include "config/syntax.h"
#include "config/text.h"
#include "config/value_readers.h"

namespace ciap::config {
namespace {

using yaml::Map;
using yaml::Value;

constexpr Duration kMaxCacheTtl{3600 * 1000};
constexpr Duration kMaxTimeout{60 * 1000};

// The keys each source type takes, besides name, type, bound_claims and groups_claim.
struct SourceKeys {
  ProviderType type;
  std::string_view name;
  std::vector<std::string_view> keys;
};

const std::array<SourceKeys, 5>& AllSourceKeys() {
  static const std::array<SourceKeys, 5> kKeys = {{
      {ProviderType::kGitLabJobToken,
       "gitlab_job_token",
       {"url", "ca_file", "timeout", "cache_ttl", "token_headers"}},
      {ProviderType::kGitLabAccessToken,
       "gitlab_access_token",
       {"url", "ca_file", "timeout", "cache_ttl", "token_headers", "token_prefixes"}},
      {ProviderType::kIntrospection,
       "introspection",
       {"introspection_endpoint", "client_id", "client_secret", "audiences", "ca_file", "timeout",
        "cache_ttl", "token_headers", "token_prefixes"}},
      {ProviderType::kClientCertificate, "client_certificate", {}},
      {ProviderType::kAwsIam,
       "aws_iam",
       {"sts_endpoints", "audience", "ca_file", "timeout", "cache_ttl", "token_headers"}},
  }};
  return kKeys;
}

const SourceKeys& KeysOf(ProviderType type) {
  for (const SourceKeys& keys : AllSourceKeys()) {
    if (keys.type == type) return keys;
  }
  return AllSourceKeys()[0];  // unreachable: every source type is listed
}

// Keys of other provider types are errors that say which keys this type takes.
void RejectForeignKeys(const Map& m, const SourceKeys& own) {
  for (const Map::Entry& entry : m.entries()) {
    std::string_view key = entry.key;
    if (key == "name" || key == "type" || key == "bound_claims" || key == "groups_claim") continue;
    if (std::find(own.keys.begin(), own.keys.end(), key) != own.keys.end()) continue;
    std::string takes;
    for (std::string_view k : own.keys) takes += (takes.empty() ? "" : ", ") + std::string(k);
    m.ErrorAtKey(entry, "a " + std::string(own.name) + " provider has no " + std::string(key) +
                            (takes.empty() ? " (it takes only name, type, bound_claims and "
                                             "groups_claim: the listener's tls settings decide "
                                             "which certificates are verified)"
                                           : " (its own keys: " + takes + ")"));
  }
}

void ReadPrefixes(const Value& v, std::vector<std::string>& out) {
  std::optional<std::vector<Value>> items = v.List();
  if (!items) return;
  if (items->empty()) v.Error("must not be empty (omit token_prefixes to take every credential)");
  for (const Value& item : *items) {
    std::optional<std::string> prefix = item.NonEmptyString();
    if (prefix) out.push_back(*prefix);
  }
}

std::optional<Duration> ReadBoundedDuration(const Value& v, Duration max, std::string_view why) {
  std::optional<Duration> d = v.Dur();
  if (d && *d > max) {
    v.Error(std::string(why));
    return std::nullopt;
  }
  return d;
}

void ReadLookupKeys(const Map& m, IdentityProviderConfig& p) {
  if (auto ca = m.Get("ca_file")) {
    if (auto f = ReadFile(*ca)) p.ca_file = *f;
  }
  if (auto timeout = m.Get("timeout")) {
    if (auto d = ReadBoundedDuration(*timeout, kMaxTimeout,
                                     "at most 60s (a request waits this long for the source)")) {
      p.timeout = *d;
    }
  }
  if (auto ttl = m.Get("cache_ttl")) {
    if (auto d = ReadBoundedDuration(*ttl, kMaxCacheTtl,
                                     "at most 1h (a revoked credential stays good this long)")) {
      p.cache_ttl = *d;
    }
  }
  if (auto headers = m.Get("token_headers")) ReadTokenHeaders(*headers, p.token_headers);
  if (auto prefixes = m.Get("token_prefixes")) ReadPrefixes(*prefixes, p.token_prefixes);
}

// An STS endpoint: an https URL (http only on loopback, for tests) with no path beyond "/".
void ReadStsEndpoints(const Value& v, std::vector<std::string>& out) {
  std::optional<std::vector<Value>> items = v.List();
  if (!items) return;
  if (items->empty()) v.Error("must not be empty (the STS hosts that may be called)");
  for (const Value& item : *items) {
    std::optional<std::string> url = ReadHttpsUrl(item, UrlUse::kEndpoint);
    if (!url) continue;
    auto parsed = ParseHttpUrl(*url);
    if (!parsed) continue;
    if (!(parsed->path.empty() || parsed->path == "/")) {
      item.Error(
          "an STS endpoint is a scheme and host (https://sts.eu-west-1.amazonaws.com), "
          "without a path");
      continue;
    }
    // Compared with the presigned URL's origin in this form: lower-case, no default port.
    const bool https = parsed->scheme == "https";
    std::string origin =
        parsed->scheme + "://" +
        (parsed->host.find(':') != std::string::npos ? "[" + parsed->host + "]" : parsed->host);
    if (parsed->port != 0 && parsed->port != (https ? 443 : 80)) {
      origin += ":" + std::to_string(parsed->port);
    }
    for (char& ch : origin) ch = ToLower(ch);  // a presign's origin is compared lower-case
    out.push_back(origin);
  }
}

// AWS STS and a GitLab instance answer for everyone they know: without a binding, any AWS
// account (any GitLab project or user) that presigns for our audience (holds a token) gets in.
void RequireBinding(const Map& m, const IdentityProviderConfig& p) {
  std::string why;
  bool binds = false;
  for (const ClaimCondition& c : p.bound_claims) {
    if (c.path.size() != 1) continue;
    const std::string& claim = c.path[0];
    if (p.type == ProviderType::kAwsIam) {
      binds |= (claim == "account" && PinsExactValues(c.matcher)) ||
               (claim == "arn" && AnchorsValues(c.matcher, 5));
    } else {
      binds |= (claim == "namespace_path" || claim == "project_path" || claim == "project_id" ||
                claim == "user_login" || claim == "user_id" || claim == "token_id") &&
               AnchorsValues(c.matcher, 0);
    }
  }
  if (p.type == ProviderType::kAwsIam) {
    why =
        "an aws_iam provider must bind account to exact values, or arn to exact values or a "
        "glob that fixes the account (STS answers for every AWS account: without it any "
        "account's roles get in)";
  } else if (p.type == ProviderType::kGitLabJobToken ||
             p.type == ProviderType::kGitLabAccessToken) {
    why =
        "a GitLab provider must bind the projects or users it lets in: namespace_path, "
        "project_path, project_id, user_login, user_id or token_id, to exact values or a glob "
        "with a fixed start (the instance vouches for every job and token it has)";
  } else {
    return;
  }
  if (binds) return;
  if (const Map::Entry* bound = m.Find("bound_claims")) {
    m.ErrorAtKey(*bound, why);
  } else {
    m.ErrorMissing("bound_claims", why);
  }
}

}  // namespace

std::string_view SourceTypeName(ProviderType type) { return KeysOf(type).name; }

std::string_view ProviderTypeName(ProviderType type) {
  switch (type) {
    case ProviderType::kBuildkite:
      return "buildkite";
    case ProviderType::kCircleCi:
      return "circleci";
    case ProviderType::kGitLab:
      return "gitlab";
    case ProviderType::kGitHub:
      return "github";
    case ProviderType::kOidc:
      return "oidc";
    default:
      return SourceTypeName(type);
  }
}

std::optional<ProviderType> SourceTypeByName(std::string_view name) {
  for (const SourceKeys& keys : AllSourceKeys()) {
    if (keys.name == name) return keys.type;
  }
  return std::nullopt;
}

void ReadIdentitySource(const Map& m, IdentityProviderConfig& p) {
  RejectForeignKeys(m, KeysOf(p.type));
  p.token_headers = {"Authorization"};
  if (p.type == ProviderType::kGitLabJobToken) p.token_headers = {"JOB-TOKEN"};
  if (p.type == ProviderType::kGitLabAccessToken) p.token_headers = {"PRIVATE-TOKEN"};
  if (p.type == ProviderType::kClientCertificate) p.token_headers.clear();
  if (p.type != ProviderType::kClientCertificate) ReadLookupKeys(m, p);

  if (p.type == ProviderType::kGitLabJobToken || p.type == ProviderType::kGitLabAccessToken) {
    if (auto url = m.Require("url", "(the GitLab instance, e.g. https://gitlab.example.com)")) {
      if (auto u = ReadHttpsUrl(*url, UrlUse::kEndpoint)) {
        while (u->ends_with('/')) u->pop_back();
        p.url = *u;
      }
    }
  }
  if (p.type == ProviderType::kIntrospection) {
    if (auto endpoint = m.Require("introspection_endpoint", "(the RFC 7662 endpoint's URL)")) {
      if (auto u = ReadHttpsUrl(*endpoint, UrlUse::kEndpoint)) p.introspection_endpoint = *u;
    }
    if (auto id = m.Require("client_id", "(ciap's client at the IdP, for client_secret_basic)")) {
      if (auto text = id->NonEmptyString()) p.client_id = *text;
    }
    if (auto secret = m.Require("client_secret", "(e.g. ${secret:/etc/ciap/secrets/idp})")) {
      ReadSecretReference(*secret, p.client_secret, p.client_secret_file);
    }
    if (auto audiences = m.Get("audiences")) {
      if (auto items = audiences->List()) {
        for (const Value& item : *items) {
          if (auto a = item.NonEmptyString()) p.audiences.push_back(*a);
        }
      }
    }
  }
  if (p.type == ProviderType::kAwsIam) {
    if (auto endpoints = m.Require("sts_endpoints",
                                   "(e.g. [https://sts.eu-west-1.amazonaws.com]: the only hosts "
                                   "ciap replays a presigned request to)")) {
      ReadStsEndpoints(*endpoints, p.sts_endpoints);
    }
    if (auto audience = m.Require("audience",
                                  "(a name of this proxy the presigned request must sign, so a "
                                  "token made for another service is no good here)")) {
      if (auto text = audience->NonEmptyString()) p.audience = *text;
    }
  }

  if (const Map::Entry* bound = m.Find("bound_claims")) {
    ReadClaimConditions(bound->value, p.bound_claims);
  }
  if (auto claim = m.Get("groups_claim")) {
    if (std::optional<std::string> c = claim->NonEmptyString()) p.groups_claim = *c;
  }
  RequireBinding(m, p);
}

std::vector<std::string> ClaimedPrefixes(const IdentityProviderConfig& provider) {
  if (provider.type == ProviderType::kAwsIam) return {std::string(kAwsTokenPrefix)};
  return provider.token_prefixes;
}

namespace {

bool PrefixesOverlap(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return true;
  for (const std::string& x : a) {
    for (const std::string& y : b) {
      if (x.starts_with(y) || y.starts_with(x)) return true;
    }
  }
  return false;
}

std::string_view SharedHeader(const IdentityProviderConfig& a, const IdentityProviderConfig& b) {
  for (const std::string& x : a.token_headers) {
    for (const std::string& y : b.token_headers) {
      if (EqualsIgnoreCase(x, y)) return x;
    }
  }
  return {};
}

}  // namespace

void CheckCredentialOwners(const std::vector<yaml::Value>& items,
                           const std::vector<IdentityProviderConfig>& providers,
                           const std::vector<ListenerConfig>& listeners) {
  const std::size_t n = std::min(items.size(), providers.size());
  const bool asks_for_certificates = std::any_of(
      listeners.begin(), listeners.end(),
      [](const ListenerConfig& l) { return l.tls && l.tls->client_auth != ClientAuth::kNone; });
  const IdentityProviderConfig* first_certificate = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    const IdentityProviderConfig& p = providers[i];
    if (p.type == ProviderType::kClientCertificate) {
      if (first_certificate != nullptr) {
        items[i].Error("only one client_certificate provider is allowed ('" +
                       first_certificate->name +
                       "' is one): tell certificates apart with groups and bound_claims");
      } else if (!asks_for_certificates) {
        items[i].Error(
            "no listener asks for client certificates: give one tls.client_ca_file "
            "and client_auth: optional or require");
      }
      if (first_certificate == nullptr) first_certificate = &p;
      continue;
    }
    if (!IsLookupProvider(p.type)) continue;
    for (std::size_t j = 0; j < i; ++j) {
      const IdentityProviderConfig& q = providers[j];
      if (!IsLookupProvider(q.type)) continue;
      std::string_view header = SharedHeader(p, q);
      if (header.empty() || !PrefixesOverlap(ClaimedPrefixes(p), ClaimedPrefixes(q))) continue;
      items[i].Error("provider '" + q.name + "' already takes credentials from " +
                     std::string(header) +
                     ": give the two providers different token_headers, or token_prefixes "
                     "that tell their credentials apart");
      break;
    }
  }
}

}  // namespace ciap::config
