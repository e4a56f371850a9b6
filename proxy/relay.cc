// See relay.h.
#include "proxy/relay.h"

#include <array>

#include "proxy/h2_upstream.h"
#include "proxy/http_head.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

using boost::beast::iequals;

}  // namespace

// Request headers the proxy writes itself, or drops because an upstream might route or
// authorize by them: a client must not be able to say which URL "really" was requested
// (X-Original-URL and friends defeat path policy on upstreams that honour them).
bool IsProxyOwnedRequestHeader(std::string_view name) {
  static constexpr std::string_view kOwned[] = {"host",
                                                "expect",
                                                "x-forwarded-for",
                                                "x-forwarded-proto",
                                                "x-request-id",
                                                "x-forwarded-host",
                                                "x-forwarded-uri",
                                                "x-forwarded-prefix",
                                                "x-forwarded-path",
                                                "x-original-url",
                                                "x-rewrite-url",
                                                "x-original-uri",
                                                "forwarded",
                                                "x-forwarded-port",
                                                "x-forwarded-server"};
  for (std::string_view owned : kOwned) {
    if (iequals(name, owned)) return true;
  }
  return false;
}

// Methods a proxy may send again after a connection failed without an answer (RFC 9110
// 9.2.2 allows idempotent ones; the safe subset avoids repeating a DELETE the upstream may
// have carried out before its connection dropped).
bool IsRetrySafe(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE";
}

Relay::Relay(Worker& worker, Deadline& deadline) : worker_(&worker), deadline_(&deadline) {}
Relay::~Relay() { ReleaseHttp2(); }

void Relay::Trim() {
  constexpr std::size_t kKeep = 4096;
  // Every exchange gives its upstream connection back; one still held here would be a bug,
  // and must not travel to another client connection.
  if (upstream_ != nullptr) GiveBack(/*reusable=*/false);
  ReleaseHttp2();
  response_.reset();
  if (body_buffer_size_ > kKeep) {
    body_buffer_.reset();
    body_buffer_size_ = 0;
  }
  if (head_.capacity() > kKeep) std::string().swap(head_);
  if (chunk_line_.capacity() > kKeep) std::string().swap(chunk_line_);
}

void Relay::GiveBack(bool reusable) {
  deadline_->Forget(&upstream_->stream);
  if (reusable) {
    pool_->Release(std::move(upstream_));
  } else {
    pool_->Discard(std::move(upstream_));
  }
}

std::span<char> Relay::BodyBuffer(std::optional<uint64_t> length) {
  // A body of known length gets what it needs (most are small); others the full buffer.
  std::size_t want = kBodyBufferBytes;
  if (length && *length < want)
    want = (static_cast<std::size_t>(*length) + 1023) & ~std::size_t{1023};
  if (want == 0) return {};
  if (body_buffer_size_ < want) {
    body_buffer_ = std::make_unique_for_overwrite<char[]>(want);  // no zeroing: bytes land first
    body_buffer_size_ = want;
  }
  return {body_buffer_.get(), body_buffer_size_};
}

void Relay::BuildUpstreamHead(Downstream& client, const ExchangeRecord& exchange,
                              std::string_view query, bool websocket) {
  const http::fields& headers = client.request_headers();
  head_.clear();
  head_.append(exchange.method);
  head_.push_back(' ');
  head_.append(exchange.routed.path);
  if (!query.empty()) {
    head_.push_back('?');
    head_.append(query);
  }
  head_.append(" HTTP/1.1\r\nHost: ");
  head_.append(exchange.host_header);
  head_.append("\r\n");
  AppendEndToEndFields(head_, headers, IsProxyOwnedRequestHeader);
  head_.append("X-Forwarded-For: ");
  for (auto range = headers.equal_range("x-forwarded-for"); range.first != range.second;
       ++range.first) {
    head_.append(range.first->value());
    head_.append(", ");
  }
  head_.append(client.client_address());
  head_.append(client.tls() ? "\r\nX-Forwarded-Proto: https\r\nx-request-id: "
                            : "\r\nX-Forwarded-Proto: http\r\nx-request-id: ");
  head_.append(exchange.request_id);
  head_.append("\r\n");
  // Hop-by-hop, so never copied from the client: asked for again only where the route lets it.
  if (websocket) head_.append("Connection: Upgrade\r\nUpgrade: websocket\r\n");
  if (std::optional<uint64_t> length = client.body_length()) {
    head_.append("Content-Length: ");
    head_.append(std::to_string(*length));
    head_.append("\r\n");
  } else if (client.has_body()) {
    head_.append("Transfer-Encoding: chunked\r\n");  // a body of a length not known up front
  }
  head_.append("\r\n");
}

