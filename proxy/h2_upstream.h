// HTTP/2 towards an upstream (`protocol: http2`): one libnghttp2 client session per connection,
// over TLS (ALPN h2, required) or plain TCP (h2c with prior knowledge), with many exchanges
// multiplexed on it. A worker opens a second connection only when the first is at the
// upstream's SETTINGS_MAX_CONCURRENT_STREAMS (upstream_pool.h).
//
// The relay drives one Http2Exchange per request: it queues request body bytes, and the
// connection fills in the response (head, body, trailers) as frames arrive and wakes the
// relay through the exchange's signal. Response body is credited back to the upstream's flow
// control only once the relay handed it to the client, so a slow client holds at most a
// stream window (256 KiB) of it in ciap.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>

#include "net/asio.h"
#include "net/deadline.h"
#include "proxy/snapshot.h"

namespace ciap {

class Worker;
struct UpstreamConnection;

// One request/response on an HTTP/2 upstream connection.
struct Http2Exchange {
  explicit Http2Exchange(asio::any_io_executor executor) : signal(std::move(executor)) {}
  void Signal() { signal.cancel(); }

  asio::steady_timer signal;  // the relay waits on it
  int32_t id = -1;
  // The request body: bytes the relay queued that nghttp2 has not taken yet.
  std::string send;
  std::size_t send_at = 0;
  bool send_done = false;  // the last byte is queued
  bool deferred = false;   // nghttp2 waits for Resume()
  // The response, as it arrives.
  http::response_header<> head;  // final status and fields, once head_done
  bool head_done = false;
  std::size_t header_bytes = 0;
  std::string body;  // DATA not yet relayed (bounded by the stream window)
  std::size_t body_at = 0;
  http::fields trailers;
  bool ended = false;      // END_STREAM from the upstream
  bool closed = false;     // the stream is over in nghttp2 (ended, reset, or the connection died)
  bool malformed = false;  // the upstream broke the protocol on this stream
  bool refused = false;    // the upstream never processed it (REFUSED_STREAM, or past GOAWAY)
};

class Http2Upstream : public std::enable_shared_from_this<Http2Upstream> {
 public:
  // `connection` is connected (and its TLS handshake done, h2 negotiated).
  Http2Upstream(Worker& worker, std::unique_ptr<UpstreamConnection> connection,
                const UpstreamRuntime& upstream);
  ~Http2Upstream();
  Http2Upstream(const Http2Upstream&) = delete;
  Http2Upstream& operator=(const Http2Upstream&) = delete;

  // Starts reading and writing (the connection preface and SETTINGS go out first).
  void Start();

  bool alive() const { return !dead_; }
  // Whether a new exchange may start here (alive, no GOAWAY either way, not retired).
  bool Accepts() const { return !dead_ && !goaway_ && !retired_; }
  // Whether the upstream's stream limit is reached (nghttp2 would queue a new request).
  bool Saturated() const;
  std::size_t streams() const { return exchanges_.size(); }
  // Since when no exchange runs here.
  Deadline::Clock::time_point idle_since() const { return idle_since_; }

  // Sends a request with `headers` (its body from exchange.send when `has_body`). False: the
  // connection cannot take it.
  bool Submit(std::span<const nghttp2_nv> headers, Http2Exchange& exchange, bool has_body);
  // More request body was queued, or its end.
  void Resume(Http2Exchange& exchange);
  // The relay handed `bytes` of response body to the client: the upstream may send as much.
  void Consumed(Http2Exchange& exchange, std::size_t bytes);
  // The relay is done with `exchange` (it may be destroyed after): a stream still open is
  // cancelled (RST_STREAM CANCEL), its unread body credited back.
  void Release(Http2Exchange& exchange);
  // Closes the connection now; open exchanges fail.
  void Close();
  // No new exchanges; the connection ends (GOAWAY) once the last one is released.
  void Retire();

 private:
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* self);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnDataChunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                         size_t len, void* self);
  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* self);
  static ssize_t ReadRequestBody(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                                 uint32_t* flags, nghttp2_data_source* source, void*);

  Http2Exchange* Find(int32_t stream_id);
  void Wake() { wake_.cancel(); }
  // The last exchange left: note the time; a retired connection ends.
  void Idle();
  // The connection is gone: every open exchange is closed and signalled.
  void Fail();
  asio::awaitable<void> ReadLoop(std::shared_ptr<Http2Upstream> self);
  asio::awaitable<void> WriteLoop(std::shared_ptr<Http2Upstream> self);

  Worker& worker_;
  std::unique_ptr<UpstreamConnection> connection_;
  const UpstreamRuntime& upstream_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, Http2Exchange*> exchanges_;  // open streams the relay holds
  asio::steady_timer wake_;                                // the writer waits on it
  Deadline write_deadline_;
  Deadline::Clock::time_point idle_since_;
  bool dead_ = false;
  bool goaway_ = false;
  bool retired_ = false;
  std::string out_;  // bytes for the writer
};

}  // namespace ciap
