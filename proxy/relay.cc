// See session.h. The relay: the request head and body to an upstream connection from the
// worker's pool, the upstream's response back to the client, and what a failure on either side
// answers (502, 504, 408, 400) or closes.
#include <array>

#include "proxy/http_head.h"
#include "proxy/session.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

using boost::beast::iequals;

// Methods a proxy may send again after a connection failed without an answer (RFC 9110
// 9.2.2 allows idempotent ones; the safe subset avoids repeating a DELETE the upstream may
// have carried out before its connection dropped).
bool IsRetrySafe(http::verb method) {
  return method == http::verb::get || method == http::verb::head || method == http::verb::options ||
         method == http::verb::trace;
}

}  // namespace

asio::awaitable<bool> Session::Forward(Exchange& exchange, bool client_keep_alive) {
  RequestParser& parser = *request_;
  auto& request = parser.get();
  const UpstreamRuntime& upstream = snapshot_->upstreams[exchange.route->upstream_index];
  exchange.upstream = &upstream;
  UpstreamPool& pool = worker_.Pool(upstream, snapshot_);
  pool_ = &pool;
  const bool has_body = !parser.is_done() || parser.chunked() ||
                        (parser.content_length() && *parser.content_length() > 0);
  const bool head_request = request.method() == http::verb::head;

  // A pooled connection the upstream closed while idle fails on first use; a request without
  // a body is then safe to send again once, on a new connection.
  for (int attempt = 0;; ++attempt) {
    auto acquired = co_await pool.Acquire(deadline_, attempt > 0);
    if (!acquired) {
      const AcquireError error = acquired.error();
      const bool overloaded = error != AcquireError::kConnectFailed;
      co_return co_await Respond(
          exchange, overloaded ? http::status::service_unavailable : http::status::bad_gateway,
          error == AcquireError::kQueueFull       ? "upstream_queue_full"
          : error == AcquireError::kPoolExhausted ? "upstream_pool_exhausted"
                                                  : "upstream_connect_failed",
          client_keep_alive && parser.is_done());
    }
    upstream_ = std::move(*acquired);
    const bool may_retry =
        upstream_->reused && !has_body && attempt == 0 && IsRetrySafe(request.method());

    std::optional<Failure> failure = co_await SendRequest(exchange, has_body);
    if (failure && failure->cause == Failure::kUpstreamRefusedBody) {
      // An upstream may answer and close before taking the whole body (413, 401): relay its
      // answer if there is one. The client's unread body then forces this connection closed.
      if (!co_await ReadResponseHead(head_request)) {
        co_return co_await RelayResponse(exchange, /*client_keep_alive=*/false, head_request);
      }
    }
    if (!failure) failure = co_await ReadResponseHead(head_request);
    if (!failure) break;

    pool.Discard(std::move(upstream_));
    if (failure->retryable && may_retry) continue;
    switch (failure->cause) {
      case Failure::kUpstreamTimeout:
        upstream.timeouts->Increment();
        break;
      case Failure::kUpstreamRefusedBody:
      case Failure::kUpstreamReset:
      case Failure::kUpstreamBadResponse:
        upstream.resets->Increment();
        break;
      default:
        break;
    }
    if (failure->cause == Failure::kClientClosed) {
      exchange.status = 499;  // nginx's "client closed request"
      exchange.reason = "client_closed";
      co_return false;
    }
    co_return co_await Respond(exchange, failure->status(), failure->reason(), false);
  }
  co_return co_await RelayResponse(exchange, client_keep_alive, head_request);
}

http::status Session::Failure::status() const {
  switch (cause) {
    case kUpstreamTimeout:
      return http::status::gateway_timeout;
    case kUpstreamReset:
    case kUpstreamRefusedBody:
    case kUpstreamBadResponse:
      return http::status::bad_gateway;
    case kClientTimeout:
      return http::status::request_timeout;
    case kClientBadBody:
    case kClientClosed:
      return http::status::bad_request;
  }
  return http::status::internal_server_error;
}

