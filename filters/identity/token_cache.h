// A per-worker cache of verified tokens: a repeated token costs a hash lookup instead of a
// signature check. Keyed by the whole token (two tokens never share an entry), bounded (LRU),
// and an entry is only good while its token is unexpired and its provider still serves the
// same key set. Only successfully verified tokens are inserted, so invalid tokens — however
// many, however distinct — never grow it.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "filters/identity/jwk.h"
#include "filters/identity/key_manager.h"
#include "proxy/identity.h"

namespace ciap::identity {

class TokenCache {
 public:
  struct Entry {
    std::shared_ptr<const Identity> identity;
    std::shared_ptr<const KeySet> keys;           // the set that verified it (kept alive: no ABA)
    const ProviderKeys* provider_keys = nullptr;  // whose current set must still be `keys`
    const void* provider = nullptr;               // opaque to the cache: the filter's provider
    uint64_t owner = 0;                           // the filter instance that verified it
    int64_t expires_at = 0;                       // the token's exp
  };
  enum class Result { kHit, kMiss, kExpired, kStale };

  explicit TokenCache(std::size_t capacity = 10000) : capacity_(capacity) {}

  // The entry for `token` if cached, unexpired at `now`, verified by `owner` and its provider
  // still serves the key set that verified it; otherwise null, and `*result` says why (a dead
  // entry is dropped). The pointer is valid until the next Insert.
  const Entry* Find(std::string_view token, uint64_t owner, int64_t now, Result* result);
  // Inserts (or replaces) an entry; returns true when that evicted the least recently used one.
  bool Insert(std::string_view token, Entry entry);

  std::size_t size() const { return index_.size(); }

 private:
  using List = std::list<std::pair<std::string, Entry>>;
  std::size_t capacity_;
  List lru_;                                                    // most recently used first
  std::unordered_map<std::string_view, List::iterator> index_;  // keys view lru_'s strings
};

}  // namespace ciap::identity
