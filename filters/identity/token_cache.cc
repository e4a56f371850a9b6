// See token_cache.h.
#include "filters/identity/token_cache.h"

namespace ciap::identity {

const TokenCache::Entry* TokenCache::Find(std::string_view token, uint64_t owner, int64_t now,
                                          Result* result) {
  auto it = index_.find(token);
  if (it == index_.end()) {
    *result = Result::kMiss;
    return nullptr;
  }
  const Entry& entry = it->second->second;
  if (entry.expires_at <= now) {
    *result = Result::kExpired;
  } else if (entry.owner != owner || entry.keys != entry.provider_keys->keys()) {
    *result = Result::kStale;  // keys rotated (or config reloaded): verify again
  } else {
    *result = Result::kHit;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &entry;
  }
  List::iterator node = it->second;
  index_.erase(it);
  lru_.erase(node);
  return nullptr;
}

bool TokenCache::Insert(std::string_view token, Entry entry) {
  if (capacity_ == 0) return false;
  if (auto it = index_.find(token); it != index_.end()) {
    it->second->second = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second);
    return false;
  }
  bool evicted = false;
  if (index_.size() >= capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
    evicted = true;
  }
  lru_.emplace_front(std::string(token), std::move(entry));
  index_.emplace(lru_.front().first, lru_.begin());
  return evicted;
}

}  // namespace ciap::identity
