// A Redis connection on the Asio loop: commands are formatted and replies parsed by hiredis
// (its RESP writer and reader), the bytes go over ciap's own Stream (plain TCP or verified TLS),
// so no thread ever blocks on Redis. Commands are pipelined: each call writes its command at
// once and waits for its reply in order, with its own deadline. One connection per worker.
//
// Failures are answered at once, never waited out: a call made while the connection is down
// (and its reconnect backoff has not passed) fails immediately; a call whose reply does not come
// within `timeout` fails, and the connection is dropped (a pipelined connection with a lost
// reply cannot be trusted) and made again on a later call, after a backoff (100 ms doubling to
// 2 s, so a Redis that is back is used again within 2 s). AUTH is the first command of every
// connection; a refused password is remembered, so readiness can report it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/asio.h"
#include "net/stream.h"

namespace ciap {

struct RedisReply {
  enum class Type { kString, kArray, kInteger, kNil, kStatus, kError };
  Type type = Type::kNil;
  int64_t integer = 0;
  std::string text;  // kString, kStatus, kError
  std::vector<RedisReply> elements;
};

struct RedisOptions {
  std::string host;
  uint16_t port = 6379;
  // Read for every new connection (a rotated Secret is used at the next reconnect).
  std::function<std::optional<std::string>()> password;
  ssl::context* tls = nullptr;  // null: plain TCP
  std::string sni;
  std::chrono::milliseconds timeout{50};
};

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  enum class Error { kUnavailable, kTimeout, kAuthFailed, kProtocol };

  RedisConnection(asio::any_io_executor executor, RedisOptions options);
  ~RedisConnection();

  // Sends `argv` and waits for its reply (an error reply is a reply, not an Error). On the
  // connection's executor.
  asio::awaitable<std::expected<RedisReply, Error>> Call(std::vector<std::string> argv);

  // Whether the last connection attempt was refused for its password.
  bool auth_failed() const { return auth_failed_; }

 private:
  struct Waiter {
    std::optional<std::expected<RedisReply, Error>> result;
    std::shared_ptr<asio::steady_timer> timer;
  };
  enum class State { kDown, kConnecting, kUp };

  // Starts connecting when down and the backoff has passed; false when the call must fail now.
  bool EnsureConnecting();
  asio::awaitable<void> Connect(std::shared_ptr<RedisConnection> self, uint64_t generation);
  asio::awaitable<void> ReadLoop(std::shared_ptr<RedisConnection> self, uint64_t generation);
  asio::awaitable<void> WriteLoop(std::shared_ptr<RedisConnection> self, uint64_t generation);
  void Enqueue(const std::vector<std::string>& argv, std::shared_ptr<Waiter> waiter);
  // Drops the connection: every waiting call fails with `error`; the next call reconnects after
  // the backoff.
  void Drop(Error error);

  asio::any_io_executor executor_;
  RedisOptions options_;
  State state_ = State::kDown;
  uint64_t generation_ = 0;         // which connection a loop belongs to
  std::shared_ptr<Stream> stream_;  // the loops hold it too, until they end
  std::string out_;                 // formatted commands not yet written
  bool writing_ = false;
  std::deque<std::shared_ptr<Waiter>> waiters_;  // in command order
  std::shared_ptr<asio::steady_timer> write_wake_;
  std::chrono::steady_clock::time_point retry_after_{};
  std::chrono::milliseconds backoff_{100};
  bool auth_failed_ = false;
};

}  // namespace ciap
