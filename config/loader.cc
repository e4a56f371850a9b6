// Loading a config file: the YAML format's schema (keys, values, combinations that are errors),
// read with yaml_reader.h. Route matches: route_schema.cc; identity providers: provider_schema.cc;
// groups: group_schema.cc; claim matchers: claim_schema.cc.
#include "config/loader.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "config/filter_schema.h"
#include "config/group_schema.h"
#include "config/name_set.h"
#include "config/provider_schema.h"
#include "config/route_schema.h"
#include "config/source_schema.h"
#include "config/syntax.h"
#include "config/text.h"
#include "config/upstream_auth_schema.h"
#include "config/value_readers.h"
#include "config/yaml_reader.h"

namespace ciap::config {
namespace {

using yaml::Map;
using yaml::Value;

constexpr std::string_view kNoDefaultOpen =
    "a route needs `allow` groups, `authenticate: true` or `public: true` (there is no "
    "default-open route)";

// Reads the document root into a Config (problems go to the Values' Diagnostics). References
// (route → upstream, address clashes) are checked once all is read: section order is free.
class SchemaReader {
 public:
  explicit SchemaReader(const yaml::Diagnostics& diagnostics) : diagnostics_(diagnostics) {}

  void Read(const Value& root, Config& config) {
    std::optional<Map> top =
        root.AsMapWithExtensions({"logging", "admin", "limits", "upstreams", "listeners",
                                  "identity_providers", "groups", "assertion", "shared_state"});
    if (!top) return;
    if (auto v = top->Get("identity_providers")) {
      if (auto items = v->List()) {
        provider_items_ = *items;
        for (const Value& item : *items) {
          IdentityProviderConfig& p = config.identity_providers.emplace_back();
          ReadIdentityProvider(item, p, provider_names_);
          if (p.name.empty()) provider_names_complete_ = false;
          // A groups_claim with a bad value still counts: dynamic groups are not the problem.
          if (!p.name.empty() && (item.node().HasKey("groups_claim") || !p.groups_claim.empty())) {
            providers_with_groups_claim_.push_back(p.name);
          }
        }
        // A provider with errors still counts: `authenticate` is not the problem then.
        has_providers_ = !items->empty();
      } else {
        has_providers_ = true;
        provider_names_complete_ = false;
      }
    }
    if (auto v = top->Get("groups")) {
      group_names_complete_ =
          ReadGroups(*v, {&provider_names_, provider_names_complete_}, config.groups, group_names_);
    }
    if (auto v = top->Get("logging")) {
      if (auto m = v->AsMap({"access_log"})) {
        if (auto log = m->Get("access_log")) {
          Assign(config.logging.access_log, log->NonEmptyString());
        }
      }
    }
    if (auto v = top->Get("admin")) {
      if (auto m = v->AsMap({"address", "enabled"})) {
        if (auto enabled = m->Get("enabled")) config.admin.enabled = enabled->Bool().value_or(true);
        if (auto address = m->Get("address")) {
          if (!config.admin.enabled) address->Error("the admin listener is off (enabled: false)");
          Assign(config.admin.address, ReadAddress(*address, AddressUse::kListen));
        }
      }
    }
    if (auto v = top->Get("limits")) {
      if (auto m = v->AsMap({"max_connections"})) {
        if (auto n = m->Get("max_connections")) {
          if (auto value = n->UInt(1, UINT32_MAX)) {
            config.limits.max_connections = static_cast<uint32_t>(*value);
          }
        }
      }
    }
    ReadStateAndAssertion(*top, config);  // shared_state, assertion
    has_shared_state_ = config.shared_state.has_value();
    has_assertion_ = config.assertion.has_value();
    if (auto v = top->Get("upstreams")) {
      if (auto items = v->List()) {
        for (const Value& item : *items) ReadUpstream(item, config.upstreams.emplace_back());
      } else {
        upstream_names_complete_ = false;
      }
    }
    if (auto v = top->Require("listeners", "(ciap needs a listener to accept connections)")) {
      if (auto items = v->List()) {
        if (items->empty()) v->Error("needs at least one listener");
        for (const Value& item : *items) ReadListener(item, config.listeners.emplace_back());
      }
    }
    CheckUpstreamReferences();
    CheckGroupReferences();
    CheckAuthenticateHasProviders();
    CheckAddressClashes(config);
    if (provider_items_) {
      CheckCredentialOwners(*provider_items_, config.identity_providers, config.listeners);
    }
  }

