// See session.h: the HTTP/1.1 session as the relay's Downstream. The request body comes out of
// Beast's parser (de-chunked) from the bytes the session has read; the response goes back with
// a fresh HTTP/1.1 head, re-chunked or close-delimited as the client's version needs.
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/log.h"
#include "proxy/http_head.h"
#include "proxy/session.h"
#include "proxy/worker.h"

namespace ciap {

using boost::beast::iequals;

const http::fields& Session::request_headers() const { return flight_->parser->get(); }

bool Session::has_body() const {
  const RequestParser& parser = *flight_->parser;
  return !parser.is_done() || parser.chunked() ||
         (parser.content_length() && *parser.content_length() > 0);
}

std::optional<uint64_t> Session::body_length() const {
  const RequestParser& parser = *flight_->parser;
  if (parser.chunked() || !parser.content_length()) return std::nullopt;
  return *parser.content_length();
}

bool Session::expects_continue() const {
  const auto& request = flight_->parser->get();
  return has_body() && !flight_->parser->is_done() && request.version() >= 11 &&
         iequals(request[http::field::expect], "100-continue");
}

asio::awaitable<bool> Session::SendContinue() {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  deadline_.Arm(listener_->config->limits.idle_timeout, &stream_);
  co_return !co_await stream_.WriteAll(asio::buffer(kContinue));
}

Downstream::BodyPiece Session::TakeBody(std::span<char> into) {
  RequestParser& parser = *flight_->parser;
  auto& request = parser.get();
  BodyPiece piece;
  while (!parser.is_done() && piece.bytes < into.size()) {
    if (flight_->buffer.size() == 0) {
      piece.need_read = true;
      break;
    }
    request.body().data = into.data() + piece.bytes;
    request.body().size = into.size() - piece.bytes;
    error_code ec;
    std::size_t used = parser.put(flight_->buffer.data(), ec);
    flight_->buffer.consume(used);
    piece.bytes = into.size() - request.body().size;
    if (ec == http::error::need_buffer) break;
    if (ec == http::error::need_more || (!ec && used == 0)) {
      piece.need_read = true;
      break;
    }
    if (ec) {
      piece.malformed = true;
      break;
    }
  }
  return piece;
}

asio::awaitable<Downstream::ReadResult> Session::ReadBody() {
  // Beast's bound: a chunk-size line longer than the buffer is refused, not grown into.
  std::size_t room = beast::read_size(flight_->buffer, Relay::kBodyBufferBytes);
  if (room == 0) co_return ReadResult::kMalformed;
  deadline_.Arm(listener_->config->limits.idle_timeout, &stream_);
  auto [ec, n] = co_await stream_.async_read_some(flight_->buffer.prepare(room), use_nothrow);
  if (ec) {
    if (deadline_.expired()) co_return ReadResult::kTimeout;
    co_return IsQuietClose(ec) ? ReadResult::kClosed : ReadResult::kMalformed;
  }
  flight_->buffer.commit(n);
  co_return ReadResult::kOk;
}

bool Session::body_done() const { return flight_->parser->is_done(); }

bool Session::BeginResponse(const http::response_header<>& head, std::optional<uint64_t> length,
                            bool no_body, bool client_keep_alive) {
  const bool client_http11 = flight_->parser->get().version() >= 11;
  if (no_body) {
    response_framing_ = Framing::kNone;
  } else if (length) {
    response_framing_ = Framing::kLength;
  } else {
    // Chunked or close-delimited upstream: an HTTP/1.0 client can only see its end as a close.
    response_framing_ = client_http11 ? Framing::kChunked : Framing::kClose;
  }
  const bool keep_alive = client_keep_alive && response_framing_ != Framing::kClose &&
                          !worker_.shared().draining.load(std::memory_order_relaxed);
  BuildResponseHead(head, length, keep_alive, client_http11, no_body);
  response_started_ = false;
  return keep_alive;
}

void Session::BuildResponseHead(const http::response_header<>& res, std::optional<uint64_t> length,
                                bool keep_alive, bool client_http11, bool no_body) {
  flight_->head.clear();
  flight_->head.append("HTTP/1.1 ");
  flight_->head.append(std::to_string(res.result_int()));
  flight_->head.push_back(' ');
  std::string_view reason_phrase = res.reason();
  flight_->head.append(reason_phrase.empty() ? std::string_view(http::obsolete_reason(res.result()))
                                             : reason_phrase);
  flight_->head.append("\r\n");
  bool upstream_sent_id = false;
  AppendEndToEndFields(flight_->head, res, [&](std::string_view name) {
    if (iequals(name, "x-request-id")) upstream_sent_id = true;
    return false;
  });
  if (!upstream_sent_id) {
    flight_->head.append("x-request-id: ");
    flight_->head.append(flight_->exchange.request_id);
    flight_->head.append("\r\n");
  }
  if (response_framing_ == Framing::kLength || (no_body && length)) {
    flight_->head.append("Content-Length: ");
    flight_->head.append(std::to_string(*length));
    flight_->head.append("\r\n");
  } else if (response_framing_ == Framing::kChunked) {
    flight_->head.append("Transfer-Encoding: chunked\r\n");
  }
  if (!keep_alive) {
    flight_->head.append("Connection: close\r\n");
  } else if (!client_http11) {
    flight_->head.append("Connection: keep-alive\r\n");
  }
  flight_->head.append("\r\n");
}

asio::awaitable<bool> Session::WriteResponse(std::span<const char> data, bool last) {
  // The head goes out with the first piece of body, so a small response is one write.
  std::array<asio::const_buffer, 4> pieces;
  std::size_t count = 0;
  if (!response_started_) pieces[count++] = asio::buffer(flight_->head);
  count = AppendBodyPiece(pieces, count, flight_->chunk_line,
                          response_framing_ == Framing::kChunked, data, last);
  deadline_.Arm(listener_->config->limits.idle_timeout, &stream_);
  if (co_await stream_.WriteAll(std::span(pieces.data(), count))) co_return false;
  response_started_ = true;
  co_return true;
}

bool Session::wants_websocket() const { return websocket_requested_ && !has_body(); }

namespace {

// One direction of a tunnel: what `from` sends goes to `to` until either fails; then both are
// cancelled, so the other direction ends too.
struct TunnelState {
  explicit TunnelState(asio::any_io_executor executor) : wake(executor) {}
  int running = 2;
  Deadline::Clock::time_point last_activity = Deadline::Clock::now();
  asio::steady_timer wake;
};

asio::awaitable<void> Pump(Stream& from, Stream& to, uint64_t& bytes,
                           std::shared_ptr<TunnelState> state) {
  std::array<char, 16 * 1024> buffer;
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buffer), use_nothrow);
    if (ec || n == 0) break;
    state->last_activity = Deadline::Clock::now();
    if (co_await to.WriteAll(asio::buffer(buffer.data(), n))) break;
    bytes += n;
    state->last_activity = Deadline::Clock::now();
  }
  from.Cancel();
  to.Cancel();
  --state->running;
  state->wake.cancel();
}

}  // namespace

