// One HTTP/2 request stream: its headers and body as the connection (h2_connection.h) receives
// them, the decision path run on it as on an HTTP/1.1 request, and the relay's Downstream for
// the body and the response. A stream's waits (for body bytes, for the connection to take
// response bytes) are bounded by the listener's idle_timeout through its own Deadline.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/asio.h"
#include "net/deadline.h"
#include "proxy/exchange.h"
#include "proxy/relay.h"
#include "proxy/snapshot.h"

namespace ciap {

class Http2Connection;
class Worker;

class Http2Stream : public Downstream {
 public:
  Http2Stream(Http2Connection& connection, int32_t id, const config::LimitsConfig& limits);
  ~Http2Stream() override;

  // A stream object kept by the worker (Worker::GiveHttp2Stream) serves a new stream: its
  // strings and buffers keep their capacity. Recycle() first, when it is given back: it drops
  // what belongs to the old request (its config snapshot, caller, fields) and large buffers.
  void Reuse(Http2Connection& connection, int32_t id, const config::LimitsConfig& limits);
  void Recycle();

  int32_t id() const { return id_; }
  // Its coroutine (Run) has started and not ended; nghttp2 still has it open.
  bool running = false;
  bool open = true;

  // ---- Fed by the connection
  void AddHeader(std::string_view name, std::string_view value);
  void AddBody(const uint8_t* data, std::size_t length);
  // END_STREAM: on the request's HEADERS frame (`on_headers`: no body at all), or later.
  void EndOfRequest(bool on_headers);
  // The stream is gone (answered and done, or reset by either side).
  void Closed();
  bool answered() const { return answered_; }
  // nghttp2's source of response body bytes.
  static ssize_t ReadResponse(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                              uint32_t* flags, nghttp2_data_source* source, void*);

  // The config the stream runs on (set before Run).
  void Begin(std::shared_ptr<const Snapshot> snapshot, const ListenerRuntime& listener);
  // Runs the request to its answer.
  asio::awaitable<void> Run();

  // ---- Downstream
  const http::fields& request_headers() const override { return request_; }
  std::string_view client_address() const override;
  bool tls() const override;
  bool has_body() const override { return !end_at_headers_; }
  std::optional<uint64_t> body_length() const override;
  bool expects_continue() const override;
  asio::awaitable<bool> SendContinue() override;
  BodyPiece TakeBody(std::span<char> into) override;
  asio::awaitable<ReadResult> ReadBody() override;
  bool body_done() const override { return end_of_request_ && body_.empty(); }
  bool BeginResponse(const http::response_header<>& head, std::optional<uint64_t> length,
                     bool no_body, bool client_keep_alive) override;
  asio::awaitable<bool> WriteResponse(std::span<const char> data, bool last) override;
  bool response_started() const override { return submitted_; }
  void SetTrailers(const http::fields& trailers) override;
  bool Watch(asio::steady_timer* timer) override {
    watch_ = timer;
    return true;
  }
  bool client_gone() const override { return closed_; }
  asio::awaitable<bool> Respond(
      ExchangeRecord& exchange, http::status status, std::string_view reason, bool keep_alive,
      const std::vector<std::pair<std::string, std::string>>* headers = nullptr,
      std::string document = {}) override;

 private:
  // Checks the head as HTTP/1.1's codec does (method, target, authority) and dispatches it.
  asio::awaitable<void> Handle();
  // Queues the response head (`head_`) with `data` and `last`; false: the stream is gone.
  bool Queue(std::span<const char> data, bool last);
  // Waits (bounded by idle_timeout) until the connection signals this stream.
  asio::awaitable<bool> WaitSignal();
  // Gives back flow-control credit for `bytes` of request body taken or thrown away.
  void Consume(std::size_t bytes);

  // Adds a response header field, reusing the strings of an earlier stream's.
  void AddHead(std::string_view name, std::string_view value);

  Worker& worker_;  // the stream object stays on its worker, connection after connection
  Http2Connection* connection_;
  int32_t id_;
  // The header limits of the listener when the stream began (a copy: a reload may free that
  // config before Begin() gives the stream its own).
  uint32_t max_header_bytes_;
  uint32_t max_headers_;
  std::shared_ptr<const Snapshot> snapshot_;   // from Begin()
  const ListenerRuntime* listener_ = nullptr;  // in snapshot_
  Deadline deadline_;
  asio::steady_timer signal_;
  Relay relay_;
  ExchangeRecord exchange_;

  // The request
  http::request_header<> request_;
  std::string method_, path_, authority_, cookie_;
  bool has_authority_ = false;
  std::size_t header_bytes_ = 0;
  uint32_t header_count_ = 0;
  bool too_large_ = false;
  bool end_at_headers_ = false;  // END_STREAM on the HEADERS frame: no body
  bool end_of_request_ = false;
  std::string body_;      // received, not yet taken (at most the stream's window)
  bool discard_ = false;  // the request is answered: body bytes are thrown away as they come

  // The response
  std::vector<std::pair<std::string, std::string>> head_;  // with ":status" first
  std::size_t head_used_ = 0;                              // fields of head_ in use
  bool no_body_ = false;
  bool submitted_ = false;
  bool answered_ = false;  // the last byte is queued
  std::string out_;        // response bytes nghttp2 has not taken yet
  std::size_t out_at_ = 0;
  bool last_ = false;
  bool deferred_ = false;  // nghttp2 waits for ResumeData
  // Trailer fields after the body (an HTTP/2 upstream's, gRPC's status among them).
  std::vector<std::pair<std::string, std::string>> trailers_;
  bool closed_ = false;
  asio::steady_timer* watch_ = nullptr;  // the relay's (Watch): cancelled as the client moves
};

}  // namespace ciap