 private:
  template <typename T>
  static void Assign(T& field, std::optional<T> value) {
    if (value) field = std::move(*value);
  }

  static std::optional<HostPort> ReadAddress(const Value& v, AddressUse use) {
    return v.Parse<HostPort>([use](std::string_view s) { return ParseHostPort(s, use); });
  }

  void ReadUpstream(const Value& v, UpstreamConfig& u) {
    std::optional<Map> m = v.AsMap({"name", "endpoints", "tls", "protocol", "connect_timeout",
                                    "idle_timeout", "max_connections", "max_pending"});
    if (!m) {
      upstream_names_complete_ = false;
      return;
    }
    std::optional<std::string> name = ReadName(*m, upstream_names_);
    if (name) {
      u.name = *name;
    } else {
      upstream_names_complete_ = false;
    }
    if (auto endpoints = m->Require("endpoints")) {
      if (auto items = endpoints->List()) {
        if (items->empty()) endpoints->Error("needs at least one endpoint (host:port)");
        for (const Value& item : *items) {
          if (auto hp = ReadAddress(item, AddressUse::kUpstream)) u.endpoints.push_back(*hp);
        }
      }
    }
    if (auto tls = m->Get("tls")) {
      if (auto t = tls->AsMap({"sni", "ca_file", "cert_file", "key_file"})) {
        UpstreamTlsConfig& c = u.tls.emplace();
        if (auto sni = t->Get("sni")) {
          std::optional<std::string> s = sni->NonEmptyString();
          if (s && (IsIpLiteral(*s) || !IsDnsName(*s))) {
            sni->Error("'" + *s + "' is not a DNS name (SNI carries a host name, not an address)");
          } else {
            Assign(c.sni, std::move(s));
          }
        }
        if (auto f = t->Get("ca_file")) Assign(c.ca_file, ReadFile(*f));
        if (auto f = t->Get("cert_file")) Assign(c.cert_file, ReadFile(*f));
        if (auto f = t->Get("key_file")) Assign(c.key_file, ReadFile(*f));
        if (t->Has("cert_file") != t->Has("key_file")) {
          t->ErrorMissing(t->Has("cert_file") ? "key_file" : "cert_file",
                          "required: a client certificate needs both cert_file and key_file");
        }
      }
    }
    if (auto p = m->Get("protocol"); auto s = p ? p->String() : std::nullopt) {
      if (*s != "http1" && *s != "http2") p->Error("expected http1 or http2, got '" + *s + "'");
      if (*s == "http2") u.protocol = UpstreamProtocol::kHttp2;
    }
    if (auto d = m->Get("connect_timeout")) Assign(u.connect_timeout, d->Dur());
    if (auto d = m->Get("idle_timeout")) Assign(u.idle_timeout, d->Dur());
    if (auto n = m->Get("max_connections")) {
      if (auto value = n->UInt(1, UINT32_MAX)) u.max_connections = static_cast<uint32_t>(*value);
    }
    if (auto n = m->Get("max_pending")) {
      if (auto value = n->UInt(0, UINT32_MAX)) u.max_pending = static_cast<uint32_t>(*value);
    }
  }

