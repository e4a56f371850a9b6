// One request/response exchange, protocol-neutral: what it produced (for the access log and
// metrics), and what the relay (relay.h) needs from the client side of it. A codec implements
// Downstream: the HTTP/1.1 session today; an HTTP/2 stream or a WebSocket tunnel next. The
// relay never sees a codec's parser, buffers or framing.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/deadline.h"
#include "net/stream.h"
#include "proxy/decide.h"

namespace ciap {

struct Caller;
struct RouteRuntime;
struct UpstreamRuntime;

// What one exchange produced. Reused across a connection's requests so that its strings keep
// their capacity.
struct ExchangeRecord {
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
    caller.reset();
    bytes_in = bytes_out = 0;
    grpc_status = -1;
  }

  Deadline::Clock::time_point start;
  std::string request_id;
  RoutedRequest routed;     // normalized path, canonical host, route
  std::string host_header;  // as the client sent it (Host or :authority)
  std::string_view method;
  const RouteRuntime* route = nullptr;
  const UpstreamRuntime* upstream = nullptr;
  int status = 0;
  std::string_view reason;               // why it passed, was refused or failed
  std::shared_ptr<const Caller> caller;  // who, once the identity filter established it
  uint64_t bytes_in = 0;                 // request body bytes sent on
  uint64_t bytes_out = 0;                // response body bytes sent back
  // A gRPC call's status (HTTP says 200 for most failed calls): from the upstream's trailers,
  // or ciap's own reply. -1: not a gRPC call, or none came.
  int grpc_status = -1;
};

// The client side of one exchange, after the decision path let the request through.
class Downstream {
 public:
  virtual ~Downstream() = default;

  // ---- The request
  // Header fields as the filters left them (the relay drops what it must and adds its own).
  virtual const boost::beast::http::fields& request_headers() const = 0;
  virtual std::string_view client_address() const = 0;
  virtual bool tls() const = 0;
  // Whether a body follows the head, and its declared length (nullopt: not known in advance).
  virtual bool has_body() const = 0;
  virtual std::optional<uint64_t> body_length() const = 0;
  // The client waits to be told to go on before it sends the body (Expect: 100-continue).
  virtual bool expects_continue() const = 0;
  virtual boost::asio::awaitable<bool> SendContinue() = 0;

  // Body bytes the codec already holds, decoded, copied into `into` without waiting.
  struct BodyPiece {
    std::size_t bytes = 0;
    bool need_read = false;  // nothing more without ReadBody()
    bool malformed = false;  // the body's framing is broken: refuse it
  };
  virtual BodyPiece TakeBody(std::span<char> into) = 0;
  // Waits for more of the body from the client (bounded by the listener's idle timeout).
  enum class ReadResult { kOk, kTimeout, kClosed, kMalformed };
  virtual boost::asio::awaitable<ReadResult> ReadBody() = 0;
  virtual bool body_done() const = 0;

  // ---- The response
  // Prepares the response to `head` from the upstream (declared `length`, no body at all when
  // `no_body`); returns whether the client connection may carry another request after it.
  virtual bool BeginResponse(const boost::beast::http::response_header<>& head,
                             std::optional<uint64_t> length, bool no_body,
                             bool client_keep_alive) = 0;
  // Sends body bytes, the head with the first call; `last` ends the response. False: the
  // client is gone.
  virtual boost::asio::awaitable<bool> WriteResponse(std::span<const char> data, bool last) = 0;
  // Whether any of the response went out (after which an error can only cut it short).
  virtual bool response_started() const = 0;
  // Trailer fields to send after the body (the upstream's, over HTTP/2), set before the last
  // WriteResponse. A codec that cannot carry them (HTTP/1.1 here) drops them.
  virtual void SetTrailers(const boost::beast::http::fields& trailers) {}
  // Full duplex: from now on (until called with nullptr) the codec cancels `timer` whenever
  // the client side moves (body bytes arrive, the request ends, the client gives up), so a
  // relay waiting on it for the upstream also carries the body and sees the client leave.
  // Returns whether the codec does; one that must read its socket for the body (HTTP/1.1)
  // does not, and the relay then reads the whole body before it relays the response.
  virtual bool Watch(boost::asio::steady_timer* timer) { return false; }
  // The client gave up on this exchange already (an HTTP/2 stream it reset): nothing more is
  // done for it, the upstream is never asked. A codec that cannot tell: never.
  virtual bool client_gone() const { return false; }
  // ---- WebSocket (RFC 6455), on routes with `websocket: true`
  // Whether the client asked to switch this request to the WebSocket protocol (a GET without a
  // body, with Upgrade: websocket and Connection: upgrade). A codec that cannot tunnel: never.
  virtual bool wants_websocket() const { return false; }
  // The upstream switched protocols (`head` is its 101): sends the client the 101, then carries
  // bytes both ways between the client and `upstream` (`upstream_early`: bytes the upstream
  // sent after its head) until either side closes or nothing moves for the listener's idle
  // timeout; counts the bytes in `exchange`. The connection ends with the tunnel.
  virtual boost::asio::awaitable<void> Tunnel(const boost::beast::http::response_header<>& head,
                                              Stream& upstream,
                                              boost::beast::flat_buffer& upstream_early,
                                              ExchangeRecord& exchange) {
    co_return;
  }
  // A reply of ciap's own for `exchange`: an error named by `reason` (with the filters'
  // `headers`), or (`document` non-empty) that JSON document. Returns whether the connection
  // may carry another request.
  virtual boost::asio::awaitable<bool> Respond(
      ExchangeRecord& exchange, boost::beast::http::status status, std::string_view reason,
      bool keep_alive, const std::vector<std::pair<std::string, std::string>>* headers = nullptr,
      std::string document = {}) = 0;
};

}  // namespace ciap