std::string_view Session::Failure::reason() const {
  switch (cause) {
    case kUpstreamTimeout:
      return "upstream_timeout";
    case kUpstreamReset:
    case kUpstreamRefusedBody:
      return "upstream_reset";
    case kUpstreamBadResponse:
      return "upstream_bad_response";
    case kClientTimeout:
      return "body_timeout";
    case kClientBadBody:
      return "malformed_body";
    case kClientClosed:
      return "client_closed";
  }
  return "internal_error";
}

bool Session::ParseBufferedBody(std::span<char> body, std::size_t& pending, bool& need_read) {
  RequestParser& parser = *request_;
  auto& request = parser.get();
  while (!parser.is_done() && pending < body.size()) {
    if (buffer_.size() == 0) {
      need_read = true;
      return true;
    }
    request.body().data = body.data() + pending;
    request.body().size = body.size() - pending;
    error_code ec;
    std::size_t used = parser.put(buffer_.data(), ec);
    buffer_.consume(used);
    pending = body.size() - request.body().size;
    if (ec == http::error::need_buffer) return true;
    if (ec == http::error::need_more || (!ec && used == 0)) {
      need_read = true;
      return true;
    }
    // The client's body is malformed; an upstream that got part of it is dropped.
    if (ec) return false;
  }
  return true;
}

asio::awaitable<std::optional<Session::Failure>> Session::SendRequest(Exchange& exchange,
                                                                      bool has_body) {
  RequestParser& parser = *request_;
  auto& request = parser.get();
  const auto route_timeout = exchange.route->config->timeout;
  const auto idle_timeout = listener_->config->limits.idle_timeout;
  Stream& upstream = upstream_->stream;

  // The head goes out with the first body bytes: the body the client has already sent is
  // parsed first, so a body whose framing is broken within those bytes (a bad chunk size, a
  // bare LF) is refused before the upstream sees any of the request. Only a client waiting
  // for 100 Continue gets the head sent ahead, as the upstream may answer it.
  const bool expect_continue = has_body && !parser.is_done() && request.version() >= 11 &&
                               iequals(request[http::field::expect], "100-continue");
  bool head_sent = false;
  if (!has_body || expect_continue) {
    deadline_.Arm(route_timeout, &upstream);
    if (co_await upstream.WriteAll(asio::buffer(head_))) {
      if (deadline_.expired()) co_return Failure{Failure::kUpstreamTimeout};
      co_return Failure{Failure::kUpstreamReset, /*retryable=*/true};
    }
    if (!has_body) co_return std::nullopt;
    head_sent = true;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    deadline_.Arm(idle_timeout, &stream_);
    if (co_await stream_.WriteAll(asio::buffer(kContinue)))
      co_return Failure{Failure::kClientClosed};
  }

  std::span<char> body = BodyBuffer();
  const bool chunked = parser.chunked();
  std::size_t pending = 0;  // parsed body bytes in `body`, not yet written upstream
  for (;;) {
    bool need_read = false;
    if (!ParseBufferedBody(body, pending, need_read)) co_return Failure{Failure::kClientBadBody};
    const bool done = parser.is_done();
    if (pending > 0 || done) {
      // Never hold parsed bytes while waiting for the client: write before reading.
      std::array<asio::const_buffer, 4> pieces;
      std::size_t count = 0;
      if (!head_sent) pieces[count++] = asio::buffer(head_);
      count = AppendBodyPiece(pieces, count, chunked, body.first(pending), done);
      exchange.bytes_in += pending;
      pending = 0;
      deadline_.Arm(route_timeout, &upstream);
      if (co_await upstream.WriteAll(std::span(pieces.data(), count))) {
        if (deadline_.expired()) co_return Failure{Failure::kUpstreamTimeout};
        co_return Failure{head_sent ? Failure::kUpstreamRefusedBody : Failure::kUpstreamReset};
      }
      head_sent = true;
    }
    if (done) break;
    if (!need_read) continue;
    // Beast's bound: a chunk-size line longer than the buffer is refused, not grown into.
    std::size_t room = beast::read_size(buffer_, kBodyBufferBytes);
    if (room == 0) co_return Failure{Failure::kClientBadBody};
    deadline_.Arm(idle_timeout, &stream_);
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(room), use_nothrow);
    if (ec) {
      // The client stopped mid-body; an upstream that has a truncated request is dropped.
      if (deadline_.expired()) co_return Failure{Failure::kClientTimeout};
      co_return Failure{IsQuietClose(ec) ? Failure::kClientClosed : Failure::kClientBadBody};
    }
    buffer_.commit(n);
  }
  co_return std::nullopt;
}

