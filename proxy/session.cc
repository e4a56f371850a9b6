// See session.h. The request path: read head → normalize → route → filters → relay.
#include "proxy/session.h"

#include <array>

#include "proxy/decide.h"
#include "proxy/http_head.h"
#include "proxy/log.h"
#include "proxy/path.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

using boost::beast::iequals;

constexpr std::size_t kBodyBufferBytes = 64 * 1024;
constexpr std::size_t kReadChunkBytes = 16 * 1024;
constexpr uint32_t kMaxUpstreamHeaderBytes = 64 * 1024;
constexpr std::chrono::milliseconds kLingerTimeout{2000};
constexpr std::size_t kLingerMaxBytes = 1 << 20;
constexpr std::chrono::milliseconds kShutdownTimeout{1000};

bool IsQuietClose(const error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated;
}

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

// Removes the headers a client's Connection header names (RFC 9110 7.6.1), and the Connection
// header itself, before filters run: afterwards the client could otherwise strip headers the
// filters inject (credentials, identity) by naming them in Connection.
void StripConnectionHeaders(http::fields& fields) {
  std::vector<std::string> named;
  ForEachConnectionToken(fields, [&](std::string_view token) {
    named.emplace_back(token);
    return true;
  });
  for (const std::string& name : named) fields.erase(name);
  fields.erase(http::field::connection);
}

// Methods a proxy may send again after a connection failed without an answer (RFC 9110
// 9.2.2 allows idempotent ones; the safe subset avoids repeating a DELETE the upstream may
// have carried out before its connection dropped).
bool IsRetrySafe(http::verb method) {
  return method == http::verb::get || method == http::verb::head || method == http::verb::options ||
         method == http::verb::trace;
}

}  // namespace

asio::awaitable<void> Session::Start(Worker& worker, std::shared_ptr<const Snapshot> snapshot,
                                     const ListenerRuntime& listener, tcp::socket socket) {
  SharedState& shared = worker.shared();
  auto& open = *listener.open_connections;
  const bool over_listener =
      open.fetch_add(1, std::memory_order_relaxed) >= listener.config->limits.max_connections;
  const bool over_process = shared.sessions.fetch_add(1, std::memory_order_relaxed) >=
                            snapshot->config->limits.max_connections;
  if (over_listener || over_process) {
    open.fetch_sub(1, std::memory_order_relaxed);
    shared.sessions.fetch_sub(1, std::memory_order_relaxed);
    listener.rejected->Increment();
    error_code ignored;
    socket.close(ignored);
    co_return;
  }
  listener.accepted->Increment();
  std::unique_ptr<Session> session(
      new Session(worker, std::move(snapshot), listener, std::move(socket)));
  try {
    co_await session->Run();
  } catch (const std::exception& e) {
    // The data plane never lets an exception escape a connection; one here is a bug.
    LogEvent(LogLevel::kError, "session failed", {{"error", e.what()}});
  }
}

Session::Session(Worker& worker, std::shared_ptr<const Snapshot> snapshot,
                 const ListenerRuntime& listener, tcp::socket socket)
    : worker_(worker),
      snapshot_(std::move(snapshot)),
      listener_(&listener),
      generation_(worker.shared().generation.load(std::memory_order_acquire)),
      open_connections_(listener.open_connections),
      connections_gauge_(listener.connections),
      stream_(listener.tls ? Stream(std::move(socket), listener.tls->default_context())
                           : Stream(std::move(socket))),
      buffer_(listener.config->limits.max_header_bytes + kBodyBufferBytes + kReadChunkBytes) {
  error_code ec;
  stream_.socket().set_option(tcp::no_delay(true), ec);
  auto remote = stream_.socket().remote_endpoint(ec);
  if (!ec) client_address_ = remote.address().to_string();
  worker_.Register(&deadline_);
  connections_gauge_->Increment();
}

Session::~Session() {
  worker_.Unregister(&deadline_);
  worker_.shared().sessions.fetch_sub(1, std::memory_order_relaxed);
  open_connections_->fetch_sub(1, std::memory_order_relaxed);
  connections_gauge_->Decrement();
}

bool Session::FollowReload() {
  uint64_t generation = worker_.shared().generation.load(std::memory_order_acquire);
  if (generation == generation_) return true;
  generation_ = generation;
  std::shared_ptr<const Snapshot> current = worker_.shared().snapshot.load();
  const ListenerRuntime* listener = current->FindListener(listener_->config->name);
  if (listener == nullptr) return false;
  snapshot_ = std::move(current);
  listener_ = listener;
  return true;
}

std::span<char> Session::BodyBuffer() {
  if (!body_buffer_) body_buffer_ = std::make_unique<char[]>(kBodyBufferBytes);
  return {body_buffer_.get(), kBodyBufferBytes};
}

