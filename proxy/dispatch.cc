// See dispatch.h.
#include "proxy/dispatch.h"

#include "proxy/access_log.h"
#include "proxy/decide.h"
#include "proxy/metrics.h"
#include "proxy/relay.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

// What the filters know of the exchange beyond the request itself.
RequestContext FilterContext(const DispatchContext& at, const ExchangeRecord& exchange,
                             const RouteRuntime& route) {
  RequestContext context;
  context.listener = at.listener.config->name;
  context.route = route.config;
  context.route_index = static_cast<std::size_t>(exchange.routed.route_index);
  context.request_id = exchange.request_id;
  context.connection = &at.connection;
  context.log = &at.worker.access_log();
  context.config_hash = at.snapshot->config->hash;
  if (route.config->is_public) context.reason = "public_route";
  return context;
}

// Whether `next` verifies client certificates as `before` did.
bool SameClientVerification(const ListenerRuntime& before, const ListenerRuntime& next) {
  const auto& a = before.config->tls;
  const auto& b = next.config->tls;
  return a && b && a->client_ca_file == b->client_ca_file && a->client_auth == b->client_auth;
}

}  // namespace

bool FollowReload(Worker& worker, uint64_t& generation, std::shared_ptr<const Snapshot>& snapshot,
                  const ListenerRuntime*& listener, const ConnectionInfo& connection) {
  const uint64_t now = worker.shared().generation.load(std::memory_order_acquire);
  if (now == generation) return true;
  generation = now;
  std::shared_ptr<const Snapshot> current = worker.shared().snapshot.load();
  const ListenerRuntime* next = current->FindListener(listener->config->name);
  if (next == nullptr) return false;
  // A certificate verified under client settings a reload replaced (a CA removed, say) is no
  // longer a fact about the peer.
  if (connection.verified_certificate != nullptr && !SameClientVerification(*listener, *next)) {
    return false;
  }
  snapshot = std::move(current);
  listener = next;
  return true;
}

void CountRejected(Worker& worker, const ListenerRuntime& listener, http::status status,
                   std::string_view reason) {
  if (status != http::status::bad_request && status != http::status::method_not_allowed &&
      status != http::status::request_header_fields_too_large) {
    return;
  }
  if (Metrics* metrics = worker.shared().metrics) {
    metrics->rejected_requests
        .Add({{"listener", listener.config->name}, {"reason", std::string(reason)}})
        .Increment();
  }
}

void RecordExchange(Worker& worker, const ListenerRuntime& listener, std::string_view client,
                    const ExchangeRecord& exchange) {
  if (exchange.status == 0) return;
  double seconds = std::chrono::duration<double>(Deadline::Clock::now() - exchange.start).count();
  if (exchange.route != nullptr) {
    exchange.route->requests->Increment(exchange.status);
    exchange.route->duration->Observe(seconds);
  } else {
    listener.unrouted_requests->Increment(exchange.status);
    listener.unrouted_duration->Observe(seconds);
  }
  AccessLogBuffer& log = worker.access_log();
  if (!log.enabled()) return;
  AppendAccessLine(log.buffer(),
                   AccessLogEntry{
                       .request_id = exchange.request_id,
                       .listener = listener.config->name,
                       .route = exchange.route != nullptr ? exchange.route->config->name : "-",
                       .method = exchange.method,
                       .path = exchange.routed.path,
                       .status = exchange.status,
                       .bytes_in = exchange.bytes_in,
                       .bytes_out = exchange.bytes_out,
                       .seconds = seconds,
                       .upstream = exchange.upstream != nullptr ? exchange.upstream->config->name
                                                                : std::string_view("-"),
                       .client = client,
                       .reason = exchange.reason,
                       .caller = exchange.caller.get(),
                       .grpc_status = exchange.grpc_status,
                   });
  log.Commit();
}

asio::awaitable<bool> Dispatch(const DispatchContext& at, Downstream& downstream,
                               ExchangeRecord& exchange, http::request_header<>& request,
                               const RequestTarget& target, bool client_keep_alive,
                               bool body_done) {
  if (downstream.client_gone()) {  // reset before it was read (rapid reset): no work for it
    exchange.status = 499;
    exchange.reason = "client_closed";
    co_return false;
  }
  if (const PreparedState* document =
          FindPublicDocument(at.snapshot->public_documents, exchange.method, target.path)) {
    co_return co_await downstream.Respond(exchange, http::status::ok, "public_document",
                                          client_keep_alive && body_done, nullptr,
                                          document->PublicDocument());
  }
  RequestHead head{exchange.method, exchange.host_header, target.path, target.query};
  Decision decision = RouteRequest(at.listener, head, request, exchange.routed);
  if (!decision.is_continue()) {
    const bool reusable =
        client_keep_alive && body_done && decision.status() == http::status::not_found;
    co_return co_await downstream.Respond(exchange, decision.status(), decision.reason(), reusable);
  }
  const RouteRuntime& route =
      at.listener.routes[static_cast<std::size_t>(exchange.routed.route_index)];
  exchange.route = &route;

  RequestContext context = FilterContext(at, exchange, route);
  Request filter_request{request, exchange.method, exchange.routed.host, exchange.routed.path,
                         target.query};
  std::size_t next = 0;
  decision = RunFilters(at.listener.filters, filter_request, context, &next);
  if (decision.is_suspend()) {
    decision = co_await ResumeFilters(at.listener.filters, filter_request, context, next);
  }
  exchange.caller = std::move(context.caller);
  if (!decision.is_continue()) {
    co_return co_await downstream.Respond(exchange, decision.status(), decision.reason(),
                                          client_keep_alive && body_done, &decision.headers());
  }
  exchange.reason = context.reason;
  co_return co_await at.relay.Forward(downstream, exchange, target.query, at.snapshot,
                                      client_keep_alive);
}

}  // namespace ciap
