// One downstream connection: TLS handshake, then requests read, routed, filtered, relayed to
// an upstream and answered, in order, until either side closes or a timeout ends it.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "net/asio.h"
#include "net/deadline.h"
#include "proxy/decide.h"
#include "proxy/http_head.h"
#include "proxy/snapshot.h"
#include "net/stream.h"
#include "proxy/upstream_pool.h"

namespace ciap {

class Worker;
struct UpstreamConnection;

class Session {
 public:
  // Runs a connection to completion; owns everything it needs.
  // `listener` belongs to `snapshot`.
  static asio::awaitable<void> Start(Worker& worker, std::shared_ptr<const Snapshot> snapshot,
                                     const ListenerRuntime& listener, tcp::socket socket);

  ~Session();

  // The body relay's buffer, the size of one read from the client, and the longest upstream
  // response head ciap reads.
  static constexpr std::size_t kBodyBufferBytes = 64 * 1024;
  static constexpr std::size_t kReadChunkBytes = 16 * 1024;
  static constexpr uint32_t kMaxUpstreamHeaderBytes = 64 * 1024;

 private:
  using RequestParser = StrictRequestParser;
  using ResponseParser = http::response_parser<http::buffer_body>;

  // What one request/response exchange produced, for the access log and metrics.
  // Reused across a connection's requests so their strings keep their capacity.
  struct Exchange {
    void Reset() {
      start = Deadline::Clock::now();
      request_id.clear();
      routed.path.clear();
      routed.host.clear();
      routed.route_index = -1;
      host_header.clear();
      method = {};
      route = nullptr;
      upstream = nullptr;
      status = 0;
      reason = {};
      bytes_in = bytes_out = 0;
    }

    Deadline::Clock::time_point start;
    std::string request_id;
    RoutedRequest routed;     // normalized path, canonical host, route
    std::string host_header;  // as the client sent it (Host or absolute-form authority)
    std::string_view method;
    const RouteRuntime* route = nullptr;
    const UpstreamRuntime* upstream = nullptr;
    int status = 0;
    std::string_view reason;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
  };

  Session(Worker& worker, std::shared_ptr<const Snapshot> snapshot, const ListenerRuntime& listener,
          tcp::socket socket);

  asio::awaitable<void> Run();
  // The TLS handshake (bounded by header_timeout) on TLS listeners; false: the connection is
  // closed.
  asio::awaitable<bool> Handshake();
  // After the handshake: what filters may know of the peer (address, SNI, ALPN, the verified
  // client certificate chain).
  void RecordConnection();
  // Between requests: moves to the newest config snapshot if a reload published one. False
  // when the reload removed this connection's listener (the connection then closes).
  bool FollowReload();
  // Handles the parsed request head in request_; returns whether the connection may carry
  // another request.
  asio::awaitable<bool> HandleRequest(Exchange& exchange);
  // Serializes the request head for the upstream into head_.
  void BuildUpstreamHead(const Exchange& exchange, std::string_view query);
  // Relays the request (head already serialized into head_) and the response.
  asio::awaitable<bool> Forward(Exchange& exchange, bool client_keep_alive);

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
  enum class Framing { kNone, kLength, kChunked, kClose };

  // Writes head_ and streams the request body to upstream_.
  asio::awaitable<std::optional<Failure>> SendRequest(Exchange& exchange, bool has_body);
  // Parses the client's body bytes already in buffer_ into `body` after `pending` bytes, as far
  // as it takes them, without reading; sets `need_read` when more must be read. False: the
  // body is malformed.
  bool ParseBufferedBody(std::span<char> body, std::size_t& pending, bool& need_read);
  // Reads the upstream's response head into response_, skipping interim 1xx responses.
  asio::awaitable<std::optional<Failure>> ReadResponseHead(bool head_request);
  // Writes the response head and streams the body to the client; returns keep-alive.
  asio::awaitable<bool> RelayResponse(Exchange& exchange, bool client_keep_alive,
                                      bool head_request);
  // How the response body reaches the client: as the upstream framed it where the client can
  // take that, re-chunked, or delimited by closing the connection (HTTP/1.0 clients).
  Framing ResponseFraming(bool no_body, bool client_http11) const;
  void BuildResponseHead(const Exchange& exchange, Framing framing, bool keep_alive,
                         bool client_http11, bool no_body);
  // Adds `data` to `pieces` framed as the body needs: raw, or as one chunk (followed by the
  // last-chunk marker when `last`). Uses chunk_line_. Returns the new count.
  std::size_t AppendBodyPiece(std::span<asio::const_buffer> pieces, std::size_t count, bool chunked,
                              std::span<const char> data, bool last);

  // Sends a local JSON error response. Returns false if the connection must close.
  asio::awaitable<bool> Respond(
      Exchange& exchange, http::status status, std::string_view reason, bool keep_alive,
      const std::vector<std::pair<std::string, std::string>>* headers = nullptr);
  asio::awaitable<void> CloseGracefully();
  // Closes the connection, with a bounded TLS close_notify first.
  asio::awaitable<void> CloseStream();
  void Finish(Exchange& exchange);

  std::span<char> BodyBuffer();

  Worker& worker_;
  std::shared_ptr<const Snapshot> snapshot_;  // the one the current request runs on
  const ListenerRuntime* listener_;           // in snapshot_
  uint64_t generation_;                       // of snapshot_
  // Counted at accept; released on close (whatever snapshot the connection ends on).
  std::shared_ptr<std::atomic<int64_t>> open_connections_;
  prometheus::Gauge* connections_gauge_;
  UpstreamPool* pool_ = nullptr;  // the pool upstream_ came from
  Stream stream_;
  beast::flat_buffer buffer_;
  Deadline deadline_;
  std::string client_address_;
  std::string sni_;
  std::string alpn_;
  ConnectionInfo connection_;  // views into the strings above and the TLS session
  std::unique_ptr<char[]> body_buffer_;
  std::string head_;  // reused serialization buffer for request and response heads
  std::string chunk_line_;
  Exchange exchange_;
  // The current exchange's parsers and upstream connection. Members rather than coroutine
  // locals: it keeps coroutine frames small enough for Asio's per-thread frame cache.
  std::optional<RequestParser> request_;
  std::optional<ResponseParser> response_;
  std::unique_ptr<UpstreamConnection> upstream_;
  bool counted_ = false;
};

}  // namespace ciap
