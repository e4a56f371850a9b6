// Per-worker upstream connections: keep-alive reuse, a cap, connect with a deadline,
// round-robin over endpoints, TLS origination with verification and SNI.
#pragma once

#include <cstdint>
#include <expected>
#include <list>
#include <memory>
#include <vector>

#include "proxy/asio.h"
#include "proxy/deadline.h"
#include "proxy/snapshot.h"
#include "proxy/stream.h"

namespace ciap {

class UpstreamPool;

struct UpstreamConnection {
  UpstreamConnection(tcp::socket socket, ssl::context* tls);

  Stream stream;
  beast::flat_buffer buffer;
  Deadline::Clock::time_point idle_since;
  bool reused = false;
};

enum class AcquireError {
  kConnectFailed,  // every endpoint refused, timed out or failed TLS: 502
  kPoolExhausted,  // max_connections busy for longer than connect_timeout: 503
};

class UpstreamPool {
 public:
  UpstreamPool(asio::any_io_executor executor, const UpstreamRuntime& upstream,
               uint32_t max_connections);
  ~UpstreamPool();

  // An idle connection (unless `fresh`), or a new one. `deadline` bounds connecting.
  asio::awaitable<std::expected<std::unique_ptr<UpstreamConnection>, AcquireError>> Acquire(
      Deadline& deadline, bool fresh);

  // Back to the idle list: the previous exchange completed and both sides keep it alive.
  void Release(std::unique_ptr<UpstreamConnection> connection);
  // Closes a connection that cannot be reused.
  void Discard(std::unique_ptr<UpstreamConnection> connection);
  // Closes idle connections older than the upstream's idle_timeout.
  void Sweep(Deadline::Clock::time_point now);

  const UpstreamRuntime& upstream() const { return upstream_; }

 private:
  asio::awaitable<std::unique_ptr<UpstreamConnection>> Connect(Deadline& deadline);
  static bool StillOpen(UpstreamConnection& connection);
  void WakeOne();

  struct Waiter {
    asio::steady_timer* timer;
    bool woken = false;
  };
  void Closed();

  asio::any_io_executor executor_;
  const UpstreamRuntime& upstream_;
  uint32_t max_connections_;
  uint32_t open_ = 0;
  std::size_t next_endpoint_ = 0;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;  // most recently used last
  std::list<Waiter*> waiters_;
};

}  // namespace ciap
