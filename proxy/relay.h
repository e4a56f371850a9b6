// The relay: a request the decision path let through goes to an upstream connection from the
// worker's pool (HTTP/1.1 to the upstream), its body streamed from the client side (a
// Downstream, whatever its protocol), and the upstream's answer back the same way. A failure on
// either side answers 502, 504, 408 or 400, or cuts the response short when it already started.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "net/asio.h"
#include "net/deadline.h"
#include "proxy/exchange.h"
#include "proxy/snapshot.h"

namespace ciap {

class Worker;
class UpstreamPool;
struct UpstreamConnection;

class Relay {
 public:
  // The body buffer (both directions), and the longest upstream response head ciap reads.
  static constexpr std::size_t kBodyBufferBytes = 64 * 1024;
  static constexpr uint32_t kMaxUpstreamHeaderBytes = 64 * 1024;

  // `deadline` bounds every upstream step (the Downstream arms it for the client's).
  Relay(Worker& worker, Deadline& deadline);
  // A relay kept for reuse serves another connection from now on.
  void Attach(Worker& worker, Deadline& deadline) {
    worker_ = &worker;
    deadline_ = &deadline;
  }
  // Before a relay is kept for reuse: drops buffers larger than what most exchanges need.
  void Trim();
  ~Relay();

  // Forwards `exchange` (routed, its filters passed) with the client's `query`; returns whether
  // the client connection may carry another request.
  asio::awaitable<bool> Forward(Downstream& client, ExchangeRecord& exchange,
                                std::string_view query,
                                const std::shared_ptr<const Snapshot>& snapshot,
                                bool client_keep_alive);

 private:
  using ResponseParser = http::response_parser<http::buffer_body>;

  // Why an exchange with the upstream failed before a response could be relayed.
  struct Failure {
    enum Cause {
      kUpstreamTimeout,      // 504
      kUpstreamReset,        // 502; `retryable` when nothing at all came back
      kUpstreamBadResponse,  // 502
      kUpstreamRefusedBody,  // 502, unless the upstream answered before closing (e.g. 413)
      kClientTimeout,        // 408: the client stalled mid-body
      kClientBadBody,        // 400
      kClientClosed,         // no response possible
    };
    Cause cause;
    bool retryable = false;
    http::status status() const;
    std::string_view reason() const;
  };

  // The request head for the upstream, into head_.
  void BuildUpstreamHead(Downstream& client, const ExchangeRecord& exchange, std::string_view query,
                         bool websocket);
  // Writes head_ and streams the request body to upstream_.
  asio::awaitable<std::optional<Failure>> SendRequest(Downstream& client, ExchangeRecord& exchange);
  // Reads the upstream's response head into response_, skipping interim 1xx responses.
  asio::awaitable<std::optional<Failure>> ReadResponseHead(const ExchangeRecord& exchange,
                                                           bool head_request, bool websocket);
  // The upstream switched to WebSocket: the client's codec carries the connection both ways.
  asio::awaitable<void> Tunnel(Downstream& client, ExchangeRecord& exchange);
  // Streams the response to the client; returns keep-alive.
  asio::awaitable<bool> RelayResponse(Downstream& client, ExchangeRecord& exchange,
                                      bool client_keep_alive, bool head_request);
  // Counts a failure that ended the exchange and answers it (or not, when the client left).
  asio::awaitable<bool> Fail(Downstream& client, ExchangeRecord& exchange, const Failure& failure);
  // The body buffer (both directions), for a body of `length` bytes (nullopt: unknown).
  std::span<char> BodyBuffer(std::optional<uint64_t> length);

  Worker* worker_;
  Deadline* deadline_;
  std::string head_;  // the upstream request head
  std::string chunk_line_;
  std::unique_ptr<char[]> body_buffer_;
  std::size_t body_buffer_size_ = 0;
  // The current exchange's response parser and upstream connection. Members rather than
  // coroutine locals: it keeps coroutine frames small enough for Asio's per-thread frame cache.
  std::optional<ResponseParser> response_;
  std::unique_ptr<UpstreamConnection> upstream_;
  UpstreamPool* pool_ = nullptr;  // the pool upstream_ came from
};

}  // namespace ciap
