// See admin_server.h.
#include "proxy/admin_server.h"

#include "net/log.h"
#include "net/stream.h"
#include "net/watchdog.h"
#include "proxy/config_json.h"
#include "proxy/services.h"

namespace ciap {

AdminServer::AdminServer(asio::io_context& io, Metrics& metrics, SharedState& shared,
                         const FilterServices& services)
    : io_(io), metrics_(metrics), shared_(shared), acceptor_(io), services_(services) {}

std::expected<tcp::endpoint, std::string> AdminServer::Listen(const config::HostPort& address) {
  error_code ec;
  std::string host = address.host == "localhost" ? "127.0.0.1" : address.host;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) return std::unexpected("admin address " + address.ToString() + ": " + ec.message());
  tcp::endpoint endpoint(ip, address.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(64, ec);
  if (ec) {
    return std::unexpected("admin listener: cannot listen on " + address.ToString() +
                           " (admin.address; 127.0.0.1:9901 when not set): " + ec.message());
  }
  return acceptor_.local_endpoint();
}

void AdminServer::Start() { asio::co_spawn(io_, AcceptLoop(), asio::detached); }

void AdminServer::Stop() {
  error_code ignored;
  acceptor_.close(ignored);
}

asio::awaitable<void> AdminServer::AcceptLoop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (ec) {
      if (!acceptor_.is_open()) co_return;
      // Out of file descriptors or similar: back off instead of spinning.
      asio::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::Serve(tcp::socket socket) {
  Stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> request;
    // 30 s for the next request and its answer.
    Watchdog watchdog(stream.get_executor(),
                      std::chrono::steady_clock::now() + std::chrono::seconds(30));
    watchdog.Watch(stream.socket());
    auto [ec, n] = co_await http::async_read(stream, buffer, request, use_nothrow);
    if (ec) break;

    http::response<http::string_body> response;
    response.version(11);
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.set(http::field::cache_control, "no-store");
    std::string_view target = request.target();
    target = target.substr(0, target.find('?'));
    if (request.method() != http::verb::get) {
      response.result(http::status::method_not_allowed);
      response.body() = "method not allowed\n";
    } else if (target == "/metrics") {
      response.result(http::status::ok);
      response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response.body() = metrics_.Serialize();
    } else if (target == "/healthz") {
      response.result(http::status::ok);
      response.body() = "ok\n";
    } else if (target == "/ready") {
      std::string not_ready = services_.NotReady();
      bool draining = shared_.shutting_down.load() || shared_.draining.load();
      bool ready = ready_ && !draining && not_ready.empty();
      response.result(ready ? http::status::ok : http::status::service_unavailable);
      response.body() = ready                ? "ready\n"
                        : draining           ? "draining\n"
                        : !not_ready.empty() ? "not ready: " + not_ready + "\n"
                                             : "not ready\n";
    } else if (const FilterService* service = services_.FindByAdminPath(target)) {
      response.result(http::status::ok);
      response.set(http::field::content_type, "application/json");
      response.body() = service->AdminDocument();
    } else if (target == "/config") {
      auto snapshot = shared_.snapshot.load();
      response.result(http::status::ok);
      response.set(http::field::content_type, "application/json");
      response.body() = ConfigToJson(*snapshot->config, &in_force_);
    } else {
      response.result(http::status::not_found);
      response.body() = "not found (try /metrics /healthz /ready /config /jwks-status)\n";
    }
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    auto [write_ec, written] = co_await http::async_write(stream, response, use_nothrow);
    if (write_ec || !response.keep_alive()) break;
  }
  stream.Close();
}

}  // namespace ciap
