// Reading the assertion and credentials keys; see upstream_auth_schema.h.
#include "config/upstream_auth_schema.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "config/provider_schema.h"
#include "config/syntax.h"
#include "config/text.h"
#include "config/value_readers.h"

namespace ciap::config {
namespace {

using yaml::Map;
using yaml::Value;

constexpr Duration kMaxMintTimeout{60 * 1000};
constexpr Duration kMinLifetime{2 * 1000};
constexpr Duration kMaxLifetime{3600 * 1000};
constexpr std::size_t kMaxRepositories = 500;  // GitHub's own limit per token

// Claims every assertion carries; a route cannot copy a caller claim over them.
constexpr std::array<std::string_view, 9> kAssertionClaims = {
    "iss", "aud", "iat", "exp", "jti", "sub", "provider", "groups", "route"};

// A header ciap sets itself: a valid name, not one ciap owns per connection.
std::optional<std::string> ReadInjectedHeader(const Value& v) {
  std::optional<std::string> name = v.NonEmptyString();
  if (!name) return std::nullopt;
  if (!IsHttpToken(*name)) {
    v.Error("'" + *name + "' is not a valid header name");
    return std::nullopt;
  }
  if (IsManagedHeader(*name)) {
    v.Error("cannot use '" + *name +
            "': hop-by-hop and framing headers are managed by ciap on each connection");
    return std::nullopt;
  }
  return name;
}

bool IsGitHubName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return IsAlpha(c) || IsDigit(c) || c == '-' || c == '_' || c == '.';
  });
}

void ReadTimeout(const Map& m, Duration& out) {
  if (auto t = m.Get("timeout")) {
    if (std::optional<Duration> d = t->Dur()) {
      if (*d > kMaxMintTimeout) {
        t->Error("at most 60s (a request waits this long for the credential)");
      } else {
        out = *d;
      }
    }
  }
}

void ReadOAuth2(const Map& m, CredentialsConfig& c) {
  if (auto endpoint = m.Require("token_endpoint", "(the OAuth 2.0 token endpoint's URL)")) {
    if (auto u = ReadHttpsUrl(*endpoint, UrlUse::kEndpoint)) c.token_endpoint = *u;
  }
  if (auto id = m.Require("client_id", "(ciap's client at the authorization server)")) {
    if (auto text = id->NonEmptyString()) c.client_id = *text;
  }
  if (auto secret = m.Require("client_secret", "(e.g. ${secret:/etc/ciap/secrets/client})")) {
    ReadSecretReference(*secret, c.client_secret, c.client_secret_file);
  }
  if (auto scope = m.Get("scope")) {
    if (auto text = scope->NonEmptyString()) c.scope = *text;
  }
  if (auto resource = m.Get("resource")) {
    // RFC 8707 2: an absolute URI without a fragment.
    std::optional<std::string> text = resource->NonEmptyString();
    const std::size_t colon = text ? text->find(':') : std::string::npos;
    if (text && (colon == std::string::npos || colon == 0 || text->find('#') != std::string::npos ||
                 !IsAlpha((*text)[0]))) {
      resource->Error("must be an absolute URI without a fragment (RFC 8707), got '" + *text + "'");
    } else if (text) {
      c.resource = *text;
    }
  }
}

void ReadGitHubApp(const Map& m, CredentialsConfig& c) {
  if (auto url = m.Get("api_url")) {
    if (auto u = ReadHttpsUrl(*url, UrlUse::kEndpoint)) {
      while (u->ends_with('/')) u->pop_back();
      c.api_url = *u;
    }
  }
  if (auto id = m.Require("app_id", "(the GitHub App's id or client id)")) {
    std::optional<std::string> text = id->NonEmptyString();
    if (text && !IsGitHubName(*text)) {
      id->Error("expected the app's numeric id or its client id, got '" + *text + "'");
    } else if (text) {
      c.app_id = *text;
    }
  }
  if (auto key = m.Require("private_key_file", "(the app's private key, PEM)")) {
    if (auto f = ReadFile(*key)) c.private_key_file = *f;
  }
  if (auto id = m.Require("installation_id", "(the app's installation in the organization)")) {
    if (auto n = id->UInt(1, (uint64_t{1} << 53) - 1)) c.installation_id = *n;
  }
  if (auto permissions = m.Get("permissions")) {
    if (auto map = permissions->AsOpenMap()) {
      for (const Map::Entry& entry : map->entries()) {
        const bool name_ok = std::all_of(entry.key.begin(), entry.key.end(), [](char ch) {
          return (ch >= 'a' && ch <= 'z') || ch == '_';
        });
        std::optional<std::string> level = entry.value.String();
        if (!name_ok || entry.key.empty()) {
          map->ErrorAtKey(entry, "'" + entry.key + "' is not a GitHub App permission name");
        } else if (level && *level != "read" && *level != "write" && *level != "admin") {
          entry.value.Error("expected read, write or admin, got '" + *level + "'");
        } else if (level) {
          c.permissions.emplace_back(entry.key, *level);
        }
      }
      if (map->entries().empty()) permissions->Error("must not be empty (omit it for all)");
    }
  }
  if (auto repositories = m.Get("repositories")) {
    if (auto items = repositories->List()) {
      if (items->empty()) repositories->Error("must not be empty (omit it for all)");
      if (items->size() > kMaxRepositories) {
        repositories->Error("at most 500 repositories (GitHub's limit for one token)");
      }
      for (const Value& item : *items) {
        std::optional<std::string> name = item.NonEmptyString();
        if (name && (!IsGitHubName(*name) || name->find('/') != std::string::npos)) {
          item.Error("expected a repository name without its owner, got '" + *name + "'");
        } else if (name) {
          c.repositories.push_back(*name);
        }
      }
    }
  }
}

}  // namespace

