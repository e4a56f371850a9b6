// The HTTP/2 codec (RFC 9113) for one downstream connection, on libnghttp2: the connection
// negotiated h2 in ALPN, or a plaintext client opened with the h2c preface (prior knowledge).
// nghttp2 does the framing, HPACK and the protocol's own checks (pseudo-headers, connection-
// specific headers, content-length against the DATA received, flow control, a limit on
// CONTINUATION frames and on resets); each request stream then runs the same decision path as
// an HTTP/1.1 request (dispatch.h) as its own coroutine (h2_stream.h).
//
// Limits, beyond nghttp2's: the listener's max_concurrent_streams (announced, and refused past
// it), max_header_bytes as the header list size and max_headers (431 on the stream), a budget of
// resets of streams not yet answered and of empty DATA frames (spent: GOAWAY
// ENHANCE_YOUR_CALM), flow-control windows that bound each stream's buffered body to 64 KiB.
// Draining sends GOAWAY once no stream is open; idle_timeout closes a connection without streams.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/asio.h"
#include "net/deadline.h"
#include "net/stream.h"
#include "proxy/snapshot.h"

namespace ciap {

class Worker;
class Http2Stream;

// The 24-byte client connection preface of HTTP/2.
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

class Http2Connection {
 public:
  // `stream` (handshake done) and `deadline` belong to the caller and outlive Serve().
  Http2Connection(Worker& worker, std::shared_ptr<const Snapshot> snapshot,
                  const ListenerRuntime& listener, const ConnectionInfo& connection, Stream& stream,
                  Deadline& deadline);
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Serves the connection until it ends (the caller then closes the stream). `early`: bytes
  // already read from the client (an h2c preface).
  asio::awaitable<void> Serve(std::span<const char> early);

  // ---- For the streams
  nghttp2_session* session() { return session_; }
  Worker& worker() { return worker_; }
  const ConnectionInfo& connection() const { return connection_; }
  Stream& stream() { return stream_; }
  // Something was queued for sending: the writer runs.
  void Wake();
  // A stream's coroutine is over.
  void StreamDone(Http2Stream& stream);
  // The snapshot and listener a new stream runs on (a reload applies from the next stream on);
  // false when the connection must end (see FollowReload).
  bool Follow(std::shared_ptr<const Snapshot>& snapshot, const ListenerRuntime*& listener);

 private:
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* self);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int OnDataChunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                         size_t len, void* self);
  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* self);

  // The server's SETTINGS (the listener's limits) and the connection's receive window.
  void SubmitSettings();
  Http2Stream* Find(int32_t stream_id);
  void Recycle(std::unique_ptr<Http2Stream> stream);
  void StartStream(Http2Stream& stream);
  // Runs the streams StartStream queued (each until its first wait).
  void SpawnStarted();
  // Queues a graceful GOAWAY (NO_ERROR, the last stream taken), once.
  void SubmitGoaway();
  // Spends one unit of the abuse budget; false (and GOAWAY queued) when it is gone.
  void Abuse();
  asio::awaitable<void> WriteLoop();
  // Ends every stream and waits for their coroutines and the writer.
  asio::awaitable<void> Stop();

  Worker& worker_;
  std::shared_ptr<const Snapshot> snapshot_;
  const ListenerRuntime* listener_;
  uint64_t generation_;
  const ConnectionInfo& connection_;
  Stream& stream_;
  Deadline& deadline_;  // the reader's: header_timeout, then idle_timeout while no stream is open
  Deadline write_deadline_;
  nghttp2_session* session_ = nullptr;
  // Streams open in nghttp2, and closed ones whose coroutine still runs; a stream object
  // goes back to the worker (Worker::GiveHttp2Stream) once both are over.
  std::unordered_map<int32_t, std::unique_ptr<Http2Stream>> streams_;
  std::vector<std::unique_ptr<Http2Stream>> finishing_;
  std::vector<Http2Stream*> to_start_;  // whole requests nghttp2 handed over, not yet running
  int running_ = 0;                     // stream coroutines not yet done
  asio::steady_timer wake_;             // the writer waits on it
  asio::steady_timer done_;             // Stop() waits on it
  bool writer_running_ = false;
  bool stopping_ = false;
  bool goaway_ = false;
  uint64_t started_ = 0;           // streams dispatched
  uint64_t premature_resets_ = 0;  // streams the client reset before their response ended
  uint64_t empty_frames_ = 0;      // DATA frames without payload or END_STREAM
  std::string out_;                // bytes for the writer
};

}  // namespace ciap
