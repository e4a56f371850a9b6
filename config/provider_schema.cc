// Reading `identity_providers`; see provider_schema.h.
#include "config/provider_schema.h"

#include <algorithm>
#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/claim_schema.h"
#include "config/source_schema.h"
#include "config/syntax.h"
#include "config/text.h"
#include "config/value_readers.h"

namespace ciap::config {
namespace {

using yaml::Map;
using yaml::Value;

constexpr std::string_view kAudiencesWhy =
    "(a provider without audiences accepts tokens minted for anyone)";
constexpr Duration kMaxClockSkew{5 * 60 * 1000};
constexpr Duration kMaxTokenLifetime{24 * 3600 * 1000};

constexpr JwsAlgorithm kRs256Only[] = {JwsAlgorithm::kRs256};
constexpr JwsAlgorithm kRs256AndEs256[] = {JwsAlgorithm::kRs256, JwsAlgorithm::kEs256};

// What the `type` of a provider fills in when a key is omitted.
struct Preset {
  std::string_view name;
  ProviderType type;
  std::string_view issuer;  // empty: the issuer is required
  std::span<const JwsAlgorithm> algorithms;
};

constexpr ProviderType kSourceTypes[] = {
    ProviderType::kGitLabJobToken, ProviderType::kGitLabAccessToken, ProviderType::kIntrospection,
    ProviderType::kClientCertificate, ProviderType::kAwsIam};

constexpr std::array<Preset, 5> kPresets = {{
    {"buildkite", ProviderType::kBuildkite, "https://agent.buildkite.com", kRs256Only},
    {"circleci", ProviderType::kCircleCi, "", kRs256Only},
    {"gitlab", ProviderType::kGitLab, "https://gitlab.com", kRs256Only},
    {"github", ProviderType::kGitHub, "https://token.actions.githubusercontent.com", kRs256Only},
    {"oidc", ProviderType::kOidc, "", kRs256AndEs256},
}};

// Why a type without a default issuer needs one.
std::string_view IssuerRequiredWhy(ProviderType type) {
  return type == ProviderType::kCircleCi
             ? "(CircleCI issues tokens per organization: https://oidc.circleci.com/org/<ORG_ID>, "
               "with the organization id from the organization settings)"
             : "(the exact `iss` of the tokens to accept)";
}

// An issuer that signs tokens for every customer of a vendor. A provider on it must bind the
// claim that names the customer ("tenant anchor"), or every customer's jobs get in.
struct SharedIssuer {
  std::string_view issuer;  // exactly as in the tokens' `iss`
  ProviderType vendor;
  std::string_view vendor_name;
  std::array<std::string_view, 2> anchors;  // either one pins the tenant; "" = unused
  std::string_view tenant;                  // what one anchor value names
  std::string_view why;
};

constexpr std::array<SharedIssuer, 4> kSharedIssuers = {{
    {"https://agent.buildkite.com",
     ProviderType::kBuildkite,
     "buildkite",
     {"organization_slug", "organization_id"},
     "organization",
     "agent.buildkite.com is shared by every Buildkite organization; without it any "
     "organization's pipelines get in"},
    {"https://token.actions.githubusercontent.com",
     ProviderType::kGitHub,
     "github",
     {"repository_owner", "repository_owner_id"},
     "owner",
     "token.actions.githubusercontent.com is shared by every GitHub repository; without it any "
     "owner's workflows get in"},
    {"https://gitlab.com",
     ProviderType::kGitLab,
     "gitlab",
     {"namespace_path", "namespace_id"},
     "namespace",
     "gitlab.com is shared by every GitLab.com project; without it any project's pipelines get "
     "in; a self-managed instance has its own issuer and needs no binding"},
    {"https://oidc.circleci.com",
     ProviderType::kCircleCi,
     "circleci",
     {"oidc.circleci.com/org-id", ""},
     "organization",
     "the root issuer oidc.circleci.com is shared by every CircleCI organization; without it any "
     "organization's jobs get in (or use your organization's issuer "
     "https://oidc.circleci.com/org/<ORG_ID>)"},
}};

struct AlgorithmName {
  std::string_view name;
  JwsAlgorithm algorithm;
};

constexpr std::array<AlgorithmName, 9> kAlgorithms = {{
    {"RS256", JwsAlgorithm::kRs256},
    {"RS384", JwsAlgorithm::kRs384},
    {"RS512", JwsAlgorithm::kRs512},
    {"PS256", JwsAlgorithm::kPs256},
    {"PS384", JwsAlgorithm::kPs384},
    {"PS512", JwsAlgorithm::kPs512},
    {"ES256", JwsAlgorithm::kEs256},
    {"ES384", JwsAlgorithm::kEs384},
    {"EdDSA", JwsAlgorithm::kEdDsa},
}};

std::string ToLowerAscii(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(ToLower(c));
  return out;
}

// The form an issuer is compared in to find shared ones: lower-case, no trailing '/', no
// default port. Only used for that check; `iss` itself is compared byte for byte.
std::string NormalizedIssuer(std::string_view issuer) {
  std::string s = ToLowerAscii(issuer);
  while (s.ends_with('/')) s.pop_back();
  if (s.starts_with("https://") && s.ends_with(":443")) s.resize(s.size() - 4);
  return s;
}

const SharedIssuer* FindSharedIssuer(std::string_view issuer) {
  const std::string normalized = NormalizedIssuer(issuer);
  for (const SharedIssuer& shared : kSharedIssuers) {
    if (shared.issuer == normalized) return &shared;
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> ReadHttpsUrl(const Value& v, UrlUse use) {
  std::optional<std::string> text = v.NonEmptyString();
  if (!text) return std::nullopt;
  std::expected<HttpUrl, std::string> url = ParseHttpUrl(*text);
  if (!url) {
    v.Error(url.error());
    return std::nullopt;
  }
  if (url->scheme != "https" && !IsLoopbackHost(url->host)) {
    v.Error(
        "must be an https URL (http is only allowed for localhost, 127.0.0.1 and [::1], e.g. "
        "a test IdP), got '" +
        *text + "'");
    return std::nullopt;
  }
  if (use == UrlUse::kIssuer && (url->has_query || url->has_fragment)) {
    v.Error(
        "an issuer has no query or fragment (it is compared with the tokens' `iss` exactly), "
        "got '" +
        *text + "'");
    return std::nullopt;
  }
  if (use == UrlUse::kJwks && url->has_fragment) {
    v.Error("must not have a fragment (#...), got '" + *text + "'");
    return std::nullopt;
  }
  if (use == UrlUse::kEndpoint && (url->has_query || url->has_fragment)) {
    v.Error("must not have a query or fragment, got '" + *text + "'");
    return std::nullopt;
  }
  return text;
}

namespace {

// A JWT issuer's preset, or (preset null) an identity source's type in `*source`.
const Preset* ReadType(const Value& v, std::optional<ProviderType>* source) {
  std::optional<std::string> type = v.String();
  if (!type) return nullptr;
  std::vector<std::string_view> names;
  for (const Preset& preset : kPresets) {
    if (preset.name == *type) return &preset;
    names.push_back(preset.name);
  }
  if ((*source = SourceTypeByName(*type))) return nullptr;
  for (ProviderType t : kSourceTypes) names.push_back(SourceTypeName(t));
  std::string message =
      "expected buildkite, circleci, gitlab, github, oidc (JWT issuers) or gitlab_job_token, "
      "gitlab_access_token, introspection, client_certificate, aws_iam, got '" +
      *type + "'";
  if (std::optional<std::string_view> guess = SuggestSpelling(*type, names)) {
    message += " (did you mean '" + std::string(*guess) + "'?)";
  }
  v.Error(message);
  return nullptr;
}

std::optional<std::string> ReadIssuer(const Value& v) {
  std::optional<std::string> issuer = ReadHttpsUrl(v, UrlUse::kIssuer);
  if (!issuer) return std::nullopt;
  // A vendor's issuer written slightly differently would never equal the tokens' `iss`.
  if (const SharedIssuer* shared = FindSharedIssuer(*issuer); shared && shared->issuer != *issuer) {
    v.Error("tokens from this issuer carry iss '" + std::string(shared->issuer) +
            "' exactly (iss is compared byte for byte); write it that way");
    return std::nullopt;
  }
  return issuer;
}

// "https://github.com/octo-org" (and with a trailing '/'), not a longer path under it.
bool NamesOneAccount(std::string_view audience, std::string_view site) {
  if (!audience.starts_with(site)) return false;
  std::string_view account = audience.substr(site.size());
  if (account.ends_with('/')) account.remove_suffix(1);
  return !account.empty() && account.find('/') == std::string_view::npos;
}

// A vendor's default audience names the whole organization, so every token of the
// organization carries it, including tokens its jobs mint for other services.
std::optional<std::string> DefaultAudienceProblem(const IdentityProviderConfig& p,
                                                  const std::string& audience) {
  std::string_view example;
  switch (p.type) {
    case ProviderType::kBuildkite:
      if (!NamesOneAccount(audience, "https://buildkite.com/")) return std::nullopt;
      example = "buildkite-agent oidc request-token --audience https://ci-proxy.example.com";
      break;
    case ProviderType::kGitHub:
      if (!NamesOneAccount(audience, "https://github.com/")) return std::nullopt;
      example = "core.getIDToken('https://ci-proxy.example.com')";
      break;
    case ProviderType::kGitLab:
      if (p.issuer.empty() || NormalizedIssuer(audience) != NormalizedIssuer(p.issuer)) {
        return std::nullopt;
      }
      example = "id_tokens: CIAP_TOKEN: aud: https://ci-proxy.example.com";
      break;
    case ProviderType::kCircleCi: {
      constexpr std::string_view kOrgPrefix = "https://oidc.circleci.com/org/";
      if (!p.issuer.starts_with(kOrgPrefix) || audience != p.issuer.substr(kOrgPrefix.size())) {
        return std::nullopt;
      }
      example = "circleci run oidc get --claims '{\"aud\":\"https://ci-proxy.example.com\"}'";
      break;
    }
    default:  // an OIDC issuer has no vendor default; the sources have no audiences here
      return std::nullopt;
  }
  return "'" + audience +
         "' is the vendor's default audience, which every token of the organization carries "
         "(including tokens minted for other services); request tokens with an audience of "
         "ciap's own (" +
         std::string(example) + ")";
}

void ReadAudiences(const Value& v, IdentityProviderConfig& p) {
  std::optional<std::vector<Value>> items = v.List();
  if (!items) return;
  if (items->empty()) {
    v.Error("must not be empty " + std::string(kAudiencesWhy));
    return;
  }
  for (const Value& item : *items) {
    std::optional<std::string> audience = item.NonEmptyString();
    if (!audience) continue;
    if (std::find(p.audiences.begin(), p.audiences.end(), *audience) != p.audiences.end()) {
      item.Error("audience '" + *audience + "' is listed twice");
    } else if (std::optional<std::string> problem = DefaultAudienceProblem(p, *audience)) {
      item.Error(*problem);
    } else {
      p.audiences.push_back(*audience);
    }
  }
}

void ReadAlgorithms(const Value& v, std::vector<JwsAlgorithm>& out) {
  std::optional<std::vector<Value>> items = v.List();
  if (!items) return;
  if (items->empty()) {
    v.Error("must not be empty (omit algorithms for the type's default)");
    return;
  }
  std::vector<std::string_view> known;
  for (const AlgorithmName& a : kAlgorithms) known.push_back(a.name);
  for (const Value& item : *items) {
    std::optional<std::string> name = item.NonEmptyString();
    if (!name) continue;
    const auto found = std::find_if(kAlgorithms.begin(), kAlgorithms.end(),
                                    [&](const AlgorithmName& a) { return a.name == *name; });
    if (found != kAlgorithms.end()) {
      if (std::find(out.begin(), out.end(), found->algorithm) != out.end()) {
        item.Error("algorithm '" + *name + "' is listed twice");
      } else {
        out.push_back(found->algorithm);
      }
      continue;
    }
    const std::string lower = ToLowerAscii(*name);
    if (lower == "none") {
      item.Error("'" + *name +
                 "' is not allowed: it means an unsigned token, which anyone can mint");
    } else if (lower == "hs256" || lower == "hs384" || lower == "hs512") {
      item.Error("'" + *name +
                 "' is not allowed: HMAC needs a secret shared with the issuer, and next to a "
                 "public key set it invites algorithm confusion (a token signed with the public "
                 "key as the secret); CI issuers sign with RS256");
    } else {
      std::string message = "unknown algorithm '" + *name + "'";
      if (std::optional<std::string_view> guess = SuggestSpelling(*name, known)) {
        message += " (did you mean '" + std::string(*guess) + "'?)";
      }
      item.Error(message +
                 "; supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA");
    }
  }
}

}  // namespace

void ReadTokenHeaders(const Value& v, std::vector<std::string>& out) {
  std::optional<std::vector<Value>> items = v.List();
  if (!items) return;
  if (items->empty()) {
    v.Error("must not be empty (omit token_headers for the type's default header)");
    return;
  }
  out.clear();
  for (const Value& item : *items) {
    std::optional<std::string> name = item.String();
    if (!name) continue;
    if (!IsHttpToken(*name)) {
      item.Error("'" + *name + "' is not a valid header name");
      continue;
    }
    const std::string lower = ToLowerAscii(*name);
    if (std::any_of(out.begin(), out.end(),
                    [&](const std::string& h) { return ToLowerAscii(h) == lower; })) {
      item.Error("header '" + *name + "' is listed twice (names are case-insensitive)");
      continue;
    }
    out.push_back(*name);
  }
}

namespace {

// jwks_uri or jwks_file (or neither: OIDC discovery), and ca_file for fetching over HTTPS.
void ReadKeySource(const Map& m, IdentityProviderConfig& p) {
  const Map::Entry* uri = m.Find("jwks_uri");
  const Map::Entry* file = m.Find("jwks_file");
  if (uri && file) {
    // Blame the one written second: entries are in document order.
    const bool uri_first =
        std::find_if(m.entries().begin(), m.entries().end(), [](const Map::Entry& e) {
          return e.key == "jwks_uri" || e.key == "jwks_file";
        })->key == "jwks_uri";
    m.ErrorAtKey(uri_first ? *file : *uri, std::string("only one of jwks_uri, jwks_file (") +
                                               (uri_first ? "jwks_uri" : "jwks_file") +
                                               " is already set; omit both for OIDC discovery)");
    return;
  }
  if (uri) {
    if (auto u = ReadHttpsUrl(uri->value, UrlUse::kJwks)) p.jwks_uri = *u;
  }
  if (file) {
    if (auto f = ReadFile(file->value)) p.jwks_file = *f;
  }
  if (const Map::Entry* ca = m.Find("ca_file")) {
    if (file) {
      m.ErrorAtKey(*ca,
                   "ca_file is only used to fetch keys over HTTPS; with jwks_file nothing is "
                   "fetched (remove ca_file)");
    } else if (auto f = ReadFile(ca->value)) {
      p.ca_file = *f;
    }
  }
}

// On a shared issuer, `bound_claims` must pin the tenant anchor to fixed values.
void CheckTenantBinding(const Map& m, const IdentityProviderConfig& p,
                        const Map::Entry* bound_entry, const Map* bound) {
  const SharedIssuer* shared = FindSharedIssuer(p.issuer);
  if (!shared) return;
  std::string anchors(shared->anchors[0]);
  if (!shared->anchors[1].empty()) anchors += " or " + std::string(shared->anchors[1]);
  const std::string who = p.type == shared->vendor
                              ? "a " + std::string(shared->vendor_name) + " provider"
                              : "a provider with issuer " + std::string(shared->issuer);
  const std::string message = who + " must bind " + anchors + " (" + std::string(shared->why) + ")";
  if (!bound_entry) {
    m.ErrorMissing("bound_claims", message);
    return;
  }
  if (!bound) return;  // not a mapping: already reported
  const Map::Entry* loose_anchor = nullptr;
  for (std::string_view anchor : shared->anchors) {
    if (anchor.empty()) continue;
    const Map::Entry* entry = bound->Find(anchor);
    if (!entry) continue;
    const auto condition =
        std::find_if(p.bound_claims.begin(), p.bound_claims.end(),
                     [&](const ClaimCondition& c) { return c.path == std::vector{entry->key}; });
    if (condition == p.bound_claims.end()) return;  // its matcher has an error: already reported
    if (PinsExactValues(condition->matcher)) return;
    if (!loose_anchor) loose_anchor = entry;
  }
  if (loose_anchor) {
    loose_anchor->value.Error("must pin one " + std::string(shared->tenant) +
                              ": an exact value or a list of exact values (a glob, regex, not or "
                              "contains also lets other " +
                              std::string(shared->tenant) + "s in; " + std::string(shared->why) +
                              ")");
    return;
  }
  m.ErrorAtKey(*bound_entry, message);
}

// clock_skew and max_token_lifetime, each with its upper bound.
void ReadTokenTimes(const Map& m, IdentityProviderConfig& p) {
  if (auto skew = m.Get("clock_skew")) {
    std::optional<Duration> d = skew->Dur(/*allow_zero=*/true);
    if (d && *d > kMaxClockSkew) {
      skew->Error("at most 5m (a larger skew keeps expired tokens valid for longer)");
    } else if (d) {
      p.clock_skew = *d;
    }
  }
  if (auto lifetime = m.Get("max_token_lifetime")) {
    std::optional<Duration> d = lifetime->Dur();
    if (d && *d > kMaxTokenLifetime) {
      lifetime->Error(
          "at most 24h (a token valid for longer is a standing credential, not the "
          "identity of one CI job)");
    } else if (d) {
      p.max_token_lifetime = *d;
    }
  }
}

}  // namespace

void ReadIdentityProvider(const Value& v, IdentityProviderConfig& p, NameSet& names) {
  std::optional<Map> m = v.AsMap({"name",          "type",          "issuer",
                                  "audiences",     "bound_claims",  "jwks_uri",
                                  "jwks_file",     "ca_file",       "token_headers",
                                  "algorithms",    "clock_skew",    "max_token_lifetime",
                                  "groups_claim",  "url",           "introspection_endpoint",
                                  "client_id",     "client_secret", "token_prefixes",
                                  "sts_endpoints", "audience",      "cache_ttl",
                                  "timeout"});
  if (!m) return;
  if (std::optional<std::string> name = ReadName(*m, names)) p.name = *name;

  const Preset* preset = nullptr;
  std::optional<ProviderType> source;
  if (auto type = m->Require("type",
                             "(a JWT issuer: buildkite, circleci, gitlab, github, oidc; "
                             "or gitlab_job_token, gitlab_access_token, introspection, "
                             "client_certificate, aws_iam)")) {
    preset = ReadType(*type, &source);
  }
  if (source) {
    p.type = *source;
    ReadIdentitySource(*m, p);
    return;
  }
  if (preset) p.type = preset->type;
  m->RejectKeys({"url", "introspection_endpoint", "client_id", "client_secret", "token_prefixes",
                 "sts_endpoints", "audience", "cache_ttl", "timeout"},
                "only the identity sources (gitlab_job_token, gitlab_access_token, "
                "introspection, aws_iam) take this key, not a JWT issuer");

  // The tenant check needs the issuer; without a known one it would only add noise.
  bool issuer_known = false;
  if (auto issuer = m->Get("issuer")) {
    if (std::optional<std::string> url = ReadIssuer(*issuer)) {
      p.issuer = *url;
      issuer_known = true;
    }
  } else if (preset && !preset->issuer.empty()) {
    p.issuer = preset->issuer;
    issuer_known = true;
  } else if (preset) {
    m->ErrorMissing("issuer", "required " + std::string(IssuerRequiredWhy(preset->type)));
  }

  if (auto audiences = m->Require("audiences", kAudiencesWhy)) ReadAudiences(*audiences, p);

  const Map::Entry* bound_entry = m->Find("bound_claims");
  std::optional<Map> bound;
  if (bound_entry) bound = ReadClaimConditions(bound_entry->value, p.bound_claims);

  ReadKeySource(*m, p);
  if (auto headers = m->Get("token_headers")) ReadTokenHeaders(*headers, p.token_headers);
  if (auto algorithms = m->Get("algorithms")) {
    ReadAlgorithms(*algorithms, p.algorithms);
  } else if (preset) {
    p.algorithms.assign(preset->algorithms.begin(), preset->algorithms.end());
  }
  ReadTokenTimes(*m, p);
  if (auto claim = m->Get("groups_claim")) {
    if (std::optional<std::string> c = claim->NonEmptyString()) p.groups_claim = *c;
  }

  if (issuer_known) CheckTenantBinding(*m, p, bound_entry, bound ? &*bound : nullptr);
}

}  // namespace ciap::config
