// See headers_service.h.
#include "filters/headers/headers_service.h"

namespace ciap::headers {

std::string HeadersState::PublicDocument() const {
  return keys ? keys->Current()->jwks : std::string("{\"keys\":[]}");
}

std::unique_ptr<FilterService> HeadersService::Make(const ServiceEnv& env) {
  return std::unique_ptr<FilterService>(new HeadersService(env));
}

HeadersService::HeadersService(const ServiceEnv& env)
    : io_(env.offline != nullptr ? nullptr : env.io),
      metrics_(env.metrics ? std::make_unique<CredentialMetrics>(*env.metrics) : nullptr) {}

std::expected<std::shared_ptr<const PreparedState>, std::string> HeadersService::Prepare(
    const config::Config& config) {
  auto state = std::make_shared<HeadersState>();
  if (io_ == nullptr) return state;  // `ciap check` decides; it never signs nor mints
  if (config.assertion) {
    auto keys = SigningKeys::Load(config.assertion->signing_keys);
    if (!keys) return std::unexpected(keys.error());
    state->keys = std::move(*keys);
  }
  for (const config::ListenerConfig& listener : config.listeners) {
    auto& sources = state->credentials[listener.name];
    for (const config::RouteConfig& route : listener.routes) {
      if (!route.credentials) {
        sources.push_back(nullptr);
        continue;
      }
      auto source = CredentialSource::Make(*route.credentials, route.name, io_->get_executor(),
                                           metrics_.get());
      if (!source) {
        return std::unexpected("listener " + listener.name + ", route " + route.name +
                               ", credentials: " + source.error());
      }
      // The same route minting the same way keeps its credential: a reload mints nothing.
      if (running_) {
        auto it = running_->credentials.find(listener.name);
        if (it != running_->credentials.end()) {
          for (const auto& previous : it->second) {
            if (previous && (*source)->Adopt(*previous)) break;
          }
        }
      }
      sources.push_back(std::move(*source));
    }
  }
  return state;
}

void HeadersService::Commit(const std::shared_ptr<const PreparedState>& prepared) {
  running_ = std::static_pointer_cast<const HeadersState>(prepared);
}

std::string HeadersService::AdminDocument() const {
  return running_ ? running_->PublicDocument() : std::string("{\"keys\":[]}");
}

}  // namespace ciap::headers
