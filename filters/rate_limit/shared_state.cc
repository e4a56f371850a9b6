// See shared_state.h.
#include "filters/rate_limit/shared_state.h"

#include <openssl/sha.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <unordered_map>

#include "net/http_client.h"
#include "net/log.h"
#include "net/secret_text.h"

namespace ciap::rate_limit {
namespace {

// A token bucket in a Redis hash (tokens, updated-at in ms), on Redis's clock. Takes up to
// ARGV[3] tokens for that many requests at once; returns {tokens taken, ms until the next one is
// back (0 when all were taken)}. The key expires once a full bucket would have refilled, so idle
// callers cost Redis nothing.
constexpr std::string_view kBucketScript = R"lua(
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) / 1000 * rate)
  ts = now
end
local taken = math.max(0, math.min(wanted, math.floor(tokens)))
tokens = tokens - taken
local wait = 0
if taken < wanted then
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {taken, wait}
)lua";

const std::string& BucketScriptSha() {
  static const std::string sha = [] {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(kBucketScript.data()), kBucketScript.size(),
         digest);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned char byte : digest) {
      hex.push_back(kHex[byte >> 4]);
      hex.push_back(kHex[byte & 15]);
    }
    return hex;
  }();
  return sha;
}

std::atomic<uint64_t> next_id{1};

}  // namespace

// The requests for one bucket that arrived in one turn of a worker's loop.
struct SharedState::TakeBatch {
  explicit TakeBatch(const asio::any_io_executor& executor)
      : done(executor, asio::steady_timer::time_point::max()) {}
  uint32_t wanted = 0;  // requests in the batch, in arrival order
  bool failed = false;
  uint32_t taken = 0;  // the first `taken` requests may go
  std::chrono::milliseconds wait{0};
  asio::steady_timer done;  // every request of the batch waits on it; cancel() wakes them all
};

struct SharedState::Worker {
  std::weak_ptr<SharedState> owner;
  std::shared_ptr<RedisConnection> connection;
  std::unordered_map<std::string, std::shared_ptr<TakeBatch>> open;  // by key, not sent yet
};

std::expected<std::shared_ptr<SharedState>, std::string> SharedState::Make(
    const config::SharedStateConfig& config, prometheus::Registry* metrics) {
  std::unique_ptr<ssl::context> tls;
  if (config.tls) {
    auto made = CreateFetchTlsContext(config.ca_file);
    if (!made) return std::unexpected("shared_state.redis.tls: " + made.error());
    tls = std::move(*made);
  }
  prometheus::Family<prometheus::Counter>* errors = nullptr;
  if (metrics != nullptr) {
    errors = &prometheus::BuildCounter()
                  .Name("ciap_shared_state_errors_total")
                  .Help(
                      "Shared-state (Redis) operations that failed, by operation (rate_limit, "
                      "replay, probe); on_failure decided those requests")
                  .Register(*metrics);
  }
  return std::make_shared<SharedState>(config, std::move(tls), errors);
}

SharedState::SharedState(const config::SharedStateConfig& config, std::unique_ptr<ssl::context> tls,
                         prometheus::Family<prometheus::Counter>* errors)
    : config_(config), tls_(std::move(tls)), errors_(errors), id_(next_id++) {}

RedisOptions SharedState::Options() {
  RedisOptions options;
  options.host = config_.address.host;
  options.port = config_.address.port;
  options.tls = tls_.get();
  options.sni = config_.sni;
  options.timeout = config_.timeout;
  const std::string literal = config_.password;
  const std::string file = config_.password_file;
  if (!literal.empty() || !file.empty()) {
    options.password = [literal, file]() -> std::optional<std::string> {
      // An unreadable file sends an empty password: Redis refuses it, and /ready says so.
      return file.empty() ? literal : ReadSecretText(file).value_or("");
    };
  }
  return options;
}

SharedState::Worker& SharedState::Local(asio::any_io_executor executor) {
  thread_local std::unordered_map<uint64_t, Worker> workers;
  auto it = workers.find(id_);
  if (it != workers.end()) return it->second;
  // A reload made a new state: the old states' connections close with their entries.
  std::erase_if(workers, [](const auto& entry) { return entry.second.owner.expired(); });
  Worker& worker = workers[id_];
  worker.owner = weak_from_this();
  worker.connection = std::make_shared<RedisConnection>(std::move(executor), Options());
  return worker;
}

