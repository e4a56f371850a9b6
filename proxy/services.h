// Every filter service of the process (one per registered filter that has one), driven
// together: the core sees filter state only through the FilterService interface.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "filters/api/chain.h"
#include "filters/api/service.h"

namespace ciap {

class FilterServices {
 public:
  FilterServices(std::span<const FilterRegistration> table, const ServiceEnv& env);

  // What every service prepared for `config`, by registration-table index; nothing changes
  // in the running services. An error names the filter.
  std::expected<PreparedStates, std::string> Prepare(const config::Config& config);
  // `prepared` (from Prepare) belongs to the config now running.
  void Commit(const PreparedStates& prepared);
  void Start();
  void Stop();

  // Why the process may not take traffic yet, or empty (for /ready).
  std::string NotReady() const;
  // The service whose admin document lives at `path`, or null.
  const FilterService* FindByAdminPath(std::string_view path) const;

 private:
  std::span<const FilterRegistration> table_;
  std::vector<std::unique_ptr<FilterService>> services_;  // by table index; null: none
};

}  // namespace ciap