asio::awaitable<void> Session::Run() {
  SharedState& shared = worker_.shared();

  if (stream_.is_tls()) {
    deadline_.Arm(listener_->config->limits.header_timeout, &stream_);
    auto [ec] = co_await stream_.tls().async_handshake(ssl::stream_base::server, use_nothrow);
    deadline_.Disarm();
    if (ec) {
      listener_->handshake_errors->Increment();
      stream_.Close();
      co_return;
    }
  }

  bool linger = false;
  for (bool first = true;; first = false) {
    // A connection accepted just before draining still gets its first request answered.
    if (!first && shared.draining.load(std::memory_order_relaxed)) break;
    const config::LimitsConfig* limits = &listener_->config->limits;
    if (buffer_.size() == 0) {
      // Wait for a request's first byte. A new connection gets header_timeout (a silent
      // connection is a slowloris, not a keep-alive); between requests, idle_timeout.
      // Draining ends the wait between requests.
      deadline_.Arm(first ? limits->header_timeout : limits->idle_timeout, &stream_,
                    /*idle=*/!first);
      auto [ec, n] =
          co_await stream_.async_read_some(buffer_.prepare(kReadChunkBytes), use_nothrow);
      if (ec) break;
      buffer_.commit(n);
    }
    // A reload applies from the next request on; in-flight ones finish on their snapshot.
    if (!first) {
      if (!FollowReload()) break;
      limits = &listener_->config->limits;
    }

    Exchange& exchange = exchange_;
    exchange.Reset();
    RequestParser& parser = request_.emplace();
    parser.header_limit(limits->max_header_bytes);
    parser.body_limit(boost::none);  // bodies are streamed, never held whole

    deadline_.Arm(limits->header_timeout, &stream_);
    auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, use_nothrow);
    bool keep_alive = false;
    if (ec) {
      if (deadline_.expired()) {
        co_await Respond(exchange, http::status::request_timeout, "header_timeout", false);
      } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        co_await Respond(exchange, http::status::request_header_fields_too_large,
                         "header_too_large", false);
        linger = true;
      } else if (IsQuietClose(ec)) {
        break;
      } else {
        co_await Respond(exchange, http::status::bad_request, "malformed_request", false);
        linger = true;
      }
    } else if (static_cast<std::size_t>(std::distance(parser.get().begin(), parser.get().end())) >
               limits->max_headers) {
      co_await Respond(exchange, http::status::request_header_fields_too_large, "too_many_headers",
                       false);
      linger = true;
    } else if (std::string_view problem = RequestHeadProblem(parser); !problem.empty()) {
      // Ambiguous framing, obs-fold, an unknown version: 400 and close (see http_head.h).
      co_await Respond(exchange, http::status::bad_request, problem, false);
      linger = true;
    } else {
      keep_alive = co_await HandleRequest(exchange);
      if (!keep_alive && !parser.is_done()) linger = true;
    }
    Finish(exchange);
    if (!keep_alive) break;
  }
  if (linger) {
    co_await CloseGracefully();
  } else {
    co_await CloseStream();
  }
}

asio::awaitable<void> Session::CloseStream() {
  if (stream_.is_tls()) {
    // close_notify lets the client tell a complete close-delimited body from a truncated one.
    deadline_.Arm(kShutdownTimeout, &stream_);
    co_await stream_.tls().async_shutdown(use_nothrow);
    deadline_.Disarm();
  }
  stream_.Close();
}

