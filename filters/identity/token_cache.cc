// See token_cache.h.
#include "filters/identity/token_cache.h"

namespace ciap::identity {

uint64_t TokenCache::Hash(std::string_view token, bool reuse) {
  // Find() always hashes; the Insert() that follows it for the same token (same buffer, while
  // the request is alive) reuses that hash instead of hashing ~1 KB again.
  if (!reuse || token.data() != last_data_ || token.size() != last_size_) {
    last_data_ = token.data();
    last_size_ = token.size();
    last_hash_ = std::hash<std::string_view>{}(token);
  }
  return last_hash_;
}

bool TokenCache::Admit(uint64_t hash) {
  uint64_t& slot = doorkeeper_[hash % kDoorkeeperSlots];
  if (slot == hash) return true;
  slot = hash;
  return false;
}

const TokenCache::Entry* TokenCache::Find(std::string_view token, uint64_t owner, int64_t now,
                                          Result* result) {
  auto it = index_.find(Hash(token, /*reuse=*/false));
  if (it == index_.end() || it->second->token != token) {
    *result = Result::kMiss;
    return nullptr;
  }
  const Entry& entry = it->second->entry;
  if (entry.expires_at <= now) {
    *result = Result::kExpired;
  } else if (entry.owner != owner ||
             (entry.provider_keys != nullptr && entry.keys != entry.provider_keys->keys())) {
    *result = Result::kStale;  // keys rotated (or config reloaded): verify again
  } else {
    *result = Result::kHit;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &entry;
  }
  lru_.erase(it->second);
  index_.erase(it);
  return nullptr;
}

bool TokenCache::Insert(std::string_view token, Entry entry) {
  if (capacity_ == 0) return false;
  uint64_t hash = Hash(token, /*reuse=*/true);
  if (auto it = index_.find(hash); it != index_.end()) {
    // The same token again, or (rarely) another with the same hash: either way, replace.
    it->second->token.assign(token);
    it->second->entry = std::move(entry);
    lru_.splice(lru_.begin(), lru_, it->second);
    return false;
  }
  if (!Admit(hash)) return false;
  bool evicted = false;
  if (index_.size() >= capacity_) {
    index_.erase(lru_.back().hash);
    lru_.pop_back();
    evicted = true;
  }
  lru_.push_front(Node{std::string(token), hash, std::move(entry)});
  index_.emplace(hash, lru_.begin());
  return evicted;
}

}  // namespace ciap::identity
