// The `rate_limit` filter: a token bucket per caller (provider + subject), per provider, per
// route or per client address, as the route's `rate_limit` says. Over the limit: 429 with
// Retry-After. It also keeps `replay: single_use` (replay_table.h): after the bucket let a
// request through, its token's jti must be new on the route; a used one is 401 token_replayed,
// a token without jti 401 missing_jti, both audited. Buckets are shared by all workers (the limit
// is per process, not per worker), kept in a bounded LRU table per route, and survive config
// reloads that leave the route's limit unchanged.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <expected>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "filters/api/chain.h"
#include "filters/api/filter.h"
#include "filters/api/service.h"
#include "filters/rate_limit/replay_table.h"
#include "filters/rate_limit/shared_state.h"

namespace prometheus {
class Counter;
}

namespace ciap::rate_limit {

// One route's buckets. Thread-safe: sharded by key hash, one mutex per shard, each shard an LRU
// bounded to capacity / kShards buckets (a forgotten caller starts again with a full bucket).
class BucketTable {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kShards = 16;

  BucketTable(const config::RateLimitConfig& config, std::size_t capacity);

  // Takes a token from `key`'s bucket. Returns nullopt when the request may go, otherwise how
  // long until the bucket holds a token again.
  std::optional<std::chrono::nanoseconds> Take(std::string_view key, Clock::time_point now);

  const config::RateLimitConfig& config() const { return config_; }
  std::size_t size() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mutex;
    std::list<std::pair<std::string, Bucket>> lru;  // most recently used first
    std::unordered_map<std::string, std::list<std::pair<std::string, Bucket>>::iterator, Hash,
                       std::equal_to<>>
        index;
  };

  config::RateLimitConfig config_;
  std::size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

// Keeps each route's table across config reloads while the route's limit stays the same.
class RateLimitStore {
 public:
  explicit RateLimitStore(std::size_t capacity_per_route = 65536) : capacity_(capacity_per_route) {}

  std::shared_ptr<BucketTable> Table(const std::string& listener, const std::string& route,
                                     const config::RateLimitConfig& config);

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<BucketTable>> tables_;
};

// The buckets outlive snapshots: a reload that keeps a route's limit keeps its callers' state.
struct RateLimitState : PreparedState {
  std::shared_ptr<RateLimitStore> store;
  std::shared_ptr<ReplayStore> replay;
  std::shared_ptr<SharedState> shared;  // null without shared_state (and offline)
};

class RateLimitService : public FilterService {
 public:
  static std::unique_ptr<FilterService> Make(const ServiceEnv& env);
  explicit RateLimitService(const ServiceEnv& env) : env_(env) {}
  std::expected<std::shared_ptr<const PreparedState>, std::string> Prepare(
      const config::Config& config) override;
  void Commit(const std::shared_ptr<const PreparedState>& prepared) override;
  std::string NotReady() const override;

 private:
  ServiceEnv env_;
  std::shared_ptr<SharedState> running_shared_;
  std::shared_ptr<RateLimitStore> store_ = std::make_shared<RateLimitStore>();
  std::shared_ptr<ReplayStore> replay_ = std::make_shared<ReplayStore>();
};

class RateLimitFilter : public Filter {
 public:
  static std::expected<std::unique_ptr<Filter>, std::string> Create(
      const config::ListenerConfig& listener, const FilterEnv& env);

  Decision OnRequest(Request& request, RequestContext& context) const override;
  boost::asio::awaitable<Decision> OnRequestAsync(Request& request,
                                                  RequestContext& context) const override;
  std::string_view name() const override { return "rate_limit"; }

 private:
  struct RouteLimit {
    std::shared_ptr<BucketTable> table;  // null: the route has no rate_limit
    prometheus::Counter* allowed = nullptr;
    prometheus::Counter* limited = nullptr;
    std::shared_ptr<ReplayTable> replay;         // null: the route is not single_use
    prometheus::Counter* replay_counts[4] = {};  // accepted, replayed, missing_jti, full
    bool shared = false;        // a global limit or single_use with shared_state: ask Redis
    std::string shared_prefix;  // "ciap:<listener>:<route>:" for the route's Redis keys
  };
  // The single-use check of a request the bucket let through, in this process's table.
  Decision CheckReplay(const RouteLimit& limit, Request& request, RequestContext& context) const;
  // 401 for a replayed token (result 1) or one without jti (2): counted and audited.
  Decision RefuseReplay(const RouteLimit& limit, Request& request, RequestContext& context,
                        int result) const;
  static std::string ReplayKey(const RequestContext& context);
  static std::string BucketKey(const RouteLimit& limit, const RequestContext& context);
  static Decision Limited(const RouteLimit& limit, std::chrono::nanoseconds wait);
  std::optional<Decision> OnSharedFailure(std::string_view op) const;

  std::vector<RouteLimit> routes_;  // indexed by route index within the listener
  std::shared_ptr<RateLimitStore> store_;
  std::shared_ptr<SharedState> shared_;  // null without shared_state
};

}  // namespace ciap::rate_limit