  void ReadListener(const Value& v, ListenerConfig& l) {
    std::optional<Map> m =
        v.AsMap({"name", "address", "tls", "plaintext", "http2", "filters", "limits", "routes"});
    if (!m) return;
    Assign(l.name, ReadName(*m, listener_names_));
    if (auto address = m->Require("address")) {
      std::optional<HostPort> hp = ReadAddress(*address, AddressUse::kListen);
      if (hp) {
        l.address = *hp;
        listener_addresses_.push_back({*hp, *address, l.name});
      }
    }

    std::optional<bool> plaintext = false;
    if (auto p = m->Get("plaintext")) plaintext = p->Bool();
    if (plaintext) l.plaintext = *plaintext;
    const yaml::Map::Entry* tls = m->Find("tls");
    if (tls && l.plaintext) {
      m->ErrorAtKey(*m->Find("plaintext"),
                    "cannot be combined with tls (a listener either terminates TLS or is "
                    "explicitly plaintext; remove one)");
    } else if (!tls && plaintext && !l.plaintext) {
      m->ErrorMissing("tls",
                      "required unless plaintext: true (ciap terminates TLS; plaintext "
                      "must be explicit)");
    } else if (tls) {
      ReadListenerTls(tls->value, l.tls.emplace());
    }

    l.filters = DefaultFilters();
    std::optional<Value> filters = m->Get("filters");
    if (filters) ReadFilters(*filters, l.filters);
    if (auto limits = m->Get("limits")) ReadLimits(*limits, l.limits);
    if (auto h2 = m->Get("http2")) Assign(l.http2, h2->Bool());

    if (auto routes = m->Require("routes", "(a listener without routes would only answer 404)")) {
      if (auto items = routes->List()) {
        if (items->empty()) routes->Error("needs at least one route");
        NameSet route_names("route");
        const std::size_t errors = diagnostics_.size();
        for (const Value& item : *items) ReadRoute(item, l.routes.emplace_back(), route_names);
        // A route read with errors may look broader than it is meant to be.
        if (diagnostics_.size() == errors) ReportShadowedRoutes(*items, l.routes);
      }
    }
    if (filters) CheckFilterChain(*filters, l);
  }

  static void ReadListenerTls(const Value& v, ListenerTlsConfig& tls) {
    std::optional<Map> m =
        v.AsMap({"certificates", "min_version", "client_ca_file", "client_auth"});
    if (!m) return;
    if (auto certs = m->Require("certificates", "(at least one cert_file/key_file pair)")) {
      if (auto items = certs->List()) {
        if (items->empty()) certs->Error("needs at least one certificate");
        for (const Value& item : *items) {
          std::optional<Map> c = item.AsMap({"cert_file", "key_file"});
          if (!c) continue;
          CertificateConfig& cert = tls.certificates.emplace_back();
          if (auto f = c->Require("cert_file")) Assign(cert.cert_file, ReadFile(*f));
          if (auto f = c->Require("key_file")) Assign(cert.key_file, ReadFile(*f));
        }
      }
    }
    if (auto version = m->Get("min_version")) {
      std::optional<std::string> s = version->String();
      if (s == "1.2") {
        tls.min_version = TlsVersion::kTls12;
      } else if (s == "1.3") {
        tls.min_version = TlsVersion::kTls13;
      } else if (s) {
        version->Error("expected \"1.2\" or \"1.3\", got '" + *s + "'");
      }
    }
    if (auto f = m->Get("client_ca_file")) Assign(tls.client_ca_file, ReadFile(*f));
    if (auto auth = m->Get("client_auth")) {
      std::optional<std::string> s = auth->String();
      if (s == "none") {
        tls.client_auth = ClientAuth::kNone;
      } else if (s == "optional" || s == "require") {
        tls.client_auth = s == "optional" ? ClientAuth::kOptional : ClientAuth::kRequire;
        if (!m->Has("client_ca_file")) {
          auth->Error("client_auth: " + *s +
                      " needs client_ca_file (the CA that issues the client certificates to "
                      "accept)");
        }
      } else if (s) {
        auth->Error("expected none, optional or require, got '" + *s + "'");
      }
    }
  }

  static void ReadLimits(const Value& v, LimitsConfig& limits) {
    std::optional<Map> m = v.AsMap({"max_header_bytes", "max_headers", "header_timeout",
                                    "idle_timeout", "max_connections", "max_concurrent_streams"});
    if (!m) return;
    auto read_uint = [&](std::string_view key, uint32_t& field, uint64_t min, uint64_t max) {
      if (auto n = m->Get(key)) {
        if (auto value = n->UInt(min, max)) field = static_cast<uint32_t>(*value);
      }
    };
    read_uint("max_header_bytes", limits.max_header_bytes, 1024, 1048576);
    read_uint("max_headers", limits.max_headers, 1, 10000);
    read_uint("max_connections", limits.max_connections, 1, UINT32_MAX);
    read_uint("max_concurrent_streams", limits.max_concurrent_streams, 1, 1000);
    if (auto d = m->Get("header_timeout")) Assign(limits.header_timeout, d->Dur());
    if (auto d = m->Get("idle_timeout")) Assign(limits.idle_timeout, d->Dur());
  }

