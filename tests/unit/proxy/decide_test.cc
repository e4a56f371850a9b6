// The decision path every codec and `ciap check` share (proxy/decide.h), with fake filters
// from a registration table of the test's own: request hygiene, routing with its refusals,
// and the chain run synchronously, suspended and resumed, stopped at the first refusal.
#include "proxy/decide.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/snapshot.h"

namespace ciap {
namespace {

namespace http = boost::beast::http;

std::vector<std::string> trail;  // what the fake filters saw, in order

class Recorder : public Filter {
 public:
  explicit Recorder(std::string name) : name_(std::move(name)) {}
  Decision OnRequest(Request&, RequestContext&) const override {
    trail.push_back(name_);
    return Decision::Continue();
  }
  std::string_view name() const override { return name_; }

 private:
  std::string name_;
};

// Waits for a timer before it lets the request go on, as the identity filter waits for keys.
class Waiter : public Filter {
 public:
  Decision OnRequest(Request&, RequestContext&) const override {
    trail.push_back("waiter: suspend");
    return Decision::Suspend();
  }
  boost::asio::awaitable<Decision> OnRequestAsync(Request&, RequestContext&) const override {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor,
                                    std::chrono::milliseconds(5));
    co_await timer.async_wait(boost::asio::use_awaitable);
    trail.push_back("waiter: resumed");
    co_return Decision::Continue();
  }
  std::string_view name() const override { return "waiter"; }
};

class Refuser : public Filter {
 public:
  Decision OnRequest(Request&, RequestContext&) const override {
    trail.push_back("refuser");
    return Decision::Respond(http::status::forbidden, "fake_refusal");
  }
  std::string_view name() const override { return "refuser"; }
};

template <class F>
std::expected<std::unique_ptr<Filter>, std::string> Make(const config::ListenerConfig&,
                                                         const FilterEnv&) {
  return std::make_unique<F>();
}
std::expected<std::unique_ptr<Filter>, std::string> MakeA(const config::ListenerConfig&,
                                                          const FilterEnv&) {
  return std::make_unique<Recorder>("a");
}
std::expected<std::unique_ptr<Filter>, std::string> MakeB(const config::ListenerConfig&,
                                                          const FilterEnv&) {
  return std::make_unique<Recorder>("b");
}

const FilterRegistration kTable[] = {
    {"a", &MakeA}, {"b", &MakeB}, {"waiter", &Make<Waiter>}, {"refuser", &Make<Refuser>}};

config::RouteConfig Route(std::string name, std::string prefix) {
  config::RouteConfig route;
  route.name = std::move(name);
  route.match.path_prefix = std::move(prefix);
  return route;
}

class DecideTest : public ::testing::Test {
 protected:
  // A listener with routes /admin/ and /a (a string prefix: "/admin;x/y" lands there).
  std::unique_ptr<ListenerRuntime> Listener(std::vector<std::string> filters) {
    listener_config_.name = "l";
    listener_config_.filters = std::move(filters);
    listener_config_.routes = {Route("admin", "/admin/"), Route("assets", "/a")};
    auto chain = FilterChain::Build(listener_config_, config_, registry_, kTable, {});
    EXPECT_TRUE(chain.has_value());
    auto listener = std::make_unique<ListenerRuntime>(&listener_config_, Router(listener_config_),
                                                      std::move(*chain));
    listener->credential_headers = {"Authorization", "X-CI-Token"};
    return listener;
  }

  // The whole path, as a codec runs it: route, then the chain (resumed after a suspension).
  Decision Decide(const ListenerRuntime& listener, std::string_view path) {
    trail.clear();
    Decision out =
        RouteRequest(listener, RequestHead{"GET", "ci.test", path, ""}, headers_, routed_);
    if (!out.is_continue()) return out;
    boost::asio::io_context io;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          Request request{headers_, "GET", routed_.host, routed_.path, ""};
          std::size_t next = 0;
          out = RunFilters(listener.filters, request, context_, &next);
          if (out.is_suspend())
            out = co_await ResumeFilters(listener.filters, request, context_, next);
        },
        boost::asio::detached);
    io.run();
    return out;
  }

  config::Config config_;
  config::ListenerConfig listener_config_;
  prometheus::Registry registry_;
  http::fields headers_;
  RoutedRequest routed_;
  RequestContext context_;
};

