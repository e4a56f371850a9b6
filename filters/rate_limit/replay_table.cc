// See replay_table.h.
#include "filters/rate_limit/replay_table.h"

#include <algorithm>

namespace ciap::rate_limit {

ReplayTable::Result ReplayTable::Use(std::string_view key, int64_t expires_at, int64_t now) {
  Shard& shard = shards_[(Hash{}(key) >> 7) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.used.find(key);
  if (it != shard.used.end()) {
    if (it->second > now) return Result::kReplayed;
    shard.used.erase(it);  // an expired token: no longer accepted anywhere, forget it
  }
  if (shard.used.size() >= shard_capacity_) {
    std::erase_if(shard.used, [now](const auto& entry) { return entry.second <= now; });
    if (shard.used.size() >= shard_capacity_) return Result::kFull;
  }
  shard.used.emplace(std::string(key), expires_at);
  return Result::kFirstUse;
}

std::size_t ReplayTable::size() const {
  std::size_t total = 0;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.used.size();
  }
  return total;
}

std::shared_ptr<ReplayTable> ReplayStore::Table(const std::string& listener,
                                                const std::string& route) {
  std::lock_guard lock(mutex_);
  auto& table = tables_[listener + '\n' + route];
  if (!table) table = std::make_shared<ReplayTable>();
  return table;
}

}  // namespace ciap::rate_limit
