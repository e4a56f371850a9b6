// The relay towards an HTTP/2 upstream (`protocol: http2`, h2_upstream.h): the request goes
// out as one stream on a connection the worker shares between exchanges; the response head,
// body and trailers come back through the Http2Exchange. grpc-timeout bounds every step of a
// call that carries it, and goes upstream as what is left of it.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "config/text.h"
#include "proxy/h2_common.h"
#include "proxy/h2_upstream.h"
#include "proxy/http_head.h"
#include "proxy/relay.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

using std::chrono::milliseconds;

// `text` as a whole number (nothing before or after it), or nothing.
template <class Number>
std::optional<Number> WholeNumber(std::string_view text) {
  Number value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// gRPC's timeout header: 1 to 8 digits and a unit (H, M, S, m, u, n).
std::optional<Deadline::Clock::time_point> GrpcDue(const http::fields& headers) {
  std::string_view value = headers["grpc-timeout"];
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  const std::optional<uint64_t> digits = WholeNumber<uint64_t>(value.substr(0, value.size() - 1));
  if (!digits) return std::nullopt;
  const uint64_t amount = *digits;
  std::chrono::nanoseconds timeout;
  switch (value.back()) {
    case 'H':
      timeout = std::chrono::hours(amount);
      break;
    case 'M':
      timeout = std::chrono::minutes(amount);
      break;
    case 'S':
      timeout = std::chrono::seconds(amount);
      break;
    case 'm':
      timeout = milliseconds(amount);
      break;
    case 'u':
      timeout = std::chrono::microseconds(amount);
      break;
    case 'n':
      timeout = std::chrono::nanoseconds(amount);
      break;
    default:
      return std::nullopt;
  }
  return Deadline::Clock::now() + timeout;
}

// The grpc-status a call ended with: in the trailers, or in the head of a trailers-only answer.
int GrpcStatusOf(const Http2Exchange& stream) {
  std::string_view value = stream.trailers[std::string_view("grpc-status")];
  if (value.empty()) value = stream.head[std::string_view("grpc-status")];
  return WholeNumber<int>(value).value_or(-1);
}

}  // namespace

milliseconds Relay::StepTimeout(const ExchangeRecord& exchange) const {
  milliseconds timeout = exchange.route->config->timeout;
  if (grpc_due_) {
    auto left = std::chrono::ceil<milliseconds>(*grpc_due_ - Deadline::Clock::now());
    timeout = std::clamp(left, milliseconds(0), timeout);
  }
  return timeout;
}

void Relay::ReleaseHttp2() {
  if (watching_ != nullptr) watching_->Watch(nullptr);
  watching_ = nullptr;
  duplex_ = false;
  if (http2_ != nullptr && http2_exchange_ != nullptr) http2_->Release(*http2_exchange_);
  http2_.reset();
  http2_exchange_.reset();
}

asio::awaitable<bool> Relay::ForwardHttp2(Downstream& client, ExchangeRecord& exchange,
                                          std::string_view query, UpstreamPool& pool,
                                          bool client_keep_alive) {
  grpc_due_ = GrpcDue(client.request_headers());
  const bool head_request = exchange.method == "HEAD";
  for (int attempt = 0;; ++attempt) {
    auto acquired = co_await pool.AcquireHttp2(*worker_, *deadline_);
    if (!acquired) {
      const AcquireError error = acquired.error();
      co_return co_await AcquireFailed(client, exchange, error, client_keep_alive);
    }
    http2_ = std::move(*acquired);
    http2_exchange_ = std::make_unique<Http2Exchange>(worker_->io().get_executor());
    watching_ = &client;
    duplex_ = client.Watch(&http2_exchange_->signal);

    std::optional<Failure> failure;
    if (!SubmitHttp2(client, exchange, query)) failure = Failure{Failure::kUpstreamReset, true};
    if (!failure && client.expects_continue()) {
      const bool continued = co_await client.SendContinue();
      if (!continued) failure = Failure{Failure::kClientClosed};
    }
    if (!failure) failure = co_await AwaitHttp2Head(client, exchange);
    if (!failure) break;
    // A stream the upstream refused, or that died with its connection before any answer, may
    // go again on another connection when nothing of the request is lost by it.
    const bool refused = http2_exchange_->refused;
    ReleaseHttp2();
    const bool may_retry =
        attempt == 0 && !client.has_body() && (refused || IsRetrySafe(exchange.method));
    if (failure->retryable && may_retry) continue;
    co_return co_await Fail(client, exchange, *failure);
  }
  co_return co_await RelayHttp2Response(client, exchange, client_keep_alive, head_request);
}

