// See h2_connection.h.
#include "proxy/h2_connection.h"

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>

#include "net/log.h"
#include "proxy/dispatch.h"
#include "proxy/h2_common.h"
#include "proxy/h2_stream.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

constexpr std::size_t kReadBytes = 16 * 1024;
constexpr std::size_t kWriteBatchBytes = 64 * 1024;
constexpr int32_t kConnectionWindow = 1 << 20;
// Resets of unanswered streams are fine now and then (a client gives up on a request); past
// this many, and once they are most of the connection's streams, the client is abusing the
// protocol (rapid reset, CVE-2023-44487).
constexpr uint64_t kResetAllowance = 100;
// DATA frames with neither payload nor END_STREAM do nothing but cost work.
constexpr uint64_t kEmptyFrameAllowance = 100;

Http2Connection& Self(void* user_data) { return *static_cast<Http2Connection*>(user_data); }

}  // namespace

Http2Connection::Http2Connection(Worker& worker, std::shared_ptr<const Snapshot> snapshot,
                                 const ListenerRuntime& listener, const ConnectionInfo& connection,
                                 Stream& stream, Deadline& deadline)
    : worker_(worker),
      snapshot_(std::move(snapshot)),
      listener_(&listener),
      generation_(worker.shared().generation.load(std::memory_order_acquire)),
      connection_(connection),
      stream_(stream),
      deadline_(deadline),
      wake_(stream.get_executor()),
      done_(stream.get_executor()) {
  worker_.Register(&write_deadline_);
  Http2Setup setup = NewHttp2Setup(&OnHeader, &OnFrameRecv, &OnDataChunk, &OnStreamClose);
  nghttp2_session_callbacks_set_on_begin_headers_callback(setup.callbacks.get(), &OnBeginHeaders);
  nghttp2_session_server_new2(&session_, setup.callbacks.get(), this, setup.option.get());
}

Http2Connection::~Http2Connection() {
  streams_.clear();
  if (session_ != nullptr) nghttp2_session_del(session_);
  worker_.Unregister(&write_deadline_);
}

Http2Stream* Http2Connection::Find(int32_t stream_id) {
  return static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(session_, stream_id));
}

void Http2Connection::Wake() { wake_.cancel(); }

bool Http2Connection::Follow(std::shared_ptr<const Snapshot>& snapshot,
                             const ListenerRuntime*& listener) {
  if (!FollowReload(worker_, generation_, snapshot_, listener_, connection_)) return false;
  snapshot = snapshot_;
  listener = listener_;
  return true;
}

int Http2Connection::OnBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame,
                                    void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  Http2Connection& self = Self(user_data);
  const int32_t id = frame->hd.stream_id;
  const config::LimitsConfig& limits = self.listener_->config->limits;
  std::unique_ptr<Http2Stream> stream = self.worker_.TakeHttp2Stream();
  if (stream) {
    stream->Reuse(self, id, limits);
  } else {
    stream = std::make_unique<Http2Stream>(self, id, limits);
  }
  nghttp2_session_set_stream_user_data(session, id, stream.get());
  self.streams_[id] = std::move(stream);
  return 0;
}

int Http2Connection::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                              size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                              void* user_data) {
  // Only the request's own header block; trailers a client sends are not forwarded.
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (Http2Stream* stream = Self(user_data).Find(frame->hd.stream_id)) {
    stream->AddHeader({reinterpret_cast<const char*>(name), namelen},
                      {reinterpret_cast<const char*>(value), valuelen});
  }
  return 0;
}

int Http2Connection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
  Http2Connection& self = Self(user_data);
  Http2Stream* stream = self.Find(frame->hd.stream_id);
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (stream == nullptr) break;
      if (end_stream) stream->EndOfRequest(frame->headers.cat == NGHTTP2_HCAT_REQUEST);
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) self.StartStream(*stream);
      break;
    case NGHTTP2_DATA:
      if (frame->hd.length == 0 && !end_stream) {
        ++self.empty_frames_;
        self.Abuse();
      }
      if (stream != nullptr && end_stream) stream->EndOfRequest(false);
      break;
    case NGHTTP2_RST_STREAM:
      if (stream != nullptr && !stream->answered()) {
        ++self.premature_resets_;
        self.Abuse();
      }
      break;
    default:
      break;
  }
  return 0;
}

int Http2Connection::OnDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                                 const uint8_t* data, size_t len, void* user_data) {
  if (Http2Stream* stream = Self(user_data).Find(stream_id)) {
    stream->AddBody(data, len);
  } else {
    nghttp2_session_consume_connection(session, len);
  }
  return 0;
}

int Http2Connection::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user_data) {
  Http2Connection& self = Self(user_data);
  auto it = self.streams_.find(stream_id);
  if (it == self.streams_.end()) return 0;
  std::unique_ptr<Http2Stream> stream = std::move(it->second);
  self.streams_.erase(it);
  stream->Closed();
  stream->open = false;
  if (stream->running) {
    self.finishing_.push_back(std::move(stream));  // its coroutine ends first
  } else {
    self.Recycle(std::move(stream));
  }
  return 0;
}

void Http2Connection::Recycle(std::unique_ptr<Http2Stream> stream) {
  stream->Recycle();
  worker_.GiveHttp2Stream(std::move(stream));
}

void Http2Connection::Abuse() {
  const bool resets = premature_resets_ > kResetAllowance && premature_resets_ * 2 > started_;
  if (goaway_ || (!resets && empty_frames_ <= kEmptyFrameAllowance)) return;
  goaway_ = true;
  LogEvent(LogLevel::kWarning, "http2 connection abused: closed",
           {{"client", std::string(connection_.client_address)},
            {"listener", listener_->config->name},
            {"reason", resets ? "stream resets" : "empty frames"}});
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
}

