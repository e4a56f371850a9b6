// See credential_source.h.
#include "filters/headers/credential_source.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/text.h"
#include "net/log.h"

namespace ciap::headers {

CredentialMetrics::CredentialMetrics(prometheus::Registry& registry)
    : total(prometheus::BuildCounter()
                .Name("ciap_credentials_total")
                .Help("Requests that needed a minted upstream credential, by route and result "
                      "(cached: one held was used; minted: the request waited for a new one; "
                      "failed: none could be had, 503)")
                .Register(registry)),
      mint_duration(prometheus::BuildHistogram()
                        .Name("ciap_credentials_mint_duration_seconds")
                        .Help("How long minting an upstream credential took (its count: the "
                              "mints), by route and result (ok, failed)")
                        .Register(registry)) {}

std::expected<std::shared_ptr<CredentialSource>, std::string> CredentialSource::Make(
    const config::CredentialsConfig& config, std::string route, asio::any_io_executor main,
    CredentialMetrics* metrics, MintCall call) {
  if (!call) {
    auto made = MakeMintCall(config);
    if (!made) return std::unexpected(made.error());
    call = std::move(*made);
  }
  return std::make_shared<CredentialSource>(config, std::move(route), std::move(main), metrics,
                                            std::move(call));
}

CredentialSource::CredentialSource(const config::CredentialsConfig& config, std::string route,
                                   asio::any_io_executor main, CredentialMetrics* metrics,
                                   MintCall call)
    : config_(config),
      route_(std::move(route)),
      main_(std::move(main)),
      metrics_(metrics),
      call_(std::move(call)) {
  if (metrics_ != nullptr)
    cached_ = &metrics_->total.Add({{"route", route_}, {"result", "cached"}});
}

std::shared_ptr<const std::string> CredentialSource::UsableLocked(Clock::time_point now) const {
  return value_ && now < usable_until_ ? value_ : nullptr;
}

std::shared_ptr<CredentialSource::Flight> CredentialSource::StartLocked() {
  if (!flight_) {
    flight_ = std::make_shared<Flight>();
    // Posted, never run inline (the caller holds mutex_, which the mint's end takes). The mint
    // keeps the source alive: a reload may drop it while the mint runs.
    asio::post(main_, [self = shared_from_this(), flight = flight_] {
      asio::co_spawn(self->main_, Run(self, flight), asio::detached);
    });
  }
  return flight_;
}

std::shared_ptr<const std::string> CredentialSource::Current() {
  const auto now = Clock::now();
  std::shared_ptr<const std::string> value;
  {
    std::lock_guard lock(mutex_);
    value = UsableLocked(now);
    if (!value) return nullptr;
    if (now >= refresh_from_ && now >= retry_after_) StartLocked();
  }
  if (cached_ != nullptr) cached_->Increment();
  return value;
}

asio::awaitable<std::shared_ptr<const std::string>> CredentialSource::Obtain() {
  auto executor = co_await asio::this_coro::executor;
  // The wait is bounded by the mint's own timeout, plus a margin for the mint to report it.
  auto timer =
      std::make_shared<asio::steady_timer>(executor, config_.timeout + std::chrono::seconds(1));
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    if (auto value = UsableLocked(now)) {  // minted meanwhile
      if (cached_ != nullptr) cached_->Increment();
      co_return value;
    }
    if (now < retry_after_) {
      Count("failed");  // the last mint failed a moment ago: do not queue on the source
      co_return nullptr;
    }
    flight = StartLocked();
    flight->waiters.push_back(
        [timer] { asio::post(timer->get_executor(), [timer] { timer->cancel(); }); });
  }
  co_await timer->async_wait(use_nothrow);
  std::shared_ptr<const std::string> value;
  {
    std::lock_guard lock(mutex_);
    if (flight->done && flight->ok) value = value_;
  }
  Count(value ? "minted" : "failed");
  co_return value;
}

asio::awaitable<void> CredentialSource::Run(std::shared_ptr<CredentialSource> self,
                                            std::shared_ptr<Flight> flight) {
  const auto start = std::chrono::steady_clock::now();
  std::expected<MintedCredential, std::string> minted;
  try {
    minted = co_await self->call_();
  } catch (const std::exception& e) {
    minted = std::unexpected(std::string(e.what()));
  }
  const auto now = Clock::now();
  if (minted && minted->expires_at <= now + std::chrono::seconds(2)) {
    minted = std::unexpected(std::string("the source handed out a credential that has expired"));
  }
  if (self->metrics_ != nullptr) {
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    self->metrics_->mint_duration
        .Add({{"route", self->route_}, {"result", minted ? "ok" : "failed"}}, kBuckets)
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(self->mutex_);
    if (minted) {
      const auto lifetime = minted->expires_at - now;
      const auto margin = std::min<Clock::duration>(kMaxMargin, lifetime / 4);
      const bool bearer = config::EqualsIgnoreCase(self->config_.header, "Authorization");
      self->value_ = std::make_shared<const std::string>((bearer ? "Bearer " : "") + minted->token);
      self->usable_until_ = minted->expires_at - margin;
      self->refresh_from_ = minted->expires_at - 2 * margin;
      self->backoff_ = kMinBackoff;
      self->retry_after_ = {};
    } else {
      self->retry_after_ = now + self->backoff_;
      self->backoff_ = std::min<std::chrono::seconds>(kMaxBackoff, self->backoff_ * 2);
    }
    flight->done = true;
    flight->ok = minted.has_value();
    waiters.swap(flight->waiters);
    self->flight_.reset();
  }
  if (minted) {
    LogEvent(
        LogLevel::kInfo, "upstream credential minted",
        {{"route", self->route_},
         {"expires_in_s",
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(minted->expires_at - now)
                             .count())}});
  } else {
    LogEvent(LogLevel::kWarning, "upstream credential not minted",
             {{"route", self->route_}, {"error", minted.error()}});
  }
  for (auto& wake : waiters) wake();
}

bool CredentialSource::Adopt(const CredentialSource& previous) {
  if (!(config_ == previous.config_) || route_ != previous.route_) return false;
  std::scoped_lock lock(mutex_, previous.mutex_);
  value_ = previous.value_;
  usable_until_ = previous.usable_until_;
  refresh_from_ = previous.refresh_from_;
  return value_ != nullptr;
}

void CredentialSource::Count(std::string_view result) {
  if (metrics_ == nullptr) return;
  metrics_->total.Add({{"route", route_}, {"result", std::string(result)}}).Increment();
}

}  // namespace ciap::headers
