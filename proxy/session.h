// One downstream connection: TLS handshake, then requests read, routed, filtered, relayed to
// an upstream and answered, in order, until either side closes or a timeout ends it.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "proxy/asio.h"
#include "proxy/deadline.h"
#include "proxy/snapshot.h"
#include "proxy/stream.h"

namespace ciap {

class Worker;
struct UpstreamConnection;

class Session {
 public:
  // Runs a connection to completion; owns everything it needs.
  static asio::awaitable<void> Start(Worker& worker, std::shared_ptr<const Snapshot> snapshot,
                                     std::size_t listener_index, tcp::socket socket);

  ~Session();

 private:
  using RequestParser = http::request_parser<http::buffer_body>;
  using ResponseParser = http::response_parser<http::buffer_body>;

  // What one request/response exchange produced, for the access log and metrics.
  // Reused across a connection's requests so their strings keep their capacity.
  struct Exchange {
    void Reset() {
      start = Deadline::Clock::now();
      request_id.clear();
      path.clear();
      host_header.clear();
      host.clear();
      method = {};
      route = nullptr;
      upstream = nullptr;
      status = 0;
      reason = {};
      bytes_in = bytes_out = 0;
    }

    Deadline::Clock::time_point start;
    std::string request_id;
    std::string path;       // normalized
    std::string host_header;  // as the client sent it (Host or absolute-form authority)
    std::string host;         // canonical: lower-case, no port
    std::string_view method;
    const RouteRuntime* route = nullptr;
    const UpstreamRuntime* upstream = nullptr;
    int status = 0;
    std::string_view reason;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
  };

  Session(Worker& worker, std::shared_ptr<const Snapshot> snapshot, std::size_t listener_index,
          tcp::socket socket);

  asio::awaitable<void> Run();
  // Handles one parsed request head; returns whether the connection may carry another.
  asio::awaitable<bool> HandleRequest(RequestParser& parser, Exchange& exchange);
  // Relays the request (head already serialized into head_) and the response.
  asio::awaitable<bool> Forward(RequestParser& parser, Exchange& exchange, bool client_keep_alive);
  // Sends a local JSON error response. Returns false if the connection must close.
  asio::awaitable<bool> Respond(Exchange& exchange, http::status status, std::string_view reason,
                                bool keep_alive,
                                const std::vector<std::pair<std::string, std::string>>* headers = nullptr);
  asio::awaitable<void> CloseGracefully();
  void Finish(Exchange& exchange);

  std::span<char> BodyBuffer();

  Worker& worker_;
  std::shared_ptr<const Snapshot> snapshot_;
  const ListenerRuntime& listener_;
  std::size_t listener_index_;
  Stream stream_;
  beast::flat_buffer buffer_;
  Deadline deadline_;
  std::string client_address_;
  std::unique_ptr<char[]> body_buffer_;
  std::string head_;  // reused serialization buffer for request and response heads
  Exchange exchange_;
  bool counted_ = false;
};

}  // namespace ciap
