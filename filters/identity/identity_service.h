// The identity filter's service: every provider's keys, kept across requests and reloads.
// Running, it owns the KeyManager (discovery, JWKS fetching and refresh on the main thread);
// offline (`ciap check`) it hands out fixed keys: each provider's jwks_file when asked, else
// the stand-in keys check signs with. Serves /jwks-status and holds /ready until every
// provider has keys.
#pragma once

#include <memory>

#include "filters/api/service.h"
#include "filters/identity/identity_metrics.h"
#include "filters/identity/key_manager.h"
#include "filters/identity/lookup_source.h"

namespace ciap::identity {

// What the identity filter of one snapshot reads.
struct IdentityState : PreparedState {
  ProviderSet providers;  // index-aligned with the config's identity_providers
  // Index-aligned too: the lookup providers' sources (null for the others; offline, sources
  // that answer stand-in credentials). Made anew for each config (a rotated ca_file or secret
  // is used at once), taking over the cached answers of the running source of the same
  // provider when it asks the same source the same way (LookupSource::AdoptCache).
  std::vector<std::shared_ptr<LookupSource>> sources;
  IdentityMetrics* metrics = nullptr;
};

class IdentityService : public FilterService {
 public:
  static std::unique_ptr<FilterService> Make(const ServiceEnv& env);

  std::expected<std::shared_ptr<const PreparedState>, std::string> Prepare(
      const config::Config& config) override;
  void Commit(const std::shared_ptr<const PreparedState>& prepared) override;
  void Start() override;
  void Stop() override;
  std::string NotReady() const override;
  std::string_view admin_path() const override { return "/jwks-status"; }
  std::string AdminDocument() const override;

 private:
  explicit IdentityService(const ServiceEnv& env);
  std::expected<ProviderSet, std::string> OfflineProviders(const config::Config& config) const;
  std::expected<std::vector<std::shared_ptr<LookupSource>>, std::string> PrepareSources(
      const config::Config& config);

  std::unique_ptr<IdentityMetrics> metrics_;
  std::unique_ptr<KeyManager> keys_;  // null offline
  OfflineInputs offline_;
  asio::io_context* io_ = nullptr;                              // null offline
  std::vector<std::shared_ptr<LookupSource>> running_sources_;  // the committed config's
};

// CIAP_KEY_TIMING="min_ttl=2s,retry_min=1s,...": shorter key-refresh timers for fault drills
// and tests (a 5-minute IdP outage played in one). Unknown names are ignored with a warning.
KeyTiming KeyTimingFromEnvironment();

}  // namespace ciap::identity
