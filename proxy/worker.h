// A worker thread: its own io_context, its own acceptors (SO_REUSEPORT), upstream pools,
// access-log buffer and deadline ticker. A connection never leaves the worker that accepted it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/asio.h"
#include "net/deadline.h"
#include "net/log.h"
#include "proxy/metrics.h"
#include "proxy/snapshot.h"
#include "proxy/upstream_pool.h"

namespace ciap {

class Http2Stream;

// State shared by all workers and the main thread.
struct SharedState {
  // The running config. A reload stores a new snapshot, then bumps `generation`: a connection
  // compares generations (cheap) before each request and loads the snapshot only on a change.
  std::atomic<std::shared_ptr<const Snapshot>> snapshot;
  std::atomic<uint64_t> generation{0};
  // SIGTERM with a shutdown delay: /ready answers 503 while the listeners keep serving, so
  // load balancers stop sending before anything is refused; `draining` follows the delay.
  std::atomic<bool> shutting_down{false};
  std::atomic<bool> draining{false};
  std::atomic<int64_t> sessions{0};  // live downstream connections, all listeners
  Metrics* metrics = nullptr;
  LogSink* access_log = nullptr;
  int workers = 1;
};

// 128-bit request ids from a per-worker xoshiro256** generator (not for secrets).
class RequestIdGenerator {
 public:
  RequestIdGenerator();
  // Appends 32 lower-case hex characters.
  void Append(std::string& out);

 private:
  uint64_t Next();
  uint64_t state_[4];
};

class Worker {
 public:
  Worker(std::size_t index, SharedState& shared);
  ~Worker();

  asio::io_context& io() { return *io_; }
  std::size_t index() const { return index_; }
  SharedState& shared() { return shared_; }
  AccessLogBuffer& access_log() { return access_log_; }
  RequestIdGenerator& request_ids() { return request_ids_; }

  // Accepts connections for the listener named `listener` (looked up in the current snapshot
  // for each connection). Before Start(): main thread only; after: thread-safe (posted).
  void AddAcceptor(tcp::acceptor acceptor, std::string listener);
  void Start();
  // Thread-safe: stop accepting new connections (draining).
  void StopAccepting();
  // Thread-safe (posted): close the acceptors of listener `name` (a reload removed or moved it).
  void CloseAcceptors(std::string name);
  // Thread-safe (posted): the acceptors of listener `from` now accept for listener `to` (a
  // reload renamed a listener but kept its address).
  void RenameAcceptors(std::string from, std::string to);
  // Thread-safe: stop the event loop now.
  void Stop();
  void Join();

  // The pool of `upstream`, which belongs to `snapshot`. A reload's new snapshot gets new
  // pools; at the next tick an old pool hands its idle connections to the new pool of an
  // unchanged upstream (or closes them) and goes away once its last connection is back.
  UpstreamPool& Pool(const UpstreamRuntime& upstream,
                     const std::shared_ptr<const Snapshot>& snapshot);

  void Register(Deadline* deadline);
  void Unregister(Deadline* deadline);

  // HTTP/2 stream objects that finished, kept for the next stream of any connection on this
  // worker (their strings and buffers keep their capacity): fewer allocations per request.
  std::unique_ptr<Http2Stream> TakeHttp2Stream();
  void GiveHttp2Stream(std::unique_ptr<Http2Stream> stream);

 private:
  struct Acceptor {
    tcp::acceptor socket;
    std::string listener;
  };
  asio::awaitable<void> AcceptLoop(std::shared_ptr<Acceptor> acceptor);
  asio::awaitable<void> Ticker();
  // Retires the pools of snapshots that are no longer current.
  void SweepPools(Deadline::Clock::time_point now);

  std::size_t index_;
  SharedState& shared_;
  AccessLogBuffer access_log_;
  RequestIdGenerator request_ids_;
  Deadline deadlines_head_;  // sentinel of the intrusive list
  // No registered deadline is due before this (it may be earlier than the real earliest: a
  // deadline re-armed later or disarmed leaves it; the next walk recomputes it).
  Deadline::Clock::time_point earliest_due_ = Deadline::Clock::time_point::max();
  // Destroyed explicitly in ~Worker, in an order that keeps what sessions touch alive.
  std::unique_ptr<asio::io_context> io_ = std::make_unique<asio::io_context>(1);
  std::vector<std::shared_ptr<Acceptor>> acceptors_;
  std::unordered_map<const UpstreamRuntime*, std::unique_ptr<UpstreamPool>> pools_;
  std::vector<std::unique_ptr<Http2Stream>> spare_streams_;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace ciap