TEST(SanitizeTest, DropsEveryCallerSentCiapHeader) {
  http::fields headers;
  headers.insert("X-Ciap-Subject", "admin");
  headers.insert("x-ciap-groups", "root");
  headers.insert("x-ciap-", "empty name suffix");
  headers.insert("X-Ciapx", "not ours");
  headers.insert("Accept", "*/*");
  const std::vector<std::string> credentials{"Authorization"};
  EXPECT_EQ(SanitizeRequestHeaders(headers, credentials), "");
  EXPECT_EQ(std::distance(headers.begin(), headers.end()), 2);
  EXPECT_EQ(headers["X-Ciapx"], "not ours");
}

TEST(SanitizeTest, RefusesACredentialHeaderSentTwiceInAnyCase) {
  const std::vector<std::string> credentials{"Authorization", "X-CI-Token"};
  http::fields once;
  once.insert("Authorization", "Bearer a");
  once.insert("X-CI-Token", "b");
  EXPECT_EQ(SanitizeRequestHeaders(once, credentials), "");
  http::fields twice;
  twice.insert("x-ci-token", "a");
  twice.insert("X-CI-TOKEN", "b");
  EXPECT_EQ(SanitizeRequestHeaders(twice, credentials), "duplicate_credential");
}

TEST_F(DecideTest, RoutesAndRefusesBeforeAnyFilterRuns) {
  auto listener = Listener({"a"});
  EXPECT_TRUE(Decide(*listener, "/admin/x").is_continue());
  EXPECT_EQ(routed_.route_index, 0);
  EXPECT_EQ(Decide(*listener, "/b").reason(), "no_route");
  EXPECT_EQ(Decide(*listener, "/admin;x/y").reason(), "path_parameters_reroute");
  Decision bad_path = Decide(*listener, "/a/%2e%2e%2f");
  EXPECT_EQ(bad_path.status(), http::status::bad_request);
  EXPECT_EQ(routed_.path, "/a/%2e%2e%2f");  // what the access log shows
  EXPECT_TRUE(trail.empty());               // none of these reached a filter
  headers_.insert("Authorization", "Bearer x");
  headers_.insert("Authorization", "Bearer y");
  EXPECT_EQ(Decide(*listener, "/admin/x").reason(), "duplicate_credential");
  EXPECT_TRUE(trail.empty());
}

TEST_F(DecideTest, TheChainRunsInOrderAcrossASuspension) {
  auto listener = Listener({"a", "waiter", "b"});
  EXPECT_TRUE(Decide(*listener, "/admin/../admin/x").is_continue());
  EXPECT_EQ(routed_.path, "/admin/x");
  EXPECT_EQ(trail, (std::vector<std::string>{"a", "waiter: suspend", "waiter: resumed", "b"}));
}

TEST_F(DecideTest, TheFirstRefusalEndsTheChain) {
  auto listener = Listener({"a", "refuser", "b"});
  Decision decision = Decide(*listener, "/admin/x");
  EXPECT_EQ(decision.status(), http::status::forbidden);
  EXPECT_EQ(decision.reason(), "fake_refusal");
  EXPECT_EQ(trail, (std::vector<std::string>{"a", "refuser"}));
  auto resumed = Listener({"waiter", "refuser", "b"});
  EXPECT_EQ(Decide(*resumed, "/admin/x").reason(), "fake_refusal");
  EXPECT_EQ(trail, (std::vector<std::string>{"waiter: suspend", "waiter: resumed", "refuser"}));
}

}  // namespace
}  // namespace ciap
