// The rate_limit filter's state shared by replicas (top-level `shared_state`): a Redis that
// every replica asks, one pipelined connection per worker (net/redis.h).
//   - `scope: global` rate limits: one token bucket per key in Redis, taken by a Lua script that
//     reads Redis's own clock, so replicas with skewed clocks share one bucket correctly. The
//     requests for one key that a worker reads in the same turn of its loop are one script call
//     taking that many tokens: a hot key (one pipeline hammering) costs Redis one call per turn,
//     not one per request, and the bucket stays exact.
//   - `replay: single_use`: SET key NX PXAT <the token's exp>: the first replica wins.
// A Redis that fails (down, slow past `timeout`, refusing) gets `on_failure`: local (the
// per-process bucket or table), deny (503 shared_state_unavailable) or allow; every failure is
// counted in ciap_shared_state_errors_total{op}. A probe on the main loop PINGs every 2 s so a
// refused password shows in /ready and the log even before the first request.
#pragma once

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "net/asio.h"
#include "net/redis.h"

namespace prometheus {
class Counter;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace ciap::rate_limit {

class SharedState : public std::enable_shared_from_this<SharedState> {
 public:
  static std::expected<std::shared_ptr<SharedState>, std::string> Make(
      const config::SharedStateConfig& config, prometheus::Registry* metrics);

  const config::SharedStateConfig& config() const { return config_; }

  // Takes a token from the global bucket `key`: nullopt when the request may go, else how long
  // until the bucket holds one; an error when Redis could not answer (on_failure applies).
  enum class Failure { kUnavailable };
  asio::awaitable<std::expected<std::optional<std::chrono::milliseconds>, Failure>> Take(
      std::string key, double rate, uint32_t burst);
  // Marks `key` used until `expires_at_ms`; true the first time on any replica.
  asio::awaitable<std::expected<bool, Failure>> UseOnce(std::string key, int64_t expires_at_ms);

  // Counts a failure of `op` ("rate_limit", "replay", "probe").
  void CountError(std::string_view op);
  // Why /ready should say no ("Redis refused ciap's password"), or empty.
  std::string NotReady() const;
  // PINGs from the main loop every 2 s while this state lives (auth and reachability).
  void StartProbe(asio::any_io_executor main);

  SharedState(const config::SharedStateConfig& config, std::unique_ptr<ssl::context> tls,
              prometheus::Family<prometheus::Counter>* errors);

 private:
  struct TakeBatch;
  struct Worker;
  // This worker's connection and open batches (made on first use, on the calling executor).
  Worker& Local(asio::any_io_executor executor);
  // Sends `batch` once the loop's current turn is over (the turn's requests for `key` join it).
  static asio::awaitable<void> SendBatch(std::shared_ptr<SharedState> self, Worker* worker,
                                         std::string key, double rate, uint32_t burst,
                                         std::shared_ptr<TakeBatch> batch);
  RedisOptions Options();
  asio::awaitable<std::expected<RedisReply, RedisConnection::Error>> Call(
      std::vector<std::string> argv);
  static asio::awaitable<void> Probe(std::weak_ptr<SharedState> weak, asio::any_io_executor main);

  const config::SharedStateConfig config_;
  std::unique_ptr<ssl::context> tls_;
  prometheus::Family<prometheus::Counter>* errors_;
  std::atomic<bool> auth_failed_{false};
  const uint64_t id_;  // names this state in each worker's connection table
};

}  // namespace ciap::rate_limit
