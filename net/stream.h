// A byte stream that is either plain TCP or TLS over TCP, chosen at run time.
//
// Beast's HTTP algorithms are templates over the stream type; dispatching plain-vs-TLS at run
// time inside async_read_some/async_write_some means every algorithm is instantiated once, not
// once per transport, which keeps compile times and code size down.
#pragma once

#include <memory>
#include <vector>

#include "net/asio.h"

namespace ciap {

// The peer went away or the operation was cancelled: an end, not a fault worth reporting.
inline bool IsQuietClose(const error_code& ec) {
  return ec == asio::error::eof || ec == http::error::end_of_stream ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated;
}

class Stream {
 public:
  using executor_type = asio::any_io_executor;
  using TlsStream = ssl::stream<tcp::socket>;

  explicit Stream(tcp::socket socket) : plain_(std::move(socket)) {}
  Stream(tcp::socket socket, ssl::context& context)
      : plain_(socket.get_executor()),
        tls_(std::make_unique<TlsStream>(std::move(socket), context)) {
    // Asio turns on SSL_MODE_RELEASE_BUFFERS, which makes OpenSSL allocate and free its
    // 16 KiB record buffers on every request. Keeping them costs ~34 KiB per TLS connection
    // and saves that churn on the hot path.
    SSL_clear_mode(tls_->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  }

  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  executor_type get_executor() { return socket().get_executor(); }
  tcp::socket& socket() { return tls_ ? tls_->next_layer() : plain_; }
  bool is_tls() const { return tls_ != nullptr; }
  TlsStream& tls() { return *tls_; }
  SSL* ssl_handle() { return tls_ ? tls_->native_handle() : nullptr; }

  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const MutableBufferSequence& b) {
          if (tls_) {
            tls_->async_read_some(b, std::move(handler));
          } else {
            plain_.async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const ConstBufferSequence& b) {
          if (tls_) {
            tls_->async_write_some(b, std::move(handler));
          } else {
            plain_.async_write_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  // Writes every byte of `buffers`. Asio's TLS stream writes only the first buffer of a
  // sequence per record, so for TLS a scattered sequence is gathered into one buffer first:
  // one record and one syscall instead of one per piece.
  template <class ConstBufferSequence>
  asio::awaitable<error_code> WriteAll(const ConstBufferSequence& buffers) {
    std::size_t total = asio::buffer_size(buffers);
    if (tls_ &&
        std::next(asio::buffer_sequence_begin(buffers)) != asio::buffer_sequence_end(buffers)) {
      gather_.resize(total);
      asio::buffer_copy(asio::buffer(gather_), buffers);
      auto [ec, n] = co_await asio::async_write(*this, asio::buffer(gather_), use_nothrow);
      co_return ec;
    }
    auto [ec, n] = co_await asio::async_write(*this, buffers, use_nothrow);
    co_return ec;
  }

  // Cancels pending operations (used by deadlines); the stream stays usable.
  void Cancel() {
    error_code ignored;
    socket().cancel(ignored);
  }

  void Close() {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

 private:
  tcp::socket plain_;
  std::unique_ptr<TlsStream> tls_;
  std::vector<char> gather_;
};

}  // namespace ciap
