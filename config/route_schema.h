// Reading the request-level parts of a route from the config file: `match` and
// `request_headers`. Split from loader.cc, which reads everything else; errors go to the
// Diagnostics behind the Value, like everywhere in the loader.
#pragma once

#include "config/config.h"
#include "config/yaml_reader.h"

namespace ciap::config {

// `match:` of a route: host, one of path/path_prefix/path_regex, methods, headers.
void ReadRouteMatch(const yaml::Value& v, RouteMatch& match);

// `request_headers:` of a route: set (in file order), remove, identity.
void ReadRequestHeaders(const yaml::Value& v, RequestHeadersConfig& headers);

}  // namespace ciap::config
