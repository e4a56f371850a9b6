// See rate_limit_filter.h.
#include "filters/rate_limit/rate_limit_filter.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <cmath>

#include "filters/api/audit.h"
#include "filters/api/caller.h"

namespace ciap::rate_limit {

BucketTable::BucketTable(const config::RateLimitConfig& config, std::size_t capacity)
    : config_(config), shard_capacity_(std::max<std::size_t>(1, capacity / kShards)) {}

std::optional<std::chrono::nanoseconds> BucketTable::Take(std::string_view key,
                                                          Clock::time_point now) {
  const std::size_t hash = Hash{}(key);
  Shard& shard = shards_[(hash >> 7) % kShards];
  const double burst = static_cast<double>(config_.burst);
  std::lock_guard lock(shard.mutex);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) {
    if (shard.lru.size() >= shard_capacity_) {
      shard.index.erase(shard.lru.back().first);
      shard.lru.pop_back();
    }
    shard.lru.emplace_front(std::string(key), Bucket{burst - 1, now});
    shard.index.emplace(shard.lru.front().first, shard.lru.begin());
    return std::nullopt;
  }
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  Bucket& bucket = it->second->second;
  if (now > bucket.updated) {
    double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(burst, bucket.tokens + elapsed * config_.requests_per_second);
    bucket.updated = now;
  }
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  double wait = (1 - bucket.tokens) / config_.requests_per_second;
  return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(wait * 1e9)));
}

std::size_t BucketTable::size() const {
  std::size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.lru.size();
  }
  return total;
}

std::shared_ptr<BucketTable> RateLimitStore::Table(const std::string& listener,
                                                   const std::string& route,
                                                   const config::RateLimitConfig& config) {
  std::string key = listener;
  key += '\n';
  key += route;
  std::lock_guard lock(mutex_);
  // Forget tables no snapshot uses any more.
  std::erase_if(tables_, [](const auto& entry) { return entry.second.expired(); });
  if (auto existing = tables_[key].lock(); existing && existing->config() == config) {
    return existing;
  }
  auto table = std::make_shared<BucketTable>(config, capacity_);
  tables_[key] = table;
  return table;
}

std::unique_ptr<FilterService> RateLimitService::Make(const ServiceEnv& env) {
  return std::make_unique<RateLimitService>(env);
}

void RateLimitService::Commit(const std::shared_ptr<const PreparedState>& prepared) {
  const auto& state = static_cast<const RateLimitState&>(*prepared);
  if (state.shared && state.shared != running_shared_) {
    state.shared->StartProbe(env_.io->get_executor());
  }
  running_shared_ = state.shared;
}

std::string RateLimitService::NotReady() const {
  return running_shared_ ? running_shared_->NotReady() : std::string();
}

std::expected<std::shared_ptr<const PreparedState>, std::string> RateLimitService::Prepare(
    const config::Config& config) {
  auto state = std::make_shared<RateLimitState>();
  state->store = store_;
  state->replay = replay_;
  // Offline (`ciap check`) nothing is asked: the limits and tables are the process's own.
  if (config.shared_state && env_.offline == nullptr && env_.io != nullptr) {
    if (running_shared_ && running_shared_->config() == *config.shared_state) {
      state->shared = running_shared_;  // the same Redis: keep the connections
    } else {
      auto made = SharedState::Make(*config.shared_state, env_.metrics);
      if (!made) return std::unexpected(made.error());
      state->shared = std::move(*made);
    }
  }
  return state;
}