asio::awaitable<bool> Relay::Forward(Downstream& client, ExchangeRecord& exchange,
                                     std::string_view query,
                                     const std::shared_ptr<const Snapshot>& snapshot,
                                     bool client_keep_alive) {
  const UpstreamRuntime& upstream = snapshot->upstreams[exchange.route->upstream_index];
  exchange.upstream = &upstream;
  if (client.client_gone()) {  // reset while its filters ran
    exchange.status = 499;
    exchange.reason = "client_closed";
    co_return false;
  }
  UpstreamPool& pool = worker_->Pool(upstream, snapshot);
  pool_ = &pool;
  const bool head_request = exchange.method == "HEAD";
  const bool websocket = exchange.route->config->websocket && client.wants_websocket();
  if (upstream.config->protocol == config::UpstreamProtocol::kHttp2) {
    if (websocket) {  // a WebSocket tunnel needs an HTTP/1.1 upstream
      co_return co_await client.Respond(exchange, http::status::bad_gateway,
                                        "websocket_needs_http1_upstream", false);
    }
    co_return co_await ForwardHttp2(client, exchange, query, pool, client_keep_alive);
  }
  BuildUpstreamHead(client, exchange, query, websocket);

  // A pooled connection the upstream closed while idle fails on first use; a request without
  // a body is then safe to send again once, on a new connection.
  for (int attempt = 0;; ++attempt) {
    // A warm connection without a detour through the pool's coroutine (the common case).
    upstream_ = attempt == 0 ? pool.TakeIdle() : nullptr;
    if (upstream_ == nullptr) {
      auto acquired = co_await pool.Acquire(*deadline_, attempt > 0);
      if (!acquired) {
        const AcquireError error = acquired.error();
        co_return co_await AcquireFailed(client, exchange, error, client_keep_alive);
      }
      upstream_ = std::move(*acquired);
    }
    const bool may_retry =
        upstream_->reused && !client.has_body() && attempt == 0 && IsRetrySafe(exchange.method);

    std::optional<Failure> failure = co_await SendRequest(client, exchange);
    if (failure && failure->cause == Failure::kUpstreamRefusedBody) {
      // An upstream may answer and close before taking the whole body (413, 401): relay its
      // answer if there is one. The client's unread body then forces this connection closed.
      if (!co_await ReadResponseHead(exchange, head_request, websocket)) {
        co_return co_await RelayResponse(client, exchange, /*client_keep_alive=*/false,
                                         head_request);
      }
    }
    if (!failure) failure = co_await ReadResponseHead(exchange, head_request, websocket);
    if (!failure) break;

    GiveBack(/*reusable=*/false);
    if (failure->retryable && may_retry) continue;
    co_return co_await Fail(client, exchange, *failure);
  }
  if (websocket && response_->get().result_int() == 101) {
    co_await Tunnel(client, exchange);
    co_return false;
  }
  co_return co_await RelayResponse(client, exchange, client_keep_alive, head_request);
}

asio::awaitable<bool> Relay::AcquireFailed(Downstream& client, ExchangeRecord& exchange,
                                           AcquireError error, bool client_keep_alive) {
  const bool overloaded = error != AcquireError::kConnectFailed;
  co_return co_await client.Respond(
      exchange, overloaded ? http::status::service_unavailable : http::status::bad_gateway,
      error == AcquireError::kQueueFull       ? "upstream_queue_full"
      : error == AcquireError::kPoolExhausted ? "upstream_pool_exhausted"
                                              : "upstream_connect_failed",
      client_keep_alive && client.body_done());
}

