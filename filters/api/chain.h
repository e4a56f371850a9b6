// The registration table's row type, and a listener's ordered filters built from it.
#pragma once

#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "filters/api/filter.h"
#include "filters/api/service.h"

namespace prometheus {
class Registry;
}

namespace ciap {

// What a filter may use when it is built (once per listener per config snapshot).
struct FilterEnv {
  const config::Config& config;
  // The process's metrics. A filter registers its own families here (registering a family
  // that exists returns it, so a rebuild finds the same counters).
  prometheus::Registry& metrics;
  // What this filter's service prepared for `config`; null for filters without a service.
  const PreparedState* prepared = nullptr;
};

// Builds a filter for a listener from validated config; an error is a human sentence.
using FilterBuilder = std::expected<std::unique_ptr<Filter>, std::string> (*)(
    const config::ListenerConfig& listener, const FilterEnv& env);
using ServiceMaker = std::unique_ptr<FilterService> (*)(const ServiceEnv& env);

// One row of the registration table (filters/registry.h). The config knows the same names and
// what each filter owns in a route (config/filter_rules.h); a test holds the two to the same
// names in the same order.
struct FilterRegistration {
  std::string_view name;
  FilterBuilder build;
  // Decides who may pass (authentication, policy) from the request and the config alone: what
  // `ciap check` runs. Filters that shape the forwarded request or count across requests are
  // left out there.
  bool decides = false;
  // The filter's state across requests and reloads; null for a stateless filter.
  ServiceMaker make_service = nullptr;
};

// What the services prepared for one config, by registration-table index (null where a
// filter has no service).
using PreparedStates = std::vector<std::shared_ptr<const PreparedState>>;

class FilterChain {
 public:
  // The listener's filters in order; with `decision_only`, just those that decide.
  static std::expected<FilterChain, std::string> Build(const config::ListenerConfig& listener,
                                                       const config::Config& config,
                                                       prometheus::Registry& metrics,
                                                       std::span<const FilterRegistration> table,
                                                       const PreparedStates& prepared,
                                                       bool decision_only = false);

  std::span<const std::unique_ptr<Filter>> filters() const { return filters_; }

 private:
  std::vector<std::unique_ptr<Filter>> filters_;
};

}  // namespace ciap
