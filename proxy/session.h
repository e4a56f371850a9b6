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
#include "net/stream.h"
#include "proxy/decide.h"
#include "proxy/exchange.h"
#include "proxy/http_head.h"
#include "proxy/relay.h"
#include "proxy/snapshot.h"

namespace ciap {

class Worker;

// The HTTP/1.1 codec: reads request heads, checks them, hands them to the decision path
// (decide.h), and is the relay's Downstream (exchange.h) for the body and the response.
class Session : public Downstream {
 public:
  // Admits a connection (or closes it over the connection limits) and starts its coroutine,
  // which runs it to completion and owns everything it needs. `listener` belongs to
  // `snapshot`.
  static void Start(Worker& worker, std::shared_ptr<const Snapshot> snapshot,
                    const ListenerRuntime& listener, tcp::socket socket);

  ~Session() override;

  // The size of one read from the client before a request head.
  static constexpr std::size_t kReadChunkBytes = 16 * 1024;

  // ---- Downstream (session_downstream.cc)
  const http::fields& request_headers() const override;
  std::string_view client_address() const override { return client_address_; }
  bool tls() const override { return stream_.is_tls(); }
  bool has_body() const override;
  std::optional<uint64_t> body_length() const override;
  bool expects_continue() const override;
  asio::awaitable<bool> SendContinue() override;
  BodyPiece TakeBody(std::span<char> into) override;
  asio::awaitable<ReadResult> ReadBody() override;
  bool body_done() const override;
  bool BeginResponse(const http::response_header<>& head, std::optional<uint64_t> length,
                     bool no_body, bool client_keep_alive) override;
  asio::awaitable<bool> WriteResponse(std::span<const char> data, bool last) override;
  bool response_started() const override { return response_started_; }
  bool wants_websocket() const override;
  asio::awaitable<void> Tunnel(const http::response_header<>& head, Stream& upstream,
                               beast::flat_buffer& upstream_early,
                               ExchangeRecord& exchange) override;

 private:
  using RequestParser = StrictRequestParser;

  Session(Worker& worker, std::shared_ptr<const Snapshot> snapshot, const ListenerRuntime& listener,
          tcp::socket socket);

  // A connection runs as a coroutine only while it has work: Serve() handles requests until
  // the connection ends (false) or must wait for a next request's first byte (true). Then the
  // coroutine ends and Park() leaves the session waiting for readability, holding nothing but
  // itself (no coroutine frames, no buffers); Resume() starts a new Serve() when bytes come,
  // or to close the connection when the wait failed (timeout, draining).
  static void Resume(std::unique_ptr<Session> self);
  static void Park(std::unique_ptr<Session> self);
  asio::awaitable<bool> Serve();
  // The TLS handshake (bounded by header_timeout) on TLS listeners; false: the connection is
  // closed.
  asio::awaitable<bool> Handshake();
  // After the handshake: what filters may know of the peer (address, SNI, ALPN, the verified
  // client certificate chain).
  void RecordConnection();
  // Between requests: moves to the newest config snapshot if a reload published one. False
  // when the reload removed this connection's listener, or changed how it verifies the client
  // certificate this connection presented (the connection then closes).
  bool FollowReload();
  // What a request head that failed to arrive or to pass the codec's checks gets: a local
  // reply (`status`, `reason`, and whether to linger because the client may still be
  // sending), or a quiet close (the client went away). `status` unknown: the head is fine.
  struct HeadCheck {
    http::status status = http::status::unknown;
    std::string_view reason;
    bool linger = false;
    bool quiet_close = false;
  };
  HeadCheck CheckHead(const error_code& ec, const RequestParser& parser,
                      const config::LimitsConfig& limits) const;
  // Handles the parsed request head in flight_->parser; returns whether the connection may carry
  // another request.
  asio::awaitable<bool> HandleRequest(ExchangeRecord& exchange);

  // How the response body reaches the client: as the upstream framed it where the client can
  // take that, re-chunked, or delimited by closing the connection (HTTP/1.0 clients).
  enum class Framing { kNone, kLength, kChunked, kClose };
  void BuildResponseHead(const http::response_header<>& head, std::optional<uint64_t> length,
                         bool keep_alive, bool client_http11, bool no_body);

  // Sends a local JSON response: an error named by `reason`, or (`document` non-empty) that
  // document. Returns false if the connection must close.
  asio::awaitable<bool> Respond(
      ExchangeRecord& exchange, http::status status, std::string_view reason, bool keep_alive,
      const std::vector<std::pair<std::string, std::string>>* headers = nullptr,
      std::string document = {}) override;
  // A plaintext HTTP/2 listener's client whose first bytes are (so far) the h2c preface.
  bool WantsH2c(const beast::flat_buffer& buffer) const;
  // Reads until the client's bytes complete the h2c preface or part from it (HTTP/1.1 then
  // goes on with them); false when the read failed.
  asio::awaitable<bool> ReadH2cPreface();
  // The connection speaks HTTP/2 (ALPN h2, or h2c; `early`: bytes already read) until it ends.
  asio::awaitable<void> ServeHttp2(std::span<const char> early);
  asio::awaitable<void> CloseGracefully();
  // Closes the connection, with a bounded TLS close_notify first.
  asio::awaitable<void> CloseStream();
  // Between requests: gives back every buffer the last request used (the read buffer and
  // flight_), so that an idle connection costs only its TLS state and this object.
  void ReleaseIdleMemory();
  void Finish(ExchangeRecord& exchange);

  Worker& worker_;
  std::shared_ptr<const Snapshot> snapshot_;  // the one the current request runs on
  const ListenerRuntime* listener_;           // in snapshot_
  uint64_t generation_;                       // of snapshot_
  // Counted at accept; released on close (whatever snapshot the connection ends on).
  std::shared_ptr<std::atomic<int64_t>> open_connections_;
  prometheus::Gauge* connections_gauge_;
  Stream stream_;
  Deadline deadline_;
  std::string client_address_;
  std::string sni_;
  std::string alpn_;
  ConnectionInfo connection_;  // views into the strings above and the TLS session
  // What requests need: taken when a connection has bytes to read and given back when it goes
  // idle (so an idle connection holds none of it), to a small per-worker pool that keeps the
  // buffers' capacity for the next connection. Members rather than coroutine locals: it keeps
  // coroutine frames small enough for Asio's per-thread frame cache.
  struct InFlight {
    InFlight(Worker& worker, Deadline& deadline) : relay(worker, deadline) {}
    beast::flat_buffer buffer;            // bytes read from the client, not yet parsed
    std::optional<RequestParser> parser;  // the current request's (one per request)
    ExchangeRecord exchange;
    std::string head;  // reused serialization buffer for response heads
    std::string chunk_line;
    Relay relay;
  };
  // Takes an InFlight from this worker's pool (or makes one) for this connection.
  void TakeInFlight();
  static std::vector<std::unique_ptr<InFlight>>& InFlightPool();
  std::unique_ptr<InFlight> flight_;
  Framing response_framing_ = Framing::kNone;
  bool response_started_ = false;
  bool websocket_requested_ = false;  // the current request asked to switch to WebSocket
  bool handshake_done_ = false;
  bool readable_ = false;     // the parked wait found bytes to read
  bool wait_failed_ = false;  // the parked wait ended in a timeout, draining or an error
  uint64_t served_ = 0;       // requests handled on this connection
};

}  // namespace ciap
