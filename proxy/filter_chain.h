// A listener's ordered filters, built by name from the explicit registry table.
#pragma once

#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "proxy/filter.h"

namespace ciap {

class Metrics;
namespace identity {
class ProviderKeys;
using ProviderSet = std::vector<std::shared_ptr<ProviderKeys>>;
}  // namespace identity
namespace rate_limit {
class RateLimitStore;
}

// What filters may use when they are built (once per config snapshot).
struct FilterEnv {
  const config::Config& config;
  Metrics& metrics;
  // Index-aligned with config.identity_providers; null when there are none.
  const identity::ProviderSet* keys = nullptr;
  // Rate-limit buckets that outlive snapshots; null: each rate_limit filter keeps its own.
  rate_limit::RateLimitStore* rate_limits = nullptr;
};

// Builds a filter for a listener from validated config; an error is a human sentence.
using FilterBuilder = std::expected<std::unique_ptr<Filter>, std::string> (*)(
    const config::ListenerConfig& listener, const FilterEnv& env);

struct FilterRegistration {
  std::string_view name;
  FilterBuilder build;
  // Decides who may pass (authentication, policy), given only the request and the config:
  // what `ciap check` runs. Filters that shape the forwarded request or count across requests
  // are left out there.
  bool decides = false;
};

// Every filter ciap knows, in one explicit table (filters/registry.cc). No static
// self-registration: static libraries drop objects nothing references.
std::span<const FilterRegistration> FilterRegistry();

class FilterChain {
 public:
  // The listener's filters in order; with `decision_only`, just those that decide.
  static std::expected<FilterChain, std::string> Build(const config::ListenerConfig& listener,
                                                       const FilterEnv& env,
                                                       bool decision_only = false);

  std::span<const std::unique_ptr<Filter>> filters() const { return filters_; }

 private:
  std::vector<std::unique_ptr<Filter>> filters_;
};

}  // namespace ciap
