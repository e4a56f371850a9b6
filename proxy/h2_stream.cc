// See h2_stream.h.
#include "proxy/h2_stream.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <charconv>
#include <cstring>

#include "config/text.h"
#include "proxy/dispatch.h"
#include "proxy/h2_common.h"
#include "proxy/h2_connection.h"
#include "proxy/http_head.h"
#include "proxy/local_reply.h"
#include "proxy/path.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

using boost::beast::iequals;

// Response bytes queued beyond what nghttp2 has taken before the relay waits.
constexpr std::size_t kMaxQueuedBytes = 64 * 1024;

// The gRPC status of a reply ciap makes itself (gRPC's own HTTP mapping, with 429 as
// RESOURCE_EXHAUSTED and 504 as DEADLINE_EXCEEDED).
int GrpcStatus(http::status status) {
  switch (static_cast<int>(status)) {
    case 400:
    case 431:
      return 13;  // INTERNAL
    case 401:
      return 16;  // UNAUTHENTICATED
    case 403:
      return 7;  // PERMISSION_DENIED
    case 404:
    case 405:
      return 12;  // UNIMPLEMENTED
    case 429:
      return 8;  // RESOURCE_EXHAUSTED
    case 502:
    case 503:
      return 14;  // UNAVAILABLE
    case 504:
      return 4;  // DEADLINE_EXCEEDED
    default:
      return 2;  // UNKNOWN
  }
}

// A number as text without an allocation.
class Decimal {
 public:
  explicit Decimal(uint64_t value) {
    end_ = std::to_chars(digits_, digits_ + sizeof digits_, value).ptr;
  }
  std::string_view view() const { return {digits_, static_cast<std::size_t>(end_ - digits_)}; }

 private:
  char digits_[20];
  char* end_;
};

bool IsGrpc(const http::fields& request) {
  std::string_view type = request[http::field::content_type];
  return type.starts_with("application/grpc") &&
         (type.size() == 16 || type[16] == '+' || type[16] == ';');
}

}  // namespace

Http2Stream::Http2Stream(Http2Connection& connection, int32_t id,
                         const config::LimitsConfig& limits)
    : worker_(connection.worker()),
      connection_(&connection),
      id_(id),
      max_header_bytes_(limits.max_header_bytes),
      max_headers_(limits.max_headers),
      signal_(connection.stream().get_executor()),
      relay_(connection.worker(), deadline_) {
  worker_.Register(&deadline_);
}

Http2Stream::~Http2Stream() { worker_.Unregister(&deadline_); }

void Http2Stream::Recycle() {
  // Only what a request left behind; the object (deadline, timer, relay) stays.
  constexpr std::size_t kKeepBytes = 16 * 1024;
  deadline_.Disarm();  // a recycled stream starts with nothing armed
  snapshot_.reset();
  listener_ = nullptr;
  exchange_.Reset();
  request_ = {};
  relay_.Trim();
  for (std::string* text : {&method_, &path_, &authority_, &cookie_, &body_, &out_}) {
    text->clear();
    if (text->capacity() > kKeepBytes) std::string().swap(*text);
  }
  trailers_.clear();
  watch_ = nullptr;
}

void Http2Stream::Reuse(Http2Connection& connection, int32_t id,
                        const config::LimitsConfig& limits) {
  connection_ = &connection;
  id_ = id;
  max_header_bytes_ = limits.max_header_bytes;
  max_headers_ = limits.max_headers;
  running = false;
  open = true;
  has_authority_ = too_large_ = end_at_headers_ = end_of_request_ = discard_ = false;
  header_bytes_ = 0;
  header_count_ = 0;
  head_used_ = 0;
  no_body_ = submitted_ = answered_ = last_ = deferred_ = closed_ = false;
  out_at_ = 0;
}

void Http2Stream::AddHead(std::string_view name, std::string_view value) {
  if (head_used_ == head_.size()) head_.emplace_back();
  head_[head_used_].first.assign(name);
  head_[head_used_].second.assign(value);
  ++head_used_;
}

std::string_view Http2Stream::client_address() const {
  return connection_->connection().client_address;
}