  void ReadRoute(const Value& v, RouteConfig& r, NameSet& names) {
    std::optional<Map> m =
        v.AsMap({"name", "match", "upstream", "public", "timeout", "request_headers",
                 "forward_token", "allow", "deny", "mode", "rate_limit", "authenticate",
                 "credentials", "websocket", "replay"});
    if (!m) return;
    Assign(r.name, ReadName(*m, names));
    if (auto match = m->Get("match")) ReadRouteMatch(*match, r.match);
    if (auto upstream = m->Require("upstream")) {
      if (auto name = upstream->NonEmptyString()) {
        r.upstream = *name;
        upstream_references_.push_back({*name, *upstream});
      }
    }
    ReadAccessPolicy(*m, r);
    if (auto d = m->Get("timeout")) Assign(r.timeout, d->Dur());
    if (auto h = m->Get("request_headers")) ReadRequestHeaders(*h, r.request_headers);
    if (auto f = m->Get("forward_token")) Assign(r.forward_token, f->Bool());
    ReadRouteState(*m, r, has_shared_state_);
    if (auto c = m->Get("credentials")) ReadCredentials(*c, r.credentials.emplace());
    CheckUpstreamAuth(*m, r, has_assertion_);
  }

  // Who may use a route: `public`, `authenticate`, `allow`/`deny` groups and `mode`.
  void ReadAccessPolicy(const Map& m, RouteConfig& r) {
    std::optional<bool> is_public = false;
    std::optional<Value> public_value = m.Get("public");
    if (public_value) is_public = public_value->Bool();
    if (is_public) r.is_public = *is_public;
    std::optional<bool> authenticate = false;
    std::optional<Value> authenticate_value = m.Get("authenticate");
    if (authenticate_value) authenticate = authenticate_value->Bool();
    if (authenticate) r.authenticate = *authenticate;
    const Map::Entry* allow = m.Find("allow");
    const Map::Entry* deny = m.Find("deny");
    const Map::Entry* mode = m.Find("mode");
    // False when `allow` is there but is not a list (already reported).
    const bool allow_read = !allow || ReadGroupList(allow->value, r.allow);
    if (deny) ReadGroupList(deny->value, r.deny);
    if (mode) {
      std::optional<std::string> s = mode->value.String();
      if (s == "enforce") {
        r.mode = PolicyMode::kEnforce;
      } else if (s == "shadow") {
        r.mode = PolicyMode::kShadow;
      } else if (s) {
        mode->value.Error("expected enforce or shadow, got '" + *s + "'");
      }
    }
    // A bad public/authenticate value is reported already; what the route meant is unknown.
    if (!is_public || !authenticate) return;

    if (r.is_public) {
      const std::string_view skips =
          " (a public route skips authentication and access checks; remove one)";
      if (r.authenticate) {
        m.ErrorAtKey(*m.Find("authenticate"),
                     "cannot be combined with public: true (a public route skips "
                     "authentication; remove one)");
      }
      if (allow) m.ErrorAtKey(*allow, "cannot be combined with public: true" + std::string(skips));
      if (deny) m.ErrorAtKey(*deny, "cannot be combined with public: true" + std::string(skips));
      if (mode) {
        m.ErrorAtKey(*mode,
                     "only applies to routes with allow or deny groups (a public route has no "
                     "access decision to enforce or shadow)");
      }
      return;
    }
    if (allow && allow_read && r.allow.empty()) {
      allow->value.Error(
          "must not be empty (list the groups that may use this route, or use "
          "authenticate: true or public: true)");
    }
    if (r.authenticate && !r.allow.empty()) {
      m.ErrorAtKey(*m.Find("authenticate"),
                   "cannot be combined with allow (a route with allow groups already requires "
                   "a valid token; remove authenticate)");
    } else if (r.authenticate) {
      authenticate_routes_.push_back(*authenticate_value);
    }
    if (deny && !allow && !r.authenticate) {
      m.ErrorAtKey(*deny,
                   "needs `allow` groups or `authenticate: true` (deny only narrows who may use "
                   "a route; it does not say who may)");
    }
    if (mode && !allow && !deny) {
      m.ErrorAtKey(*mode,
                   "only applies to routes with allow or deny groups (there is no access "
                   "decision to enforce or shadow here)");
    }
    if (!r.authenticate && !allow && !deny) {
      if (public_value) {
        public_value->Error(std::string(kNoDefaultOpen));
      } else if (authenticate_value) {
        authenticate_value->Error(std::string(kNoDefaultOpen));
      } else {
        m.ErrorMissing("public", std::string(kNoDefaultOpen));
      }
    }
  }