asio::awaitable<void> Session::Tunnel(const http::response_header<>& head, Stream& upstream,
                                      beast::flat_buffer& upstream_early,
                                      ExchangeRecord& exchange) {
  deadline_.Disarm();
  // The 101 as the upstream gave it (its Sec-WebSocket-Accept, protocol and extensions), with
  // the hop-by-hop pair that makes it a switch; the upstream's first frames follow at once.
  std::string& out = flight_->head;
  out.assign("HTTP/1.1 101 Switching Protocols\r\n");
  AppendEndToEndFields(out, head, [](std::string_view) { return false; });
  out.append("Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  const std::size_t head_size = out.size();
  const auto early = upstream_early.data();
  out.append(static_cast<const char*>(early.data()), early.size());
  exchange.bytes_out += out.size() - head_size;
  upstream_early.consume(upstream_early.size());
  if (co_await stream_.WriteAll(asio::buffer(out))) co_return;
  // What the client sent right behind its request (its first frames) goes first.
  if (flight_->buffer.size() > 0) {
    exchange.bytes_in += flight_->buffer.size();
    if (co_await upstream.WriteAll(flight_->buffer.data())) co_return;
    flight_->buffer.consume(flight_->buffer.size());
  }
  auto executor = co_await asio::this_coro::executor;
  auto state = std::make_shared<TunnelState>(executor);
  asio::co_spawn(executor, Pump(stream_, upstream, exchange.bytes_in, state), asio::detached);
  asio::co_spawn(executor, Pump(upstream, stream_, exchange.bytes_out, state), asio::detached);
  const auto idle = listener_->config->limits.idle_timeout;
  while (state->running > 0) {
    state->wake.expires_after(std::min<std::chrono::milliseconds>(idle, std::chrono::seconds(1)));
    co_await state->wake.async_wait(use_nothrow);
    if (state->running > 0 && Deadline::Clock::now() - state->last_activity >= idle) {
      stream_.Cancel();  // nothing moved for the idle timeout: both pumps end
      upstream.Cancel();
    }
  }
}

}  // namespace ciap
