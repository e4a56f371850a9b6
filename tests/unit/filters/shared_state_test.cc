// SharedState (filters/rate_limit/shared_state.h) against a real redis-server started on a free
// loopback port: the requests for one global bucket read in the same turn of a worker's loop go
// to Redis as one script call that takes that many tokens, and each request learns whether it
// got one; keys stay independent; a Redis that is not there fails every waiting request at once.
#include "filters/rate_limit/shared_state.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ciap::rate_limit {
namespace {

using namespace std::chrono_literals;

uint16_t FreePort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

bool Reachable(uint16_t port) {
  asio::io_context io;
  tcp::socket socket(io);
  error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  return !ec;
}

// A redis-server of its own for the test, stopped by pid.
class RedisServer {
 public:
  RedisServer() : port_(FreePort()) {
    std::string port = std::to_string(port_);
    std::vector<std::string> args{
        "redis-server", "--port", port,    "--bind", "127.0.0.1",  "--save", "",
        "--appendonly", "no",     "--dir", "/tmp",   "--loglevel", "warning"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t quiet;  // Redis logs its start and stop on stdout
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid_, "redis-server", &quiet, nullptr, argv.data(), environ) != 0) pid_ = 0;
    posix_spawn_file_actions_destroy(&quiet);
    for (int i = 0; pid_ != 0 && i < 100 && !Reachable(port_); ++i) {
      std::this_thread::sleep_for(50ms);
    }
  }
  ~RedisServer() {
    if (pid_ == 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  bool running() const { return pid_ != 0 && Reachable(port_); }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  pid_t pid_ = 0;
};

config::SharedStateConfig Config(uint16_t port) {
  config::SharedStateConfig c;
  c.address.host = "127.0.0.1";
  c.address.port = port;
  c.timeout = config::Duration(500);
  c.on_failure = config::SharedStateConfig::OnFailure::kDeny;
  return c;
}

// One loop for every test: each worker thread keeps its Redis connections (bound to the loop's
// executor) until a later state replaces them, so the loop must outlive every test, as a
// worker's loop outlives its states.
asio::io_context& Loop() {
  static asio::io_context* io = new asio::io_context;
  return *io;
}

// Runs the loop until `done` holds (the connections' loops keep it busy forever), at most 5 s.
template <typename Done>
void RunUntil(Done done) {
  asio::io_context& io = Loop();
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done() && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
}

int Total(const std::map<std::string, int>& outcomes) {
  int total = 0;
  for (const auto& [outcome, n] : outcomes) total += n;
  return total;
}

// The outcome of one Take: "go", "wait" or "failed".
using Outcomes = std::map<std::string, int>;

// Starts `count` Takes on `key` in one turn of the loop (a co_spawn each, as sessions do) and
// runs the loop until all have answered.
void TakeAll(asio::io_context& io, SharedState& state, const std::string& key, int count,
             uint32_t burst, Outcomes& outcomes) {
  for (int i = 0; i < count; ++i) {
    asio::co_spawn(
        io,
        [&state, &outcomes, key, burst]() -> asio::awaitable<void> {
          auto taken = co_await state.Take(key, 0.001, burst);
          if (!taken) {
            ++outcomes["failed"];
          } else if (!*taken) {
            ++outcomes["go"];
          } else {
            EXPECT_GT((*taken)->count(), 0);
            ++outcomes["wait"];
          }
        },
        asio::detached);
  }
  RunUntil([&] { return Total(outcomes) == count; });
}

// How often Redis ran `command` (INFO commandstats), asked on a connection of its own.
int64_t Calls(asio::io_context& io, uint16_t port, const std::string& command) {
  auto connection = std::make_shared<RedisConnection>(
      io.get_executor(), RedisOptions{"127.0.0.1", port, nullptr, nullptr, "", 500ms});
  std::optional<std::string> text;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::vector<std::string> argv{"INFO", "commandstats"};
        auto reply = co_await connection->Call(argv);
        if (reply) text = reply->text;
      },
      asio::detached);
  RunUntil([&] { return text.has_value(); });
  if (!text) return -1;
  const std::string marker = "cmdstat_" + command + ":calls=";
  auto at = text->find(marker);
  return at == std::string::npos ? 0 : std::atoll(text->c_str() + at + marker.size());
}

class SharedStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(redis_.running()) << "redis-server did not start (scripts/bootstrap installs it)";
    auto made = SharedState::Make(Config(redis_.port()), nullptr);
    ASSERT_TRUE(made) << made.error();
    state_ = *made;
  }

  RedisServer redis_;
  asio::io_context& io_ = Loop();
  std::shared_ptr<SharedState> state_;
};

TEST_F(SharedStateTest, OneTurnsRequestsForABucketAreOneScriptCall) {
  Outcomes outcomes;
  TakeAll(io_, *state_, "bucket-a", 50, 20, outcomes);
  EXPECT_EQ(outcomes["go"], 20);
  EXPECT_EQ(outcomes["wait"], 30);
  EXPECT_EQ(outcomes["failed"], 0);
  // The script reads the bucket once per run: one HMGET for fifty requests.
  EXPECT_EQ(Calls(io_, redis_.port(), "hmget"), 1);

  // The next turn's requests find the bucket as the first batch left it: empty.
  Outcomes again;
  TakeAll(io_, *state_, "bucket-a", 5, 20, again);
  EXPECT_EQ(again["go"], 0);
  EXPECT_EQ(again["wait"], 5);
  EXPECT_EQ(Calls(io_, redis_.port(), "hmget"), 2);
}

TEST_F(SharedStateTest, KeysInOneTurnAreIndependentBatches) {
  Outcomes a, b;
  // Both keys' requests are started before the loop runs: one turn, two batches.
  for (int i = 0; i < 8; ++i) {
    for (auto [key, outcomes] : {std::pair{"bucket-a", &a}, std::pair{"bucket-b", &b}}) {
      asio::co_spawn(
          io_,
          [this, key, outcomes]() -> asio::awaitable<void> {
            auto taken = co_await state_->Take(key, 0.001, 5);
            ++(*outcomes)[!taken ? "failed" : *taken ? "wait" : "go"];
          },
          asio::detached);
    }
  }
  RunUntil([&] { return Total(a) + Total(b) == 16; });
  EXPECT_EQ(a["go"], 5);
  EXPECT_EQ(a["wait"], 3);
  EXPECT_EQ(b["go"], 5);
  EXPECT_EQ(b["wait"], 3);
  EXPECT_EQ(Calls(io_, redis_.port(), "hmget"), 2);
}

TEST(SharedStateDownTest, EveryWaitingRequestFailsAtOnce) {
  auto made = SharedState::Make(Config(FreePort()), nullptr);  // nothing listens there
  ASSERT_TRUE(made) << made.error();
  asio::io_context& io = Loop();
  Outcomes outcomes;
  const auto start = std::chrono::steady_clock::now();
  TakeAll(io, **made, "bucket-a", 10, 5, outcomes);
  EXPECT_EQ(outcomes["failed"], 10);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

}  // namespace
}  // namespace ciap::rate_limit
