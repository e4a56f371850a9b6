// Filter chain construction from the registry table.
#include "filters/api/chain.h"

#include <cstdio>
#include <cstdlib>

namespace ciap {

boost::asio::awaitable<Decision> Filter::OnRequestAsync(Request&, RequestContext&) const {
  // A filter that suspends must override this; reaching here is a programming error.
  std::fprintf(stderr, "filter %.*s suspended without OnRequestAsync\n",
               static_cast<int>(name().size()), name().data());
  std::abort();
}

std::expected<FilterChain, std::string> FilterChain::Build(
    const config::ListenerConfig& listener, const config::Config& config,
    prometheus::Registry& metrics, std::span<const FilterRegistration> table,
    const PreparedStates& prepared, bool decision_only) {
  FilterChain chain;
  for (const std::string& name : listener.filters) {
    std::size_t index = 0;
    while (index < table.size() && table[index].name != name) ++index;
    if (index == table.size()) {
      return std::unexpected("listener " + listener.name + ": unknown filter '" + name + "'");
    }
    const FilterRegistration& registration = table[index];
    if (decision_only && !registration.decides) continue;
    const PreparedState* state = index < prepared.size() ? prepared[index].get() : nullptr;
    auto filter = registration.build(listener, FilterEnv{config, metrics, state});
    if (!filter) return std::unexpected(filter.error());
    chain.filters_.push_back(std::move(*filter));
  }
  return chain;
}

}  // namespace ciap
