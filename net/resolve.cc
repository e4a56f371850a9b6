#include "net/resolve.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace ciap {
namespace {

// One getaddrinfo() in flight for a host and service on this thread's io_context, shared by
// every caller that asks for it meanwhile. Asio runs an io_context's lookups one after another
// on a single private thread, so without sharing, a DNS server that does not answer would
// collect a queue of lookups for the same name, one per request, each waiting out the
// resolver's timeouts in turn; with it there is at most one per name.
//
// The completion handler owns the Lookup; each waiter holds it too. A lookup every waiter has
// given up on finishes in the background, and its result is dropped.
struct Lookup {
  explicit Lookup(const asio::any_io_executor& executor) : resolver(executor) {}

  tcp::resolver resolver;
  bool done = false;
  error_code ec;
  tcp::resolver::results_type results;
  std::vector<asio::steady_timer*> waiters;  // each waiter's deadline timer, to wake it
};

// The lookups in flight on this thread, by "host\0service". Weak: the handler owns them, and a
// thread's table may outlive the io_context its lookups ran on.
std::map<std::string, std::weak_ptr<Lookup>, std::less<>>& InFlight() {
  thread_local std::map<std::string, std::weak_ptr<Lookup>, std::less<>> lookups;
  return lookups;
}

std::shared_ptr<Lookup> StartOrJoin(const asio::any_io_executor& executor, const std::string& host,
                                    const std::string& service) {
  std::string key = host + '\0' + service;
  auto& in_flight = InFlight();
  if (auto it = in_flight.find(key); it != in_flight.end()) {
    if (auto lookup = it->second.lock(); lookup && lookup->resolver.get_executor() == executor) {
      return lookup;
    }
  }
  auto lookup = std::make_shared<Lookup>(executor);
  in_flight[key] = lookup;
  lookup->resolver.async_resolve(
      host, service,
      [lookup, key](const error_code& ec, tcp::resolver::results_type results) mutable {
        auto& table = InFlight();
        if (auto it = table.find(key); it != table.end() && it->second.lock() == lookup) {
          table.erase(it);
        }
        lookup->done = true;
        lookup->ec = ec;
        lookup->results = std::move(results);
        for (asio::steady_timer* waiter : lookup->waiters) waiter->cancel();
      });
  return lookup;
}

}  // namespace

asio::awaitable<std::expected<tcp::resolver::results_type, error_code>> ResolveBefore(
    asio::any_io_executor executor, std::string host, std::string service,
    std::chrono::steady_clock::time_point deadline) {
  std::shared_ptr<Lookup> lookup = StartOrJoin(executor, host, service);
  asio::steady_timer timer(executor, deadline);
  // Registered for exactly as long as this frame waits, however the frame ends.
  struct Registration {
    Lookup& lookup;
    asio::steady_timer* timer;
    ~Registration() { std::erase(lookup.waiters, timer); }
  };
  lookup->waiters.push_back(&timer);
  {
    Registration registration{*lookup, &timer};
    // Ends at the deadline or when the lookup's handler cancels it, whichever is first.
    co_await timer.async_wait(use_nothrow);
  }
  if (!lookup->done) co_return std::unexpected(error_code(asio::error::timed_out));
  if (lookup->ec) co_return std::unexpected(lookup->ec);
  co_return lookup->results;  // a copy: other waiters share the results
}

std::string DescribeResolveError(const error_code& ec) {
  return ec == asio::error::timed_out ? "timeout" : ec.message();
}

}  // namespace ciap
