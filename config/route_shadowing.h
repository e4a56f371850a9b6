// Routes that can never be chosen. The first route of a listener whose match holds for a request
// wins (proxy/router.h), so a route is dead when an earlier route of the same listener matches
// every request it matches: `path_prefix: /` first, and every route after it is unreachable.
// Decided conservatively, on the router's semantics: a route counts as shadowed only when the
// earlier route's every condition provably holds for whatever the later route matches.
#pragma once

#include <cstddef>
#include <vector>

#include "config/config.h"

namespace ciap::config {

struct ShadowedRoute {
  std::size_t route;  // index in the listener's routes
  std::size_t by;     // the first earlier route that matches everything it matches
};

// Whether every request `later` matches is also matched by `earlier` (host, path, methods,
// header conditions), as far as can be proven from the two matches alone.
bool MatchCovers(const RouteMatch& earlier, const RouteMatch& later);

// The shadowed routes of one listener, in order. Indexed by host and path, so that a table of
// tens of thousands of routes is checked in about linear time.
std::vector<ShadowedRoute> FindShadowedRoutes(const std::vector<RouteConfig>& routes);

}  // namespace ciap::config