void Http2Connection::StartStream(Http2Stream& stream) {
  std::shared_ptr<const Snapshot> snapshot;
  const ListenerRuntime* listener = nullptr;
  // Streams whose coroutines still run, reset or not, are bounded too: a client that resets
  // streams as it opens them cannot pile up work past the limit.
  const uint32_t limit = listener_->config->limits.max_concurrent_streams;
  if (goaway_ || static_cast<uint32_t>(running_) >= 2 * limit || !Follow(snapshot, listener)) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id(), NGHTTP2_REFUSED_STREAM);
    return;
  }
  ++started_;
  ++running_;
  Http2Stream* held = &stream;  // the connection owns it until StreamDone
  held->running = true;
  held->Begin(std::move(snapshot), *listener);
  // Started once nghttp2 returns (SpawnStarted): a stream may answer at once, which submits
  // frames to the session that is calling us now.
  to_start_.push_back(held);
}

void Http2Connection::SpawnStarted() {
  for (Http2Stream* held : to_start_) {
    asio::co_spawn(stream_.get_executor(), held->Run(),
                   [this, held](const std::exception_ptr& failure) {
                     if (failure) {
                       try {
                         std::rethrow_exception(failure);
                       } catch (const std::exception& e) {
                         LogEvent(LogLevel::kError, "http2 stream failed", {{"error", e.what()}});
                       }
                     }
                     StreamDone(*held);
                   });
  }
  to_start_.clear();
}

void Http2Connection::SubmitGoaway() {
  if (goaway_) return;
  goaway_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  Wake();
}

void Http2Connection::StreamDone(Http2Stream& stream) {
  stream.running = false;
  if (!stream.open) {  // nghttp2 closed it already: the object can serve another stream
    auto it = std::find_if(finishing_.begin(), finishing_.end(),
                           [&](const auto& held) { return held.get() == &stream; });
    if (it != finishing_.end()) {
      std::unique_ptr<Http2Stream> done = std::move(*it);
      finishing_.erase(it);
      Recycle(std::move(done));
    }
  }
  --running_;
  Wake();
  if (stopping_) {
    done_.cancel();
  } else if (running_ == 0 && !goaway_) {
    // Idle again: idle_timeout (and draining) may end the connection.
    deadline_.Arm(listener_->config->limits.idle_timeout, &stream_, /*idle=*/true);
  }
}

void Http2Connection::SubmitSettings() {
  const config::LimitsConfig& limits = listener_->config->limits;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits.max_header_bytes},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

asio::awaitable<void> Http2Connection::Serve(std::span<const char> early) {
  SubmitSettings();
  asio::co_spawn(stream_.get_executor(), WriteLoop(), asio::detached);

  std::array<char, kReadBytes> buffer;
  std::span<const char> input = early;
  for (;;) {
    if (!input.empty()) {
      ssize_t used = nghttp2_session_mem_recv(
          session_, reinterpret_cast<const uint8_t*>(input.data()), input.size());
      if (used < 0) {
        // A connection error nghttp2 could not answer itself (a bad preface, a flood).
        nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
      }
      SpawnStarted();
      input = {};
      Wake();
    }
    if (worker_.shared().draining.load(std::memory_order_relaxed)) SubmitGoaway();
    if (!nghttp2_session_want_read(session_)) break;
    const config::LimitsConfig& limits = listener_->config->limits;  // the newest (reloads)
    if (running_ == 0) {
      // Idle: header_timeout before the first stream, then idle_timeout (draining ends it).
      deadline_.Arm(started_ == 0 ? limits.header_timeout : limits.idle_timeout, &stream_,
                    /*idle=*/started_ > 0);
    } else if (!goaway_) {
      // Streams are open (their own deadlines bound them): only draining ends this wait.
      deadline_.Arm(std::chrono::hours(24), &stream_, /*idle=*/true);
    } else {
      deadline_.Disarm();
    }
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buffer), use_nothrow);
    if (ec) {
      const bool timed_out = deadline_.expired();
      if (timed_out) SubmitGoaway();            // idle past idle_timeout, or draining
      if (timed_out && running_ > 0) continue;  // draining: the open streams finish first
      break;
    }
    input = std::span<const char>(buffer.data(), n);
  }
  co_await Stop();
}

asio::awaitable<void> Http2Connection::Stop() {
  stopping_ = true;
  deadline_.Disarm();
  // Streams still running end: their waits see the stream closed.
  for (auto& [id, stream] : streams_) stream->Closed();
  while (running_ > 0) {
    done_.expires_at(asio::steady_timer::time_point::max());
    co_await done_.async_wait(use_nothrow);
  }
  Wake();
  while (writer_running_) {
    done_.expires_at(asio::steady_timer::time_point::max());
    co_await done_.async_wait(use_nothrow);
  }
}

asio::awaitable<void> Http2Connection::WriteLoop() {
  writer_running_ = true;
  const auto idle_timeout = listener_->config->limits.idle_timeout;
  for (;;) {
    out_.clear();
    while (out_.size() < kWriteBatchBytes) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (out_.empty()) {
      if (stopping_) break;
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
        stream_.Cancel();  // the session is over: the reader stops waiting
        break;
      }
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(use_nothrow);
      continue;
    }
    write_deadline_.Arm(idle_timeout, &stream_);
    error_code ec = co_await stream_.WriteAll(asio::buffer(out_));
    write_deadline_.Disarm();
    if (ec) {
      stream_.Cancel();
      break;
    }
  }
  writer_running_ = false;
  done_.cancel();
}

}  // namespace ciap
