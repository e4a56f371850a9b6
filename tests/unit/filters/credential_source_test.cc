// CredentialSource (filters/headers/credential_source.h) with a fake mint: the first request
// mints and concurrent ones share that mint; the value's form per header; the refresh in the
// background inside the refresh window while the held value keeps being used; a failed mint and
// its backoff; a mint that never finishes; a credential handed out expired; and a reload's
// Adopt. One io_context serves as the main loop and runs the requests' coroutines too; real
// time, small lifetimes.
#include "filters/headers/credential_source.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ciap::headers {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;
using Value = std::shared_ptr<const std::string>;

// What the fake mint does next, and how often it ran. Only touched on the io_context's thread
// (and by the test between runs).
struct FakeSource {
  int calls = 0;
  std::chrono::milliseconds delay = 20ms;
  Clock::duration lifetime = 1h;  // from the moment the mint answers
  bool fail = false;
  bool hang = false;  // never answers (within the test)
};

// Always suspends before answering, as a real mint does: requests run on the io_context that
// is also "main" here, and co_spawn from a thread running that loop starts the mint at once,
// inside StartLocked() with the source's mutex held.
asio::awaitable<std::expected<MintedCredential, std::string>> FakeMint(
    std::shared_ptr<FakeSource> fake) {
  const int n = ++fake->calls;
  asio::steady_timer timer(co_await asio::this_coro::executor, fake->hang ? 1h : fake->delay);
  co_await timer.async_wait(use_nothrow);
  if (fake->fail) co_return std::unexpected(std::string("token endpoint answered 500"));
  co_return MintedCredential{"tok-" + std::to_string(n), Clock::now() + fake->lifetime};
}

MintCall FakeCall(std::shared_ptr<FakeSource> fake) {
  return [fake] { return FakeMint(fake); };
}

config::CredentialsConfig Config(std::string header = "Authorization") {
  config::CredentialsConfig c;
  c.type = config::CredentialsConfig::Type::kOAuth2ClientCredentials;
  c.token_endpoint = "https://idp.example.com/token";
  c.client_id = "ciap";
  c.client_secret = "s3cret";
  c.header = std::move(header);
  c.timeout = 2s;
  return c;
}

class CredentialSourceTest : public ::testing::Test {
 protected:
  std::shared_ptr<CredentialSource> Make(const config::CredentialsConfig& config,
                                         std::shared_ptr<FakeSource> fake,
                                         std::string route = "r") {
    auto made = CredentialSource::Make(config, std::move(route), io_.get_executor(), &metrics_,
                                       FakeCall(std::move(fake)));
    EXPECT_TRUE(made) << made.error();
    return made ? *made : nullptr;
  }

  // Runs the loop until `done()` holds or `limit` has passed; whether `done()` held.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 3s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(5ms);
    }
    return true;
  }
  void RunFor(std::chrono::milliseconds duration) {
    RunUntil([] { return false; }, duration);
  }

  // Starts a request's Obtain(); its answer lands in `out` (set once it finished).
  void StartObtain(const std::shared_ptr<CredentialSource>& source,
                   std::shared_ptr<std::optional<Value>> out) {
    asio::co_spawn(io_, source->Obtain(), [out](std::exception_ptr e, Value value) {
      EXPECT_FALSE(e) << "Obtain threw";
      *out = value;
    });
  }
  // One request's Obtain(), run to its end.
  Value Obtain(const std::shared_ptr<CredentialSource>& source) {
    auto out = std::make_shared<std::optional<Value>>();
    StartObtain(source, out);
    EXPECT_TRUE(RunUntil([&] { return out->has_value(); }, 5s)) << "Obtain never returned";
    return out->value_or(nullptr);
  }

  double Count(std::string_view result) {
    return metrics_.total.Add({{"route", "r"}, {"result", std::string(result)}}).Value();
  }

  asio::io_context io_;
  prometheus::Registry registry_;
  CredentialMetrics metrics_{registry_};
};

std::string Text(const Value& value) { return value ? *value : std::string("<null>"); }

