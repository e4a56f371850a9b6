// Filter chain construction from the registry table.
#include "proxy/filter_chain.h"

#include <cstdio>
#include <cstdlib>

namespace ciap {

boost::asio::awaitable<Decision> Filter::OnRequestAsync(Request&, StreamContext&) const {
  // A filter that suspends must override this; reaching here is a programming error.
  std::fprintf(stderr, "filter %.*s suspended without OnRequestAsync\n",
               static_cast<int>(name().size()), name().data());
  std::abort();
}

std::expected<FilterChain, std::string> FilterChain::Build(const config::ListenerConfig& listener,
                                                           const FilterEnv& env,
                                                           bool decision_only) {
  FilterChain chain;
  for (const std::string& name : listener.filters) {
    const FilterRegistration* found = nullptr;
    for (const FilterRegistration& r : FilterRegistry()) {
      if (r.name == name) found = &r;
    }
    if (found == nullptr) {
      return std::unexpected("listener " + listener.name + ": unknown filter '" + name + "'");
    }
    if (decision_only && !found->decides) continue;
    auto filter = found->build(listener, env);
    if (!filter) return std::unexpected(filter.error());
    chain.filters_.push_back(std::move(*filter));
  }
  return chain;
}

}  // namespace ciap
