// See stream.h.
#include "net/stream.h"

#include <openssl/err.h>

#include <cerrno>

namespace ciap {
namespace tls_io {
namespace {

// What a failed OpenSSL call (`result` <= 0) means: wait for readiness, or an error. Leaves
// the thread's error queue empty, so that the next call's SSL_get_error sees only its own.
Step Failed(SSL* ssl, int result) {
  const int saved_errno = errno;
  Step step;
  switch (SSL_get_error(ssl, result)) {
    case SSL_ERROR_WANT_READ:
      step.want = Step::kRead;
      break;
    case SSL_ERROR_WANT_WRITE:
      step.want = Step::kWrite;
      break;
    case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
      step.ec = asio::error::eof;
      break;
    case SSL_ERROR_SYSCALL:
      step.ec = saved_errno != 0 ? error_code(saved_errno, asio::error::get_system_category())
                                 : error_code(ssl::error::stream_truncated);
      break;
    default: {
      unsigned long error = ERR_peek_last_error();  // NOLINT(runtime/int): OpenSSL's type
      if (ERR_GET_LIB(error) == ERR_LIB_SSL &&
          ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        step.ec = ssl::error::stream_truncated;  // TCP closed without close_notify
      } else if (error != 0) {
        step.ec = error_code(static_cast<int>(error), asio::error::get_ssl_category());
      } else {
        step.ec = asio::error::connection_aborted;
      }
      break;
    }
  }
  ERR_clear_error();
  return step;
}

// A read or write of `size` bytes: `call(&n)` is SSL_read_ex or SSL_write_ex.
template <class Call>
Step Transfer(SSL* ssl, std::size_t size, Call call) {
  if (size == 0) return {};
  std::size_t n = 0;
  errno = 0;
  int result = call(&n);
  if (result == 1) return {Step::kDone, {}, n};
  return Failed(ssl, result);
}

}  // namespace

Step Read(SSL* ssl, void* data, std::size_t size) {
  return Transfer(ssl, size, [&](std::size_t* n) { return SSL_read_ex(ssl, data, size, n); });
}

Step Write(SSL* ssl, const void* data, std::size_t size) {
  return Transfer(ssl, size, [&](std::size_t* n) { return SSL_write_ex(ssl, data, size, n); });
}

Step Handshake(SSL* ssl) {
  errno = 0;
  int result = SSL_do_handshake(ssl);
  if (result == 1) return {};
  return Failed(ssl, result);
}

Step Shutdown(SSL* ssl) {
  errno = 0;
  int result = SSL_shutdown(ssl);
  if (result >= 0) return {};  // 0: ours is sent; the peer's is not awaited
  return Failed(ssl, result);
}

}  // namespace tls_io

Stream::Stream(tcp::socket socket, ssl::context& context)
    : socket_(std::move(socket)), ssl_(SSL_new(context.native_handle())) {
  if (ssl_ == nullptr) throw std::bad_alloc();
  // A write may be retried from another address (Beast's buffers move); read whole available
  // records in one syscall. Record buffers are not released after every record
  // (SSL_MODE_RELEASE_BUFFERS): a busy connection would allocate and free two 17 KiB buffers
  // per request; Trim() frees them when the connection goes idle instead.
  SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_read_ahead(ssl_, 1);
}

Stream::~Stream() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

asio::awaitable<error_code> Stream::Handshake(bool server) {
  if (ssl_ == nullptr) co_return error_code();
  error_code ec;
  socket_.native_non_blocking(true, ec);
  if (ec) co_return ec;
  // The socket BIO does not own the descriptor: the socket closes it.
  if (SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle())) != 1) {
    ERR_clear_error();
    co_return asio::error::bad_descriptor;
  }
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
  auto [handshake_ec, n] = co_await tls_io::Run(
      socket_, [this] { return Checked(tls_io::Handshake(ssl_)); }, use_nothrow);
  co_return handshake_ec;
}

void Stream::Trim() {
  std::vector<char>().swap(gather_);
  if (ssl_ != nullptr) SSL_free_buffers(ssl_);  // refuses (harmlessly) while bytes are pending
}

std::size_t Stream::TryReadSome(asio::mutable_buffer buffer, error_code& ec) {
  ec = {};
  if (ssl_ == nullptr) {
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);  // an ioctl: once
    if (ec) return 0;
    return socket_.read_some(buffer, ec);
  }
  tls_io::Step step = Checked(tls_io::Read(ssl_, buffer.data(), buffer.size()));
  if (step.want != tls_io::Step::kDone) {
    ec = asio::error::would_block;
    return 0;
  }
  ec = step.ec;
  return step.bytes;
}

asio::awaitable<error_code> Stream::Shutdown() {
  if (ssl_ == nullptr || failed_ || !SSL_is_init_finished(ssl_)) co_return error_code();
  auto [ec, n] = co_await tls_io::Run(
      socket_, [this] { return Checked(tls_io::Shutdown(ssl_)); }, use_nothrow);
  co_return ec;
}

}  // namespace ciap
