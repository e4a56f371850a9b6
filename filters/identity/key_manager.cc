// See key_manager.h.
#include "filters/identity/key_manager.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "net/http_client.h"
#include "net/log.h"

namespace ciap::identity {
namespace json = boost::json;
using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

struct ProviderState {
  std::unique_ptr<asio::steady_timer> timer;
  bool running = false;  // its refresh loop was started
  bool stopped = false;  // left out of the running set by a reload
  // From the provider's ca_file (null: system trust). Shared: a fetch in flight keeps the one
  // it started with while a reload replaces it.
  std::shared_ptr<ssl::context> tls;
  std::string ca_contents;  // what `tls` was built from
  std::string discovered_jwks_uri;
  std::string source;
  std::string last_error;
  SystemClock::time_point last_success{};
  SteadyClock::time_point last_success_steady{};
  std::filesystem::file_time_type file_mtime{};
  int failures = 0;
  prometheus::Counter* fetch_success = nullptr;
  prometheus::Counter* fetch_error = nullptr;
  prometheus::Gauge* keys = nullptr;
  prometheus::Gauge* last_success_gauge = nullptr;
};

namespace {

// http:// is only for an IdP on this machine (tests, a sidecar IdP); anything else must be TLS.
bool IsAcceptableKeyUrl(std::string_view url) {
  if (url.starts_with("https://")) return true;
  return url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") ||
         url.starts_with("http://[::1]");
}

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

std::optional<std::chrono::seconds> MaxAge(std::string_view cache_control) {
  if (cache_control.find("no-store") != std::string_view::npos ||
      cache_control.find("no-cache") != std::string_view::npos) {
    return std::nullopt;
  }
  std::size_t at = cache_control.find("max-age=");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view digits = cache_control.substr(at + 8);
  long long value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || value < 0) return std::nullopt;
  return std::chrono::seconds(value);
}

std::shared_ptr<ProviderKeys> ProviderKeys::Fixed(const config::IdentityProviderConfig& config,
                                                  std::shared_ptr<const jose::KeySet> keys) {
  auto provider = std::make_shared<ProviderKeys>(config);
  provider->keys_.store(std::move(keys), std::memory_order_release);
  provider->fixed_ = true;
  return provider;
}

bool ProviderKeys::RequestRefetch(std::function<void()> done) {
  if (fixed_) return false;
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    if (fetch_pending_) {
      waiters_.push_back(std::move(done));
      return true;
    }
    auto now = SteadyClock::now();
    if (last_kid_fetch_ != SteadyClock::time_point{} &&
        now - last_kid_fetch_ < unknown_kid_interval_) {
      return false;
    }
    last_kid_fetch_ = now;
    fetch_pending_ = true;
    waiters_.push_back(std::move(done));
    wake = wake_;
  }
  if (wake) wake();
  return true;
}

ProviderKeys::~ProviderKeys() = default;

KeyManager::KeyManager(asio::io_context& io, IdentityMetrics& metrics, KeyTiming timing)
    : io_(io), metrics_(metrics), timing_(timing) {}

KeyManager::~KeyManager() = default;

