// A per-worker cache of verified tokens: a repeated token costs a hash lookup instead of a
// signature check. A token is admitted on its second sighting (a "doorkeeper" remembers the
// hashes of recent misses): a CI job reuses its token for many requests, while one-shot tokens
// would only evict useful entries and pay for an insert and an eviction each. Keyed by the whole
// token (two tokens never share an entry), bounded (LRU), and an entry is only good while its token
// is unexpired and its provider still serves the same key set. Only successfully verified tokens
// are inserted, so invalid tokens — however many, however distinct — never grow it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "filters/api/caller.h"
#include "filters/identity/key_manager.h"
#include "jose/jwk.h"

namespace ciap::identity {

class TokenCache {
 public:
  struct Entry {
    std::shared_ptr<const Caller> identity;
    std::shared_ptr<const jose::KeySet> keys;  // the set that verified it (kept alive: no ABA)
    // Whose current set must still be `keys`; null for a looked-up credential, which is good
    // until expires_at (its provider's cache_ttl, at most).
    const ProviderKeys* provider_keys = nullptr;
    const void* provider = nullptr;  // opaque to the cache: the filter's provider
    uint64_t owner = 0;              // the filter instance that verified it
    int64_t expires_at = 0;          // the token's exp
  };
  enum class Result { kHit, kMiss, kExpired, kStale };

  explicit TokenCache(std::size_t capacity = 10000) : capacity_(capacity) {}

  // The entry for `token` if cached, unexpired at `now`, verified by `owner` and its provider
  // still serves the key set that verified it; otherwise null, and `*result` says why (a dead
  // entry is dropped). The pointer is valid until the next Insert.
  const Entry* Find(std::string_view token, uint64_t owner, int64_t now, Result* result);
  // Inserts (or replaces) an entry if the token was seen before (see above); returns true when
  // that evicted the least recently used one.
  bool Insert(std::string_view token, Entry entry);

  std::size_t size() const { return index_.size(); }

 private:
  struct Node {
    std::string token;
    uint64_t hash;
    Entry entry;
  };
  using List = std::list<Node>;
  struct IdentityHash {
    std::size_t operator()(uint64_t h) const { return static_cast<std::size_t>(h); }
  };
  // The hash of `token`; the last one is remembered because Insert follows Find on a miss.
  uint64_t Hash(std::string_view token, bool reuse);
  bool Admit(uint64_t hash);

  static constexpr std::size_t kDoorkeeperSlots = 16384;  // 128 KiB per worker

  std::size_t capacity_;
  List lru_;  // most recently used first
  // Keyed by the token's hash, computed once per lookup: a JWT is ~1 KB, and hashing it again
  // for every insert and eviction showed up in profiles. A different token with the same hash
  // is told apart by comparing the stored token; only verified tokens are ever inserted.
  std::unordered_map<uint64_t, List::iterator, IdentityHash> index_;
  std::unique_ptr<uint64_t[]> doorkeeper_ = std::make_unique<uint64_t[]>(kDoorkeeperSlots);
  const char* last_data_ = nullptr;
  std::size_t last_size_ = 0;
  uint64_t last_hash_ = 0;
};

}  // namespace ciap::identity
