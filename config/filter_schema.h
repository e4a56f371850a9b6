// A listener's `filters:` and what the config knows of each filter: its place in a chain and
// the route keys only it acts on. One row per filter, in the default chain's order; the
// filters' code registers under the same names in the same order (filters/registry.cc, held
// to this table by a test).
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace ciap::config {

struct FilterRule {
  std::string_view name;
  // Filters that must come after this one when both are listed, and why.
  std::span<const std::string_view> precedes;
  std::string_view precedes_why;
  // What in a route only this filter acts on ("authenticate: true", "allow groups"), or empty
  // when the route does not use the filter; and what would happen without the filter.
  std::string_view (*route_use)(const RouteConfig& route);
  std::string_view without;
};

std::span<const FilterRule> FilterRules();

// The chain of a listener that does not list its filters: every filter, in table order.
std::vector<std::string> DefaultFilters();

// Reads `filters:` into `filters` (unknown names, repeats and misordered filters are errors).
void ReadFilters(const yaml::Value& v, std::vector<std::string>& filters);

// After the routes are read: a route that uses a filter's keys needs that filter in the
// chain, and a per-caller rate limit needs identity before rate_limit.
void CheckFilterChain(const yaml::Value& filters, const ListenerConfig& listener);

}  // namespace ciap::config