namespace {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace

// (Re)builds the TLS context for fetching keys when the provider's ca_file changed.
std::expected<bool, std::string> KeyManager::LoadCa(const config::IdentityProviderConfig& provider,
                                                    ProviderState& state) {
  if (provider.ca_file.empty()) return false;
  std::string contents = ReadWholeFile(provider.ca_file);
  if (state.tls && contents == state.ca_contents) return false;
  auto tls = CreateFetchTlsContext(provider.ca_file);
  if (!tls) return std::unexpected("provider " + provider.name + ": " + tls.error());
  state.tls = std::move(*tls);
  state.ca_contents = std::move(contents);
  return true;
}

std::expected<std::shared_ptr<ProviderKeys>, std::string> KeyManager::MakeProvider(
    const config::IdentityProviderConfig& provider) {
  // What the refresh loop will read, read now: a config whose key file or CA cannot be used is
  // refused (ciap validate says so too) instead of starting a provider that never gets keys.
  if (!provider.jwks_file.empty()) {
    if (auto keys = LoadKeyFile(provider.jwks_file); !keys) {
      return std::unexpected("provider " + provider.name + ", jwks_file " + keys.error());
    }
  }
  auto keys = std::make_shared<ProviderKeys>(provider);
  keys->unknown_kid_interval_ = timing_.unknown_kid_interval;
  auto state = std::make_shared<ProviderState>();
  state->timer = std::make_unique<asio::steady_timer>(io_);
  if (auto ca = LoadCa(provider, *state); !ca) return std::unexpected(ca.error());
  state->fetch_success =
      &metrics_.jwks_fetches.Add({{"provider", provider.name}, {"result", "success"}});
  state->fetch_error =
      &metrics_.jwks_fetches.Add({{"provider", provider.name}, {"result", "error"}});
  state->keys = &metrics_.jwks_keys.Add({{"provider", provider.name}});
  state->last_success_gauge = &metrics_.jwks_last_success.Add({{"provider", provider.name}});
  asio::steady_timer* timer = state->timer.get();
  keys->wake_ = [this, timer] { asio::post(io_, [timer] { timer->cancel(); }); };
  keys->state_ = std::move(state);
  return keys;
}

std::expected<ProviderSet, std::string> KeyManager::Prepare(const config::Config& config) {
  ProviderSet set;
  std::vector<bool> taken(providers_.size(), false);
  for (const config::IdentityProviderConfig& provider : config.identity_providers) {
    if (!config::IsJwtProvider(provider.type)) {
      set.push_back(nullptr);  // no keys: its credentials are looked up (lookup_source.h)
      continue;
    }
    std::shared_ptr<ProviderKeys> reused;
    for (std::size_t i = 0; i < providers_.size() && !reused; ++i) {
      const config::IdentityProviderConfig& running = providers_[i]->config_;
      if (!taken[i] && running.name == provider.name && running.issuer == provider.issuer &&
          running.jwks_uri == provider.jwks_uri && running.jwks_file == provider.jwks_file &&
          running.ca_file == provider.ca_file) {
        taken[i] = true;
        reused = providers_[i];
        // A rotated IdP CA: fetch with it now rather than at the next refresh or retry.
        auto ca = LoadCa(provider, *reused->state_);
        if (!ca) return std::unexpected(ca.error());
        if (*ca) reused->state_->timer->cancel();
      }
    }
    if (!reused) {
      auto made = MakeProvider(provider);
      if (!made) return std::unexpected(made.error());
      reused = std::move(*made);
    }
    set.push_back(std::move(reused));
  }
  return set;
}

void KeyManager::Commit(const ProviderSet& providers) {
  for (const auto& old : providers_) {
    if (std::find(providers.begin(), providers.end(), old) != providers.end()) continue;
    old->state_->stopped = true;
    old->state_->timer->cancel();
  }
  providers_.clear();
  for (const auto& provider : providers) {
    if (provider) providers_.push_back(provider);
  }
  if (started_) Start();
}

void KeyManager::Start() {
  started_ = true;
  for (const auto& provider : providers_) {
    if (provider->state_->running) continue;
    provider->state_->running = true;
    asio::co_spawn(io_, RefreshLoop(provider), asio::detached);
  }
}

void KeyManager::Stop() {
  stopped_ = true;
  for (const auto& provider : providers_) provider->state_->timer->cancel();
}

std::string KeyManager::ReadinessProblem() const {
  std::string waiting;
  bool any_loaded = false;
  for (const auto& provider : providers_) {
    if (provider->keys()) {
      any_loaded = true;
    } else if (provider->state_->failures < kReadinessFailures) {
      waiting += (waiting.empty() ? "" : ", ") + provider->config().name;
    }
  }
  // Once ready, a provider a reload adds does not take every replica out of service while
  // its first fetches run (all pods get the new config at once): only "no keys at all" does.
  if (!waiting.empty() && !was_ready_) return "identity provider keys not loaded yet: " + waiting;
  if (!any_loaded && !providers_.empty()) return "no identity provider has keys";
  was_ready_ = true;
  return {};
}

asio::awaitable<void> KeyManager::RefreshLoop(std::shared_ptr<ProviderKeys> keep) {
  ProviderKeys& provider = *keep;
  ProviderState& state = *provider.state_;
  while (!stopped_ && !state.stopped) {
    {
      std::lock_guard lock(provider.mutex_);
      provider.fetch_pending_ = true;
    }
    std::chrono::seconds wait = co_await LoadOnce(provider);
    std::vector<std::function<void()>> waiters;
    {
      std::lock_guard lock(provider.mutex_);
      provider.fetch_pending_ = false;
      waiters.swap(provider.waiters_);
    }
    for (auto& done : waiters) done();
    if (stopped_ || state.stopped) break;
    state.timer->expires_after(wait);
    co_await state.timer->async_wait(use_nothrow);  // cancelled early by RequestRefetch
  }
  // Requests may still wait on a provider that a reload dropped: let them go.
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(provider.mutex_);
    waiters.swap(provider.waiters_);
  }
  for (auto& done : waiters) done();
}

