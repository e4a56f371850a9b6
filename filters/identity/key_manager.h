// Key management for identity providers, on the main thread: OIDC discovery, JWKS fetching
// over verified HTTPS, refresh before expiry, on-demand refetch for unknown kids (rate-limited
// and coalesced), and stale fallback. Workers only ever read an immutable KeySet snapshot.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/identity/identity_metrics.h"
#include "jose/jwk.h"
#include "net/asio.h"
#include "net/http_client.h"

namespace ciap::identity {

// Refresh and fallback timing. The defaults are the documented behaviour; tests shorten them.
struct KeyTiming {
  std::chrono::seconds min_ttl{300};  // Cache-Control max-age is clamped to [min, max]
  std::chrono::seconds max_ttl{86400};
  std::chrono::seconds default_ttl{3600};         // when the response says nothing
  std::chrono::seconds unknown_kid_interval{30};  // at most one kid-driven refetch per this
  std::chrono::seconds retry_min{5};              // after a failed fetch, doubling up to retry_max
  std::chrono::seconds retry_max{300};
  std::chrono::hours max_stale{24};   // last good keys stay in use this long after a success
  std::chrono::seconds file_poll{2};  // jwks_file change detection
  std::chrono::milliseconds fetch_timeout{5000};
};

struct ProviderState;  // the refresh loop's own state (key_manager.cc)

// One provider's keys as the data plane sees them. Thread-safe. Shared: a config reload that
// keeps a provider's key source keeps its ProviderKeys (and its keys), and a snapshot that is
// still serving requests keeps the ProviderKeys of a provider the new config dropped.
class ProviderKeys {
 public:
  explicit ProviderKeys(const config::IdentityProviderConfig& config) : config_(config) {}
  ~ProviderKeys();

  // Keys that never change and are never refetched (an unknown kid is refused at once), for
  // `ciap check`, which decides offline.
  static std::shared_ptr<ProviderKeys> Fixed(const config::IdentityProviderConfig& config,
                                             std::shared_ptr<const jose::KeySet> keys);

  const config::IdentityProviderConfig& config() const { return config_; }

  // The current key set; null until the first successful load (requests then get 503).
  std::shared_ptr<const jose::KeySet> keys() const { return keys_.load(std::memory_order_acquire); }

  // A worker saw a kid it does not know. Starts (or joins) a refetch unless one ran less than
  // `unknown_kid_interval` ago. Returns false when rate-limited: the caller should answer now.
  // Otherwise `done` runs (on the main thread) once the refetch finished, successfully or not;
  // it must be cheap and thread-safe (typically: post a wake-up to the waiting worker).
  bool RequestRefetch(std::function<void()> done);

 private:
  friend class KeyManager;

  const config::IdentityProviderConfig config_;  // a copy: it outlives the Config it came from
  std::shared_ptr<ProviderState> state_;         // main thread only
  std::atomic<std::shared_ptr<const jose::KeySet>> keys_;

  std::mutex mutex_;  // guards the fields below, shared with workers
  bool fetch_pending_ = false;
  std::chrono::steady_clock::time_point last_kid_fetch_{};
  std::vector<std::function<void()>> waiters_;
  std::function<void()> wake_;  // set by KeyManager: wakes the refresh loop on the main thread
  std::chrono::seconds unknown_kid_interval_{30};
  bool fixed_ = false;
};

// The providers of one config, index-aligned with its identity_providers; null for a provider
// that is not a JWT issuer.
using ProviderSet = std::vector<std::shared_ptr<ProviderKeys>>;

// Owns every provider's refresh loop, on the main thread. A config becomes the running one in
// two steps, so that a reload that fails half-way changes nothing: Prepare() the config's
// providers, build the snapshot with them, then Commit() them.
class KeyManager {
 public:
  KeyManager(asio::io_context& io, IdentityMetrics& metrics, KeyTiming timing = {});
  ~KeyManager();

  // The providers for `config`: a running provider with the same name and key source (issuer,
  // jwks_uri, jwks_file, ca_file) is reused, keys and all; the others are new and idle.
  // An error (a provider's jwks_file or ca_file that cannot be used) refuses the config.
  std::expected<ProviderSet, std::string> Prepare(const config::Config& config);
  // Makes `providers` (from Prepare) the running set: starts the new ones' refresh loops (once
  // Start() was called) and stops the loops of the providers left out. A stopped provider's
  // last keys stay readable by whoever still holds it.
  void Commit(const ProviderSet& providers);

  void Start();
  void Stop();

  const ProviderSet& providers() const { return providers_; }

  // Why the proxy is not ready yet for key reasons, or empty. Every provider holds readiness
  // back until it has keys or has failed kReadinessFailures fetches in a row (a normal start
  // waits for every key set); then one IdP's outage no longer keeps the pod out of service for
  // every other provider's callers, as long as some provider has keys. Main thread only.
  std::string ReadinessProblem() const;
  static constexpr int kReadinessFailures = 3;
  // /jwks-status: per provider, source, key ids, ignored keys, last fetch. Main thread only.
  std::string StatusJson() const;

 private:
  mutable bool was_ready_ = false;  // ReadinessProblem found nothing once (main thread)
  asio::awaitable<void> RefreshLoop(std::shared_ptr<ProviderKeys> provider);
  // One load or refresh; returns when to try next.
  asio::awaitable<std::chrono::seconds> LoadOnce(ProviderKeys& provider);
  std::chrono::seconds LoadFile(ProviderKeys& provider);
  // OIDC discovery: the issuer's jwks_uri, or why not.
  asio::awaitable<std::expected<std::string, std::string>> Discover(
      ProviderKeys& provider, const HttpFetchOptions& options);
  // Counts and logs a failed load; returns the backoff before the next try.
  std::chrono::seconds Failed(ProviderKeys& provider, const std::string& error);
  void Publish(ProviderKeys& provider, std::shared_ptr<const jose::KeySet> keys,
               const std::string& source);
  std::expected<std::shared_ptr<ProviderKeys>, std::string> MakeProvider(
      const config::IdentityProviderConfig& config);
  // Whether the TLS context changed, or why the ca_file cannot be used.
  static std::expected<bool, std::string> LoadCa(const config::IdentityProviderConfig& provider,
                                                 ProviderState& state);

  asio::io_context& io_;
  IdentityMetrics& metrics_;
  KeyTiming timing_;
  ProviderSet providers_;
  bool started_ = false;
  bool stopped_ = false;
};

// A JWKS document from a local file (jwks_file) with at least one usable key; an error names
// the file and the problem.
std::expected<std::shared_ptr<const jose::KeySet>, std::string> LoadKeyFile(
    const std::string& path);

// Parses "max-age=N" out of a Cache-Control value; nullopt when absent or "no-store"/"no-cache".
std::optional<std::chrono::seconds> MaxAge(std::string_view cache_control);

}  // namespace ciap::identity
