// Reading the request-level parts of a route: `match` (which requests it takes),
// `request_headers` (what it changes before forwarding) and `rate_limit`. See route_schema.h.
#include "config/route_schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "config/route_shadowing.h"
#include "config/syntax.h"
#include "config/upstream_auth_schema.h"
#include "config/value_readers.h"

namespace ciap::config {
namespace {

using yaml::Map;
using yaml::Refs;
using yaml::Value;

std::string ToLowerAscii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string ToUpperAscii(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

void ReadHeaderMatch(const Value& v, std::vector<HeaderMatch>& out) {
  std::optional<Map> m = v.AsMap({"name", "exact", "regex", "present"});
  if (!m) return;
  HeaderMatch& h = out.emplace_back();
  if (auto name = m->Require("name")) {
    std::optional<std::string> s = name->String();
    if (s && !IsHttpToken(*s)) {
      name->Error("'" + *s + "' is not a valid header name");
    } else if (s) {
      h.name = *s;
    }
  }
  const yaml::Map::Entry* first = nullptr;
  for (const yaml::Map::Entry& entry : m->entries()) {
    if (entry.key == "name") continue;
    if (first) {
      m->ErrorAtKey(entry,
                    "exactly one of exact, regex, present (" + first->key + " is already set)");
      continue;
    }
    first = &entry;
    if (entry.key == "exact") h.exact = entry.value.String();
    if (entry.key == "regex") h.regex = ReadRegex(entry.value);
    if (entry.key == "present") h.present = entry.value.Bool();
  }
  if (!first) v.Error("needs exactly one of exact, regex, present");
}

// Records the files of the ${secret:PATH} references in a header value (and checks them, like
// every file the config names). `$${` is a literal, as the headers filter reads it.
bool NamesSecretFiles(const Value& v, std::string_view value) {
  bool readable = true;
  for (size_t i = 0; i < value.size();) {
    if (value.substr(i).starts_with("$${")) {
      i += 3;
    } else if (value.substr(i).starts_with("${secret:")) {
      const size_t start = i + 9;
      const size_t close = value.find('}', start);
      if (close == std::string_view::npos) break;  // the headers filter says what is wrong
      if (close > start && !v.NamesFile(std::string(value.substr(start, close - start)))) {
        readable = false;
      }
      i = close + 1;
    } else {
      ++i;
    }
  }
  return readable;
}

}  // namespace

void ReadRouteMatch(const Value& v, RouteMatch& match) {
  std::optional<Map> m =
      v.AsMap({"host", "path", "path_prefix", "path_regex", "methods", "headers"});
  if (!m) return;
  if (auto host = m->Get("host")) {
    if (auto h = host->NonEmptyString()) {
      const bool wildcard = h->starts_with("*.");
      if (h->find(':') != std::string::npos) {
        host->Error("host must not include a port (the request's port is ignored)");
      } else if (!IsDnsName(wildcard ? h->substr(2) : *h)) {
        host->Error("expected a host name (api.example.com) or a wildcard (*.example.com), got '" +
                    *h + "'");
      } else {
        match.host = ToLowerAscii(*h);
      }
    }
  }
  // The entries are in document order, so the second path matcher written is the one blamed.
  const yaml::Map::Entry* first_path = nullptr;
  for (const yaml::Map::Entry& entry : m->entries()) {
    if (entry.key != "path" && entry.key != "path_prefix" && entry.key != "path_regex") continue;
    if (first_path) {
      m->ErrorAtKey(entry, "at most one of path, path_prefix, path_regex (" + first_path->key +
                               " is already set)");
      continue;
    }
    first_path = &entry;
    if (entry.key == "path_regex") {
      match.path_regex = ReadRegex(entry.value);
      continue;
    }
    std::optional<std::string> path = entry.value.String();
    if (path && !path->starts_with('/')) {
      entry.value.Error("must start with '/', got '" + *path + "'");
    } else if (path) {
      (entry.key == "path" ? match.path : match.path_prefix) = *path;
    }
  }
  if (auto methods = m->Get("methods")) {
    if (auto items = methods->List()) {
      if (items->empty()) methods->Error("must not be empty (omit methods to match any method)");
      for (const Value& item : *items) {
        std::optional<std::string> method = item.String();
        if (method && !IsHttpToken(*method)) {
          item.Error("'" + *method + "' is not a valid HTTP method");
        } else if (method) {
          match.methods.push_back(ToUpperAscii(*method));
        }
      }
    }
  }
  if (auto headers = m->Get("headers")) {
    if (auto items = headers->List()) {
      for (const Value& item : *items) ReadHeaderMatch(item, match.headers);
    }
  }
}

void ReadRequestHeaders(const Value& v, RequestHeadersConfig& headers) {
  std::optional<Map> m = v.AsMap({"set", "remove", "identity", "assertion"});
  if (!m) return;
  if (auto set = m->Get("set")) {
    if (auto s = set->AsOpenMap()) {
      for (const yaml::Map::Entry& entry : s->entries()) {
        if (!IsHttpToken(entry.key)) {
          s->ErrorAtKey(entry, "'" + entry.key + "' is not a valid header name");
          continue;
        }
        if (IsManagedHeader(entry.key)) {
          s->ErrorAtKey(entry,
                        "cannot set '" + entry.key +
                            "': hop-by-hop and framing headers (Connection, Keep-Alive, "
                            "Transfer-Encoding, TE, Trailer, Upgrade, Proxy-Connection, "
                            "Content-Length, Host) are managed by ciap on each connection; a "
                            "configured value would corrupt the forwarded request");
          continue;
        }
        if (ToLowerAscii(entry.key).starts_with("x-ciap-")) {
          s->ErrorAtKey(entry, "cannot set '" + entry.key +
                                   "': x-ciap-* headers are reserved for the identity ciap "
                                   "injects (request_headers.identity: true)");
          continue;
        }
        auto same_name = [&](const HeaderValue& h) {
          return ToLowerAscii(h.name) == ToLowerAscii(entry.key);
        };
        if (std::any_of(headers.set.begin(), headers.set.end(), same_name)) {
          s->ErrorAtKey(entry,
                        "header '" + entry.key + "' is set twice (names are case-insensitive)");
          continue;
        }
        std::optional<std::string> value = entry.value.String(Refs::kKeepSecretAndClaim);
        if (value && value->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
          entry.value.Error("header values must not contain CR, LF or NUL");
        } else if (value && NamesSecretFiles(entry.value, *value)) {
          headers.set.push_back({entry.key, *value});
        }
      }
    }
  }
  if (auto remove = m->Get("remove")) {
    if (auto items = remove->List()) {
      for (const Value& item : *items) {
        std::optional<std::string> name = item.String();
        if (name && !IsHttpToken(*name)) {
          item.Error("'" + *name + "' is not a valid header name");
        } else if (name) {
          headers.remove.push_back(*name);
        }
      }
    }
  }
  if (auto identity = m->Get("identity")) {
    if (std::optional<bool> b = identity->Bool()) headers.identity = *b;
  }
  if (auto assertion = m->Get("assertion")) {
    ReadAssertionHeader(*assertion, headers.assertion.emplace());
  }
}
void ReportShadowedRoutes(const std::vector<yaml::Value>& items,
                          const std::vector<RouteConfig>& routes) {
  // A full shadow is an error, not a warning: the route is dead config, and whoever wrote it
  // meant its requests to go somewhere (or to be allowed or denied by its rules) that they do not.
  for (const ShadowedRoute& s : FindShadowedRoutes(routes)) {
    const std::string& by = routes[s.by].name;
    items[s.route].Error("can never match: route '" + by + "' (line " +
                         std::to_string(items[s.by].mark().line + 1) +
                         ") comes first and matches every request this route matches (the "
                         "first matching route wins); move this route above '" +
                         by + "', or narrow '" + by + "'");
  }
}

namespace {

void ReadReplay(const Value& v, RouteConfig& r) {
  std::optional<std::string> s = v.String();
  if (s == "single_use") {
    if (r.is_public) {
      v.Error(
          "a public route has no caller token to use once; single_use needs a route whose "
          "callers authenticate");
      return;
    }
    r.single_use = true;
  } else if (s && *s != "allow") {
    v.Error("expected single_use or allow, got '" + *s + "'");
  }
}

}  // namespace

void ReadRouteState(const yaml::Map& m, RouteConfig& r, bool has_shared_state) {
  if (auto w = m.Get("websocket")) {
    if (std::optional<bool> b = w->Bool()) r.websocket = *b;
  }
  if (auto replay = m.Get("replay")) ReadReplay(*replay, r);
  if (const yaml::Map::Entry* limit = m.Find("rate_limit")) {
    ReadRateLimit(*limit, r);
    if (r.rate_limit && r.rate_limit->global && !has_shared_state) {
      limit->value.Error(
          "scope: global needs the top-level shared_state (the Redis every replica shares)");
    }
  }
}

void ReadRateLimit(const yaml::Map::Entry& entry, RouteConfig& r) {
  std::optional<yaml::Map> m = entry.value.AsMap({"per", "requests_per_second", "burst", "scope"});
  if (!m) return;
  RateLimitConfig limit;
  if (auto per = m->Get("per")) {
    std::optional<std::string> s = per->String();
    if (s == "subject") {
      limit.per = RateLimitConfig::Per::kSubject;
    } else if (s == "provider") {
      limit.per = RateLimitConfig::Per::kProvider;
    } else if (s == "route") {
      limit.per = RateLimitConfig::Per::kRoute;
    } else if (s == "client") {
      limit.per = RateLimitConfig::Per::kClient;
    } else if (s) {
      per->Error("expected subject, provider, route or client, got '" + *s + "'");
      return;
    }
    if (s && r.is_public && (*s == "subject" || *s == "provider")) {
      per->Error("per: " + *s +
                 " needs an authenticated caller, and a public route has none (use per: "
                 "client or per: route)");
      return;
    }
  } else if (r.is_public) {
    entry.value.Error(
        "needs per: client or per: route on a public route (the default, per: subject, needs "
        "an authenticated caller)");
    return;
  }
  if (auto rate = m->Require("requests_per_second")) {
    std::optional<double> value = rate->Number(0.001, 1e6);
    if (!value) return;
    limit.requests_per_second = *value;
  } else {
    return;
  }
  limit.burst = static_cast<uint32_t>(std::max(1.0, std::ceil(limit.requests_per_second)));
  if (auto burst = m->Get("burst")) {
    if (auto value = burst->UInt(1, 1000000)) limit.burst = static_cast<uint32_t>(*value);
  }
  if (auto scope = m->Get("scope")) {
    std::optional<std::string> s = scope->String();
    if (s == "global") {
      limit.global = true;
    } else if (s && *s != "local") {
      scope->Error("expected local or global, got '" + *s + "'");
    }
  }
  r.rate_limit = limit;
}

}  // namespace ciap::config
