// Host name resolution with a deadline.
//
// Asio resolves on a private thread with getaddrinfo(), which nothing can interrupt: cancelling
// the resolver does not end a lookup that has started. A slow or unreachable DNS server would
// hold the caller for the resolver's own timeouts (tens of seconds), past any connect timeout.
// ResolveBefore() stops waiting at the deadline instead; the abandoned lookup finishes in the
// background and its result is dropped. Callers on one thread asking for the same name while a
// lookup of it is in flight share that lookup, so a DNS outage costs one lookup per name, not
// one per request.
#pragma once

#include <chrono>
#include <expected>
#include <string>

#include "net/asio.h"

namespace ciap {

// Resolves `host`:`service` on `executor`. At `deadline` gives up with asio::error::timed_out;
// other failures come back as the resolver reported them.
asio::awaitable<std::expected<tcp::resolver::results_type, error_code>> ResolveBefore(
    asio::any_io_executor executor, std::string host, std::string service,
    std::chrono::steady_clock::time_point deadline);

// For logs and error messages: "timeout" for a lookup given up at its deadline (Asio's own text
// for timed_out speaks of a connection), the resolver's message otherwise.
std::string DescribeResolveError(const error_code& ec);

}  // namespace ciap
