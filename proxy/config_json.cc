// See config_json.h.
#include "proxy/config_json.h"

#include <boost/json.hpp>

#include "config/source_schema.h"

namespace ciap {
namespace json = boost::json;
namespace {

json::string Ms(config::Duration d) { return json::string(std::to_string(d.count()) + "ms"); }

json::array Strings(const std::vector<std::string>& values) {
  json::array out;
  for (const auto& v : values) out.emplace_back(v);
  return out;
}

// Where a secret comes from, never the secret.
std::string SecretSource(const std::string& file) {
  return file.empty() ? "(set in the config)" : "(file " + file + ")";
}

// Literal text in an injected header may be a credential: each literal run becomes
// "[redacted]". `${secret:/path}` and `${claim:name}` references name a file or a claim, not a
// value, and stay visible so operators can see where a credential comes from.
std::string RedactedValue(const std::string& value) {
  std::string out;
  bool in_literal = false;
  std::size_t i = 0;
  while (i < value.size()) {
    bool reference = value.compare(i, 9, "${secret:") == 0 || value.compare(i, 8, "${claim:") == 0;
    std::size_t close = reference ? value.find('}', i) : std::string::npos;
    if (reference && close != std::string::npos) {
      out.append(value, i, close + 1 - i);
      in_literal = false;
      i = close + 1;
      continue;
    }
    if (!in_literal) out.append("[redacted]");
    in_literal = true;
    ++i;
  }
  return out;
}

json::array GroupNames(const std::vector<std::string>& names) { return Strings(names); }

// A route's assertion header and minted credentials: where they go and how they are made,
// never a secret (the client secret as where it comes from; the app key as its file).
json::object AssertionHeader(const config::AssertionHeaderConfig& a) {
  return json::object{
      {"header", a.header}, {"audience", a.audience}, {"claims", Strings(a.claims)}};
}

json::object Credentials(const config::CredentialsConfig& c) {
  json::object o{{"header", c.header}, {"ca_file", c.ca_file}, {"timeout", Ms(c.timeout)}};
  if (c.type == config::CredentialsConfig::Type::kOAuth2ClientCredentials) {
    o["type"] = "oauth2_client_credentials";
    o["token_endpoint"] = c.token_endpoint;
    o["client_id"] = c.client_id;
    o["client_secret"] = SecretSource(c.client_secret_file);
    o["scope"] = c.scope;
    o["resource"] = c.resource;
  } else {
    json::object permissions;
    for (const auto& [name, level] : c.permissions) permissions[name] = level;
    o["type"] = "github_app";
    o["api_url"] = c.api_url;
    o["app_id"] = c.app_id;
    o["private_key_file"] = c.private_key_file;
    o["installation_id"] = c.installation_id;
    o["permissions"] = std::move(permissions);
    o["repositories"] = Strings(c.repositories);
  }
  return o;
}

json::object Route(const config::RouteConfig& route) {
  json::object match;
  if (!route.match.host.empty()) match["host"] = route.match.host;
  if (route.match.path) match["path"] = *route.match.path;
  if (route.match.path_prefix) match["path_prefix"] = *route.match.path_prefix;
  if (route.match.path_regex) match["path_regex"] = *route.match.path_regex;
  if (!route.match.methods.empty()) match["methods"] = Strings(route.match.methods);
  json::array headers;
  for (const auto& h : route.match.headers) {
    json::object o{{"name", h.name}};
    if (h.exact) o["exact"] = *h.exact;
    if (h.regex) o["regex"] = *h.regex;
    if (h.present) o["present"] = *h.present;
    headers.push_back(std::move(o));
  }
  if (!headers.empty()) match["headers"] = std::move(headers);
  json::object set;
  for (const auto& h : route.request_headers.set) set[h.name] = RedactedValue(h.value);
  json::object request_headers{{"set", std::move(set)},
                               {"remove", Strings(route.request_headers.remove)},
                               {"identity", route.request_headers.identity}};
  if (route.request_headers.assertion) {
    request_headers["assertion"] = AssertionHeader(*route.request_headers.assertion);
  }
  json::object out{
      {"name", route.name},
      {"match", std::move(match)},
      {"upstream", route.upstream},
      {"public", route.is_public},
      {"timeout", Ms(route.timeout)},
      {"request_headers", std::move(request_headers)},
      {"forward_token", route.forward_token},
      {"websocket", route.websocket},
      {"replay", route.single_use ? "single_use" : "allow"},
      {"authenticate", route.authenticate},
      {"allow", GroupNames(route.allow)},
      {"deny", GroupNames(route.deny)},
      {"mode", route.mode == config::PolicyMode::kShadow ? "shadow" : "enforce"},
  };
  if (route.credentials) out["credentials"] = Credentials(*route.credentials);
  return out;
}

// admin and logging as the process runs them; what the file asks for instead, pending.
void ShowSettingsInForce(const config::Config& config, const ProcessSettings& in_force,
                         json::object& root) {
  json::object pending;
  const std::string address = config.admin.address.ToString();
  if (address != in_force.admin_address) pending["admin.address"] = address;
  if (!config.admin.enabled) pending["admin.enabled"] = false;
  if (config.logging.access_log != in_force.access_log) {
    pending["logging.access_log"] = config.logging.access_log;
  }
  root["admin"] = json::object{{"enabled", true}, {"address", in_force.admin_address}};
  root["logging"] = json::object{{"access_log", in_force.access_log}};
  if (!pending.empty()) root["pending_restart"] = std::move(pending);
}
// An identity source's settings; the client secret only as whether it is set and where from.
void AddSourceFields(const config::IdentityProviderConfig& p, json::object& o) {
  if (!p.url.empty()) o["url"] = p.url;
  if (!p.introspection_endpoint.empty()) {
    o["introspection_endpoint"] = p.introspection_endpoint;
    o["client_id"] = p.client_id;
    o["client_secret"] = SecretSource(p.client_secret_file);
  }
  if (!p.sts_endpoints.empty()) {
    o["sts_endpoints"] = Strings(p.sts_endpoints);
    o["audience"] = p.audience;
  }
  o["token_headers"] = Strings(p.token_headers);
  o["token_prefixes"] = Strings(p.token_prefixes);
  o["ca_file"] = p.ca_file;
  o["cache_ttl"] = Ms(p.cache_ttl);
  o["timeout"] = Ms(p.timeout);
}

json::object Provider(const config::IdentityProviderConfig& p) {
  json::object o{{"name", p.name},
                 {"issuer", p.issuer},
                 {"audiences", Strings(p.audiences)},
                 {"jwks_uri", p.jwks_uri},
                 {"jwks_file", p.jwks_file},
                 {"groups_claim", p.groups_claim},
                 {"clock_skew", Ms(p.clock_skew)},
                 {"max_token_lifetime", Ms(p.max_token_lifetime)}};
  json::array bound;
  for (const auto& condition : p.bound_claims) {
    std::string path;
    for (const auto& element : condition.path) path += (path.empty() ? "" : ".") + element;
    bound.emplace_back(path);
  }
  o["bound_claims"] = std::move(bound);  // the claims bound; values are in the file
  o["type"] = config::ProviderTypeName(p.type);
  if (config::IsLookupProvider(p.type)) AddSourceFields(p, o);
  return o;
}

}  // namespace

std::string ConfigToJson(const config::Config& config, const ProcessSettings* in_force) {
  json::array upstreams;
  for (const auto& u : config.upstreams) {
    json::array endpoints;
    for (const auto& e : u.endpoints) endpoints.emplace_back(e.ToString());
    json::object o{{"name", u.name},
                   {"endpoints", std::move(endpoints)},
                   {"protocol", u.protocol == config::UpstreamProtocol::kHttp2 ? "http2" : "http1"},
                   {"connect_timeout", Ms(u.connect_timeout)},
                   {"idle_timeout", Ms(u.idle_timeout)},
                   {"max_connections", u.max_connections}};
    if (u.tls) {
      o["tls"] = json::object{{"sni", u.tls->sni},
                              {"ca_file", u.tls->ca_file},
                              {"cert_file", u.tls->cert_file},
                              {"key_file", u.tls->key_file}};
    }
    upstreams.push_back(std::move(o));
  }
  json::array listeners;
  for (const auto& l : config.listeners) {
    json::object o{{"name", l.name},
                   {"address", l.address.ToString()},
                   {"plaintext", l.plaintext},
                   {"http2", l.http2}};
    if (l.tls) {
      json::array certs;
      for (const auto& c : l.tls->certificates) {
        certs.push_back(json::object{{"cert_file", c.cert_file}, {"key_file", c.key_file}});
      }
      const char* auth[] = {"none", "optional", "require"};
      o["tls"] = json::object{
          {"certificates", std::move(certs)},
          {"min_version", l.tls->min_version == config::TlsVersion::kTls13 ? "1.3" : "1.2"},
          {"client_ca_file", l.tls->client_ca_file},
          {"client_auth", auth[static_cast<int>(l.tls->client_auth)]}};
    }
    o["filters"] = Strings(l.filters);
    o["limits"] = json::object{{"max_header_bytes", l.limits.max_header_bytes},
                               {"max_headers", l.limits.max_headers},
                               {"header_timeout", Ms(l.limits.header_timeout)},
                               {"idle_timeout", Ms(l.limits.idle_timeout)},
                               {"max_connections", l.limits.max_connections},
                               {"max_concurrent_streams", l.limits.max_concurrent_streams}};
    json::array routes;
    for (const auto& r : l.routes) routes.push_back(Route(r));
    o["routes"] = std::move(routes);
    listeners.push_back(std::move(o));
  }
  json::array providers;
  for (const auto& p : config.identity_providers) providers.push_back(Provider(p));
  json::array groups;
  for (const auto& g : config.groups) groups.emplace_back(g.name);
  json::object root{
      {"source", config.source_path},
      {"hash", config.hash},
      {"logging", json::object{{"access_log", config.logging.access_log}}},
      {"admin", json::object{{"enabled", config.admin.enabled},
                             {"address", config.admin.address.ToString()}}},
      {"identity_providers", std::move(providers)},
      {"groups", std::move(groups)},
      {"upstreams", std::move(upstreams)},
      {"listeners", std::move(listeners)},
  };
  if (config.assertion) {
    root["assertion"] = json::object{{"issuer", config.assertion->issuer},
                                     {"signing_keys", Strings(config.assertion->signing_keys)},
                                     {"lifetime", Ms(config.assertion->lifetime)}};
  }
  if (in_force != nullptr) ShowSettingsInForce(config, *in_force, root);
  return json::serialize(root) + "\n";
}

}  // namespace ciap
