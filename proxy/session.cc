// See session.h. The connection loop and the HTTP/1.1 request head: read the head, check it,
// hand it to the decision path (decide.h), then to the relay (relay.cc).
#include "proxy/session.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <tuple>

#include "net/log.h"
#include "proxy/access_log.h"
#include "proxy/decide.h"
#include "proxy/dispatch.h"
#include "proxy/h2_connection.h"
#include "proxy/http_head.h"
#include "proxy/local_reply.h"
#include "proxy/path.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

using boost::beast::iequals;

constexpr std::chrono::milliseconds kLingerTimeout{2000};
constexpr std::size_t kLingerMaxBytes = 1 << 20;
constexpr std::chrono::milliseconds kShutdownTimeout{1000};

// Allocates exactly the size asked for, past Asio's per-thread recycling cache, for the one
// operation a parked connection keeps pending: a recycled block can be several times larger
// than the wait needs, and a parked connection holds it for as long as it idles.
template <class T>
struct ExactAllocator {
  using value_type = T;
  ExactAllocator() = default;
  template <class U>
  ExactAllocator(const ExactAllocator<U>& /*other*/) noexcept {}  // NOLINT: rebinding
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t /*n*/) noexcept { ::operator delete(p); }
  template <class U>
  bool operator==(const ExactAllocator<U>& /*other*/) const noexcept {
    return true;
  }
};

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

}  // namespace

void Session::Start(Worker& worker, std::shared_ptr<const Snapshot> snapshot,
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
    return;
  }
  listener.accepted->Increment();
  Resume(std::unique_ptr<Session>(
      new Session(worker, std::move(snapshot), listener, std::move(socket))));
}

void Session::Resume(std::unique_ptr<Session> self) {
  Session& session = *self;
  asio::co_spawn(session.stream_.get_executor(), session.Serve(),
                 [self = std::move(self)](const std::exception_ptr& failure, bool park) mutable {
                   if (failure) {
                     // The data plane never lets an exception escape a connection; one here is
                     // a bug. The session closes.
                     try {
                       std::rethrow_exception(failure);
                     } catch (const std::exception& e) {
                       LogEvent(LogLevel::kError, "session failed", {{"error", e.what()}});
                     }
                     return;
                   }
                   if (park) Park(std::move(self));
                 });
}

void Session::Park(std::unique_ptr<Session> self) {
  Session& session = *self;
  const config::LimitsConfig& limits = session.listener_->config->limits;
  const bool first = session.served_ == 0;
  // A new connection gets header_timeout for its first byte (a silent connection is a
  // slowloris, not a keep-alive); between requests, idle_timeout, which draining ends early.
  session.deadline_.Arm(first ? limits.header_timeout : limits.idle_timeout, &session.stream_,
                        /*idle=*/!first);
  session.ReleaseIdleMemory();
  session.stream_.socket().async_wait(
      tcp::socket::wait_read,
      asio::bind_allocator(ExactAllocator<void>(),
                           [self = std::move(self)](const error_code& ec) mutable {
                             if (ec) {
                               // Timed out, drained, or the socket failed: close.
                               self->wait_failed_ = true;
                             } else {
                               self->readable_ = true;
                             }
                             Resume(std::move(self));
                           }));
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
                           : Stream(std::move(socket))) {
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
  return ciap::FollowReload(worker_, generation_, snapshot_, listener_, connection_);
}

void Session::RecordConnection() {
  connection_.client_address = client_address_;
  connection_.tls = stream_.is_tls();
  if (!stream_.is_tls()) return;
  SSL* ssl = stream_.ssl_handle();
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) sni_ = name;
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl, &protocol, &length);
  if (protocol != nullptr) alpn_.assign(reinterpret_cast<const char*>(protocol), length);
  connection_.sni = sni_;
  connection_.alpn = alpn_;
  // Only a chain the listener's client CA verified is a fact about the peer.
  if (SSL_get0_peer_certificate(ssl) != nullptr && SSL_get_verify_result(ssl) == X509_V_OK) {
    connection_.verified_chain = SSL_get0_verified_chain(ssl);  // null on a resumed session
    connection_.verified_certificate = SSL_get0_peer_certificate(ssl);
  }
}