  // A list of group names under `allow` or `deny`; references are checked once all groups are
  // read. Returns whether the list itself could be read.
  bool ReadGroupList(const Value& v, std::vector<std::string>& out) {
    std::optional<std::vector<Value>> items = v.List();
    if (!items) return false;
    for (const Value& item : *items) {
      std::optional<std::string> name = item.NonEmptyString();
      if (!name) continue;
      if (std::find(out.begin(), out.end(), *name) != out.end()) {
        item.Error("group '" + *name + "' is listed twice");
        continue;
      }
      out.push_back(*name);
      group_references_.push_back({*name, item});
    }
    return true;
  }

  // Each name in allow/deny is a defined group or "<provider>:<value>" for a provider with a
  // groups_claim.
  void CheckGroupReferences() const {
    for (const auto& [name, value] : group_references_) {
      if (group_names_.Contains(name)) continue;
      const size_t colon = name.find(':');
      if (colon == std::string::npos) {
        if (!group_names_complete_) continue;
        const std::vector<std::string>& defined = group_names_.names();
        value.Error("unknown group '" + name + "' (" +
                    (defined.empty() ? "no groups are defined" : "defined: " + JoinNames(defined)) +
                    "; or <provider>:<value> for a provider's groups_claim)");
        continue;
      }
      const std::string provider = name.substr(0, colon);
      if (provider.empty() || colon + 1 == name.size()) {
        value.Error("'" + name +
                    "' is not a valid group: a name with ':' is <provider>:<value>, a group of a "
                    "provider's groups_claim");
        continue;
      }
      if (!provider_names_.Contains(provider)) {
        if (!provider_names_complete_) continue;
        const std::vector<std::string>& defined = provider_names_.names();
        value.Error("'" + name + "' names identity provider '" + provider +
                    "', which is not defined (" +
                    (defined.empty() ? "no identity providers are defined"
                                     : "defined: " + JoinNames(defined)) +
                    ")");
        continue;
      }
      if (std::find(providers_with_groups_claim_.begin(), providers_with_groups_claim_.end(),
                    provider) == providers_with_groups_claim_.end()) {
        value.Error(name + " names provider " + provider + "'s groups_claim, but " + provider +
                    " has no groups_claim (set groups_claim on provider " + provider +
                    ", or define a group in `groups`)");
      }
    }
  }

  void CheckUpstreamReferences() const {
    // An upstream whose name could not be read may be the one referenced: stay quiet then.
    if (!upstream_names_complete_) return;
    for (const auto& [name, value] : upstream_references_) {
      if (upstream_names_.Contains(name)) continue;
      const std::vector<std::string>& defined = upstream_names_.names();
      value.Error(
          "unknown upstream '" + name + "' (" +
          (defined.empty() ? "no upstreams are defined" : "defined: " + JoinNames(defined)) + ")");
    }
  }

  // `authenticate: true` accepts a valid token of any provider; with none, no request could pass.
  void CheckAuthenticateHasProviders() const {
    if (has_providers_) return;
    for (const Value& value : authenticate_routes_) {
      value.Error(
          "needs at least one identity provider (identity_providers is empty, so no "
          "token could ever be valid)");
    }
  }

  // Two listeners (or a listener and the admin endpoint) on one address cannot both bind.
  // Port 0 is exempt: each bind gets its own port.
  void CheckAddressClashes(const Config& config) const {
    for (size_t i = 0; i < listener_addresses_.size(); ++i) {
      const ListenerAddress& a = listener_addresses_[i];
      if (a.address.port == 0) continue;
      std::string owner;
      for (size_t j = 0; j < i && owner.empty(); ++j) {
        const ListenerAddress& b = listener_addresses_[j];
        if (b.address.host == a.address.host && b.address.port == a.address.port) {
          owner = "listener '" + b.listener + "'";
        }
      }
      const HostPort& admin = config.admin.address;
      if (owner.empty() && config.admin.enabled && admin.host == a.address.host &&
          admin.port == a.address.port) {
        owner = "the admin endpoint (admin.address)";
      }
      if (!owner.empty()) {
        a.value.Error("address " + a.address.ToString() + " is already used by " + owner);
      }
    }
  }