TEST_F(CredentialSourceTest, ConcurrentFirstRequestsShareOneMint) {
  auto fake = std::make_shared<FakeSource>();
  fake->delay = 100ms;
  auto source = Make(Config(), fake);
  EXPECT_EQ(source->Current(), nullptr) << "nothing minted yet";
  RunFor(50ms);
  EXPECT_EQ(fake->calls, 0) << "Current() alone does not mint";

  std::vector<std::shared_ptr<std::optional<Value>>> answers;
  for (int i = 0; i < 20; ++i) {
    answers.push_back(std::make_shared<std::optional<Value>>());
    StartObtain(source, answers.back());
  }
  EXPECT_TRUE(RunUntil([&] {
    for (const auto& a : answers) {
      if (!a->has_value()) return false;
    }
    return true;
  }));
  EXPECT_EQ(fake->calls, 1);
  for (const auto& a : answers) EXPECT_EQ(Text(a->value_or(nullptr)), "Bearer tok-1");
  EXPECT_EQ(Count("minted"), 20);
  EXPECT_EQ(Count("failed"), 0);
  EXPECT_EQ(Text(source->Current()), "Bearer tok-1");
  EXPECT_EQ(Count("cached"), 1);
  EXPECT_EQ(Text(Obtain(source)), "Bearer tok-1") << "a held credential needs no mint";
  EXPECT_EQ(fake->calls, 1);
}

// A credential that became usable between a request's Current() and its Obtain() ("minted
// meanwhile") counts the request as cached, like every other way out of Current() and Obtain()
// counts it once: ciap_credentials_total sums to the requests that needed the credential.
TEST_F(CredentialSourceTest, EveryRequestIsCountedOnce) {
  auto fake = std::make_shared<FakeSource>();
  auto source = Make(Config(), fake);
  EXPECT_EQ(Text(Obtain(source)), "Bearer tok-1");
  EXPECT_EQ(Count("minted") + Count("cached") + Count("failed"), 1);
  // A request that found nothing in Current() and reaches Obtain() after the mint finished.
  EXPECT_EQ(Text(Obtain(source)), "Bearer tok-1");
  EXPECT_EQ(fake->calls, 1);
  EXPECT_EQ(Count("minted") + Count("cached") + Count("failed"), 2);
}

TEST_F(CredentialSourceTest, OtherHeadersGetTheBareToken) {
  auto fake = std::make_shared<FakeSource>();
  auto source = Make(Config("X-Api-Key"), fake);
  EXPECT_EQ(Text(Obtain(source)), "tok-1");
  EXPECT_EQ(Text(source->Current()), "tok-1");
  auto lower = Make(Config("authorization"), std::make_shared<FakeSource>());
  EXPECT_EQ(Text(Obtain(lower)), "Bearer tok-1") << "header names are case-insensitive";
}

TEST_F(CredentialSourceTest, RefreshesInTheBackgroundInsideTheWindow) {
  // Lifetime 4s: margin min(60s, 1s) = 1s, so the value is used until 3s and a refresh starts
  // from 2s on.
  auto fake = std::make_shared<FakeSource>();
  fake->lifetime = 4s;
  auto source = Make(Config(), fake);
  EXPECT_EQ(Text(Obtain(source)), "Bearer tok-1");
  const auto minted = std::chrono::steady_clock::now();
  EXPECT_EQ(Text(source->Current()), "Bearer tok-1");
  RunUntil([&] { return std::chrono::steady_clock::now() - minted >= 1600ms; });
  EXPECT_EQ(Text(source->Current()), "Bearer tok-1");
  RunFor(20ms);
  EXPECT_EQ(fake->calls, 1) << "not yet inside the refresh window";

  fake->delay = 200ms;
  RunUntil([&] { return std::chrono::steady_clock::now() - minted >= 2300ms; });
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Text(source->Current()), "Bearer tok-1");
  RunFor(50ms);
  EXPECT_EQ(fake->calls, 2) << "exactly one background mint";
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Text(source->Current()), "Bearer tok-1") << "the held value while the mint runs";
    RunFor(10ms);
  }
  EXPECT_EQ(fake->calls, 2);
  EXPECT_TRUE(RunUntil([&] { return Text(source->Current()) == "Bearer tok-2"; }, 500ms));
  RunFor(20ms);
  EXPECT_EQ(fake->calls, 2) << "the new credential is not due";
  EXPECT_EQ(Count("failed"), 0);
}