asio::awaitable<bool> Session::HandleRequest(Exchange& exchange) {
  RequestParser& parser = *request_;
  auto& request = parser.get();
  exchange.method = request.method_string();
  bool client_keep_alive = request.keep_alive();
  bool body_done = parser.is_done();
  StripConnectionHeaders(request);

  if (auto id = request["x-request-id"]; IsValidRequestId(id)) {
    exchange.request_id.assign(id);
  } else {
    worker_.request_ids().Append(exchange.request_id);
  }

  if (request.method() == http::verb::connect) {
    co_return co_await Respond(exchange, http::status::method_not_allowed, "connect_not_supported",
                               false);
  }
  // Origin-form, or absolute-form (a client that thinks ciap is a forward proxy); authority-
  // and asterisk-form name no path to route.
  std::optional<RequestTarget> target = ParseRequestTarget(request.target());
  if (!target ||
      (target->form != RequestTarget::kOrigin && target->form != RequestTarget::kAbsolute)) {
    // Not logged: an absolute URI's userinfo may hold a password.
    co_return co_await Respond(exchange, http::status::bad_request, "unsupported_target", false);
  }
  // RFC 9112 3.2.2: an absolute-form target's authority replaces the Host header. When both
  // are present they must agree, so that no hop can pick a different host than the policy.
  // HTTP/1.1 requires Host whatever the target's form (RFC 9112 3.2).
  std::string& host_header = exchange.host_header;
  std::string_view host_field = request[http::field::host];
  if (host_field.empty() && request.version() >= 11) {
    co_return co_await Respond(exchange, http::status::bad_request, "missing_host", false);
  }
  if (target->form == RequestTarget::kAbsolute) {
    if (!host_field.empty() && !iequals(host_field, target->authority)) {
      co_return co_await Respond(exchange, http::status::bad_request, "host_mismatch", false);
    }
    host_header.assign(target->authority);
  } else {
    host_header.assign(host_field);
  }

  // The decision path every codec and `ciap check` share (decide.h).
  RequestHead head{exchange.method, host_header, target->path, target->query};
  Decision decision = RouteRequest(*listener_, head, request, exchange.routed);
  if (!decision.is_continue()) {
    const bool reusable = client_keep_alive && body_done && decision.status() == http::status::not_found;
    co_return co_await Respond(exchange, decision.status(), decision.reason(), reusable);
  }
  const RouteRuntime& route = listener_->routes[static_cast<std::size_t>(exchange.routed.route_index)];
  exchange.route = &route;

  StreamContext context;
  context.listener = listener_->config->name;
  context.route = route.config;
  context.route_index = static_cast<std::size_t>(exchange.routed.route_index);
  context.request_id = exchange.request_id;
  context.client_address = client_address_;
  context.tls = stream_.is_tls();
  context.log = &worker_.access_log();
  context.config_hash = snapshot_->config->hash;
  if (route.config->is_public) context.reason = "public_route";
  Request filter_request{request, exchange.method, exchange.routed.host, exchange.routed.path,
                         target->query};
  std::size_t next = 0;
  decision = RunFilters(listener_->filters, filter_request, context, &next);
  if (decision.is_suspend()) {
    decision = co_await ResumeFilters(listener_->filters, filter_request, context, next);
  }
  if (!decision.is_continue()) {
    co_return co_await Respond(exchange, decision.status(), decision.reason(),
                               client_keep_alive && body_done, &decision.headers());
  }
  exchange.reason = context.reason;
  BuildUpstreamHead(exchange, target->query);
  co_return co_await Forward(exchange, client_keep_alive);
}

void Session::BuildUpstreamHead(const Exchange& exchange, std::string_view query) {
  RequestParser& parser = *request_;
  auto& request = parser.get();
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
  AppendEndToEndFields(head_, request, IsProxyOwnedRequestHeader);
  head_.append("X-Forwarded-For: ");
  for (auto range = request.equal_range("x-forwarded-for"); range.first != range.second;
       ++range.first) {
    head_.append(range.first->value());
    head_.append(", ");
  }
  head_.append(client_address_);
  head_.append(stream_.is_tls() ? "\r\nX-Forwarded-Proto: https\r\nx-request-id: "
                                : "\r\nX-Forwarded-Proto: http\r\nx-request-id: ");
  head_.append(exchange.request_id);
  head_.append("\r\n");
  if (parser.chunked()) {
    head_.append("Transfer-Encoding: chunked\r\n");
  } else if (auto length = parser.content_length()) {
    head_.append("Content-Length: ");
    head_.append(std::to_string(*length));
    head_.append("\r\n");
  }
  head_.append("\r\n");
}

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
    // Parse what has arrived, as far as the body buffer takes it, without reading.
    bool need_read = false;
    while (!parser.is_done() && pending < body.size()) {
      if (buffer_.size() == 0) {
        need_read = true;
        break;
      }
      request.body().data = body.data() + pending;
      request.body().size = body.size() - pending;
      error_code ec;
      std::size_t used = parser.put(buffer_.data(), ec);
      buffer_.consume(used);
      pending = body.size() - request.body().size;
      if (ec == http::error::need_buffer) break;
      if (ec == http::error::need_more || (!ec && used == 0)) {
        need_read = true;
        break;
      }
      // The client's body is malformed; an upstream that got part of it is dropped.
      if (ec) co_return Failure{Failure::kClientBadBody};
    }
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
  Framing framing;
  if (no_body) {
    framing = Framing::kNone;
  } else if (response_->chunked()) {
    framing = client_http11 ? Framing::kChunked : Framing::kClose;
  } else if (response_->content_length()) {
    framing = Framing::kLength;
  } else {
    framing = client_http11 ? Framing::kChunked : Framing::kClose;  // close-delimited upstream
  }
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

