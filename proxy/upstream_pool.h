// Per-worker upstream connections: keep-alive reuse, a cap, connect with a deadline,
// round-robin over endpoints, TLS origination with verification and SNI.
#pragma once

#include <cstdint>
#include <expected>
#include <list>
#include <memory>
#include <optional>
#include <vector>

#include "net/asio.h"
#include "net/deadline.h"
#include "net/stream.h"
#include "proxy/snapshot.h"

namespace ciap {

class UpstreamPool;
class Http2Upstream;
class Worker;

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
  kQueueFull,      // max_connections busy and max_pending requests already waiting: 503
};

class UpstreamPool {
 public:
  // `snapshot` owns `upstream`; the pool keeps it alive.
  UpstreamPool(asio::any_io_executor executor, const UpstreamRuntime& upstream,
               std::shared_ptr<const Snapshot> snapshot, uint32_t max_connections,
               uint32_t max_pending);
  ~UpstreamPool();

  // The most recently used idle connection that is still open, without waiting; or null.
  std::unique_ptr<UpstreamConnection> TakeIdle();
  // An idle connection (unless `fresh`), or a new one. `deadline` bounds connecting.
  asio::awaitable<std::expected<std::unique_ptr<UpstreamConnection>, AcquireError>> Acquire(
      Deadline& deadline, bool fresh);

  // protocol: http2. The connection with the fewest streams that has room for one more; a new
  // connection when none has (up to the cap; at it, the least busy one, where nghttp2 queues
  // the request until a stream ends). Requests that arrive while a connection is being opened
  // wait for it rather than open their own.
  asio::awaitable<std::expected<std::shared_ptr<Http2Upstream>, AcquireError>> AcquireHttp2(
      Worker& worker, Deadline& deadline);

  // Back to the idle list: the previous exchange completed and both sides keep it alive.
  void Release(std::unique_ptr<UpstreamConnection> connection);
  // Closes a connection that cannot be reused.
  void Discard(std::unique_ptr<UpstreamConnection> connection);
  // Closes idle connections older than the upstream's idle_timeout.
  void Sweep(Deadline::Clock::time_point now);

  const UpstreamRuntime& upstream() const { return upstream_; }
  const Snapshot* snapshot() const { return snapshot_.get(); }
  // Connections open (idle or in use).
  uint32_t open() const { return open_; }

  // Takes `other`'s idle connections (same upstream config, older snapshot).
  void AdoptIdle(UpstreamPool& other);
  // A reload replaced this pool's snapshot: close the idle connections now, and each in-use
  // one when it is released.
  void Retire();
  bool retired() const { return retired_; }

 private:
  asio::awaitable<std::unique_ptr<UpstreamConnection>> Connect(Deadline& deadline);
  // Drops HTTP/2 connections that died; closes those idle past idle_timeout (`now` set).
  void SweepHttp2(std::optional<Deadline::Clock::time_point> now);
  static bool StillOpen(UpstreamConnection& connection);
  void WakeOne();

  struct Waiter {
    asio::steady_timer* timer;
    bool woken = false;
  };
  void Closed();

  asio::any_io_executor executor_;
  const UpstreamRuntime& upstream_;
  std::shared_ptr<const Snapshot> snapshot_;
  uint32_t max_connections_;
  uint32_t max_pending_;
  bool retired_ = false;
  uint32_t open_ = 0;
  std::size_t next_endpoint_ = 0;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;  // most recently used last
  std::list<Waiter*> waiters_;
  // protocol: http2
  std::vector<std::shared_ptr<Http2Upstream>> http2_;
  bool connecting_ = false;
  std::vector<asio::steady_timer*> connect_waiters_;  // requests waiting for connecting_
};

}  // namespace ciap
