// The decision path of one request whose head a codec has parsed and checked, the same for
// every protocol: ciap's public documents, routing, the listener's filters, then the relay. The
// codec (the HTTP/1.1 session, an HTTP/2 stream) is the Downstream that answers.
#pragma once

#include <memory>
#include <string_view>

#include "net/asio.h"
#include "proxy/exchange.h"
#include "proxy/path.h"
#include "proxy/snapshot.h"

namespace ciap {

class Worker;
class Relay;

// What the codec knows of the connection the request came on.
struct DispatchContext {
  Worker& worker;
  std::shared_ptr<const Snapshot> snapshot;  // the one this request runs on
  const ListenerRuntime& listener;           // in snapshot
  const ConnectionInfo& connection;
  Relay& relay;
};

// Decides `request` (its target already split into `target`, its host in exchange.host_header,
// its request id in exchange.request_id) and answers it through `downstream`: a local reply, or
// the upstream's response by way of the relay. Returns whether the client connection may carry
// another request (`client_keep_alive`: the client wants it; `body_done`: nothing of the request
// is left unread).
// (`context` is taken by reference: build it as a named variable of the caller, never as a
// temporary inside the co_await, which GCC 12 destroys twice.)
asio::awaitable<bool> Dispatch(const DispatchContext& context, Downstream& downstream,
                               ExchangeRecord& exchange, http::request_header<>& request,
                               const RequestTarget& target, bool client_keep_alive, bool body_done);

// At a new request (HTTP/1.1) or stream (HTTP/2): moves `snapshot` and `listener` to the
// newest config if a reload published one since `generation`. False when the reload removed the
// connection's listener, or changed how it verifies the client certificate `connection`
// presented: the connection then closes (the client reconnects and is verified anew).
bool FollowReload(Worker& worker, uint64_t& generation, std::shared_ptr<const Snapshot>& snapshot,
                  const ListenerRuntime*& listener, const ConnectionInfo& connection);

// Counts a request refused as malformed (400, 405, 431) in ciap_rejected_requests_total.
void CountRejected(Worker& worker, const ListenerRuntime& listener, http::status status,
                   std::string_view reason);

// After an exchange: its route's (or the listener's) request metrics and the access log line.
void RecordExchange(Worker& worker, const ListenerRuntime& listener, std::string_view client,
                    const ExchangeRecord& exchange);

}  // namespace ciap