asio::awaitable<void> Relay::Tunnel(Downstream& client, ExchangeRecord& exchange) {
  exchange.status = 101;
  exchange.upstream->responses->Increment(101);
  deadline_->Disarm();  // the tunnel keeps its own idle time
  co_await client.Tunnel(response_->get(), upstream_->stream, upstream_->buffer, exchange);
  // A connection that carried another protocol never goes back to the pool.
  GiveBack(/*reusable=*/false);
}

asio::awaitable<bool> Relay::Fail(Downstream& client, ExchangeRecord& exchange,
                                  const Failure& failure) {
  const UpstreamRuntime& upstream = *exchange.upstream;
  switch (failure.cause) {
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
  if (failure.cause == Failure::kClientClosed) {
    exchange.status = 499;  // nginx's "client closed request"
    exchange.reason = "client_closed";
    co_return false;
  }
  co_return co_await client.Respond(exchange, failure.status(), failure.reason(), false);
}

std::optional<Relay::Failure> Relay::Failure::OfBodyRead(Downstream::ReadResult result) {
  switch (result) {
    case Downstream::ReadResult::kOk:
      return std::nullopt;
    case Downstream::ReadResult::kTimeout:
      return Failure{kClientTimeout};
    case Downstream::ReadResult::kClosed:
      return Failure{kClientClosed};
    case Downstream::ReadResult::kMalformed:
      return Failure{kClientBadBody};
  }
  return Failure{kClientBadBody};
}

http::status Relay::Failure::status() const {
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

std::string_view Relay::Failure::reason() const {
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

asio::awaitable<std::optional<Relay::Failure>> Relay::SendRequest(Downstream& client,
                                                                  ExchangeRecord& exchange) {
  const auto route_timeout = exchange.route->config->timeout;
  Stream& upstream = upstream_->stream;

  // The head goes out with the first body bytes: the body the client has already sent is
  // parsed first, so a body whose framing is broken within those bytes (a bad chunk size, a
  // bare LF) is refused before the upstream sees any of the request. Only a client waiting
  // for 100 Continue gets the head sent ahead, as the upstream may answer it.
  const bool has_body = client.has_body();
  bool head_sent = false;
  if (!has_body || client.expects_continue()) {
    deadline_->Arm(route_timeout, &upstream);
    if (co_await upstream.WriteAll(asio::buffer(head_))) {
      if (deadline_->expired()) co_return Failure{Failure::kUpstreamTimeout};
      co_return Failure{Failure::kUpstreamReset, /*retryable=*/true};
    }
    if (!has_body) co_return std::nullopt;
    head_sent = true;
    if (!co_await client.SendContinue()) co_return Failure{Failure::kClientClosed};
  }

  std::span<char> body = BodyBuffer(client.body_length());
  const bool chunked = !client.body_length();
  std::size_t pending = 0;  // body bytes in `body`, not yet written upstream
  for (;;) {
    Downstream::BodyPiece piece = client.TakeBody(body.subspan(pending));
    if (piece.malformed) co_return Failure{Failure::kClientBadBody};
    pending += piece.bytes;
    const bool done = client.body_done();
    if (pending > 0 || done) {
      // Never hold body bytes while waiting for the client: write before reading.
      std::array<asio::const_buffer, 4> pieces;
      std::size_t count = 0;
      if (!head_sent) pieces[count++] = asio::buffer(head_);
      count = AppendBodyPiece(pieces, count, chunk_line_, chunked, body.first(pending), done);
      exchange.bytes_in += pending;
      pending = 0;
      deadline_->Arm(route_timeout, &upstream);
      if (co_await upstream.WriteAll(std::span(pieces.data(), count))) {
        if (deadline_->expired()) co_return Failure{Failure::kUpstreamTimeout};
        co_return Failure{head_sent ? Failure::kUpstreamRefusedBody : Failure::kUpstreamReset};
      }
      head_sent = true;
    }
    if (done) break;
    if (!piece.need_read) continue;
    // The client stopped mid-body, or broke its framing: an upstream that has a truncated
    // request is dropped.
    const Downstream::ReadResult read = co_await client.ReadBody();
    if (std::optional<Failure> failure = Failure::OfBodyRead(read)) co_return failure;
  }
  co_return std::nullopt;
}

asio::awaitable<std::optional<Relay::Failure>> Relay::ReadResponseHead(
    const ExchangeRecord& exchange, bool head_request, bool websocket) {
  // Interim 1xx responses (other than 101) are consumed here.
  for (;;) {
    response_.emplace();
    response_->header_limit(kMaxUpstreamHeaderBytes);
    response_->body_limit(boost::none);
    if (head_request) response_->skip(true);
    deadline_->Arm(exchange.route->config->timeout, &upstream_->stream);
    auto [ec, n] = co_await http::async_read_header(upstream_->stream, upstream_->buffer,
                                                    *response_, use_nothrow);
    if (ec) {
      if (deadline_->expired()) co_return Failure{Failure::kUpstreamTimeout};
      // Nothing at all came back: the classic stale keep-alive connection.
      if (IsQuietClose(ec)) co_return Failure{Failure::kUpstreamReset, true};
      co_return Failure{Failure::kUpstreamBadResponse};
    }
    int code = response_->get().result_int();
    if (code > 599) co_return Failure{Failure::kUpstreamBadResponse};  // not an HTTP status
    if (code == 101) {
      // Only a WebSocket upgrade ciap asked for may switch protocols, and only to WebSocket.
      const auto& res = response_->get();
      const bool switched = websocket && iequals(res[http::field::upgrade], "websocket") &&
                            IsConnectionToken(res, "upgrade");
      if (!switched) co_return Failure{Failure::kUpstreamBadResponse};
      co_return std::nullopt;
    }
    if (code < 100 || code >= 200) co_return std::nullopt;
  }
}

asio::awaitable<bool> Relay::RelayResponse(Downstream& client, ExchangeRecord& exchange,
                                           bool client_keep_alive, bool head_request) {
  const UpstreamRuntime& upstream = *exchange.upstream;
  auto& res = response_->get();
  const int code = res.result_int();
  upstream.responses->Increment(code);
  exchange.status = code;

  const bool no_body = head_request || code == 204 || code == 304;
  std::optional<uint64_t> length;
  if (!response_->chunked() && response_->content_length()) length = *response_->content_length();
  const bool keep_alive = client.BeginResponse(res, length, no_body, client_keep_alive);

  const auto route_timeout = exchange.route->config->timeout;
  std::span<char> body = BodyBuffer(no_body ? std::optional<uint64_t>(0) : length);
  if (!no_body && upstream_->buffer.capacity() < kBodyBufferBytes) {
    upstream_->buffer.reserve(kBodyBufferBytes);
  }
  for (;;) {
    std::size_t got = 0;
    bool done = no_body || response_->is_done();
    if (!done) {
      res.body().data = body.data();
      res.body().size = body.size();
      deadline_->Arm(route_timeout, &upstream_->stream);
      auto [ec, n] = co_await http::async_read_some(upstream_->stream, upstream_->buffer,
                                                    *response_, use_nothrow);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        bool timed_out = deadline_->expired();
        (timed_out ? upstream.timeouts : upstream.resets)->Increment();
        GiveBack(/*reusable=*/false);
        if (!client.response_started()) {
          co_return co_await client.Respond(
              exchange, timed_out ? http::status::gateway_timeout : http::status::bad_gateway,
              timed_out ? "upstream_timeout" : "upstream_reset", false);
        }
        // Too late for an error status: cut the connection so the client sees truncation.
        exchange.reason = timed_out ? "upstream_timeout" : "upstream_reset";
        co_return false;
      }
      got = body.size() - res.body().size;
      done = response_->is_done();
      if (got == 0 && !done && client.response_started()) continue;
    }
    if (!co_await client.WriteResponse(body.first(got), done)) {
      // The client went away. Unless the body was complete, the upstream connection still
      // carries unread bytes and cannot be reused.
      GiveBack(done && response_->keep_alive());
      exchange.reason = "client_closed";
      co_return false;
    }
    exchange.bytes_out += got;
    if (done) break;
  }

  GiveBack(response_->keep_alive() && client.body_done() && upstream_->buffer.size() == 0);
  co_return keep_alive;
}

}  // namespace ciap
