// See snapshot.h.
#include "proxy/snapshot.h"

namespace ciap {

const ListenerRuntime* Snapshot::FindListener(std::string_view name) const {
  for (const ListenerRuntime& listener : listeners) {
    if (listener.config->name == name) return &listener;
  }
  return nullptr;
}

std::expected<std::shared_ptr<const Snapshot>, std::string> BuildSnapshot(
    std::shared_ptr<const config::Config> config, Metrics& metrics, SnapshotInputs inputs) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->config = config;
  snapshot->providers = std::move(inputs.providers);
  FilterEnv env{*config, metrics,
                config->identity_providers.empty() ? nullptr : &snapshot->providers,
                inputs.rate_limits};

  for (const config::UpstreamConfig& upstream : config->upstreams) {
    UpstreamRuntime& u = snapshot->upstreams.emplace_back();
    u.config = &upstream;
    if (upstream.tls) {
      auto tls = CreateUpstreamTlsContext(*upstream.tls);
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
  }

  for (const config::ListenerConfig& listener : config->listeners) {
    auto chain = FilterChain::Build(listener, env);
    if (!chain) return std::unexpected(chain.error());
    ListenerRuntime& l = snapshot->listeners.emplace_back(ListenerRuntime{&listener,
                                                                          nullptr,
                                                                          nullptr,
                                                                          Router(listener),
                                                                          std::move(*chain),
                                                                          {},
                                                                          nullptr,
                                                                          nullptr,
                                                                          nullptr,
                                                                          nullptr,
                                                                          nullptr,
                                                                          nullptr});
    const ListenerRuntime* before =
        inputs.previous != nullptr ? inputs.previous->FindListener(listener.name) : nullptr;
    l.open_connections =
        before != nullptr ? before->open_connections : std::make_shared<std::atomic<int64_t>>(0);
    l.connections = &metrics.downstream_connections.Add({{"listener", listener.name}});
    l.accepted = &metrics.downstream_connections_total.Add(
        {{"listener", listener.name}, {"result", "accepted"}});
    l.rejected = &metrics.downstream_connections_total.Add(
        {{"listener", listener.name}, {"result", "rejected"}});
    l.handshake_errors = &metrics.tls_handshake_errors.Add({{"listener", listener.name}});
    if (listener.tls) {
      auto tls = ServerTls::Create(*listener.tls);
      if (!tls) return std::unexpected("listener " + listener.name + ": " + tls.error());
      l.tls = std::move(*tls);
      for (const ServerTls::Certificate& cert : l.tls->certificates()) {
        metrics.certificate_expiry.Add({{"listener", listener.name}, {"name", cert.name}})
            .Set(static_cast<double>(cert.not_after));
      }
    }
    for (const config::RouteConfig& route : listener.routes) {
      RouteRuntime& r = l.routes.emplace_back();
      r.config = &route;
      r.upstream_index = 0;
      for (std::size_t i = 0; i < config->upstreams.size(); ++i) {
        if (config->upstreams[i].name == route.upstream) r.upstream_index = i;
      }
      prometheus::Labels labels{{"listener", listener.name}, {"route", route.name}};
      r.duration = &metrics.request_duration.Add(labels, Metrics::DurationBuckets());
      r.requests = std::make_unique<StatusCounters>(metrics.requests, labels);
    }
    prometheus::Labels unrouted{{"listener", listener.name}, {"route", "-"}};
    l.unrouted_duration = &metrics.request_duration.Add(unrouted, Metrics::DurationBuckets());
    l.unrouted_requests = std::make_unique<StatusCounters>(metrics.requests, unrouted);
  }
  return snapshot;
}

}  // namespace ciap