std::expected<std::unique_ptr<Filter>, std::string> RateLimitFilter::Create(
    const config::ListenerConfig& listener, const FilterEnv& env) {
  auto filter = std::unique_ptr<RateLimitFilter>(new RateLimitFilter);
  const auto* state = dynamic_cast<const RateLimitState*>(env.prepared);
  // Without the service (a filter built alone, in tests and benchmarks): buckets of its own.
  filter->store_ = state != nullptr ? state->store : std::make_shared<RateLimitStore>();
  RateLimitStore* store = filter->store_.get();
  std::shared_ptr<ReplayStore> replay =
      state != nullptr ? state->replay : std::make_shared<ReplayStore>();
  auto& replay_family = prometheus::BuildCounter()
                            .Name("ciap_replay_total")
                            .Help(
                                "Requests on single_use routes, by route and result "
                                "(accepted, replayed, missing_jti, full)")
                            .Register(env.metrics);
  auto& family = prometheus::BuildCounter()
                     .Name("ciap_rate_limit_total")
                     .Help("Rate-limited routes' requests, by result (allowed, limited)")
                     .Register(env.metrics);
  for (const config::RouteConfig& route : listener.routes) {
    RouteLimit& limit = filter->routes_.emplace_back();
    if (route.single_use) {
      limit.replay = replay->Table(listener.name, route.name);
      const char* results[] = {"accepted", "replayed", "missing_jti", "full"};
      for (int i = 0; i < 4; ++i) {
        limit.replay_counts[i] =
            &replay_family.Add({{"route", route.name}, {"result", results[i]}});
      }
    }
    if (state != nullptr && state->shared) {
      filter->shared_ = state->shared;
      limit.shared = (route.rate_limit && route.rate_limit->global) || route.single_use;
      limit.shared_prefix = "ciap:" + listener.name + ":" + route.name + ":";
    }
    if (!route.rate_limit) continue;
    limit.table = store->Table(listener.name, route.name, *route.rate_limit);
    prometheus::Labels labels{{"listener", listener.name}, {"route", route.name}};
    labels["result"] = "allowed";
    limit.allowed = &family.Add(labels);
    labels["result"] = "limited";
    limit.limited = &family.Add(labels);
  }
  return filter;
}

Decision RateLimitFilter::RefuseReplay(const RouteLimit& limit, Request& request,
                                       RequestContext& context, int result) const {
  static constexpr std::string_view kReasons[] = {"", "token_replayed", "missing_jti"};
  limit.replay_counts[result]->Increment();
  WriteAuditEvent(request, context, context.route->name, "deny", kReasons[result]);
  return Decision::Respond(boost::beast::http::status::unauthorized, kReasons[result])
      .WithHeader("WWW-Authenticate", "Bearer realm=\"ciap\", error=\"invalid_token\"");
}

Decision RateLimitFilter::CheckReplay(const RouteLimit& limit, Request& request,
                                      RequestContext& context) const {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (!context.caller || context.caller->jti.empty()) {
    return RefuseReplay(limit, request, context, 2);
  }
  // A token without exp is held for a day: long past any CI token's life.
  const int64_t until = context.caller->expires_at > 0 ? context.caller->expires_at : now + 86400;
  switch (limit.replay->Use(ReplayKey(context), until, now)) {
    case ReplayTable::Result::kFirstUse:
      limit.replay_counts[0]->Increment();
      return Decision::Continue();
    case ReplayTable::Result::kReplayed:
      return RefuseReplay(limit, request, context, 1);
    case ReplayTable::Result::kFull:
      limit.replay_counts[3]->Increment();
      return Decision::Respond(boost::beast::http::status::service_unavailable,
                               "replay_table_full");
  }
  return Decision::Continue();
}

std::string RateLimitFilter::ReplayKey(const RequestContext& context) {
  return context.caller->provider + '\n' + context.caller->jti;
}