bool Relay::SubmitHttp2(Downstream& client, const ExchangeRecord& exchange,
                        std::string_view query) {
  const http::fields& headers = client.request_headers();
  std::size_t used = 0;
  auto add = [this, &used](std::string_view name, std::string_view value) {
    if (used == http2_fields_.size()) http2_fields_.emplace_back();
    http2_fields_[used].first.assign(name);
    http2_fields_[used].second.assign(value);
    return &http2_fields_[used++];
  };
  add(":method", exchange.method);
  add(":scheme", exchange.upstream->tls ? "https" : "http");
  add(":authority", exchange.host_header);
  std::string& path = add(":path", exchange.routed.path)->second;
  if (!query.empty()) path.append("?").append(query);
  std::string forwarded_for;
  ForEachEndToEndField(headers, [&](std::string_view name, std::string_view value) {
    if (boost::beast::iequals(name, "x-forwarded-for")) {
      forwarded_for.append(value).append(", ");
      return;
    }
    if (IsProxyOwnedRequestHeader(name) || boost::beast::iequals(name, "content-length") ||
        boost::beast::iequals(name, "grpc-timeout") || boost::beast::iequals(name, "cookie")) {
      return;
    }
    std::string& lower = add(name, value)->first;
    std::transform(lower.begin(), lower.end(), lower.begin(), config::ToLower);
  });
  // Cookies may go as one field each (RFC 9113 8.2.3); one joined field is as good.
  if (auto cookie = headers[http::field::cookie]; !cookie.empty()) add("cookie", cookie);
  // gRPC servers want to know the client reads trailers; TE is otherwise hop-by-hop.
  if (headers[http::field::te].find("trailers") != std::string_view::npos) add("te", "trailers");
  forwarded_for.append(client.client_address());
  add("x-forwarded-for", forwarded_for);
  add("x-forwarded-proto", client.tls() ? "https" : "http");
  add("x-request-id", exchange.request_id);
  if (grpc_due_) {
    // What is left of the caller's deadline, so the upstream gives up when the caller does.
    add("grpc-timeout", std::to_string(std::max<int64_t>(StepTimeout(exchange).count(), 1)) + "m");
  }
  std::optional<uint64_t> length = client.body_length();
  if (client.has_body() && length) add("content-length", std::to_string(*length));

  std::vector<nghttp2_nv> list = NameValues(http2_fields_, used);
  return http2_->Submit(list, *http2_exchange_, client.has_body());
}

asio::awaitable<bool> Relay::WaitHttp2(const ExchangeRecord& exchange) {
  asio::steady_timer& signal = http2_exchange_->signal;
  deadline_->Arm(StepTimeout(exchange), &signal);
  signal.expires_at(asio::steady_timer::time_point::max());
  co_await signal.async_wait(use_nothrow);
  const bool expired = deadline_->expired();
  deadline_->Disarm();
  co_return !expired;
}

std::optional<Relay::Failure> Relay::FeedHttp2Body(Downstream& client, ExchangeRecord& exchange,
                                                   bool& need_read) {
  Http2Exchange& stream = *http2_exchange_;
  need_read = false;
  while (!stream.send_done && stream.send.size() - stream.send_at < kBodyBufferBytes) {
    if (stream.send_at == stream.send.size() || stream.send_at >= kBodyBufferBytes) {
      stream.send.erase(0, stream.send_at);
      stream.send_at = 0;
    }
    std::span<char> body = BodyBuffer(client.body_length());
    Downstream::BodyPiece piece = client.TakeBody(body);
    if (piece.malformed) return Failure{Failure::kClientBadBody};
    stream.send.append(body.data(), piece.bytes);
    exchange.bytes_in += piece.bytes;
    stream.send_done = client.body_done();
    if (piece.bytes > 0 || stream.send_done) http2_->Resume(stream);
    if (piece.need_read) {
      need_read = true;
      break;
    }
  }
  return std::nullopt;
}

