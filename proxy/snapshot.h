// Everything the data plane needs for one config, compiled once and then shared read-only by
// every worker: routers, filter chains, TLS contexts and pre-resolved metrics. Published as
// std::shared_ptr<const Snapshot>; a reload builds a new one and in-flight requests finish on
// the one they started with.
#pragma once

#include <atomic>
#include <deque>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/api/chain.h"
#include "filters/registry.h"
#include "net/asio.h"
#include "net/tls.h"
#include "proxy/metrics.h"
#include "proxy/router.h"

namespace ciap {

struct RouteRuntime {
  const config::RouteConfig* config;
  std::size_t upstream_index;
  prometheus::Histogram* duration;
  std::unique_ptr<StatusCounters> requests;
};

struct ListenerRuntime {
  ListenerRuntime(const config::ListenerConfig* listener, Router r, FilterChain chain)
      : config(listener), router(std::move(r)), filters(std::move(chain)) {}

  const config::ListenerConfig* config;
  // Open connections, for limits.max_connections; carried over to the next snapshot's
  // listener of the same name, so a reload does not reset the count.
  std::shared_ptr<std::atomic<int64_t>> open_connections;
  std::unique_ptr<ServerTls> tls;  // null for plaintext listeners
  Router router;
  // Headers some identity provider reads a token from: a request carrying one of them twice
  // is refused (see SanitizeRequestHeaders).
  std::vector<std::string> credential_headers;
  FilterChain filters;
  std::deque<RouteRuntime> routes;
  // Requests answered before a route was chosen (404, 400, 408, 431): route="-".
  prometheus::Histogram* unrouted_duration = nullptr;
  std::unique_ptr<StatusCounters> unrouted_requests;
  prometheus::Gauge* connections = nullptr;
  prometheus::Counter* accepted = nullptr;
  prometheus::Counter* rejected = nullptr;
  prometheus::Counter* handshake_errors = nullptr;
};

struct UpstreamRuntime {
  const config::UpstreamConfig* config;
  std::unique_ptr<ssl::context> tls;  // null for plain HTTP upstreams
  std::unique_ptr<StatusCounters> responses;
  prometheus::Counter* connect_errors;
  prometheus::Counter* timeouts;
  prometheus::Counter* resets;
  prometheus::Gauge* active_connections;
  prometheus::Gauge* idle_connections;
};

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::deque<ListenerRuntime> listeners;
  std::deque<UpstreamRuntime> upstreams;
  // What the filter services prepared for this config, kept alive as long as filters of this
  // snapshot may use it.
  PreparedStates prepared;
  // The prepared states that publish a document on every listener (PreparedState::public_path).
  std::vector<const PreparedState*> public_documents;

  const ListenerRuntime* FindListener(std::string_view name) const;
};

// What a snapshot is built from besides its config. Everything is optional.
struct SnapshotInputs {
  PreparedStates prepared;             // from FilterServices::Prepare, by registration-table index
  const Snapshot* previous = nullptr;  // state carried over by name (connection counts)
  // Only what decides a request (routers and the filters that decide policy), for `ciap
  // check`: no TLS contexts, no metrics of the data plane, no filter that only shapes the
  // request on its way out (headers) or counts across requests (rate_limit).
  bool decision_only = false;
};

std::expected<std::shared_ptr<const Snapshot>, std::string> BuildSnapshot(
    std::shared_ptr<const config::Config> config, Metrics& metrics, SnapshotInputs inputs = {});

}  // namespace ciap