std::chrono::seconds KeyManager::Failed(ProviderKeys& provider, const std::string& error) {
  ProviderState& state = *provider.state_;
  const config::IdentityProviderConfig& config = provider.config();
  state.fetch_error->Increment();
  ++state.failures;
  state.last_error = error;
  bool had_keys = provider.keys() != nullptr;
  LogEvent(LogLevel::kWarning,
           had_keys ? "key refresh failed; keeping the last good keys" : "key load failed",
           {{"provider", config.name}, {"source", state.source}, {"error", error}});
  if (had_keys && SteadyClock::now() - state.last_success_steady > timing_.max_stale) {
    provider.keys_.store(nullptr, std::memory_order_release);
    state.keys->Set(0);
    LogEvent(LogLevel::kError, "keys dropped: no successful refresh within max_stale",
             {{"provider", config.name}});
  }
  auto backoff = timing_.retry_min * (1 << std::min(state.failures - 1, 10));
  return std::min<std::chrono::seconds>(backoff, timing_.retry_max);
}

std::expected<std::shared_ptr<const jose::KeySet>, std::string> LoadKeyFile(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot read " + path + ": " + std::strerror(errno));
  std::stringstream contents;
  contents << in.rdbuf();
  auto keys = jose::KeySet::Parse(contents.str());
  if (!keys) return std::unexpected(path + ": " + keys.error());
  if ((*keys)->keys().empty()) {
    // As for a fetched key set: a file without a usable key would accept no token at all.
    std::string why;
    for (const jose::IgnoredKey& key : (*keys)->ignored()) {
      if (why.size() > 200) break;
      why += (why.empty() ? " (" : "; ") + std::string("key ") + std::to_string(key.index) +
             (key.kid.empty() ? "" : " (kid " + key.kid + ")") + ": " + key.reason;
    }
    return std::unexpected(path + " has no usable keys" + (why.empty() ? "" : why + ")"));
  }
  return keys;
}

std::chrono::seconds KeyManager::LoadFile(ProviderKeys& provider) {
  ProviderState& state = *provider.state_;
  const std::string& file = provider.config().jwks_file;
  state.source = file;
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(file, ec);
  if (ec) return Failed(provider, "cannot stat " + file + ": " + ec.message());
  bool forced = state.failures > 0 || !provider.keys();
  {
    std::lock_guard lock(provider.mutex_);
    forced = forced || !provider.waiters_.empty();
  }
  if (!forced && mtime == state.file_mtime) return timing_.file_poll;
  auto keys = LoadKeyFile(file);
  if (!keys) return Failed(provider, keys.error());
  state.file_mtime = mtime;
  Publish(provider, std::move(*keys), file);
  return timing_.file_poll;
}

asio::awaitable<std::expected<std::string, std::string>> KeyManager::Discover(
    ProviderKeys& provider, const HttpFetchOptions& options) {
  ProviderState& state = *provider.state_;
  const config::IdentityProviderConfig& config = provider.config();
  std::string discovery = TrimSlash(config.issuer) + "/.well-known/openid-configuration";
  state.source = discovery;
  auto response = co_await HttpGet(discovery, options);
  if (!response) co_return std::unexpected(response.error());
  if (response->status != 200) {
    co_return std::unexpected("discovery " + discovery + " answered " +
                              std::to_string(response->status));
  }
  error_code json_ec;
  json::value document = json::parse(response->body, json_ec);
  const json::object* object = json_ec ? nullptr : document.if_object();
  const json::value* issuer = object ? object->if_contains("issuer") : nullptr;
  const json::value* jwks_uri = object ? object->if_contains("jwks_uri") : nullptr;
  if (!issuer || !issuer->is_string() || !jwks_uri || !jwks_uri->is_string()) {
    co_return std::unexpected("discovery document at " + discovery + " lacks issuer or jwks_uri");
  }
  // OpenID Connect Discovery 1.0 §4.3: the document must name the issuer we asked about.
  if (issuer->as_string() != config.issuer) {
    co_return std::unexpected("discovery document names issuer " +
                              std::string(issuer->as_string()) + ", expected " + config.issuer);
  }
  if (!IsAcceptableKeyUrl(jwks_uri->as_string())) {
    co_return std::unexpected("discovery jwks_uri is not https: " +
                              std::string(jwks_uri->as_string()));
  }
  co_return std::string(jwks_uri->as_string());
}

