// The relay: a request the decision path let through goes to an upstream connection from the
// worker's pool (HTTP/1.1 to the upstream), its body streamed from the client side (a
// Downstream, whatever its protocol), and the upstream's answer back the same way. A failure on
// either side answers 502, 504, 408 or 400, or cuts the response short when it already started.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "net/asio.h"
#include "net/deadline.h"
#include "proxy/exchange.h"
#include "proxy/snapshot.h"

namespace ciap {

class Worker;
class UpstreamPool;
struct UpstreamConnection;
class Http2Upstream;
struct Http2Exchange;
enum class AcquireError;

// Request headers the proxy writes itself, or drops because an upstream might route or
// authorize by them (X-Original-URL and friends): never copied from the client.
bool IsProxyOwnedRequestHeader(std::string_view name);
// Methods a proxy may send again after a connection failed without an answer (the safe ones).
bool IsRetrySafe(std::string_view method);

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
    // A failed read of the client's body, or nothing for kOk.
    static std::optional<Failure> OfBodyRead(Downstream::ReadResult result);

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
  // Hands upstream_ back to its pool, for another request (`reusable`) or to be closed, with
  // the deadline taken off it first.
  void GiveBack(bool reusable);
  // The body buffer (both directions), for a body of `length` bytes (nullopt: unknown).
  std::span<char> BodyBuffer(std::optional<uint64_t> length);
  // No upstream connection could be had: 502 or 503.
  asio::awaitable<bool> AcquireFailed(Downstream& client, ExchangeRecord& exchange,
                                      AcquireError error, bool client_keep_alive);

  // ---- protocol: http2 (relay_h2.cc)
  asio::awaitable<bool> ForwardHttp2(Downstream& client, ExchangeRecord& exchange,
                                     std::string_view query, UpstreamPool& pool,
                                     bool client_keep_alive);
  // Builds the request's header list and submits it on http2_; false: the connection refused.
  bool SubmitHttp2(Downstream& client, const ExchangeRecord& exchange, std::string_view query);
  // Moves the body bytes the client side holds into the stream's send queue, as far as it has
  // room; `need_read`: the codec holds no more (HTTP/1.1 must read its socket for them).
  std::optional<Failure> FeedHttp2Body(Downstream& client, ExchangeRecord& exchange,
                                       bool& need_read);
  // Carries the request body and waits for the response head (with the whole body sent,
  // unless full duplex).
  asio::awaitable<std::optional<Failure>> AwaitHttp2Head(Downstream& client,
                                                         ExchangeRecord& exchange);
  asio::awaitable<bool> RelayHttp2Response(Downstream& client, ExchangeRecord& exchange,
                                           bool client_keep_alive, bool head_request);
  // Waits until the connection (or a client giving up) signals the exchange; false when the
  // step's time (the route's timeout, or less to honour grpc-timeout) ran out.
  asio::awaitable<bool> WaitHttp2(const ExchangeRecord& exchange);
  std::chrono::milliseconds StepTimeout(const ExchangeRecord& exchange) const;
  // Ends the HTTP/2 exchange (a stream still open is cancelled).
  void ReleaseHttp2();

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
  // protocol: http2: the connection and the stream of the current exchange.
  std::shared_ptr<Http2Upstream> http2_;
  std::unique_ptr<Http2Exchange> http2_exchange_;
  Downstream* watching_ = nullptr;  // the client asked to Watch
  bool duplex_ = false;             // ... and it does: the body moves alongside the response
  std::vector<std::pair<std::string, std::string>> http2_fields_;  // reused request header list
  // The client's gRPC deadline (grpc-timeout), when it set one.
  std::optional<Deadline::Clock::time_point> grpc_due_;
};

}  // namespace ciap
