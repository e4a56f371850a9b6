// Short-lived credentials ciap mints for an upstream (a route's `credentials`): an OAuth 2.0
// client-credentials access token, or a GitHub App installation token.
//
// One CredentialSource per route and config, shared by every worker; a reload that leaves the
// route's credentials unchanged hands the credential it holds to the new source. The first
// request mints; concurrent requests without a credential share that one mint. A credential
// with lifetime L is used until min(60s, L/4) before it expires, and replaced from twice that
// margin on by a mint in the background while requests keep the one held, so a refresh never
// fails or delays a request. A failed mint is answered 503 credentials_unavailable (nothing is
// forwarded without the credential) and retried after a backoff. Mints run on the main thread's
// loop, like key fetches; a worker waits with a timer, so a source that hangs costs the request
// `timeout` plus a second at most. Neither the credential nor the client's secret is logged.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "net/asio.h"

namespace prometheus {
class Counter;
class Registry;
template <typename T>
class Family;
class Histogram;
}  // namespace prometheus

namespace ciap::headers {

// What a source handed out.
struct MintedCredential {
  std::string token;
  std::chrono::system_clock::time_point expires_at;
};

// One mint; runs on the main thread, must finish within the credentials' timeout. An error is
// a sentence for the log, never holding a secret.
using MintCall = std::function<asio::awaitable<std::expected<MintedCredential, std::string>>()>;

// The mint of each credentials type (credential_calls.cc). Fails when a file it needs (ca_file,
// the app key) cannot be used.
std::expected<MintCall, std::string> MakeMintCall(const config::CredentialsConfig& config);

// ciap_credentials_total{route,result} and the mints' durations.
struct CredentialMetrics {
  explicit CredentialMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& total;
  prometheus::Family<prometheus::Histogram>& mint_duration;
};

class CredentialSource : public std::enable_shared_from_this<CredentialSource> {
 public:
  static constexpr std::chrono::seconds kMaxMargin{60};
  static constexpr std::chrono::seconds kMinBackoff{1};
  static constexpr std::chrono::seconds kMaxBackoff{30};

  // `call` null: the type's own mint.
  static std::expected<std::shared_ptr<CredentialSource>, std::string> Make(
      const config::CredentialsConfig& config, std::string route, asio::any_io_executor main,
      CredentialMetrics* metrics, MintCall call = nullptr);

  // The header value to inject now ("Bearer …" for Authorization, else the token), or null when
  // none is usable and the request must wait in Obtain(). Starts the background refresh when
  // the held credential is due. Any thread; counts `cached`.
  std::shared_ptr<const std::string> Current();
  // The header value from a mint this request starts or joins, or null when the source failed
  // (counted `failed`; the request gets 503). On the request's executor.
  asio::awaitable<std::shared_ptr<const std::string>> Obtain();

  // Takes `previous`'s credential when it is the same route minting the same way.
  bool Adopt(const CredentialSource& previous);

  const config::CredentialsConfig& config() const { return config_; }

  CredentialSource(const config::CredentialsConfig& config, std::string route,
                   asio::any_io_executor main, CredentialMetrics* metrics, MintCall call);

 private:
  struct Flight {
    bool done = false;
    bool ok = false;
    std::vector<std::function<void()>> waiters;
  };
  using Clock = std::chrono::system_clock;

  // With mutex_ held: the held value if it is usable at `now`.
  std::shared_ptr<const std::string> UsableLocked(Clock::time_point now) const;
  // With mutex_ held: starts a mint unless one runs.
  std::shared_ptr<Flight> StartLocked();
  static asio::awaitable<void> Run(std::shared_ptr<CredentialSource> self,
                                   std::shared_ptr<Flight> flight);
  void Count(std::string_view result);

  const config::CredentialsConfig config_;
  const std::string route_;
  asio::any_io_executor main_;
  CredentialMetrics* metrics_;
  MintCall call_;
  prometheus::Counter* cached_ = nullptr;

  mutable std::mutex mutex_;
  std::shared_ptr<const std::string> value_;
  Clock::time_point usable_until_{};
  Clock::time_point refresh_from_{};
  Clock::time_point retry_after_{};  // after a failed mint: no new one before
  std::chrono::seconds backoff_ = kMinBackoff;
  std::shared_ptr<Flight> flight_;
};

}  // namespace ciap::headers