TEST_F(CredentialSourceTest, FailedMintBacksOff) {
  auto fake = std::make_shared<FakeSource>();
  fake->fail = true;
  auto source = Make(Config(), fake);
  EXPECT_EQ(Obtain(source), nullptr);
  EXPECT_EQ(fake->calls, 1);
  EXPECT_EQ(Obtain(source), nullptr) << "within the backoff";
  EXPECT_EQ(source->Current(), nullptr);
  RunFor(50ms);
  EXPECT_EQ(fake->calls, 1) << "no mint during the backoff";
  EXPECT_EQ(Count("failed"), 2);

  // After the first backoff (1s) the next request mints again.
  fake->fail = false;
  std::this_thread::sleep_for(1050ms);
  EXPECT_EQ(Text(Obtain(source)), "Bearer tok-2");
  EXPECT_EQ(fake->calls, 2);
}

TEST_F(CredentialSourceTest, MintThatNeverAnswersFailsTheRequestInTime) {
  auto fake = std::make_shared<FakeSource>();
  fake->hang = true;
  config::CredentialsConfig config = Config();
  config.timeout = 200ms;
  auto source = Make(config, fake);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Obtain(source), nullptr);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 1100ms) << "waits timeout + 1s for the mint to report";
  EXPECT_LT(waited, 1700ms) << "and not longer";
  EXPECT_EQ(fake->calls, 1);
  EXPECT_EQ(Count("failed"), 1);
}

TEST_F(CredentialSourceTest, ExpiredCredentialIsRefused) {
  for (Clock::duration lifetime :
       {Clock::duration(-1s), Clock::duration(0s), Clock::duration(1s)}) {
    auto fake = std::make_shared<FakeSource>();
    fake->lifetime = lifetime;
    auto source = Make(Config(), fake);
    EXPECT_EQ(Obtain(source), nullptr)
        << std::chrono::duration_cast<std::chrono::seconds>(lifetime).count();
    EXPECT_EQ(source->Current(), nullptr);
    EXPECT_EQ(fake->calls, 1);
  }
}

TEST_F(CredentialSourceTest, AdoptKeepsTheCredentialOfTheSameRouteAndConfig) {
  auto fake = std::make_shared<FakeSource>();
  auto previous = Make(Config(), fake);
  auto unminted = Make(Config(), std::make_shared<FakeSource>());
  EXPECT_EQ(Text(Obtain(previous)), "Bearer tok-1");

  auto next_fake = std::make_shared<FakeSource>();
  auto next = Make(Config(), next_fake);
  EXPECT_TRUE(next->Adopt(*previous));
  EXPECT_EQ(Text(next->Current()), "Bearer tok-1");
  EXPECT_EQ(Text(Obtain(next)), "Bearer tok-1");
  EXPECT_EQ(next_fake->calls, 0) << "a reload mints nothing";

  config::CredentialsConfig other_scope = Config();
  other_scope.scope = "deploy";
  auto changed = Make(other_scope, std::make_shared<FakeSource>());
  EXPECT_FALSE(changed->Adopt(*previous));
  EXPECT_EQ(changed->Current(), nullptr);
  auto other_header = Make(Config("X-Api-Key"), std::make_shared<FakeSource>());
  EXPECT_FALSE(other_header->Adopt(*previous)) << "the value's form would be wrong";
  EXPECT_EQ(other_header->Current(), nullptr);
  auto other_route = Make(Config(), std::make_shared<FakeSource>(), "r2");
  EXPECT_FALSE(other_route->Adopt(*previous));
  EXPECT_EQ(other_route->Current(), nullptr);
  auto empty = Make(Config(), std::make_shared<FakeSource>());
  EXPECT_FALSE(empty->Adopt(*unminted)) << "nothing to keep";
  EXPECT_EQ(fake->calls, 1);
}

}  // namespace
}  // namespace ciap::headers