bool Http2Stream::tls() const { return connection_->connection().tls; }

// ---- Fed by the connection

void Http2Stream::AddHeader(std::string_view name, std::string_view value) {
  header_bytes_ += name.size() + value.size() + 32;  // RFC 9113 6.5.2's accounting
  ++header_count_;
  if (header_bytes_ > max_header_bytes_ || header_count_ > max_headers_) {
    too_large_ = true;  // nothing more is kept: the stream is answered 431
    return;
  }
  if (name.starts_with(':')) {
    if (name == ":method") {
      method_.assign(value);
    } else if (name == ":path") {
      path_.assign(value);
    } else if (name == ":authority") {
      authority_.assign(value);
      has_authority_ = true;
    }
    return;
  }
  if (name == "cookie") {  // HTTP/2 may split it; HTTP/1.1 wants one field (RFC 9113 8.2.3)
    if (!cookie_.empty()) cookie_.append("; ");
    cookie_.append(value);
    return;
  }
  request_.insert(name, value);
}

void Http2Stream::AddBody(const uint8_t* data, std::size_t length) {
  if (discard_ || closed_) {
    Consume(length);
    return;
  }
  body_.append(reinterpret_cast<const char*>(data), length);
  signal_.cancel();
  if (watch_ != nullptr) watch_->cancel();
}

void Http2Stream::EndOfRequest(bool on_headers) {
  if (on_headers) end_at_headers_ = true;
  end_of_request_ = true;
  signal_.cancel();
  if (watch_ != nullptr) watch_->cancel();
}

void Http2Stream::Closed() {
  closed_ = true;
  signal_.cancel();
  if (watch_ != nullptr) watch_->cancel();
}

void Http2Stream::Consume(std::size_t bytes) {
  if (bytes == 0) return;
  if (closed_) {
    nghttp2_session_consume_connection(connection_->session(), bytes);
  } else {
    nghttp2_session_consume(connection_->session(), id_, bytes);
  }
  connection_->Wake();  // the WINDOW_UPDATE
}

ssize_t Http2Stream::ReadResponse(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                                  size_t length, uint32_t* flags, nghttp2_data_source* source,
                                  void*) {
  auto& self = *static_cast<Http2Stream*>(source->ptr);
  const std::size_t n = std::min(length, self.out_.size() - self.out_at_);
  if (n == 0 && !self.last_) {
    self.deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n > 0) std::memcpy(buf, self.out_.data() + self.out_at_, n);
  self.out_at_ += n;
  if (self.last_ && self.out_at_ == self.out_.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!self.trailers_.empty()) {
      // The stream ends with a HEADERS frame of trailers instead (nghttp2 copies them).
      std::vector<nghttp2_nv> list = NameValues(self.trailers_, self.trailers_.size());
      if (nghttp2_submit_trailer(session, stream_id, list.data(), list.size()) == 0) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
  }
  self.signal_.cancel();  // room for more
  return static_cast<ssize_t>(n);
}

void Http2Stream::SetTrailers(const http::fields& trailers) {
  trailers_.clear();
  ForEachEndToEndField(trailers, [&](std::string_view name, std::string_view value) {
    trailers_.emplace_back(config::LowerCopy(name), std::string(value));
  });
}

// ---- The request

void Http2Stream::Begin(std::shared_ptr<const Snapshot> snapshot, const ListenerRuntime& listener) {
  snapshot_ = std::move(snapshot);
  listener_ = &listener;
}

asio::awaitable<void> Http2Stream::Run() {
  co_await Handle();
  RecordExchange(worker_, *listener_, client_address(), exchange_);
  if (!answered_ && !closed_) {
    // The relay gave up mid-response (the upstream failed after the head went out).
    nghttp2_submit_rst_stream(connection_->session(), NGHTTP2_FLAG_NONE, id_,
                              NGHTTP2_INTERNAL_ERROR);
    connection_->Wake();
  }
  // Body bytes nobody will read give their flow-control credit back as they come.
  discard_ = true;
  Consume(body_.size());
  body_.clear();
}