std::string RateLimitFilter::BucketKey(const RouteLimit& limit, const RequestContext& context) {
  // Provider and subject are joined with a byte that cannot occur in a provider name, so two
  // callers never share a bucket.
  std::string key;
  switch (limit.table->config().per) {
    case config::RateLimitConfig::Per::kSubject:
    case config::RateLimitConfig::Per::kProvider:
      // The config guarantees an authenticating route and identity before rate_limit; a
      // request without an identity here (shadow-mode access, say) shares one bucket.
      if (context.caller) {
        key = context.caller->provider;
        if (limit.table->config().per == config::RateLimitConfig::Per::kSubject) {
          key += '\n';
          key += context.caller->subject;
        }
      }
      break;
    case config::RateLimitConfig::Per::kRoute:
      break;
    case config::RateLimitConfig::Per::kClient:
      if (context.connection != nullptr) key = context.connection->client_address;
      break;
  }
  return key;
}

Decision RateLimitFilter::Limited(const RouteLimit& limit, std::chrono::nanoseconds wait) {
  limit.limited->Increment();
  auto seconds = std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
  return Decision::Respond(boost::beast::http::status::too_many_requests, "rate_limited")
      .WithHeader("Retry-After", std::to_string(seconds));
}

Decision RateLimitFilter::OnRequest(Request& request, RequestContext& context) const {
  if (context.route_index >= routes_.size()) return Decision::Continue();
  const RouteLimit& limit = routes_[context.route_index];
  if (limit.shared) return Decision::Suspend();  // Redis answers on the worker's connection
  if (limit.table) {
    if (auto wait = limit.table->Take(BucketKey(limit, context), BucketTable::Clock::now())) {
      return Limited(limit, *wait);
    }
    limit.allowed->Increment();
  }
  return limit.replay ? CheckReplay(limit, request, context) : Decision::Continue();
}

// What on_failure makes of a request Redis could not decide; nullopt: decide locally.
std::optional<Decision> RateLimitFilter::OnSharedFailure(std::string_view op) const {
  shared_->CountError(op);
  switch (shared_->config().on_failure) {
    case config::SharedStateConfig::OnFailure::kLocal:
      return std::nullopt;
    case config::SharedStateConfig::OnFailure::kDeny:
      return Decision::Respond(boost::beast::http::status::service_unavailable,
                               "shared_state_unavailable");
    case config::SharedStateConfig::OnFailure::kAllow:
      return Decision::Continue();
  }
  return std::nullopt;
}

asio::awaitable<Decision> RateLimitFilter::OnRequestAsync(Request& request,
                                                          RequestContext& context) const {
  const RouteLimit& limit = routes_[context.route_index];
  if (limit.table) {
    std::string key = BucketKey(limit, context);
    std::optional<std::chrono::nanoseconds> wait;
    bool decided = false;
    if (limit.table->config().global) {
      const auto& c = limit.table->config();
      auto taken =
          co_await shared_->Take(limit.shared_prefix + key, c.requests_per_second, c.burst);
      if (taken) {
        wait = *taken;
        decided = true;
      } else if (auto fallback = OnSharedFailure("rate_limit")) {
        if (!fallback->is_continue()) co_return *fallback;
        decided = true;  // allow
      }
    }
    if (!decided) wait = limit.table->Take(key, BucketTable::Clock::now());
    if (wait) co_return Limited(limit, *wait);
    limit.allowed->Increment();
  }
  if (!limit.replay) co_return Decision::Continue();
  if (!context.caller || context.caller->jti.empty()) {
    co_return RefuseReplay(limit, request, context, 2);
  }
  const int64_t until_ms =
      context.caller->expires_at > 0
          ? context.caller->expires_at * 1000
          : std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch() + std::chrono::hours(24))
                .count();
  auto first = co_await shared_->UseOnce(limit.shared_prefix + ReplayKey(context), until_ms);
  if (!first) {
    if (auto fallback = OnSharedFailure("replay")) {
      if (fallback->is_continue()) limit.replay_counts[0]->Increment();
      co_return *fallback;
    }
    co_return CheckReplay(limit, request, context);
  }
  if (!*first) co_return RefuseReplay(limit, request, context, 1);
  limit.replay_counts[0]->Increment();
  co_return Decision::Continue();
}

}  // namespace ciap::rate_limit