asio::awaitable<std::expected<RedisReply, RedisConnection::Error>> SharedState::Call(
    std::vector<std::string> argv) {
  auto executor = co_await asio::this_coro::executor;
  RedisConnection& connection = *Local(executor).connection;
  auto reply = co_await connection.Call(std::move(argv));
  if (!reply && reply.error() == RedisConnection::Error::kAuthFailed) auth_failed_ = true;
  if (reply) auth_failed_ = false;
  co_return reply;
}

asio::awaitable<std::expected<std::optional<std::chrono::milliseconds>, SharedState::Failure>>
SharedState::Take(std::string key, double rate, uint32_t burst) {
  auto executor = co_await asio::this_coro::executor;
  Worker& worker = Local(executor);
  std::shared_ptr<TakeBatch>& open = worker.open[key];
  if (!open) {
    open = std::make_shared<TakeBatch>(executor);
    asio::co_spawn(executor, SendBatch(shared_from_this(), &worker, key, rate, burst, open),
                   asio::detached);
  }
  std::shared_ptr<TakeBatch> batch = open;
  const uint32_t position = batch->wanted++;
  co_await batch->done.async_wait(use_nothrow);
  if (batch->failed) co_return std::unexpected(Failure::kUnavailable);
  if (position < batch->taken) co_return std::nullopt;
  co_return batch->wait;
}

asio::awaitable<void> SharedState::SendBatch(std::shared_ptr<SharedState> self, Worker* worker,
                                             std::string key, double rate, uint32_t burst,
                                             std::shared_ptr<TakeBatch> batch) {
  // After this turn of the loop: the requests it reads for `key` join the batch meanwhile.
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  worker->open.erase(key);  // later requests make the next batch
  char rate_text[32];
  std::snprintf(rate_text, sizeof rate_text, "%.6f", rate);
  std::vector<std::string> argv{"EVALSHA",
                                BucketScriptSha(),
                                "1",
                                std::move(key),
                                std::string(rate_text),
                                std::to_string(burst),
                                std::to_string(batch->wanted)};
  auto reply = co_await self->Call(argv);
  if (reply && reply->type == RedisReply::Type::kError && reply->text.starts_with("NOSCRIPT")) {
    argv[0] = "EVAL";  // the first call after a Redis restart loads the script
    argv[1] = std::string(kBucketScript);
    reply = co_await self->Call(argv);
  }
  if (!reply || reply->type != RedisReply::Type::kArray || reply->elements.size() != 2) {
    batch->failed = true;
  } else {
    batch->taken =
        static_cast<uint32_t>(std::clamp<int64_t>(reply->elements[0].integer, 0, batch->wanted));
    batch->wait = std::chrono::milliseconds(std::max<int64_t>(1, reply->elements[1].integer));
  }
  batch->done.cancel();
}

asio::awaitable<std::expected<bool, SharedState::Failure>> SharedState::UseOnce(
    std::string key, int64_t expires_at_ms) {
  std::vector<std::string> argv{"SET", std::move(key), "1",
                                "NX",  "PXAT",         std::to_string(expires_at_ms)};
  auto reply = co_await Call(std::move(argv));
  if (!reply || reply->type == RedisReply::Type::kError) {
    co_return std::unexpected(Failure::kUnavailable);
  }
  co_return reply->type == RedisReply::Type::kStatus;  // OK; nil: the key was there
}

void SharedState::CountError(std::string_view op) {
  if (errors_ != nullptr) errors_->Add({{"op", std::string(op)}}).Increment();
}

std::string SharedState::NotReady() const {
  return auth_failed_ ? "shared_state: Redis refused ciap's password" : std::string();
}

void SharedState::StartProbe(asio::any_io_executor main) {
  asio::co_spawn(main, Probe(weak_from_this(), main), asio::detached);
}

asio::awaitable<void> SharedState::Probe(std::weak_ptr<SharedState> weak,
                                         asio::any_io_executor main) {
  asio::steady_timer timer(main);
  for (;;) {
    {
      std::shared_ptr<SharedState> self = weak.lock();
      if (!self) co_return;
      std::vector<std::string> ping{"PING"};
      auto reply = co_await self->Call(std::move(ping));
      if (!reply) self->CountError("probe");
    }
    timer.expires_after(std::chrono::seconds(2));
    co_await timer.async_wait(use_nothrow);
  }
}

}  // namespace ciap::rate_limit