void ReadStateAndAssertion(const Map& top, Config& config) {
  if (auto v = top.Get("shared_state")) ReadSharedState(*v, config.shared_state.emplace());
  if (auto v = top.Get("assertion")) ReadAssertion(*v, config.assertion.emplace());
}

void ReadSharedState(const Value& v, SharedStateConfig& s) {
  std::optional<Map> m = v.AsMap({"redis", "on_failure"});
  if (!m) return;
  if (auto redis = m->Require("redis", "(address, password, tls, timeout)")) {
    std::optional<Map> r = redis->AsMap({"address", "password", "tls", "timeout"});
    if (!r) return;
    if (auto address = r->Require("address", "(host:port of the Redis every replica shares)")) {
      if (auto parsed = address->Parse<HostPort>(
              [](std::string_view text) { return ParseHostPort(text, AddressUse::kUpstream); })) {
        s.address = *parsed;
      }
    }
    if (auto password = r->Get("password")) {
      ReadSecretReference(*password, s.password, s.password_file);
    }
    if (auto tls = r->Get("tls")) {
      if (auto t = tls->AsMap({"ca_file", "sni"})) {
        s.tls = true;
        if (auto ca = t->Get("ca_file")) {
          if (auto f = ReadFile(*ca)) s.ca_file = *f;
        }
        if (auto sni = t->Get("sni")) {
          if (auto name = sni->NonEmptyString()) s.sni = *name;
        }
      }
    }
    if (auto timeout = r->Get("timeout")) {
      if (std::optional<Duration> d = timeout->Dur()) {
        if (*d > Duration(5000)) {
          timeout->Error("at most 5s (every request on a global route waits up to this long)");
        } else {
          s.timeout = *d;
        }
      }
    }
  }
  if (auto on_failure = m->Get("on_failure")) {
    std::optional<std::string> text = on_failure->String();
    if (text == "local") {
      s.on_failure = SharedStateConfig::OnFailure::kLocal;
    } else if (text == "deny") {
      s.on_failure = SharedStateConfig::OnFailure::kDeny;
    } else if (text == "allow") {
      s.on_failure = SharedStateConfig::OnFailure::kAllow;
    } else if (text) {
      on_failure->Error("expected local, deny or allow, got '" + *text + "'");
    }
  }
}

void ReadAssertion(const Value& v, AssertionConfig& a) {
  std::optional<Map> m = v.AsMap({"issuer", "signing_keys", "lifetime"});
  if (!m) return;
  if (auto issuer = m->Require("issuer", "(the assertions' `iss`: this proxy's URL)")) {
    if (auto text = issuer->NonEmptyString()) a.issuer = *text;
  }
  if (auto keys = m->Require("signing_keys",
                             "(PEM files of EC P-256 or Ed25519 private keys; the first signs)")) {
    if (auto items = keys->List()) {
      if (items->empty()) keys->Error("needs at least one key (the first signs)");
      for (const Value& item : *items) {
        if (auto f = ReadFile(item)) a.signing_keys.push_back(*f);
      }
    }
  }
  if (auto lifetime = m->Get("lifetime")) {
    if (std::optional<Duration> d = lifetime->Dur()) {
      if (*d < kMinLifetime || *d > kMaxLifetime) {
        lifetime->Error("between 2s and 1h (upstreams check `exp`; assertions are short-lived)");
      } else {
        a.lifetime = *d;
      }
    }
  }
}

