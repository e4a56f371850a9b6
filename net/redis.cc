// See redis.h.
#include "net/redis.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/log.h"
#include "net/tls.h"

namespace ciap {
namespace {

constexpr std::chrono::milliseconds kMinBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr std::chrono::milliseconds kConnectTimeout{2000};

RedisReply Convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

void AppendCommand(std::string& out, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<std::size_t> lengths;
  for (const std::string& arg : argv) {
    args.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  char* command = nullptr;
  int length =
      redisFormatCommandArgv(&command, static_cast<int>(args.size()), args.data(), lengths.data());
  if (length > 0) out.append(command, static_cast<std::size_t>(length));
  redisFreeCommand(command);
}

struct ReaderDeleter {
  void operator()(redisReader* reader) const { redisReaderFree(reader); }
};

}  // namespace

RedisConnection::RedisConnection(asio::any_io_executor executor, RedisOptions options)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      write_wake_(std::make_shared<asio::steady_timer>(executor_)) {}

RedisConnection::~RedisConnection() {
  if (stream_) stream_->Close();
}

bool RedisConnection::EnsureConnecting() {
  if (state_ != State::kDown) return true;
  if (std::chrono::steady_clock::now() < retry_after_) return false;
  state_ = State::kConnecting;
  ++generation_;
  asio::co_spawn(executor_, Connect(shared_from_this(), generation_), asio::detached);
  return true;
}

void RedisConnection::Enqueue(const std::vector<std::string>& argv,
                              std::shared_ptr<Waiter> waiter) {
  AppendCommand(out_, argv);
  waiters_.push_back(std::move(waiter));
  write_wake_->cancel();
}

asio::awaitable<std::expected<RedisReply, RedisConnection::Error>> RedisConnection::Call(
    std::vector<std::string> argv) {
  if (!EnsureConnecting()) {
    co_return std::unexpected(auth_failed_ ? Error::kAuthFailed : Error::kUnavailable);
  }
  auto waiter = std::make_shared<Waiter>();
  waiter->timer = std::make_shared<asio::steady_timer>(executor_, options_.timeout);
  Enqueue(argv, waiter);
  co_await waiter->timer->async_wait(use_nothrow);
  if (!waiter->result) {
    // No reply in time. Up, the pipeline has lost its order: start again. Still connecting,
    // only this call gives up.
    if (state_ == State::kUp) {
      Drop(Error::kTimeout);
    } else {
      std::erase(waiters_, waiter);
      waiter->result = std::unexpected(Error::kTimeout);
    }
  }
  co_return std::move(*waiter->result);
}

asio::awaitable<void> RedisConnection::Connect(std::shared_ptr<RedisConnection> self,
                                               uint64_t generation) {
  tcp::resolver resolver(executor_);
  asio::steady_timer guard(executor_, kConnectTimeout);
  auto [rec, endpoints] =
      co_await resolver.async_resolve(options_.host, std::to_string(options_.port), use_nothrow);
  tcp::socket socket(executor_);
  error_code ec = rec;
  if (!ec) {
    guard.async_wait([&socket](error_code e) {
      if (!e) socket.close(e);
    });
    std::tie(ec, std::ignore) = co_await asio::async_connect(socket, endpoints, use_nothrow);
  }
  if (!ec) socket.set_option(tcp::no_delay(true), ec);
  std::shared_ptr<Stream> stream;
  if (!ec) {
    if (options_.tls != nullptr) {
      stream = std::make_shared<Stream>(std::move(socket), *options_.tls);
      ExpectPeerName(stream->ssl_handle(), options_.sni.empty() ? options_.host : options_.sni);
    } else {
      stream = std::make_shared<Stream>(std::move(socket));
    }
    ec = co_await stream->Handshake(false);
  }
  // AUTH before anything else on the connection.
  std::optional<std::string> password = options_.password ? options_.password() : std::nullopt;
  bool refused = false;
  if (!ec && password) {
    std::string auth;
    AppendCommand(auth, {"AUTH", *password});
    ec = co_await stream->WriteAll(asio::buffer(auth));
    std::unique_ptr<redisReader, ReaderDeleter> reader(redisReaderCreate());
    std::array<char, 512> buffer;
    void* reply = nullptr;
    while (!ec && reply == nullptr) {
      std::size_t n = 0;
      std::tie(ec, n) = co_await stream->async_read_some(asio::buffer(buffer), use_nothrow);
      if (ec) break;
      redisReaderFeed(reader.get(), buffer.data(), n);
      if (redisReaderGetReply(reader.get(), &reply) != REDIS_OK) ec = asio::error::invalid_argument;
    }
    if (reply != nullptr) {
      refused = static_cast<redisReply*>(reply)->type == REDIS_REPLY_ERROR;
      freeReplyObject(reply);
    }
  }
  guard.cancel();
  if (generation != generation_) co_return;  // given up on meanwhile
  if (ec || refused) {
    auth_failed_ = refused;
    LogEvent(LogLevel::kError, "redis connection failed",
             {{"address", options_.host + ":" + std::to_string(options_.port)},
              {"error", refused ? std::string("the password was refused") : ec.message()}});
    if (stream) stream->Close();
    Drop(refused ? Error::kAuthFailed : Error::kUnavailable);
    co_return;
  }
  auth_failed_ = false;
  backoff_ = kMinBackoff;
  stream_ = std::move(stream);
  state_ = State::kUp;
  asio::co_spawn(executor_, ReadLoop(self, generation), asio::detached);
  asio::co_spawn(executor_, WriteLoop(self, generation), asio::detached);
}

asio::awaitable<void> RedisConnection::ReadLoop(std::shared_ptr<RedisConnection> self,
                                                uint64_t generation) {
  std::shared_ptr<Stream> stream = stream_;
  std::unique_ptr<redisReader, ReaderDeleter> reader(redisReaderCreate());
  std::array<char, 16 * 1024> buffer;
  for (;;) {
    auto [ec, n] = co_await stream->async_read_some(asio::buffer(buffer), use_nothrow);
    if (generation != generation_) co_return;
    if (ec) {
      Drop(Error::kUnavailable);
      co_return;
    }
    redisReaderFeed(reader.get(), buffer.data(), n);
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
        Drop(Error::kProtocol);
        co_return;
      }
      if (raw == nullptr) break;
      RedisReply reply = Convert(static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      if (waiters_.empty()) {  // a reply nobody asked for: the stream is out of step
        Drop(Error::kProtocol);
        co_return;
      }
      std::shared_ptr<Waiter> waiter = std::move(waiters_.front());
      waiters_.pop_front();
      waiter->result = std::move(reply);
      waiter->timer->cancel();
    }
  }
}

asio::awaitable<void> RedisConnection::WriteLoop(std::shared_ptr<RedisConnection> self,
                                                 uint64_t generation) {
  std::shared_ptr<Stream> stream = stream_;
  std::shared_ptr<asio::steady_timer> wake = write_wake_;
  std::string chunk;
  while (generation == generation_) {
    if (out_.empty()) {
      wake->expires_at(asio::steady_timer::time_point::max());
      co_await wake->async_wait(use_nothrow);
      continue;
    }
    chunk.clear();
    chunk.swap(out_);  // commands enqueued meanwhile go out with the next write
    if (co_await stream->WriteAll(asio::buffer(chunk))) {
      if (generation == generation_) Drop(Error::kUnavailable);
      co_return;
    }
  }
}

void RedisConnection::Drop(Error error) {
  state_ = State::kDown;
  ++generation_;
  if (stream_) {
    stream_->Close();
    stream_.reset();
  }
  out_.clear();
  std::deque<std::shared_ptr<Waiter>> failed;
  failed.swap(waiters_);
  for (auto& waiter : failed) {
    waiter->result = std::unexpected(error);
    waiter->timer->cancel();
  }
  retry_after_ = std::chrono::steady_clock::now() + backoff_;
  backoff_ = std::min(kMaxBackoff, backoff_ * 2);
  write_wake_->cancel();
}

}  // namespace ciap
