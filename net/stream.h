// A byte stream that is either plain TCP or TLS over TCP, chosen at run time.
//
// Beast's HTTP algorithms are templates over the stream type; dispatching plain-vs-TLS at run
// time inside async_read_some/async_write_some means every algorithm is instantiated once, not
// once per transport, which keeps compile times and code size down.
//
// TLS runs OpenSSL directly on the non-blocking socket (the way nginx and HAProxy do), not
// through Asio's SSL engine: that engine moves every byte through a BIO pair and two staging
// vectors, about 70 KiB per connection held for the connection's whole life and two extra
// copies of every byte. Here a TLS operation is an OpenSSL call that either completes or says
// which readiness it needs; the socket waits for that and the call is retried (OpenSSL writes
// with write(2): the process ignores SIGPIPE). OpenSSL's record buffers are freed when the
// connection goes idle (Trim), so an idle connection costs little more than OpenSSL's session
// state.
#pragma once

#include <openssl/ssl.h>

#include <vector>

#include "net/asio.h"

namespace ciap {

// The peer went away or the operation was cancelled: an end, not a fault worth reporting.
inline bool IsQuietClose(const error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated;
}

namespace tls_io {

// The outcome of one non-blocking OpenSSL call: done (with an error or a byte count), or
// retry once the socket is readable / writable.
struct Step {
  enum Want { kDone, kRead, kWrite } want = kDone;
  error_code ec;
  std::size_t bytes = 0;
};

Step Read(SSL* ssl, void* data, std::size_t size);
Step Write(SSL* ssl, const void* data, std::size_t size);
Step Handshake(SSL* ssl);
Step Shutdown(SSL* ssl);

// Retries `call` (returning a Step) until it is done, waiting on `socket` in between. An
// operation done without waiting completes through a post, as Asio's own sockets do, so a
// completion handler never runs inside its initiating call.
template <class Call>
struct Op {
  tcp::socket& socket;
  Call call;
  bool waited = false;
  bool posted = false;
  Step result{};

  template <class Self>
  void operator()(Self& self, error_code ec = {}) {
    if (posted) {
      self.complete(result.ec, result.bytes);
      return;
    }
    if (ec) {
      self.complete(ec, 0);
      return;
    }
    Step step = call();
    if (step.want != Step::kDone) {
      waited = true;
      socket.async_wait(step.want == Step::kRead ? tcp::socket::wait_read : tcp::socket::wait_write,
                        std::move(self));
      return;
    }
    if (waited) {
      self.complete(step.ec, step.bytes);
      return;
    }
    posted = true;
    result = step;
    asio::post(std::move(self));
  }
};

template <class Token, class Call>
auto Run(tcp::socket& socket, Call call, Token&& token) {
  return asio::async_compose<Token, void(error_code, std::size_t)>(
      Op<Call>{socket, std::move(call)}, token, socket);
}

}  // namespace tls_io

class Stream {
 public:
  using executor_type = asio::any_io_executor;

  // Plain TCP.
  explicit Stream(tcp::socket socket) : socket_(std::move(socket)) {}
  // TLS with `context`'s settings; the role is chosen by Handshake().
  Stream(tcp::socket socket, ssl::context& context);
  ~Stream();

  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& socket() { return socket_; }
  bool is_tls() const { return ssl_ != nullptr; }
  // The TLS session (SNI, ALPN, peer certificate); nullptr on plain TCP.
  SSL* ssl_handle() { return ssl_; }

  // The TLS handshake on the (connected) socket; a no-op on plain TCP.
  asio::awaitable<error_code> Handshake(bool server);
  // Sends TLS close_notify (without waiting for the peer's); a no-op on plain TCP.
  asio::awaitable<error_code> Shutdown();

  // One read that does not wait: the bytes read, or 0 with `ec` set (would_block when
  // nothing has arrived yet).
  std::size_t TryReadSome(asio::mutable_buffer buffer, error_code& ec);

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    if (ssl_ == nullptr) return socket_.async_read_some(buffers, std::forward<Token>(token));
    asio::mutable_buffer b = FirstNonEmpty(buffers);
    return tls_io::Run(
        socket_, [this, b] { return Checked(tls_io::Read(ssl_, b.data(), b.size())); },
        std::forward<Token>(token));
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    if (ssl_ == nullptr) return socket_.async_write_some(buffers, std::forward<Token>(token));
    asio::const_buffer b = FirstNonEmpty(buffers);
    return tls_io::Run(
        socket_, [this, b] { return Checked(tls_io::Write(ssl_, b.data(), b.size())); },
        std::forward<Token>(token));
  }

  // Writes every byte of `buffers`. For TLS a scattered sequence is gathered into one buffer
  // first: one record and one syscall instead of one per piece.
  template <class ConstBufferSequence>
  asio::awaitable<error_code> WriteAll(const ConstBufferSequence& buffers) {
    std::size_t total = asio::buffer_size(buffers);
    if (ssl_ != nullptr &&
        std::next(asio::buffer_sequence_begin(buffers)) != asio::buffer_sequence_end(buffers)) {
      gather_.resize(total);
      asio::buffer_copy(asio::buffer(gather_), buffers);
      auto [ec, n] = co_await asio::async_write(*this, asio::buffer(gather_), use_nothrow);
      co_return ec;
    }
    auto [ec, n] = co_await asio::async_write(*this, buffers, use_nothrow);
    co_return ec;
  }

  // Gives back memory kept between uses (the gather buffer, OpenSSL's record buffers) while
  // the connection idles.
  void Trim();

  // Cancels pending operations (used by deadlines); the stream stays usable.
  void Cancel() {
    error_code ignored;
    socket_.cancel(ignored);
  }

  void Close() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  template <class Buffers>
  static auto FirstNonEmpty(const Buffers& buffers) {
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers);
         ++it) {
      if ((*it).size() != 0) return *it;  // (Beast's buffer iterators have no operator->)
    }
    return *asio::buffer_sequence_begin(buffers);
  }

  // After a fatal TLS error OpenSSL must not be asked for a close_notify.
  tls_io::Step Checked(tls_io::Step step) {
    if (step.want == tls_io::Step::kDone && step.ec) failed_ = true;
    return step;
  }

  tcp::socket socket_;
  SSL* ssl_ = nullptr;
  bool failed_ = false;
  std::vector<char> gather_;
};

}  // namespace ciap
