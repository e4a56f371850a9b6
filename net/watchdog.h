// One timer bounding a whole exchange on a socket (the HTTPS fetch client's, an admin request):
// at the deadline the watched socket's pending operation is cancelled and the socket shut down,
// so that whatever comes next fails at once. The descriptor stays open until its owner closes
// it (OpenSSL may hold it). Lighter to compile and to run than beast::tcp_stream's timer per
// operation.
#pragma once

#include <chrono>
#include <memory>

#include "net/asio.h"

namespace ciap {

class Watchdog {
 public:
  Watchdog(const asio::any_io_executor& executor, std::chrono::steady_clock::time_point deadline)
      : timer_(executor, deadline), state_(std::make_shared<State>()) {
    timer_.async_wait([state = state_](error_code ec) {
      if (ec) return;
      state->fired = true;
      if (state->socket == nullptr) return;
      state->cut = true;
      Stop(*state->socket);
    });
  }
  ~Watchdog() {
    state_->socket = nullptr;
    timer_.cancel();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void Watch(tcp::socket& socket) {
    state_->socket = &socket;
    if (!state_->fired) return;
    state_->cut = true;
    Stop(socket);
  }
  // Whether the deadline stopped the watched socket (an error that follows is the timeout's).
  bool cut() const { return state_->cut; }

 private:
  struct State {
    tcp::socket* socket = nullptr;
    bool fired = false;
    bool cut = false;
  };
  static void Stop(tcp::socket& socket) {
    error_code ignored;
    socket.cancel(ignored);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
  }

  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

}  // namespace ciap