asio::awaitable<std::chrono::seconds> KeyManager::LoadOnce(ProviderKeys& provider) {
  ProviderState& state = *provider.state_;
  const config::IdentityProviderConfig& config = provider.config();
  if (!config.jwks_file.empty()) co_return LoadFile(provider);

  HttpFetchOptions options;
  options.timeout = timing_.fetch_timeout;
  std::shared_ptr<ssl::context> tls = state.tls;
  options.tls = tls.get();

  std::string uri = !config.jwks_uri.empty() ? config.jwks_uri : state.discovered_jwks_uri;
  if (uri.empty()) {
    auto discovered = co_await Discover(provider, options);
    if (!discovered) co_return Failed(provider, discovered.error());
    uri = std::move(*discovered);
    state.discovered_jwks_uri = uri;
  }

  state.source = uri;
  auto response = co_await HttpGet(uri, options);
  if (!response || response->status != 200) {
    state.discovered_jwks_uri.clear();  // rediscover next time: the IdP may have moved its keys
    co_return Failed(provider, response ? uri + " answered " + std::to_string(response->status)
                                        : response.error());
  }
  auto keys = jose::KeySet::Parse(response->body);
  if (!keys) co_return Failed(provider, uri + ": " + keys.error());
  if ((*keys)->keys().empty()) co_return Failed(provider, uri + ": no usable keys in the key set");
  Publish(provider, std::move(*keys), uri);

  std::chrono::seconds ttl = MaxAge(response->cache_control).value_or(timing_.default_ttl);
  ttl = std::clamp(ttl, timing_.min_ttl, timing_.max_ttl);
  co_return ttl * 3 / 4;  // refresh well before the keys expire
}

void KeyManager::Publish(ProviderKeys& provider, std::shared_ptr<const jose::KeySet> keys,
                         const std::string& source) {
  ProviderState& state = *provider.state_;
  state.fetch_success->Increment();
  state.failures = 0;
  state.last_error.clear();
  state.last_success = SystemClock::now();
  state.last_success_steady = SteadyClock::now();
  state.keys->Set(static_cast<double>(keys->keys().size()));
  state.last_success_gauge->Set(
      std::chrono::duration<double>(state.last_success.time_since_epoch()).count());
  std::string kids;
  for (const jose::Key& key : keys->keys()) {
    if (!kids.empty()) kids += ",";
    kids += key.kid();
  }
  LogEvent(LogLevel::kInfo, "keys loaded",
           {{"provider", provider.config().name},
            {"source", source},
            {"keys", static_cast<int64_t>(keys->keys().size())},
            {"ignored", static_cast<int64_t>(keys->ignored().size())},
            {"kids", kids}});
  provider.keys_.store(std::move(keys), std::memory_order_release);
}

std::string KeyManager::StatusJson() const {
  json::array providers;
  for (const auto& running : providers_) {
    const ProviderKeys& provider = *running;
    const ProviderState& state = *provider.state_;
    json::object entry{{"name", provider.config().name},
                       {"issuer", provider.config().issuer},
                       {"source", state.source},
                       {"failures", state.failures},
                       {"last_error", state.last_error}};
    if (state.last_success != SystemClock::time_point{}) {
      std::string when;
      auto seconds =
          std::chrono::duration_cast<std::chrono::seconds>(state.last_success.time_since_epoch());
      entry["last_success_unix"] = seconds.count();
    }
    json::array keys;
    json::array ignored;
    if (auto set = provider.keys()) {
      for (const jose::Key& key : set->keys()) {
        json::object k{
            {"kid", key.kid()}, {"kty", jose::KeyTypeName(key.type())}, {"bits", key.bits()}};
        if (key.curve() != jose::Curve::kNone) k["crv"] = jose::CurveName(key.curve());
        if (key.algorithm()) k["alg"] = jose::AlgorithmName(*key.algorithm());
        keys.push_back(std::move(k));
      }
      for (const jose::IgnoredKey& key : set->ignored()) {
        ignored.push_back(json::object{{"kid", key.kid}, {"reason", key.reason}});
      }
    }
    entry["loaded"] = provider.keys() != nullptr;
    entry["keys"] = std::move(keys);
    entry["ignored"] = std::move(ignored);
    providers.push_back(std::move(entry));
  }
  return json::serialize(json::object{{"providers", std::move(providers)}}) + "\n";
}

}  // namespace ciap::identity
