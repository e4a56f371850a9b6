// Identity sources that are asked about a credential instead of verifying it offline: GitLab's
// job and access tokens, RFC 7662 introspection, AWS IAM (a presigned GetCallerIdentity).
//
// One LookupSource per provider and config, shared by every worker (a reload makes new ones,
// which take over the answers the old ones cached when nothing about the source changed). Answers
// are cached by the SHA-256 of the credential in a bounded LRU (accepted: cache_ttl, never past the
// credential's own end; refused: a few seconds); concurrent lookups of one credential share one
// call; at most kMaxInFlight calls run at once. Calls run on the main thread's loop (like key
// fetches); a worker waits for its answer with a timer, so a source that hangs costs the request
// `timeout` plus a second at most, and the answer is then 503 identity_source_unavailable — never
// 401, never an allow.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "filters/api/caller.h"
#include "net/asio.h"

namespace ciap::identity {

struct IdentityMetrics;

// What a source said about one credential.
struct LookupAnswer {
  enum class Kind { kAccepted, kRefused, kUnavailable };
  Kind kind = Kind::kUnavailable;
  // A refusal's reason (invalid_token, inactive_token, wrong_audience, …) or, unavailable,
  // identity_source_unavailable. A string literal.
  std::string_view reason = "identity_source_unavailable";
  std::shared_ptr<const Caller> caller;  // kAccepted
  int64_t expires_at = 0;  // the credential's own end (seconds since the epoch); 0: unknown
  // Until when the source's cache keeps this answer (seconds since the epoch; 0: not cached).
  // A worker's cache keeps it no longer.
  int64_t cached_until = 0;
  // For the log line of a failed call: what went wrong, never the credential.
  std::string detail;

  static LookupAnswer Refused(std::string_view reason, std::string detail = {});
  static LookupAnswer Unavailable(std::string detail);
};

// One call to the source. Runs on the main thread; must finish within the provider's timeout.
using LookupCall = std::function<asio::awaitable<LookupAnswer>(std::string credential)>;

class LookupSource : public std::enable_shared_from_this<LookupSource> {
 public:
  static constexpr std::size_t kCacheCapacity = 10000;
  static constexpr std::size_t kMaxInFlight = 64;
  static constexpr std::chrono::seconds kRefusalTtl{5};

  // `call` null: the provider type's own call (source_calls.cc). Fails when a file the
  // provider names (ca_file, the client secret) cannot be used.
  static std::expected<std::shared_ptr<LookupSource>, std::string> Make(
      const config::IdentityProviderConfig& config, asio::any_io_executor main,
      IdentityMetrics* metrics, LookupCall call = nullptr);

  // For `ciap check`, which calls nothing: every credential is answered at once, from the
  // claims a stand-in credential carries (filters/api/stand_in.h), else "unavailable".
  static std::shared_ptr<LookupSource> Offline(const config::IdentityProviderConfig& config);

  const config::IdentityProviderConfig& config() const { return config_; }

  // The cached answer for `credential`, if any is fresh; any thread.
  std::optional<LookupAnswer> Cached(std::string_view credential);
  // The answer for `credential`: cached, or from a call this request starts or joins. On the
  // request's executor; returns within the provider's timeout plus a second.
  asio::awaitable<LookupAnswer> Lookup(std::string credential);

  // Takes over `previous`'s cached answers if it is the same provider asking the same source
  // the same way (type, endpoint, client, audience, headers and prefixes), each kept no longer
  // than this source's cache_ttl allows from now. Before this source serves; main thread.
  bool AdoptCache(const LookupSource& previous);

  LookupSource(const config::IdentityProviderConfig& config, asio::any_io_executor main,
               IdentityMetrics* metrics, LookupCall call);

 private:
  using Key = std::array<unsigned char, 32>;
  struct KeyHash {
    std::size_t operator()(const Key& key) const;
  };
  struct Flight {
    bool done = false;
    LookupAnswer answer;
    std::vector<std::function<void()>> waiters;
  };
  struct Entry {
    Key key;
    LookupAnswer answer;
    std::chrono::system_clock::time_point good_until;
  };

  static Key Digest(std::string_view credential);
  // With mutex_ held: the fresh entry for `key`, or null (a stale one is dropped).
  const Entry* FindLocked(const Key& key, std::chrono::system_clock::time_point now);
  // Caches `answer` (accepted: cache_ttl; refused: kRefusalTtl; never past its credential's
  // end) and records in it until when.
  void StoreLocked(const Key& key, LookupAnswer& answer);
  static asio::awaitable<void> Run(std::shared_ptr<LookupSource> self, Key key,
                                   std::string credential, std::shared_ptr<Flight> flight);
  void Count(const LookupAnswer& answer, std::chrono::steady_clock::duration took);

  const config::IdentityProviderConfig config_;
  asio::any_io_executor main_;
  IdentityMetrics* metrics_;
  LookupCall call_;
  bool offline_ = false;

  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> index_;
  std::unordered_map<Key, std::shared_ptr<Flight>, KeyHash> flights_;
};

// The call of each source type (source_calls.cc).
std::expected<LookupCall, std::string> MakeLookupCall(const config::IdentityProviderConfig& config);

}  // namespace ciap::identity
