// See h2_upstream.h.
#include "proxy/h2_upstream.h"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstring>

#include "proxy/h2_common.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

constexpr std::size_t kUpstreamReadBytes = 16 * 1024;
constexpr std::size_t kUpstreamWriteBatchBytes = 64 * 1024;
// Response body the upstream may send ahead of the client, per stream and per connection.
constexpr int32_t kUpstreamStreamWindow = 256 * 1024;
constexpr int32_t kUpstreamConnectionWindow = 16 * 1024 * 1024;
// The longest response header list (and trailer list) ciap takes, as RFC 9113 6.5.2 counts.
constexpr std::size_t kMaxHeaderListBytes = 64 * 1024;
// Streams assumed until the upstream's SETTINGS say otherwise (RFC 9113 recommends >= 100).
constexpr uint32_t kAssumedConcurrentStreams = 100;

Http2Upstream& Client(void* user_data) { return *static_cast<Http2Upstream*>(user_data); }

}  // namespace

Http2Upstream::Http2Upstream(Worker& worker, std::unique_ptr<UpstreamConnection> connection,
                             const UpstreamRuntime& upstream)
    : worker_(worker),
      connection_(std::move(connection)),
      upstream_(upstream),
      wake_(connection_->stream.get_executor()),
      idle_since_(Deadline::Clock::now()) {
  worker_.Register(&write_deadline_);
  Http2Setup setup = NewHttp2Setup(&OnHeader, &OnFrameRecv, &OnDataChunk, &OnStreamClose);
  nghttp2_option_set_peer_max_concurrent_streams(setup.option.get(), kAssumedConcurrentStreams);
  nghttp2_session_client_new2(&session_, setup.callbacks.get(), this, setup.option.get());

  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kUpstreamStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, kMaxHeaderListBytes},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kUpstreamConnectionWindow);
}

Http2Upstream::~Http2Upstream() {
  if (session_ != nullptr) nghttp2_session_del(session_);
  worker_.Unregister(&write_deadline_);
}

void Http2Upstream::Start() {
  auto executor = connection_->stream.get_executor();
  asio::co_spawn(executor, ReadLoop(shared_from_this()), asio::detached);
  asio::co_spawn(executor, WriteLoop(shared_from_this()), asio::detached);
}

bool Http2Upstream::Saturated() const {
  return exchanges_.size() >=
         nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

Http2Exchange* Http2Upstream::Find(int32_t stream_id) {
  return static_cast<Http2Exchange*>(nghttp2_session_get_stream_user_data(session_, stream_id));
}

bool Http2Upstream::Submit(std::span<const nghttp2_nv> headers, Http2Exchange& exchange,
                           bool has_body) {
  if (!Accepts()) return false;
  nghttp2_data_provider provider{};
  provider.source.ptr = &exchange;
  provider.read_callback = &ReadRequestBody;
  const int32_t id = nghttp2_submit_request(session_, nullptr, headers.data(), headers.size(),
                                            has_body ? &provider : nullptr, &exchange);
  if (id < 0) return false;
  exchange.id = id;
  exchanges_[id] = &exchange;
  Wake();
  return true;
}

void Http2Upstream::Resume(Http2Exchange& exchange) {
  if (dead_ || !exchange.deferred || !exchanges_.contains(exchange.id)) return;
  exchange.deferred = false;
  nghttp2_session_resume_data(session_, exchange.id);
  Wake();
}

void Http2Upstream::Consumed(Http2Exchange& exchange, std::size_t bytes) {
  if (dead_ || bytes == 0) return;
  if (exchanges_.contains(exchange.id)) {
    nghttp2_session_consume(session_, exchange.id, bytes);
  } else {
    nghttp2_session_consume_connection(session_, bytes);  // the stream ended meanwhile
  }
  Wake();
}

void Http2Upstream::Release(Http2Exchange& exchange) {
  const std::size_t unread = exchange.body.size() - exchange.body_at;
  auto it = exchanges_.find(exchange.id);
  if (it == exchanges_.end() || it->second != &exchange) {
    if (!dead_ && unread > 0) nghttp2_session_consume_connection(session_, unread);
    Wake();
    return;
  }
  exchanges_.erase(it);
  if (!dead_) {
    nghttp2_session_set_stream_user_data(session_, exchange.id, nullptr);
    if (unread > 0) nghttp2_session_consume(session_, exchange.id, unread);
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, exchange.id, NGHTTP2_CANCEL);
  }
  if (exchanges_.empty()) Idle();
  Wake();
}

void Http2Upstream::Idle() {
  idle_since_ = Deadline::Clock::now();
  if (retired_ && !dead_) nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
}

void Http2Upstream::Close() { Fail(); }  // Fail closes the socket

void Http2Upstream::Retire() {
  retired_ = true;
  if (exchanges_.empty()) Idle();
  Wake();
}

