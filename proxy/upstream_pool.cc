// See upstream_pool.h.
#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/log.h"
#include "net/resolve.h"
#include "net/tls.h"
#include "proxy/h2_upstream.h"

namespace ciap {
namespace {

constexpr std::chrono::seconds kBufferIdleTime{1};

bool NegotiatedHttp2(Stream& stream) {
  if (!stream.is_tls()) return true;  // h2c: prior knowledge
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(stream.ssl_handle(), &protocol, &length);
  return length == 2 && std::memcmp(protocol, "h2", 2) == 0;
}

}  // namespace

UpstreamConnection::UpstreamConnection(tcp::socket socket, ssl::context* tls)
    : stream(tls != nullptr ? Stream(std::move(socket), *tls) : Stream(std::move(socket))) {}

UpstreamPool::UpstreamPool(asio::any_io_executor executor, const UpstreamRuntime& upstream,
                           std::shared_ptr<const Snapshot> snapshot, uint32_t max_connections,
                           uint32_t max_pending)
    : executor_(std::move(executor)),
      upstream_(upstream),
      snapshot_(std::move(snapshot)),
      max_connections_(max_connections),
      max_pending_(max_pending) {}

UpstreamPool::~UpstreamPool() {
  for (auto& connection : idle_) connection->stream.Close();
  for (auto& connection : http2_) connection->Close();
  upstream_.idle_connections->Decrement(static_cast<double>(idle_.size()));
  upstream_.active_connections->Decrement(static_cast<double>(open_ - idle_.size()));
}

asio::awaitable<std::expected<std::unique_ptr<UpstreamConnection>, AcquireError>>
UpstreamPool::Acquire(Deadline& deadline, bool fresh) {
  std::optional<asio::steady_timer> wait;  // created on the first wait only
  for (;;) {
    if (!fresh) {
      if (std::unique_ptr<UpstreamConnection> connection = TakeIdle()) {
        if (wait) deadline.Disarm();
        co_return connection;
      }
    }
    if (open_ < max_connections_) break;
    if (!idle_.empty()) {
      // At the cap with idle connections (a `fresh` request): recycle the oldest idle one.
      idle_.front()->stream.Close();
      idle_.erase(idle_.begin());
      upstream_.idle_connections->Decrement();
      --open_;
      break;
    }
    // At the cap, everything busy: wait for a release, bounded by connect_timeout overall, in a
    // bounded queue (beyond it, waiting would only grow memory and latency: shed at once).
    if (!wait && waiters_.size() >= max_pending_) {
      co_return std::unexpected(AcquireError::kQueueFull);
    }
    if (!wait) {
      wait.emplace(executor_);
      deadline.Arm(upstream_.config->connect_timeout, &*wait);
    }
    if (deadline.expired()) {
      deadline.Disarm();
      co_return std::unexpected(AcquireError::kPoolExhausted);
    }
    Waiter waiter{&*wait};
    wait->expires_at(asio::steady_timer::time_point::max());
    auto position = waiters_.insert(waiters_.end(), &waiter);
    co_await wait->async_wait(use_nothrow);
    if (!waiter.woken) waiters_.erase(position);  // the deadline, not a release, woke us
  }
  if (wait) deadline.Disarm();
  ++open_;
  upstream_.active_connections->Increment();
  auto connection = co_await Connect(deadline);
  if (!connection) {
    Closed();
    upstream_.active_connections->Decrement();
    upstream_.connect_errors->Increment();
    co_return std::unexpected(AcquireError::kConnectFailed);
  }
  co_return connection;
}

asio::awaitable<std::expected<std::shared_ptr<Http2Upstream>, AcquireError>>
UpstreamPool::AcquireHttp2(Worker& worker, Deadline& deadline) {
  std::optional<asio::steady_timer> wait;  // created on the first wait only
  std::shared_ptr<Http2Upstream> best;
  for (;;) {
    SweepHttp2(std::nullopt);
    best.reset();
    for (const auto& connection : http2_) {
      if (connection->Accepts() && (!best || connection->streams() < best->streams())) {
        best = connection;
      }
    }
    if (best && !best->Saturated()) break;
    if (!connecting_ && open_ < max_connections_) {
      best.reset();
      break;
    }
    if (!connecting_) break;  // at the cap: the least busy one queues it (or none: 503)
    // Another request is opening a connection: wait for it, bounded by connect_timeout.
    if (!wait) {
      wait.emplace(executor_);
      deadline.Arm(upstream_.config->connect_timeout, &*wait);
    }
    if (deadline.expired()) break;
    wait->expires_at(asio::steady_timer::time_point::max());
    connect_waiters_.push_back(&*wait);
    co_await wait->async_wait(use_nothrow);
    std::erase(connect_waiters_, &*wait);
  }
  if (wait) deadline.Disarm();
  if (best) co_return best;
  if (connecting_ || open_ >= max_connections_) {
    co_return std::unexpected(AcquireError::kPoolExhausted);
  }

  connecting_ = true;
  ++open_;
  upstream_.active_connections->Increment();
  std::unique_ptr<UpstreamConnection> connection = co_await Connect(deadline);
  const bool negotiated = connection && NegotiatedHttp2(connection->stream);
  if (connection && !negotiated) {
    LogEvent(LogLevel::kWarning, "upstream did not negotiate HTTP/2",
             {{"upstream", upstream_.config->name},
              {"error", "the server did not select h2 in ALPN (protocol: http2)"}});
  }
  connecting_ = false;
  for (asio::steady_timer* waiter : std::exchange(connect_waiters_, {})) waiter->cancel();
  if (!negotiated) {
    Closed();
    upstream_.active_connections->Decrement();
    upstream_.connect_errors->Increment();
    co_return std::unexpected(AcquireError::kConnectFailed);
  }
  auto http2 = std::make_shared<Http2Upstream>(worker, std::move(connection), upstream_);
  http2->Start();
  http2_.push_back(http2);
  co_return http2;
}

void UpstreamPool::SweepHttp2(std::optional<Deadline::Clock::time_point> now) {
  std::erase_if(http2_, [&](const std::shared_ptr<Http2Upstream>& connection) {
    if (now && connection->alive() && connection->streams() == 0 &&
        *now - connection->idle_since() >= upstream_.config->idle_timeout) {
      connection->Close();
    }
    if (connection->alive()) return false;
    upstream_.active_connections->Decrement();
    Closed();
    return true;
  });
}

std::unique_ptr<UpstreamConnection> UpstreamPool::TakeIdle() {
  while (!idle_.empty()) {
    std::unique_ptr<UpstreamConnection> connection = std::move(idle_.back());
    idle_.pop_back();
    upstream_.idle_connections->Decrement();
    if (!StillOpen(*connection)) {
      connection->stream.Close();
      Closed();
      continue;
    }
    connection->reused = true;
    upstream_.active_connections->Increment();
    return connection;
  }
  return nullptr;
}

void UpstreamPool::WakeOne() {
  // Each release wakes a different waiter: the woken one leaves the list at once.
  if (waiters_.empty()) return;
  Waiter* waiter = waiters_.front();
  waiters_.pop_front();
  waiter->woken = true;
  waiter->timer->cancel();
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::Connect(Deadline& deadline) {
  const config::UpstreamConfig& config = *upstream_.config;
  for (std::size_t attempt = 0; attempt < config.endpoints.size(); ++attempt) {
    const config::HostPort& endpoint = config.endpoints[next_endpoint_++ % config.endpoints.size()];
    auto connection =
        std::make_unique<UpstreamConnection>(tcp::socket(executor_), upstream_.tls.get());
    deadline.Arm(config.connect_timeout, &connection->stream);

    error_code ec;
    asio::ip::address address = asio::ip::make_address(endpoint.host, ec);
    std::vector<tcp::endpoint> candidates;
    if (!ec) {
      candidates.emplace_back(address, endpoint.port);
    } else {
      // connect_timeout bounds the lookup too: a DNS server that does not answer must not hold
      // the request for the resolver's own timeouts.
      auto results = co_await ResolveBefore(executor_, endpoint.host, std::to_string(endpoint.port),
                                            deadline.due());
      if (!results) {
        LogEvent(LogLevel::kWarning, "upstream resolve failed",
                 {{"upstream", config.name},
                  {"endpoint", endpoint.ToString()},
                  {"error", DescribeResolveError(results.error())}});
        continue;
      }
      for (const auto& entry : *results) candidates.push_back(entry.endpoint());
    }

    tcp::socket& socket = connection->stream.socket();
    auto [connect_ec, connected] = co_await asio::async_connect(socket, candidates, use_nothrow);
    if (connect_ec || deadline.expired()) {
      LogEvent(
          LogLevel::kWarning, "upstream connect failed",
          {{"upstream", config.name},
           {"endpoint", endpoint.ToString()},
           {"error", deadline.expired() ? std::string("connect timeout") : connect_ec.message()}});
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);

    if (connection->stream.is_tls()) {
      ExpectPeerName(connection->stream.ssl_handle(),
                     config.tls->sni.empty() ? endpoint.host : config.tls->sni);
      error_code hs_ec = co_await connection->stream.Handshake(/*server=*/false);
      if (hs_ec || deadline.expired()) {
        LogEvent(LogLevel::kWarning, "upstream TLS handshake failed",
                 {{"upstream", config.name},
                  {"endpoint", endpoint.ToString()},
                  {"error", deadline.expired() ? std::string("timeout") : hs_ec.message()}});
        continue;
      }
    }
    deadline.Disarm();
    co_return connection;
  }
  deadline.Disarm();
  co_return nullptr;
}

bool UpstreamPool::StillOpen(UpstreamConnection& connection) {
  // An upstream that closed an idle keep-alive connection (its keep-alive timeout was shorter
  // than ours) leaves a FIN, or an RST, waiting on the socket. A request with a body sent
  // there fails and cannot be retried, so look before use. Connections reused within a few
  // milliseconds (the busy case) skip the syscall: the race there is covered by the retry of
  // bodiless requests.
  if (Deadline::CoarseNow() - connection.idle_since < std::chrono::milliseconds(20)) return true;
  char byte;
  ssize_t n = ::recv(connection.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;                                   // FIN
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;  // RST and other errors: gone
  return false;  // unsolicited bytes on an idle HTTP/1.1 connection: not safe to reuse
}

void UpstreamPool::AdoptIdle(UpstreamPool& other) {
  if (other.idle_.empty()) return;
  for (auto& connection : other.idle_) {
    if (open_ >= max_connections_) {
      connection->stream.Close();
      upstream_.idle_connections->Decrement();
    } else {
      ++open_;
      idle_.insert(idle_.begin(), std::move(connection));  // older than our own idle ones
    }
    --other.open_;
  }
  other.idle_.clear();
  other.WakeOne();
}

void UpstreamPool::Retire() {
  retired_ = true;
  for (auto& connection : http2_) connection->Retire();
  for (auto& connection : idle_) {
    connection->stream.Close();
    upstream_.idle_connections->Decrement();
    --open_;
  }
  idle_.clear();
}

void UpstreamPool::Release(std::unique_ptr<UpstreamConnection> connection) {
  if (retired_) {
    Discard(std::move(connection));
    return;
  }
  connection->idle_since = Deadline::CoarseNow();
  connection->buffer.clear();
  idle_.push_back(std::move(connection));
  upstream_.active_connections->Decrement();
  upstream_.idle_connections->Increment();
  WakeOne();
}

void UpstreamPool::Discard(std::unique_ptr<UpstreamConnection> connection) {
  connection->stream.Close();
  upstream_.active_connections->Decrement();
  Closed();
}

void UpstreamPool::Closed() {
  --open_;
  WakeOne();
}

void UpstreamPool::Sweep(Deadline::Clock::time_point now) {
  SweepHttp2(now);
  auto limit = upstream_.config->idle_timeout;
  std::size_t kept = 0;
  for (auto& connection : idle_) {
    if (now - connection->idle_since >= limit) {
      connection->stream.Close();
      upstream_.idle_connections->Decrement();
      --open_;
    } else {
      // A connection idle for a while gives its read buffer back; busy ones keep theirs.
      if (now - connection->idle_since >= kBufferIdleTime) connection->buffer.shrink_to_fit();
      idle_[kept++] = std::move(connection);
    }
  }
  idle_.resize(kept);
}

}  // namespace ciap