void ReadAssertionHeader(const Value& v, AssertionHeaderConfig& a) {
  std::optional<Map> m = v.AsMap({"header", "audience", "claims"});
  if (!m) return;
  if (auto header = m->Get("header")) {
    if (auto name = ReadInjectedHeader(*header)) a.header = *name;
  }
  if (auto audience = m->Require("audience", "(the assertion's `aud`: the upstream's name)")) {
    if (auto text = audience->NonEmptyString()) a.audience = *text;
  }
  if (auto claims = m->Get("claims")) {
    if (auto items = claims->List()) {
      for (const Value& item : *items) {
        std::optional<std::string> name = item.NonEmptyString();
        if (name && std::find(kAssertionClaims.begin(), kAssertionClaims.end(), *name) !=
                        kAssertionClaims.end()) {
          item.Error("'" + *name + "' is a claim every assertion carries (" +
                     JoinNames(std::vector<std::string>(kAssertionClaims.begin(),
                                                        kAssertionClaims.end())) +
                     "); list caller claims to add");
        } else if (name) {
          a.claims.push_back(*name);
        }
      }
    }
  }
}

void ReadCredentials(const Value& v, CredentialsConfig& c) {
  std::optional<Map> m =
      v.AsMap({"type", "header", "ca_file", "timeout", "token_endpoint", "client_id",
               "client_secret", "scope", "resource", "api_url", "app_id", "private_key_file",
               "installation_id", "permissions", "repositories"});
  if (!m) return;
  std::optional<Value> type = m->Require("type", "(oauth2_client_credentials or github_app)");
  std::optional<std::string> name = type ? type->String() : std::nullopt;
  if (name == "oauth2_client_credentials") {
    c.type = CredentialsConfig::Type::kOAuth2ClientCredentials;
    m->RejectKeys(
        {"api_url", "app_id", "private_key_file", "installation_id", "permissions", "repositories"},
        "is a github_app key (oauth2_client_credentials takes token_endpoint, "
        "client_id, client_secret, scope, resource, header, ca_file, timeout)");
  } else if (name == "github_app") {
    c.type = CredentialsConfig::Type::kGitHubApp;
    m->RejectKeys({"token_endpoint", "client_id", "client_secret", "scope", "resource"},
                  "is an oauth2_client_credentials key (github_app takes api_url, app_id, "
                  "private_key_file, installation_id, permissions, repositories, header, "
                  "ca_file, timeout)");
  } else {
    if (name) type->Error("expected oauth2_client_credentials or github_app, got '" + *name + "'");
    return;
  }
  if (auto header = m->Get("header")) {
    if (auto h = ReadInjectedHeader(*header)) c.header = *h;
  }
  if (auto ca = m->Get("ca_file")) {
    if (auto f = ReadFile(*ca)) c.ca_file = *f;
  }
  ReadTimeout(*m, c.timeout);
  if (c.type == CredentialsConfig::Type::kOAuth2ClientCredentials) {
    ReadOAuth2(*m, c);
  } else {
    ReadGitHubApp(*m, c);
  }
}

void CheckUpstreamAuth(const Map& route, const RouteConfig& r, bool has_assertion_block) {
  const auto& assertion = r.request_headers.assertion;
  const auto& credentials = r.credentials;
  if (!assertion && !credentials) return;
  std::optional<Value> headers = route.Get("request_headers");
  std::optional<Value> where = credentials ? route.Get("credentials") : headers;
  if (!where) return;
  if (r.is_public) {
    where->Error(credentials ? "a public route would hand the minted credential to anyone; "
                               "credentials need a route whose callers authenticate"
                             : "a public route has no caller to vouch for; an assertion needs a "
                               "route whose callers authenticate");
    return;
  }
  if (assertion && !has_assertion_block && headers) {
    headers->Error(
        "request_headers.assertion needs the top-level `assertion` block (issuer and "
        "signing_keys)");
  }
  auto set_by_route = [&](std::string_view name) {
    return std::any_of(r.request_headers.set.begin(), r.request_headers.set.end(),
                       [&](const HeaderValue& h) { return EqualsIgnoreCase(h.name, name); });
  };
  if (credentials) {
    if (set_by_route(credentials->header)) {
      where->Error("header '" + credentials->header +
                   "' is also in request_headers.set; the minted credential goes there");
    }
    if (r.forward_token && EqualsIgnoreCase(credentials->header, "Authorization")) {
      where->Error(
          "forward_token: true forwards the caller's Authorization header, where the minted "
          "credential goes; set credentials.header to another header");
    }
  }
  if (assertion && headers) {
    if (set_by_route(assertion->header)) {
      headers->Error("header '" + assertion->header +
                     "' is both request_headers.set and the assertion's header");
    }
    if (credentials && EqualsIgnoreCase(credentials->header, assertion->header)) {
      headers->Error("the assertion and the credentials both go to header '" + assertion->header +
                     "'");
    }
  }
}

}  // namespace ciap::config
