// Reading the request-level parts of a route from the config file: `match`,
// `request_headers` and `rate_limit`. Split from loader.cc, which reads everything else; errors go
// to the Diagnostics behind the Value, like everywhere in the loader.
#pragma once

#include "config/config.h"
#include "config/yaml_reader.h"

namespace ciap::config {

// `match:` of a route: host, one of path/path_prefix/path_regex, methods, headers.
void ReadRouteMatch(const yaml::Value& v, RouteMatch& match);

// `request_headers:` of a route: set (in file order), remove, identity.
void ReadRequestHeaders(const yaml::Value& v, RequestHeadersConfig& headers);

// Reports each route of a listener that can never be chosen (route_shadowing.h) at the route:
// `items` are the routes as read, `routes` what they became (read without errors).
void ReportShadowedRoutes(const std::vector<yaml::Value>& items,
                          const std::vector<RouteConfig>& routes);

// What a route keeps across requests and connections: `rate_limit` (a global one needs
// `shared_state`), `replay` (single_use or allow) and `websocket`.
void ReadRouteState(const yaml::Map& m, RouteConfig& r, bool has_shared_state);

// `rate_limit:` of a route (`per`, `requests_per_second`, `burst`); set only when valid. A
// public route has no caller, so it may limit per client or per route only.
void ReadRateLimit(const yaml::Map::Entry& entry, RouteConfig& r);

}  // namespace ciap::config