asio::awaitable<void> Http2Stream::Handle() {
  ExchangeRecord& exchange = exchange_;
  exchange.Reset();
  request_.method_string(method_);
  request_.target(path_);
  request_.version(11);
  if (!cookie_.empty()) request_.set(http::field::cookie, cookie_);
  if (auto id = request_["x-request-id"]; IsValidRequestId(id)) {
    exchange.request_id.assign(id);
  } else {
    worker_.request_ids().Append(exchange.request_id);
  }
  exchange.method = request_.method_string();
  // The same checks as the HTTP/1.1 codec's, where HTTP/2 can carry the same mistakes.
  if (too_large_) {
    co_await Respond(exchange, http::status::request_header_fields_too_large,
                     header_count_ > max_headers_ ? "too_many_headers" : "header_too_large", false);
    co_return;
  }
  if (request_.method() == http::verb::connect) {
    co_await Respond(exchange, http::status::method_not_allowed, "connect_not_supported", false);
    co_return;
  }
  std::optional<RequestTarget> target = ParseRequestTarget(path_);
  if (!target || target->form != RequestTarget::kOrigin) {
    co_await Respond(exchange, http::status::bad_request, "unsupported_target", false);
    co_return;
  }
  // :authority is the request's host; a Host field beside it must agree (RFC 9113 8.3.1).
  std::string_view host_field = request_[http::field::host];
  if (has_authority_) {
    if (!host_field.empty() && !iequals(host_field, authority_)) {
      co_await Respond(exchange, http::status::bad_request, "host_mismatch", false);
      co_return;
    }
    exchange.host_header.assign(authority_);
    if (host_field.empty()) request_.set(http::field::host, authority_);
  } else if (host_field.empty()) {
    co_await Respond(exchange, http::status::bad_request, "missing_host", false);
    co_return;
  } else {
    exchange.host_header.assign(host_field);
  }
  const DispatchContext context{worker_, snapshot_, *listener_, connection_->connection(), relay_};
  const RequestTarget parts = *target;
  const bool body_done_now = body_done();
  co_await Dispatch(context, *this, exchange, request_, parts, true, body_done_now);
}

std::optional<uint64_t> Http2Stream::body_length() const {
  std::string_view length = request_[http::field::content_length];
  if (length.empty()) return end_at_headers_ ? std::optional<uint64_t>(0) : std::nullopt;
  uint64_t value = 0;
  for (char c : length) value = value * 10 + static_cast<uint64_t>(c - '0');  // nghttp2 checked
  return value;
}

bool Http2Stream::expects_continue() const {
  return has_body() && body_.empty() && !end_of_request_ &&
         iequals(request_[http::field::expect], "100-continue");
}

asio::awaitable<bool> Http2Stream::SendContinue() {
  // An interim HEADERS frame (RFC 9113 8.1): the client may send the body now.
  std::string status_name = ":status", status_value = "100";
  nghttp2_nv interim{reinterpret_cast<uint8_t*>(status_name.data()),
                     reinterpret_cast<uint8_t*>(status_value.data()), status_name.size(),
                     status_value.size(), NGHTTP2_NV_FLAG_NONE};
  const bool sent = !closed_ && nghttp2_submit_headers(connection_->session(), NGHTTP2_FLAG_NONE,
                                                       id_, nullptr, &interim, 1, nullptr) >= 0;
  connection_->Wake();
  co_return sent;
}

Downstream::BodyPiece Http2Stream::TakeBody(std::span<char> into) {
  const std::size_t n = std::min(into.size(), body_.size());
  if (n > 0) std::memcpy(into.data(), body_.data(), n);
  body_.erase(0, n);
  Consume(n);
  return {n, n == 0 && !end_of_request_, false};
}

asio::awaitable<bool> Http2Stream::WaitSignal() {
  deadline_.Arm(listener_->config->limits.idle_timeout, &signal_);
  signal_.expires_at(asio::steady_timer::time_point::max());
  co_await signal_.async_wait(use_nothrow);
  deadline_.Disarm();
  co_return !deadline_.expired();
}