asio::awaitable<bool> Session::Handshake() {
  if (stream_.is_tls()) {
    deadline_.Arm(listener_->config->limits.header_timeout, &stream_);
    error_code ec = co_await stream_.Handshake(/*server=*/true);
    deadline_.Disarm();
    if (ec) {
      listener_->handshake_errors->Increment();
      // OpenSSL recognizes a plain HTTP request where a ClientHello should be: say so in
      // plain HTTP, as nginx does, instead of an empty reply the client cannot explain.
      const auto code = static_cast<unsigned long>(ec.value());  // NOLINT(runtime/int)
      if (ec.category() == asio::error::get_ssl_category() && ERR_GET_LIB(code) == ERR_LIB_SSL &&
          ERR_GET_REASON(code) == SSL_R_HTTP_REQUEST) {
        const std::string body =
            LocalReplyBody(http::status::bad_request, "plain_http_on_tls_port", {});
        const std::string reply =
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
            "Connection: close\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        error_code ignored;
        asio::write(stream_.socket(), asio::buffer(reply), ignored);
      }
      stream_.Close();
      co_return false;
    }
  }
  RecordConnection();
  co_return true;
}

Session::HeadCheck Session::CheckHead(const error_code& ec, const RequestParser& parser,
                                      const config::LimitsConfig& limits) const {
  if (ec) {
    if (deadline_.expired()) return {http::status::request_timeout, "header_timeout", false};
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return {http::status::request_header_fields_too_large, "header_too_large", true};
    }
    if (IsQuietClose(ec)) return {http::status::unknown, {}, false, true};
    return {http::status::bad_request, "malformed_request", true};
  }
  if (static_cast<std::size_t>(std::distance(parser.get().begin(), parser.get().end())) >
      limits.max_headers) {
    return {http::status::request_header_fields_too_large, "too_many_headers", true};
  }
  // Ambiguous framing, obs-fold, an unknown version: 400 and close (see http_head.h).
  if (std::string_view problem = RequestHeadProblem(parser); !problem.empty()) {
    return {http::status::bad_request, problem, true};
  }
  return {};
}

