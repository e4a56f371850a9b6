// See lookup_source.h.
#include "filters/identity/lookup_source.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <cstring>

#include "filters/api/stand_in.h"
#include "filters/identity/identity_metrics.h"
#include "filters/identity/source_claims.h"
#include "net/log.h"

namespace ciap::identity {

LookupAnswer LookupAnswer::Refused(std::string_view reason, std::string detail) {
  LookupAnswer answer;
  answer.kind = Kind::kRefused;
  answer.reason = reason;
  answer.detail = std::move(detail);
  return answer;
}

LookupAnswer LookupAnswer::Unavailable(std::string detail) {
  LookupAnswer answer;
  answer.detail = std::move(detail);
  return answer;
}

std::expected<std::shared_ptr<LookupSource>, std::string> LookupSource::Make(
    const config::IdentityProviderConfig& config, asio::any_io_executor main,
    IdentityMetrics* metrics, LookupCall call) {
  if (!call) {
    auto made = MakeLookupCall(config);
    if (!made) return std::unexpected(made.error());
    call = std::move(*made);
  }
  return std::make_shared<LookupSource>(config, std::move(main), metrics, std::move(call));
}

std::shared_ptr<LookupSource> LookupSource::Offline(const config::IdentityProviderConfig& config) {
  auto source = std::make_shared<LookupSource>(config, asio::any_io_executor(), nullptr, nullptr);
  source->offline_ = true;
  return source;
}

LookupSource::LookupSource(const config::IdentityProviderConfig& config, asio::any_io_executor main,
                           IdentityMetrics* metrics, LookupCall call)
    : config_(config), main_(std::move(main)), metrics_(metrics), call_(std::move(call)) {}

std::size_t LookupSource::KeyHash::operator()(const Key& key) const {
  std::size_t h;
  std::memcpy(&h, key.data(), sizeof h);  // a SHA-256 is uniform already
  return h;
}

LookupSource::Key LookupSource::Digest(std::string_view credential) {
  Key key{};
  unsigned int size = 0;
  EVP_Digest(credential.data(), credential.size(), key.data(), &size, EVP_sha256(), nullptr);
  return key;
}

const LookupSource::Entry* LookupSource::FindLocked(const Key& key,
                                                    std::chrono::system_clock::time_point now) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  if (it->second->good_until <= now) {
    lru_.erase(it->second);
    index_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return &*it->second;
}

void LookupSource::StoreLocked(const Key& key, LookupAnswer& answer) {
  const auto now = std::chrono::system_clock::now();
  std::chrono::system_clock::time_point until;
  if (answer.kind == LookupAnswer::Kind::kAccepted) {
    until = now + config_.cache_ttl;
  } else if (answer.kind == LookupAnswer::Kind::kRefused) {
    until = now + kRefusalTtl;
  } else {
    return;  // an outage is asked about again: the next request may find the source back
  }
  if (answer.expires_at > 0) {
    until = std::min(
        until, std::chrono::system_clock::time_point(std::chrono::seconds(answer.expires_at)));
  }
  if (until <= now) return;
  answer.cached_until =
      std::chrono::duration_cast<std::chrono::seconds>(until.time_since_epoch()).count();
  if (auto it = index_.find(key); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(Entry{key, answer, until});
  index_[key] = lru_.begin();
  if (lru_.size() > kCacheCapacity) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

std::optional<LookupAnswer> LookupSource::Cached(std::string_view credential) {
  if (offline_) {
    std::optional<boost::json::object> claims = StandInClaims(config_, credential);
    if (!claims) {
      return LookupAnswer::Unavailable(
          "ciap check cannot ask the source about a credential; "
          "describe the caller by its claims");
    }
    CallerClaims caller{.claims = std::move(*claims)};
    if (const auto* exp = caller.claims.if_contains("exp"); exp && exp->is_number()) {
      caller.expires_at = static_cast<int64_t>(std::clamp(exp->to_number<double>(), 0.0, 1e11));
    }
    LookupAnswer answer;
    answer.kind = LookupAnswer::Kind::kAccepted;
    answer.reason = "authenticated";
    auto made = caller.ToCaller(config_.name);
    made->credential_digest = DigestOf(credential);
    answer.caller = std::move(made);
    return answer;
  }
  const Key key = Digest(credential);
  std::lock_guard lock(mutex_);
  const Entry* entry = FindLocked(key, std::chrono::system_clock::now());
  if (entry == nullptr) return std::nullopt;
  return entry->answer;
}

bool LookupSource::AdoptCache(const LookupSource& previous) {
  const config::IdentityProviderConfig& a = config_;
  const config::IdentityProviderConfig& b = previous.config_;
  if (offline_ || previous.offline_ || a.name != b.name || a.type != b.type || a.url != b.url ||
      a.introspection_endpoint != b.introspection_endpoint || a.client_id != b.client_id ||
      a.sts_endpoints != b.sts_endpoints || a.audience != b.audience ||
      a.token_headers != b.token_headers || a.token_prefixes != b.token_prefixes) {
    return false;
  }
  const auto limit = std::chrono::system_clock::now() + config_.cache_ttl;
  std::scoped_lock lock(mutex_, previous.mutex_);
  for (auto it = previous.lru_.rbegin(); it != previous.lru_.rend(); ++it) {
    Entry entry = *it;
    // A refusal keeps its few seconds; an accepted answer no more than this cache_ttl from now.
    entry.good_until = std::min(entry.good_until, limit);
    entry.answer.cached_until =
        std::chrono::duration_cast<std::chrono::seconds>(entry.good_until.time_since_epoch())
            .count();
    lru_.push_front(std::move(entry));  // oldest first, so the order is kept
    index_[lru_.front().key] = lru_.begin();
  }
  return true;
}

asio::awaitable<LookupAnswer> LookupSource::Lookup(std::string credential) {
  const Key key = Digest(credential);
  auto executor = co_await asio::this_coro::executor;
  // The wait is bounded by the call's own timeout, plus a margin for the call to report it.
  auto timer =
      std::make_shared<asio::steady_timer>(executor, config_.timeout + std::chrono::seconds(1));
  std::shared_ptr<Flight> flight;
  {
    std::lock_guard lock(mutex_);
    if (const Entry* entry = FindLocked(key, std::chrono::system_clock::now())) {
      co_return entry->answer;
    }
    auto it = flights_.find(key);
    if (it != flights_.end()) {
      flight = it->second;
    } else if (flights_.size() >= kMaxInFlight) {
      co_return LookupAnswer::Unavailable("too many lookups in flight");
    } else {
      flight = std::make_shared<Flight>();
      flights_.emplace(key, flight);
      // Posted, never run inline (mutex_ is held here, and the call's end takes it). The call
      // keeps the source alive: a reload may drop it while the call runs.
      asio::post(main_, [self = shared_from_this(), key, credential = std::move(credential),
                         flight]() mutable {
        asio::co_spawn(self->main_, Run(self, key, std::move(credential), flight), asio::detached);
      });
    }
    flight->waiters.push_back(
        [timer] { asio::post(timer->get_executor(), [timer] { timer->cancel(); }); });
  }
  co_await timer->async_wait(use_nothrow);
  std::lock_guard lock(mutex_);
  if (!flight->done) co_return LookupAnswer::Unavailable("no answer within the timeout");
  co_return flight->answer;
}

asio::awaitable<void> LookupSource::Run(std::shared_ptr<LookupSource> self, Key key,
                                        std::string credential, std::shared_ptr<Flight> flight) {
  const auto start = std::chrono::steady_clock::now();
  LookupAnswer answer;
  try {
    answer = co_await self->call_(std::move(credential));
  } catch (const std::exception& e) {
    answer = LookupAnswer::Unavailable(e.what());
  }
  self->Count(answer, std::chrono::steady_clock::now() - start);
  // The caller this call just made, shared with no one yet: it is named by the credential.
  if (answer.caller) std::const_pointer_cast<Caller>(answer.caller)->credential_digest = key;
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(self->mutex_);
    self->StoreLocked(key, answer);
    flight->answer = std::move(answer);
    flight->done = true;
    waiters.swap(flight->waiters);
    self->flights_.erase(key);
  }
  for (auto& wake : waiters) wake();
}

void LookupSource::Count(const LookupAnswer& answer, std::chrono::steady_clock::duration took) {
  static constexpr std::string_view kResults[] = {"accepted", "refused", "unavailable"};
  std::string_view result = kResults[static_cast<int>(answer.kind)];
  if (answer.kind != LookupAnswer::Kind::kAccepted) {
    LogEvent(answer.kind == LookupAnswer::Kind::kUnavailable ? LogLevel::kWarning : LogLevel::kInfo,
             "identity source lookup failed",
             {{"provider", config_.name}, {"result", result}, {"detail", answer.detail}});
  }
  if (metrics_ == nullptr) return;
  metrics_->lookups.Add({{"provider", config_.name}, {"result", std::string(result)}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  metrics_->lookup_duration.Add({{"provider", config_.name}}, kBuckets)
      .Observe(std::chrono::duration<double>(took).count());
}

}  // namespace ciap::identity