  struct ListenerAddress {
    HostPort address;
    Value value;
    std::string listener;
  };

  const yaml::Diagnostics& diagnostics_;
  NameSet upstream_names_{"upstream"};
  NameSet provider_names_{"identity provider"};
  std::optional<std::vector<Value>> provider_items_;
  NameSet group_names_{"group"};
  bool provider_names_complete_ = true;
  bool group_names_complete_ = true;
  std::vector<std::string> providers_with_groups_claim_;
  std::vector<std::pair<std::string, Value>> group_references_;
  NameSet listener_names_{"listener"};
  bool upstream_names_complete_ = true;
  bool has_providers_ = false;
  bool has_assertion_ = false;     // the top-level `assertion` block is there
  bool has_shared_state_ = false;  // the top-level `shared_state` block is there
  std::vector<Value> authenticate_routes_;
  std::vector<std::pair<std::string, Value>> upstream_references_;
  std::vector<ListenerAddress> listener_addresses_;
};

// The file's bytes; with ${NAME} substitutions, followed by each reference and its text, so that
// the hash names the config in effect.
std::string EffectiveHash(std::string_view text, const std::map<std::string, std::string>& used) {
  if (used.empty()) return Sha256Hex(text);  // the file is the whole config: sha256sum agrees
  std::string effective(text);
  effective.push_back('\0');
  for (const auto& [reference, value] : used) effective += reference + "=" + value + '\n';
  return Sha256Hex(effective);
}

}  // namespace

std::string ConfigError::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!key_path.empty()) out += key_path + ": ";
  return out + message;
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::expected<std::shared_ptr<const Config>, ConfigErrors> ParseConfig(std::string_view yaml_text,
                                                                       const std::string& file_name,
                                                                       const EnvLookup& env,
                                                                       const LoadOptions& options) {
  yaml::Diagnostics diagnostics(file_name, options);
  std::unique_ptr<yaml::Document> parsed = yaml::LoadSingleDocument(yaml_text, diagnostics);
  if (!parsed) return std::unexpected(diagnostics.Take());
  const yaml::Node root_node = parsed->root();
  const yaml::Node* document = &root_node;
  if (document->IsNull()) {
    diagnostics.Add(document->Mark(), "",
                    "the config file is empty (expected a mapping with at least `listeners`)");
    return std::unexpected(diagnostics.Take());
  }

  auto config = std::make_shared<Config>();
  config->source_path = file_name;
  const Value root(&diagnostics, &env, *document, "", document->Mark());
  if (!document->IsMap()) {
    root.Error("expected a mapping at the top level (logging, admin, upstreams, listeners)");
    return std::unexpected(diagnostics.Take());
  }
  try {
    SchemaReader(diagnostics).Read(root, *config);
  } catch (const std::exception& e) {
    // The reader checks node types before converting, so this is a bug; still, a config error
    // beats a crash of the control plane on reload.
    root.Error(std::string("internal error while reading the config: ") + e.what());
  }
  if (!diagnostics.empty()) return std::unexpected(diagnostics.Take());
  config->hash = EffectiveHash(yaml_text, diagnostics.substitutions());
  config->files = diagnostics.TakeFiles();
  return config;
}

std::expected<std::shared_ptr<const Config>, ConfigErrors> LoadConfigFile(
    const std::string& path, const LoadOptions& options) {
  std::optional<std::string> problem = CheckReadableFile(path);
  std::ifstream in(path, std::ios::binary);
  if (problem || !in) {
    ConfigError error;
    error.file = path;
    error.message = problem.value_or("cannot read " + path);
    return std::unexpected(ConfigErrors{std::move(error)});
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return ParseConfig(bytes.str(), path, ProcessEnv(), options);
}

}  // namespace ciap::config
