// See snapshot.h.
#include "proxy/snapshot.h"

#include <boost/beast/core/string.hpp>

namespace ciap {

const ListenerRuntime* Snapshot::FindListener(std::string_view name) const {
  for (const ListenerRuntime& listener : listeners) {
    if (listener.config->name == name) return &listener;
  }
  return nullptr;
}

namespace {

std::expected<void, std::string> AddUpstream(Snapshot& snapshot,
                                             const config::UpstreamConfig& upstream,
                                             Metrics& metrics, bool decision_only) {
  UpstreamRuntime& u = snapshot.upstreams.emplace_back();
  u.config = &upstream;
  if (decision_only) return {};
  if (upstream.tls) {
    auto tls = CreateUpstreamTlsContext(*upstream.tls,
                                        upstream.protocol == config::UpstreamProtocol::kHttp2);
    if (!tls) return std::unexpected("upstream " + upstream.name + ": " + tls.error());
    u.tls = std::move(*tls);
  }
  u.responses = std::make_unique<StatusCounters>(metrics.upstream_requests,
                                                 prometheus::Labels{{"upstream", upstream.name}});
  u.connect_errors =
      &metrics.upstream_requests.Add({{"upstream", upstream.name}, {"code", "connect_error"}});
  u.timeouts = &metrics.upstream_requests.Add({{"upstream", upstream.name}, {"code", "timeout"}});
  u.resets = &metrics.upstream_requests.Add({{"upstream", upstream.name}, {"code", "reset"}});
  u.active_connections =
      &metrics.upstream_connections.Add({{"upstream", upstream.name}, {"state", "active"}});
  u.idle_connections =
      &metrics.upstream_connections.Add({{"upstream", upstream.name}, {"state", "idle"}});
  return {};
}

// Every header any provider reads a token from, each name once (case-insensitive).
std::vector<std::string> CredentialHeaders(const config::Config& config) {
  std::vector<std::string> names;
  for (const config::IdentityProviderConfig& provider : config.identity_providers) {
    for (const std::string& header : provider.token_headers) {
      bool known = false;
      for (const std::string& name : names) known = known || boost::beast::iequals(name, header);
      if (!known) names.push_back(header);
    }
  }
  return names;
}

// The data plane's side of a listener: connection counts, metrics and the TLS context.
std::expected<void, std::string> AttachServing(ListenerRuntime& l, Metrics& metrics,
                                               const Snapshot* previous) {
  const config::ListenerConfig& listener = *l.config;
  const ListenerRuntime* before =
      previous != nullptr ? previous->FindListener(listener.name) : nullptr;
  l.open_connections =
      before != nullptr ? before->open_connections : std::make_shared<std::atomic<int64_t>>(0);
  l.connections = &metrics.downstream_connections.Add({{"listener", listener.name}});
  l.accepted = &metrics.downstream_connections_total.Add(
      {{"listener", listener.name}, {"result", "accepted"}});
  l.rejected = &metrics.downstream_connections_total.Add(
      {{"listener", listener.name}, {"result", "rejected"}});
  l.handshake_errors = &metrics.tls_handshake_errors.Add({{"listener", listener.name}});
  if (listener.tls) {
    auto tls = ServerTls::Create(*listener.tls, listener.http2);
    if (!tls) return std::unexpected("listener " + listener.name + ": " + tls.error());
    l.tls = std::move(*tls);
    for (const ServerTls::Certificate& cert : l.tls->certificates()) {
      metrics.certificate_expiry.Add({{"listener", listener.name}, {"name", cert.name}})
          .Set(static_cast<double>(cert.not_after));
    }
  }
  for (RouteRuntime& r : l.routes) {
    prometheus::Labels labels{{"listener", listener.name}, {"route", r.config->name}};
    r.duration = &metrics.request_duration.Add(labels, Metrics::DurationBuckets());
    r.requests = std::make_unique<StatusCounters>(metrics.requests, labels);
  }
  prometheus::Labels unrouted{{"listener", listener.name}, {"route", "-"}};
  l.unrouted_duration = &metrics.request_duration.Add(unrouted, Metrics::DurationBuckets());
  l.unrouted_requests = std::make_unique<StatusCounters>(metrics.requests, unrouted);
  return {};
}

}  // namespace

std::expected<std::shared_ptr<const Snapshot>, std::string> BuildSnapshot(
    std::shared_ptr<const config::Config> config, Metrics& metrics, SnapshotInputs inputs) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->config = config;
  snapshot->prepared = std::move(inputs.prepared);
  for (const auto& state : snapshot->prepared) {
    if (state && !state->public_path().empty()) snapshot->public_documents.push_back(state.get());
  }
  for (const config::UpstreamConfig& upstream : config->upstreams) {
    auto added = AddUpstream(*snapshot, upstream, metrics, inputs.decision_only);
    if (!added) return std::unexpected(added.error());
  }
  const std::vector<std::string> credential_headers = CredentialHeaders(*config);
  for (const config::ListenerConfig& listener : config->listeners) {
    auto chain = FilterChain::Build(listener, *config, metrics.registry(), FilterRegistry(),
                                    snapshot->prepared, inputs.decision_only);
    if (!chain) return std::unexpected(chain.error());
    ListenerRuntime& l =
        snapshot->listeners.emplace_back(&listener, Router(listener), std::move(*chain));
    l.credential_headers = credential_headers;
    for (const config::RouteConfig& route : listener.routes) {
      RouteRuntime& r = l.routes.emplace_back();
      r.config = &route;
      r.upstream_index = 0;
      for (std::size_t i = 0; i < config->upstreams.size(); ++i) {
        if (config->upstreams[i].name == route.upstream) r.upstream_index = i;
      }
    }
    if (inputs.decision_only) continue;
    auto serving = AttachServing(l, metrics, inputs.previous);
    if (!serving) return std::unexpected(serving.error());
  }
  return snapshot;
}

}  // namespace ciap
