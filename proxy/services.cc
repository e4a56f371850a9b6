// See services.h.
#include "proxy/services.h"

namespace ciap {

FilterServices::FilterServices(std::span<const FilterRegistration> table, const ServiceEnv& env)
    : table_(table) {
  for (const FilterRegistration& registration : table) {
    services_.push_back(registration.make_service ? registration.make_service(env) : nullptr);
  }
}

std::expected<PreparedStates, std::string> FilterServices::Prepare(const config::Config& config) {
  PreparedStates prepared(services_.size());
  for (std::size_t i = 0; i < services_.size(); ++i) {
    if (!services_[i]) continue;
    auto state = services_[i]->Prepare(config);
    if (!state) return std::unexpected(std::string(table_[i].name) + ": " + state.error());
    prepared[i] = std::move(*state);
  }
  return prepared;
}

void FilterServices::Commit(const PreparedStates& prepared) {
  for (std::size_t i = 0; i < services_.size(); ++i) {
    if (services_[i] && prepared[i]) services_[i]->Commit(prepared[i]);
  }
}

void FilterServices::Start() {
  for (auto& service : services_) {
    if (service) service->Start();
  }
}

void FilterServices::Stop() {
  for (auto& service : services_) {
    if (service) service->Stop();
  }
}

std::string FilterServices::NotReady() const {
  for (const auto& service : services_) {
    if (!service) continue;
    if (std::string why = service->NotReady(); !why.empty()) return why;
  }
  return {};
}

const FilterService* FilterServices::FindByAdminPath(std::string_view path) const {
  for (const auto& service : services_) {
    if (service && !service->admin_path().empty() && service->admin_path() == path) {
      return service.get();
    }
  }
  return nullptr;
}

}  // namespace ciap
