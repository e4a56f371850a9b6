// See identity_service.h.
#include "filters/identity/identity_service.h"

#include <algorithm>

#include "config/syntax.h"
#include "net/log.h"

namespace ciap::identity {

std::unique_ptr<FilterService> IdentityService::Make(const ServiceEnv& env) {
  return std::unique_ptr<FilterService>(new IdentityService(env));
}

IdentityService::IdentityService(const ServiceEnv& env)
    : metrics_(std::make_unique<IdentityMetrics>(*env.metrics)), io_(env.io) {
  if (env.offline != nullptr) {
    offline_ = *env.offline;
  } else {
    // Keys are fetched on the main thread; workers only read published key sets.
    keys_ = std::make_unique<KeyManager>(*env.io, *metrics_, KeyTimingFromEnvironment());
  }
}

std::expected<std::shared_ptr<const PreparedState>, std::string> IdentityService::Prepare(
    const config::Config& config) {
  auto state = std::make_shared<IdentityState>();
  state->metrics = metrics_.get();
  if (keys_) {
    auto providers = keys_->Prepare(config);
    if (!providers) return std::unexpected(providers.error());
    state->providers = std::move(*providers);
  } else {
    auto providers = OfflineProviders(config);
    if (!providers) return std::unexpected(providers.error());
    state->providers = std::move(*providers);
  }
  auto sources = PrepareSources(config);
  if (!sources) return std::unexpected(sources.error());
  state->sources = std::move(*sources);
  return state;
}

std::expected<ProviderSet, std::string> IdentityService::OfflineProviders(
    const config::Config& config) const {
  auto stand_in = jose::KeySet::Parse(offline_.stand_in_jwks.empty() ? "{\"keys\":[]}"
                                                                     : offline_.stand_in_jwks);
  if (!stand_in) return std::unexpected("stand-in keys: " + stand_in.error());
  ProviderSet providers;
  for (const config::IdentityProviderConfig& provider : config.identity_providers) {
    if (!config::IsJwtProvider(provider.type)) {
      providers.push_back(nullptr);
      continue;
    }
    std::shared_ptr<const jose::KeySet> keys = *stand_in;
    if (offline_.key_files && !provider.jwks_file.empty()) {
      auto parsed = LoadKeyFile(provider.jwks_file);
      if (!parsed)
        return std::unexpected("provider " + provider.name + ", jwks_file " + parsed.error());
      keys = *parsed;
    }
    providers.push_back(ProviderKeys::Fixed(provider, std::move(keys)));
  }
  return providers;
}

std::expected<std::vector<std::shared_ptr<LookupSource>>, std::string>
IdentityService::PrepareSources(const config::Config& config) {
  std::vector<std::shared_ptr<LookupSource>> sources;
  for (const config::IdentityProviderConfig& provider : config.identity_providers) {
    if (!config::IsLookupProvider(provider.type)) {
      sources.push_back(nullptr);
      continue;
    }
    // Offline (`ciap check`) nothing is called: the source answers from stand-in credentials.
    if (io_ == nullptr) {
      sources.push_back(LookupSource::Offline(provider));
      continue;
    }
    auto source = LookupSource::Make(provider, io_->get_executor(), metrics_.get());
    if (!source) return std::unexpected(source.error());
    // The same source asked the same way keeps its answers: a reload is no burst of calls.
    for (const auto& running : running_sources_) {
      if (running && (*source)->AdoptCache(*running)) break;
    }
    sources.push_back(std::move(*source));
  }
  return sources;
}

void IdentityService::Commit(const std::shared_ptr<const PreparedState>& prepared) {
  const auto& state = static_cast<const IdentityState&>(*prepared);
  if (keys_) keys_->Commit(state.providers);
  running_sources_ = state.sources;
}

void IdentityService::Start() {
  if (keys_) keys_->Start();
}

void IdentityService::Stop() {
  if (keys_) keys_->Stop();
}

std::string IdentityService::NotReady() const {
  return keys_ ? keys_->ReadinessProblem() : std::string();
}

std::string IdentityService::AdminDocument() const {
  return keys_ ? keys_->StatusJson() : "{\"providers\":[]}\n";
}

KeyTiming KeyTimingFromEnvironment() {
  KeyTiming timing;
  const char* spec = std::getenv("CIAP_KEY_TIMING");
  if (spec == nullptr) return timing;
  using Seconds = std::chrono::seconds KeyTiming::*;
  static constexpr std::pair<std::string_view, Seconds> kTimers[] = {
      {"min_ttl", &KeyTiming::min_ttl},
      {"max_ttl", &KeyTiming::max_ttl},
      {"default_ttl", &KeyTiming::default_ttl},
      {"unknown_kid_interval", &KeyTiming::unknown_kid_interval},
      {"retry_min", &KeyTiming::retry_min},
      {"retry_max", &KeyTiming::retry_max},
      {"file_poll", &KeyTiming::file_poll},
  };
  std::string_view rest(spec);
  while (!rest.empty()) {
    std::string_view item = rest.substr(0, rest.find(','));
    rest.remove_prefix(std::min(rest.size(), item.size() + 1));
    std::string_view name = item.substr(0, item.find('='));
    auto value = config::ParseDuration(item.substr(std::min(item.size(), name.size() + 1)));
    const auto* timer = std::find_if(std::begin(kTimers), std::end(kTimers),
                                     [&](const auto& entry) { return entry.first == name; });
    if (!value) {
      LogEvent(LogLevel::kWarning, "CIAP_KEY_TIMING: bad entry", {{"entry", item}});
    } else if (timer != std::end(kTimers)) {
      timing.*(timer->second) = std::chrono::duration_cast<std::chrono::seconds>(*value);
    } else if (name == "fetch_timeout") {
      timing.fetch_timeout = *value;
    } else {
      LogEvent(LogLevel::kWarning, "CIAP_KEY_TIMING: unknown timer", {{"entry", item}});
    }
  }
  LogEvent(LogLevel::kWarning, "key refresh timers changed by CIAP_KEY_TIMING", {{"spec", spec}});
  return timing;
}

}  // namespace ciap::identity