asio::awaitable<bool> Session::Serve() {
  SharedState& shared = worker_.shared();
  if (!handshake_done_) {
    if (!co_await Handshake()) co_return false;
    handshake_done_ = true;
    if (connection_.alpn == "h2") {
      co_await ServeHttp2({});
      co_return false;
    }
  }

  bool linger = false;
  for (;; ++served_) {
    const bool first = served_ == 0;
    if (wait_failed_) break;
    // A connection accepted just before draining still gets its first request answered.
    if (!first && shared.draining.load(std::memory_order_relaxed)) break;
    const config::LimitsConfig* limits = &listener_->config->limits;
    if (!flight_ || flight_->buffer.size() == 0) {
      if (!flight_) TakeInFlight();
      beast::flat_buffer& buffer = flight_->buffer;
      error_code ec;
      std::size_t n = 0;
      if (!readable_) {
        // A busy client has usually sent its next request by now: take it without waiting.
        // Otherwise wait for its first byte parked, without this coroutine (see Park).
        n = stream_.TryReadSome(buffer.prepare(kReadChunkBytes), ec);
        if (ec == asio::error::would_block) co_return true;
      } else {
        readable_ = false;
        std::tie(ec, n) =
            co_await stream_.async_read_some(buffer.prepare(kReadChunkBytes), use_nothrow);
      }
      if (ec) break;
      buffer.commit(n);
      if (first && WantsH2c(buffer)) {
        // The preface so far: read until it completes (HTTP/2) or the bytes part from it.
        if (!co_await ReadH2cPreface()) break;
        if (WantsH2c(buffer)) {
          co_await ServeHttp2({static_cast<const char*>(buffer.data().data()), buffer.size()});
          co_return false;
        }
      }
    }
    // A reload applies from the next request on; in-flight ones finish on their snapshot.
    if (!first) {
      if (!FollowReload()) break;
      limits = &listener_->config->limits;
    }

    ExchangeRecord& exchange = flight_->exchange;
    exchange.Reset();
    RequestParser& parser = flight_->parser.emplace();
    parser.header_limit(limits->max_header_bytes);
    parser.body_limit(boost::none);  // bodies are streamed, never held whole

    deadline_.Arm(limits->header_timeout, &stream_);
    auto [ec, n] = co_await http::async_read_header(stream_, flight_->buffer, parser, use_nothrow);
    const HeadCheck check = CheckHead(ec, parser, *limits);
    if (check.quiet_close) break;
    bool keep_alive = false;
    if (check.status != http::status::unknown) {
      co_await Respond(exchange, check.status, check.reason, false);
      linger = check.linger;
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
  co_return false;
}

bool Session::WantsH2c(const beast::flat_buffer& buffer) const {
  if (stream_.is_tls() || !listener_->config->http2) return false;
  const std::string_view seen(static_cast<const char*>(buffer.data().data()),
                              std::min(buffer.size(), kHttp2Preface.size()));
  return kHttp2Preface.starts_with(seen);
}

asio::awaitable<bool> Session::ReadH2cPreface() {
  beast::flat_buffer& buffer = flight_->buffer;
  while (WantsH2c(buffer) && buffer.size() < kHttp2Preface.size()) {
    auto [ec, n] = co_await stream_.async_read_some(buffer.prepare(kReadChunkBytes), use_nothrow);
    if (ec) co_return false;
    buffer.commit(n);
  }
  co_return true;
}

asio::awaitable<void> Session::ServeHttp2(std::span<const char> early) {
  {
    Http2Connection h2(worker_, snapshot_, *listener_, connection_, stream_, deadline_);
    co_await h2.Serve(early);
  }
  // The client may still be sending (a GOAWAY cut it off): a close with unread bytes would reset
  // the connection and could take the GOAWAY with it.
  co_await CloseGracefully();
}

asio::awaitable<void> Session::CloseStream() {
  if (stream_.is_tls()) {
    // close_notify lets the client tell a complete close-delimited body from a truncated one.
    deadline_.Arm(kShutdownTimeout, &stream_);
    co_await stream_.Shutdown();
    deadline_.Disarm();
  }
  stream_.Close();
}

std::vector<std::unique_ptr<Session::InFlight>>& Session::InFlightPool() {
  thread_local std::vector<std::unique_ptr<InFlight>> pool;  // one worker per thread
  return pool;
}

void Session::TakeInFlight() {
  std::vector<std::unique_ptr<InFlight>>& pool = InFlightPool();
  if (pool.empty()) {
    flight_ = std::make_unique<InFlight>(worker_, deadline_);
  } else {
    flight_ = std::move(pool.back());
    pool.pop_back();
    flight_->relay.Attach(worker_, deadline_);
  }
  const config::LimitsConfig& limits = listener_->config->limits;
  flight_->buffer.max_size(limits.max_header_bytes + Relay::kBodyBufferBytes + kReadChunkBytes);
}

void Session::ReleaseIdleMemory() {
  stream_.Trim();
  if (!flight_) return;
  // Kept for another connection of this worker, with the capacity of buffers of the sizes
  // most requests need; larger ones are given back to the allocator.
  constexpr std::size_t kPooled = 64;
  constexpr std::size_t kKeepBytes = 4096;
  std::vector<std::unique_ptr<InFlight>>& pool = InFlightPool();
  if (pool.size() >= kPooled) {
    flight_.reset();
    return;
  }
  InFlight& flight = *flight_;
  flight.parser.reset();
  flight.relay.Trim();
  if (flight.buffer.capacity() > kReadChunkBytes) flight.buffer.shrink_to_fit();  // empty: frees
  if (flight.head.capacity() > kKeepBytes) std::string().swap(flight.head);
  if (flight.chunk_line.capacity() > kKeepBytes) std::string().swap(flight.chunk_line);
  pool.push_back(std::move(flight_));
}

asio::awaitable<bool> Session::HandleRequest(ExchangeRecord& exchange) {
  RequestParser& parser = *flight_->parser;
  auto& request = parser.get();
  exchange.method = request.method_string();
  bool client_keep_alive = request.keep_alive();
  bool body_done = parser.is_done();
  websocket_requested_ = IsWebSocketUpgrade(request);  // before Connection is stripped
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

  // The decision path every codec shares (dispatch.h).
  const DispatchContext context{worker_, snapshot_, *listener_, connection_, flight_->relay};
  const RequestTarget parts = *target;
  co_return co_await Dispatch(context, *this, exchange, request, parts, client_keep_alive,
                              body_done);
}

asio::awaitable<bool> Session::Respond(
    ExchangeRecord& exchange, http::status status, std::string_view reason, bool keep_alive,
    const std::vector<std::pair<std::string, std::string>>* headers, std::string document) {
  if (worker_.shared().draining.load(std::memory_order_relaxed)) keep_alive = false;
  if (exchange.request_id.empty()) worker_.request_ids().Append(exchange.request_id);
  CountRejected(worker_, *listener_, status, reason);
  exchange.status = static_cast<int>(status);
  exchange.reason = reason;

  std::string body =
      document.empty() ? LocalReplyBody(status, reason, exchange.request_id) : std::move(document);
  const bool http10 = flight_->parser && flight_->parser->get().version() < 11;
  std::string& head = flight_->head;
  head.clear();
  AppendHttp1ReplyHead(head, status, body.size(), exchange.request_id, headers, keep_alive, http10);
  // A response to HEAD carries the body's length but not the body (RFC 9110 9.3.2).
  if (exchange.method != "HEAD") {
    head.append(body);
    exchange.bytes_out = body.size();
  }

  deadline_.Arm(listener_->config->limits.idle_timeout, &stream_);
  error_code ec = co_await stream_.WriteAll(asio::buffer(head));
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

void Session::Finish(ExchangeRecord& exchange) {
  RecordExchange(worker_, *listener_, client_address_, exchange);
}

}  // namespace ciap