asio::awaitable<std::optional<Relay::Failure>> Relay::AwaitHttp2Head(Downstream& client,
                                                                     ExchangeRecord& exchange) {
  Http2Exchange& stream = *http2_exchange_;
  if (!client.has_body()) stream.send_done = true;
  for (;;) {
    // The head is enough in full duplex (gRPC streams both ways at once); otherwise the body
    // goes first, unless the upstream ended its side already (an early 413, a gRPC error).
    if (stream.head_done && (duplex_ || stream.send_done || stream.ended)) co_return std::nullopt;
    if (stream.malformed) co_return Failure{Failure::kUpstreamBadResponse};
    // Reset, refused or its connection lost before any answer.
    if (stream.closed && !stream.head_done) co_return Failure{Failure::kUpstreamReset, true};
    if (client.client_gone()) co_return Failure{Failure::kClientClosed};
    bool need_read = false;
    if (!stream.closed && !stream.ended) {
      std::optional<Failure> failure = FeedHttp2Body(client, exchange, need_read);
      if (failure) co_return failure;
    }
    if (need_read && !duplex_) {
      const Downstream::ReadResult read = co_await client.ReadBody();
      if (std::optional<Failure> failure = Failure::OfBodyRead(read)) co_return failure;
      continue;
    }
    // Wait for the upstream (and, in full duplex, the client): head, room, body, reset.
    const bool signalled = co_await WaitHttp2(exchange);
    if (!signalled) co_return Failure{Failure::kUpstreamTimeout};
  }
}

asio::awaitable<bool> Relay::RelayHttp2Response(Downstream& client, ExchangeRecord& exchange,
                                                bool client_keep_alive, bool head_request) {
  Http2Exchange& stream = *http2_exchange_;
  const UpstreamRuntime& upstream = *exchange.upstream;
  const int code = stream.head.result_int();
  upstream.responses->Increment(code);
  exchange.status = code;
  // A response that ended with its head (gRPC's trailers-only errors among them) stays one
  // HEADERS frame with END_STREAM on an HTTP/2 client.
  const bool no_body = head_request || code == 204 || code == 304 ||
                       (stream.ended && stream.body.size() == stream.body_at);
  const std::optional<uint64_t> length =
      WholeNumber<uint64_t>(stream.head[http::field::content_length]);
  const bool keep_alive = client.BeginResponse(stream.head, length, no_body, client_keep_alive);
  std::span<char> buffer = BodyBuffer(length && *length > 0 ? length : std::nullopt);
  for (;;) {
    const std::size_t available = stream.body.size() - stream.body_at;
    const std::size_t n = no_body ? 0 : std::min(available, buffer.size());
    const bool done = no_body || (stream.ended && n == available);
    if (n == 0 && !done) {
      std::string_view reason = "client_closed";
      http::status status = http::status::bad_gateway;
      if (stream.closed) {  // reset, or the connection lost, mid-response
        upstream.resets->Increment();
        reason = "upstream_reset";
      } else if (!client.client_gone()) {
        bool need_read = false;  // full duplex: the request body still flows meanwhile
        const bool bad_body =
            duplex_ && !stream.send_done && FeedHttp2Body(client, exchange, need_read).has_value();
        if (bad_body) {
          reason = "malformed_body";
          status = http::status::bad_request;
        } else {
          const bool signalled = co_await WaitHttp2(exchange);
          if (signalled) continue;
          upstream.timeouts->Increment();
          reason = "upstream_timeout";
          status = http::status::gateway_timeout;
        }
      }
      ReleaseHttp2();
      if (reason != "client_closed" && !client.response_started()) {
        co_return co_await client.Respond(exchange, status, reason, false);
      }
      exchange.reason = reason;  // too late for an error status: the client sees it cut short
      co_return false;
    }
    if (n > 0) std::memcpy(buffer.data(), stream.body.data() + stream.body_at, n);
    stream.body_at += n;
    if (done && !no_body && stream.trailers.begin() != stream.trailers.end()) {
      client.SetTrailers(stream.trailers);
    }
    if (done) exchange.grpc_status = GrpcStatusOf(stream);
    const bool written = co_await client.WriteResponse(buffer.first(n), done);
    if (!written) {
      exchange.reason = "client_closed";
      ReleaseHttp2();
      co_return false;
    }
    exchange.bytes_out += n;
    http2_->Consumed(stream, n);
    if (done) break;
  }
  ReleaseHttp2();
  co_return keep_alive;
}

}  // namespace ciap
