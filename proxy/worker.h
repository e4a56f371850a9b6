// A worker thread: its own io_context, its own acceptors (SO_REUSEPORT), upstream pools,
// access-log buffer and deadline ticker. A connection never leaves the worker that accepted it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proxy/asio.h"
#include "proxy/deadline.h"
#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/snapshot.h"
#include "proxy/upstream_pool.h"

namespace ciap {

// State shared by all workers and the main thread.
struct SharedState {
  std::atomic<std::shared_ptr<const Snapshot>> snapshot;
  std::atomic<bool> draining{false};
  std::atomic<int64_t> sessions{0};  // live downstream connections, all listeners
  // Open connections per listener (index = listener index), for max_connections.
  std::vector<std::unique_ptr<std::atomic<int64_t>>> listener_connections;
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

  // Called on the main thread before Start().
  void AddAcceptor(tcp::acceptor acceptor, std::size_t listener_index);
  void Start();
  // Thread-safe: stop accepting new connections (draining).
  void StopAccepting();
  // Thread-safe: stop the event loop now.
  void Stop();
  void Join();

  UpstreamPool& Pool(const UpstreamRuntime& upstream);

  void Register(Deadline* deadline);
  void Unregister(Deadline* deadline);

 private:
  asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor, std::size_t listener_index);
  asio::awaitable<void> Ticker();

  std::size_t index_;
  SharedState& shared_;
  AccessLogBuffer access_log_;
  RequestIdGenerator request_ids_;
  Deadline deadlines_head_;  // sentinel of the intrusive list
  // Destroyed explicitly in ~Worker, in an order that keeps what sessions touch alive.
  std::unique_ptr<asio::io_context> io_ = std::make_unique<asio::io_context>(1);
  std::deque<std::pair<tcp::acceptor, std::size_t>> acceptors_;
  std::unordered_map<const UpstreamRuntime*, std::unique_ptr<UpstreamPool>> pools_;
  std::thread thread_;
};

}  // namespace ciap