void Http2Upstream::Fail() {
  if (dead_) return;
  dead_ = true;
  for (auto& [id, exchange] : exchanges_) {
    exchange->closed = true;
    exchange->Signal();
  }
  exchanges_.clear();
  connection_->stream.Close();
  Wake();
}

// ---- nghttp2 callbacks

int Http2Upstream::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                            size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                            void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Http2Exchange* exchange = Client(user_data).Find(frame->hd.stream_id);
  if (exchange == nullptr) return 0;
  exchange->header_bytes += namelen + valuelen + 32;
  if (exchange->header_bytes > kMaxHeaderListBytes) {
    exchange->malformed = true;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // nghttp2 resets the stream
  }
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (exchange->head_done) {
    if (!n.starts_with(':')) exchange->trailers.insert(n, v);
  } else if (n == ":status") {
    unsigned code = 0;
    for (char c : v) code = code * 10 + static_cast<unsigned>(c - '0');  // 3 digits: nghttp2
    if (code < 100 || code > 599) {  // not an HTTP status (RFC 9110 15): never relayed
      exchange->malformed = true;
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    exchange->head.result(code);
  } else if (!n.starts_with(':')) {
    exchange->head.insert(n, v);
  }
  return 0;
}

int Http2Upstream::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  Http2Upstream& self = Client(user_data);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    self.goaway_ = true;  // streams past its last id close as refused (OnStreamClose)
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  Http2Exchange* exchange = self.Find(frame->hd.stream_id);
  if (exchange == nullptr) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && !exchange->head_done) {
    if (exchange->head.result_int() >= 200) {
      exchange->head_done = true;
    } else {
      exchange->head = {};  // an interim 1xx response: the final one follows
      exchange->header_bytes = 0;
    }
  }
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) exchange->ended = true;
  exchange->Signal();
  return 0;
}

int Http2Upstream::OnDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                               const uint8_t* data, size_t len, void* user_data) {
  Http2Exchange* exchange = Client(user_data).Find(stream_id);
  if (exchange == nullptr) {
    nghttp2_session_consume_connection(session, len);  // released: nobody reads it
    return 0;
  }
  if (exchange->body_at == exchange->body.size()) {
    exchange->body.clear();
    exchange->body_at = 0;
  }
  exchange->body.append(reinterpret_cast<const char*>(data), len);
  exchange->Signal();
  return 0;
}

int Http2Upstream::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                                 void* user_data) {
  Http2Upstream& self = Client(user_data);
  auto it = self.exchanges_.find(stream_id);
  if (it == self.exchanges_.end()) return 0;
  Http2Exchange& exchange = *it->second;
  exchange.closed = true;
  if (error_code == NGHTTP2_REFUSED_STREAM && !exchange.head_done) exchange.refused = true;
  self.exchanges_.erase(it);
  exchange.Signal();
  if (self.exchanges_.empty()) self.Idle();
  return 0;
}

ssize_t Http2Upstream::ReadRequestBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                                       size_t length, uint32_t* flags, nghttp2_data_source*,
                                       void*) {
  // The exchange through the stream's user data, not the provider's pointer: a released
  // exchange may be gone while its DATA item still waits in nghttp2's queue.
  auto* exchange =
      static_cast<Http2Exchange*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (exchange == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  const std::size_t n = std::min(length, exchange->send.size() - exchange->send_at);
  if (n == 0 && !exchange->send_done) {
    exchange->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n > 0) std::memcpy(buf, exchange->send.data() + exchange->send_at, n);
  exchange->send_at += n;
  if (exchange->send_done && exchange->send_at == exchange->send.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  exchange->Signal();  // room for more
  return static_cast<ssize_t>(n);
}

// ---- I/O

asio::awaitable<void> Http2Upstream::ReadLoop(std::shared_ptr<Http2Upstream> self) {
  std::array<char, kUpstreamReadBytes> buffer;
  while (!dead_) {
    auto [ec, n] = co_await connection_->stream.async_read_some(asio::buffer(buffer), use_nothrow);
    if (ec || dead_) break;
    const ssize_t used =
        nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buffer.data()), n);
    if (used < 0) break;  // a connection error: nghttp2 queued GOAWAY, but the session is done
    Wake();
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
  }
  Fail();
}

asio::awaitable<void> Http2Upstream::WriteLoop(std::shared_ptr<Http2Upstream> self) {
  const auto stall_limit = upstream_.config->idle_timeout;
  while (!dead_) {
    out_.clear();
    while (out_.size() < kUpstreamWriteBatchBytes) {
      const uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (out_.empty()) {
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(use_nothrow);
      continue;
    }
    // An upstream that stops reading altogether is given up after its idle_timeout.
    write_deadline_.Arm(stall_limit, &connection_->stream);
    const error_code ec = co_await connection_->stream.WriteAll(asio::buffer(out_));
    write_deadline_.Disarm();
    if (ec) break;
  }
  Fail();
}

}  // namespace ciap