asio::awaitable<bool> Session::Respond(
    Exchange& exchange, http::status status, std::string_view reason, bool keep_alive,
    const std::vector<std::pair<std::string, std::string>>* headers) {
  if (worker_.shared().draining.load(std::memory_order_relaxed)) keep_alive = false;
  if (exchange.request_id.empty()) worker_.request_ids().Append(exchange.request_id);
  if (status == http::status::bad_request || status == http::status::method_not_allowed ||
      status == http::status::request_header_fields_too_large) {
    if (Metrics* metrics = worker_.shared().metrics) {
      metrics->rejected_requests
          .Add({{"listener", listener_->config->name}, {"reason", std::string(reason)}})
          .Increment();
    }
  }
  exchange.status = static_cast<int>(status);
  exchange.reason = reason;

  std::string body = "{\"error\":\"";
  body.append(ErrorName(status));
  body.append("\",\"reason\":\"");
  AppendJsonEscaped(body, reason);
  body.append("\",\"request_id\":\"");
  AppendJsonEscaped(body, exchange.request_id);
  body.append("\"}\n");

  head_.clear();
  head_.append("HTTP/1.1 ");
  head_.append(std::to_string(static_cast<int>(status)));
  head_.push_back(' ');
  head_.append(http::obsolete_reason(status));
  head_.append("\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nContent-Length: ");
  head_.append(std::to_string(body.size()));
  head_.append("\r\nx-request-id: ");
  head_.append(exchange.request_id);
  head_.append("\r\n");
  if (headers != nullptr) {
    for (const auto& [name, value] : *headers) {
      head_.append(name);
      head_.append(": ");
      head_.append(value);
      head_.append("\r\n");
    }
  }
  const bool http10 = request_ && request_->get().version() < 11;
  if (!keep_alive) {
    head_.append("Connection: close\r\n");
  } else if (http10) {
    head_.append("Connection: keep-alive\r\n");
  }
  head_.append("\r\n");
  // A response to HEAD carries the body's length but not the body (RFC 9110 9.3.2).
  if (exchange.method != "HEAD") {
    head_.append(body);
    exchange.bytes_out = body.size();
  }

  deadline_.Arm(listener_->config->limits.idle_timeout, &stream_);
  error_code ec = co_await stream_.WriteAll(asio::buffer(head_));
  co_return keep_alive && !ec;
}

asio::awaitable<void> Session::CloseGracefully() {
  // The client may still be sending (an oversized header, a body we refused). Closing with
  // unread data makes the kernel send RST, which can destroy our response before the client
  // reads it; so stop writing, drain what comes for a bounded time, then close.
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  deadline_.Arm(kLingerTimeout, &stream_);
  std::size_t drained = 0;
  std::array<char, 4096> sink;
  while (drained < kLingerMaxBytes && !deadline_.expired()) {
    auto [read_ec, n] = co_await stream_.socket().async_read_some(asio::buffer(sink), use_nothrow);
    if (read_ec) break;
    drained += n;
  }
  deadline_.Disarm();
  stream_.Close();
}

void Session::Finish(Exchange& exchange) {
  if (exchange.status == 0) return;
  double seconds = std::chrono::duration<double>(Deadline::Clock::now() - exchange.start).count();
  if (exchange.route != nullptr) {
    exchange.route->requests->Increment(exchange.status);
    exchange.route->duration->Observe(seconds);
  } else {
    listener_->unrouted_requests->Increment(exchange.status);
    listener_->unrouted_duration->Observe(seconds);
  }

  AccessLogBuffer& log = worker_.access_log();
  if (!log.enabled()) return;
  std::string& out = log.buffer();
  out.append("{\"time\":\"");
  AppendRfc3339Now(out);
  out.append("\",\"type\":\"access\",\"request_id\":\"");
  AppendJsonEscaped(out, exchange.request_id);
  out.append("\",\"listener\":\"");
  AppendJsonEscaped(out, listener_->config->name);
  out.append("\",\"route\":\"");
  AppendJsonEscaped(out, exchange.route != nullptr ? exchange.route->config->name : "-");
  out.append("\",\"method\":\"");
  AppendJsonEscaped(out, exchange.method);
  out.append("\",\"path\":\"");
  AppendJsonEscaped(out, exchange.routed.path);
  out.append("\",\"status\":");
  out.append(std::to_string(exchange.status));
  out.append(",\"bytes_in\":");
  out.append(std::to_string(exchange.bytes_in));
  out.append(",\"bytes_out\":");
  out.append(std::to_string(exchange.bytes_out));
  char duration[32];
  int n = std::snprintf(duration, sizeof duration, ",\"duration_ms\":%.3f", seconds * 1000);
  out.append(duration, static_cast<std::size_t>(n));
  out.append(",\"upstream\":\"");
  AppendJsonEscaped(out, exchange.upstream != nullptr ? exchange.upstream->config->name : "-");
  out.append("\",\"client\":\"");
  AppendJsonEscaped(out, client_address_);
  if (!exchange.reason.empty()) {
    out.append("\",\"reason\":\"");
    AppendJsonEscaped(out, exchange.reason);
  }
  out.append("\"}\n");
  log.Commit();
}

}  // namespace ciap
