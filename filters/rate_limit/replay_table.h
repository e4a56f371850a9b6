// `replay: single_use`: the jti values a route has accepted, each until its token expires, so
// that a token is good for one request on the route. Per process (shared by all workers) and
// kept across config reloads for as long as the route exists: a reload must not make used
// tokens good again. Bounded: expired entries are dropped as the table grows, and a route whose
// table is full of unexpired tokens refuses new ones (fail closed) rather than forget used ones.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ciap::rate_limit {

class ReplayTable {
 public:
  static constexpr std::size_t kShards = 16;
  enum class Result { kFirstUse, kReplayed, kFull };

  explicit ReplayTable(std::size_t capacity = 262144) : shard_capacity_(capacity / kShards) {}

  // Records `key` (provider and jti) as used until `expires_at` (seconds since the epoch).
  Result Use(std::string_view key, int64_t expires_at, int64_t now);
  std::size_t size() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> used;  // key -> expires_at
  };
  std::size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

// Each single-use route's table, by listener and route name, for the life of the process.
class ReplayStore {
 public:
  std::shared_ptr<ReplayTable> Table(const std::string& listener, const std::string& route);

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<ReplayTable>> tables_;
};

}  // namespace ciap::rate_limit