asio::awaitable<std::optional<Session::Failure>> Session::ReadResponseHead(bool head_request) {
  // Interim 1xx responses (other than 101) are consumed here.
  for (;;) {
    response_.emplace();
    response_->header_limit(kMaxUpstreamHeaderBytes);
    response_->body_limit(boost::none);
    if (head_request) response_->skip(true);
    deadline_.Arm(exchange_.route->config->timeout, &upstream_->stream);
    auto [ec, n] = co_await http::async_read_header(upstream_->stream, upstream_->buffer,
                                                    *response_, use_nothrow);
    if (ec) {
      if (deadline_.expired()) co_return Failure{Failure::kUpstreamTimeout};
      // Nothing at all came back: the classic stale keep-alive connection.
      if (IsQuietClose(ec)) co_return Failure{Failure::kUpstreamReset, true};
      co_return Failure{Failure::kUpstreamBadResponse};
    }
    int code = response_->get().result_int();
    if (code == 101) co_return Failure{Failure::kUpstreamBadResponse};  // we never ask to upgrade
    if (code < 100 || code >= 200) co_return std::nullopt;
  }
}

std::size_t Session::AppendBodyPiece(std::span<asio::const_buffer> pieces, std::size_t count,
                                     bool chunked, std::span<const char> data, bool last) {
  if (!chunked) {
    pieces[count++] = asio::buffer(data.data(), data.size());
    return count;
  }
  chunk_line_.clear();
  if (!data.empty()) {
    AppendChunkSize(chunk_line_, data.size());
    pieces[count++] = asio::buffer(chunk_line_);
    pieces[count++] = asio::buffer(data.data(), data.size());
  }
  // The data's CRLF, then the last-chunk marker (no trailers) once the body is done.
  std::string_view tail =
      data.empty() ? (last ? "0\r\n\r\n" : "") : (last ? "\r\n0\r\n\r\n" : "\r\n");
  if (!tail.empty()) pieces[count++] = asio::buffer(tail);
  return count;
}

void Session::BuildResponseHead(const Exchange& exchange, Framing framing, bool keep_alive,
                                bool client_http11, bool no_body) {
  auto& res = response_->get();
  head_.clear();
  head_.append("HTTP/1.1 ");
  head_.append(std::to_string(res.result_int()));
  head_.push_back(' ');
  std::string_view reason_phrase = res.reason();
  head_.append(reason_phrase.empty() ? std::string_view(http::obsolete_reason(res.result()))
                                     : reason_phrase);
  head_.append("\r\n");
  bool upstream_sent_id = false;
  AppendEndToEndFields(head_, res, [&](std::string_view name) {
    if (iequals(name, "x-request-id")) upstream_sent_id = true;
    return false;
  });
  if (!upstream_sent_id) {
    head_.append("x-request-id: ");
    head_.append(exchange.request_id);
    head_.append("\r\n");
  }
  if (framing == Framing::kLength || (no_body && response_->content_length())) {
    head_.append("Content-Length: ");
    head_.append(std::to_string(*response_->content_length()));
    head_.append("\r\n");
  } else if (framing == Framing::kChunked) {
    head_.append("Transfer-Encoding: chunked\r\n");
  }
  if (!keep_alive) {
    head_.append("Connection: close\r\n");
  } else if (!client_http11) {
    head_.append("Connection: keep-alive\r\n");
  }
  head_.append("\r\n");
}