asio::awaitable<Downstream::ReadResult> Http2Stream::ReadBody() {
  for (;;) {
    if (closed_) co_return ReadResult::kClosed;
    if (!body_.empty() || end_of_request_) co_return ReadResult::kOk;
    const bool signalled = co_await WaitSignal();
    if (!signalled) co_return ReadResult::kTimeout;
  }
}

// ---- The response

bool Http2Stream::BeginResponse(const http::response_header<>& head, std::optional<uint64_t> length,
                                bool no_body, bool) {
  head_used_ = 0;
  AddHead(":status", Decimal(head.result_int()).view());
  bool upstream_sent_id = false;
  ForEachEndToEndField(head, [&](std::string_view name, std::string_view value) {
    AddHead(name, value);
    std::string& lower = head_[head_used_ - 1].first;
    std::transform(lower.begin(), lower.end(), lower.begin(), config::ToLower);
    if (lower == "x-request-id") upstream_sent_id = true;
  });
  if (!upstream_sent_id) AddHead("x-request-id", exchange_.request_id);
  if (length) AddHead("content-length", Decimal(*length).view());
  no_body_ = no_body;
  return true;
}

bool Http2Stream::Queue(std::span<const char> data, bool last) {
  if (closed_) return false;
  if (out_at_ > kMaxQueuedBytes || out_at_ == out_.size()) {
    out_.erase(0, out_at_);
    out_at_ = 0;
  }
  out_.append(data.data(), data.size());
  last_ = last;
  if (last) answered_ = true;
  nghttp2_session* session = connection_->session();
  if (!submitted_) {
    submitted_ = true;
    std::vector<nghttp2_nv> nv = NameValues(head_, head_used_);
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = &ReadResponse;
    const bool headers_only = no_body_ || (last && out_.empty() && trailers_.empty());
    if (nghttp2_submit_response(session, id_, nv.data(), nv.size(),
                                headers_only ? nullptr : &provider) != 0) {
      return false;
    }
  } else if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(session, id_);
  }
  connection_->Wake();
  return true;
}

asio::awaitable<bool> Http2Stream::WriteResponse(std::span<const char> data, bool last) {
  const bool queued = Queue(data, last);
  if (!queued) co_return false;
  // Past the queue's bound, wait for the connection to take the bytes (the client reads).
  while (!closed_ && out_.size() - out_at_ > kMaxQueuedBytes) {
    const bool signalled = co_await WaitSignal();
    if (!signalled) co_return false;
  }
  co_return !closed_;
}

asio::awaitable<bool> Http2Stream::Respond(
    ExchangeRecord& exchange, http::status status, std::string_view reason, bool,
    const std::vector<std::pair<std::string, std::string>>* headers, std::string document) {
  if (exchange.request_id.empty()) worker_.request_ids().Append(exchange.request_id);
  CountRejected(worker_, *listener_, status, reason);
  exchange.status = static_cast<int>(status);
  exchange.reason = reason;
  head_used_ = 0;
  std::string body;
  if (IsGrpc(request_)) {
    // gRPC clients read a status, not a page: a trailers-only response (HEADERS, END_STREAM).
    AddHead(":status", "200");
    AddHead("content-type", "application/grpc");
    exchange.grpc_status = GrpcStatus(status);
    AddHead("grpc-status", Decimal(static_cast<uint64_t>(exchange.grpc_status)).view());
    AddHead("grpc-message", reason);
    no_body_ = true;
  } else {
    body = document.empty() ? LocalReplyBody(status, reason, exchange.request_id)
                            : std::move(document);
    AddHead(":status", Decimal(static_cast<int>(status)).view());
    AddHead("content-type", "application/json");
    AddHead("cache-control", "no-store");
    AddHead("content-length", Decimal(body.size()).view());
    no_body_ = exchange.method == "HEAD";
    if (!no_body_) exchange.bytes_out = body.size();
  }
  AddHead("x-request-id", exchange.request_id);
  if (headers != nullptr) {
    for (const auto& [name, value] : *headers) AddHead(config::LowerCopy(name), value);
  }
  const bool queued = Queue(no_body_ ? std::span<const char>() : std::span<const char>(body), true);
  co_return queued && !closed_;
}

}  // namespace ciap