Session::Framing Session::ResponseFraming(bool no_body, bool client_http11) const {
  if (no_body) return Framing::kNone;
  if (response_->chunked()) return client_http11 ? Framing::kChunked : Framing::kClose;
  if (response_->content_length()) return Framing::kLength;
  return client_http11 ? Framing::kChunked : Framing::kClose;  // close-delimited upstream
}

asio::awaitable<bool> Session::RelayResponse(Exchange& exchange, bool client_keep_alive,
                                             bool head_request) {
  const UpstreamRuntime& upstream = *exchange.upstream;
  UpstreamPool& pool = *pool_;
  auto& res = response_->get();
  const int code = res.result_int();
  upstream.responses->Increment(code);
  exchange.status = code;

  const bool client_http11 = request_->get().version() >= 11;
  const bool no_body = head_request || code == 204 || code == 304;
  const Framing framing = ResponseFraming(no_body, client_http11);
  const bool keep_alive = client_keep_alive && framing != Framing::kClose &&
                          !worker_.shared().draining.load(std::memory_order_relaxed);
  BuildResponseHead(exchange, framing, keep_alive, client_http11, no_body);

  const auto route_timeout = exchange.route->config->timeout;
  const auto idle_timeout = listener_->config->limits.idle_timeout;
  std::span<char> body = BodyBuffer();
  if (!no_body && upstream_->buffer.capacity() < kBodyBufferBytes) {
    upstream_->buffer.reserve(kBodyBufferBytes);
  }
  // The head goes out with the first piece of body, so a small response is one write.
  bool head_sent = false;
  for (;;) {
    std::size_t got = 0;
    bool done = no_body || response_->is_done();
    if (!done) {
      res.body().data = body.data();
      res.body().size = body.size();
      deadline_.Arm(route_timeout, &upstream_->stream);
      auto [ec, n] = co_await http::async_read_some(upstream_->stream, upstream_->buffer,
                                                    *response_, use_nothrow);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        bool timed_out = deadline_.expired();
        (timed_out ? upstream.timeouts : upstream.resets)->Increment();
        pool.Discard(std::move(upstream_));
        if (!head_sent) {
          co_return co_await Respond(
              exchange, timed_out ? http::status::gateway_timeout : http::status::bad_gateway,
              timed_out ? "upstream_timeout" : "upstream_reset", false);
        }
        // Too late for an error status: cut the connection so the client sees truncation.
        exchange.reason = timed_out ? "upstream_timeout" : "upstream_reset";
        co_return false;
      }
      got = body.size() - res.body().size;
      done = response_->is_done();
      if (got == 0 && !done && head_sent) continue;
    }
    std::array<asio::const_buffer, 4> pieces;
    std::size_t count = 0;
    if (!head_sent) pieces[count++] = asio::buffer(head_);
    count = AppendBodyPiece(pieces, count, framing == Framing::kChunked, body.first(got), done);
    deadline_.Arm(idle_timeout, &stream_);
    if (co_await stream_.WriteAll(std::span(pieces.data(), count))) {
      // The client went away. Unless the body was complete, the upstream connection still
      // carries unread bytes and cannot be reused.
      if (done && response_->keep_alive()) {
        pool.Release(std::move(upstream_));
      } else {
        pool.Discard(std::move(upstream_));
      }
      exchange.reason = "client_closed";
      co_return false;
    }
    head_sent = true;
    exchange.bytes_out += got;
    if (done) break;
  }

  if (response_->keep_alive() && request_->is_done() && upstream_->buffer.size() == 0) {
    pool.Release(std::move(upstream_));
  } else {
    pool.Discard(std::move(upstream_));
  }
  co_return keep_alive;
}

}  // namespace ciap
