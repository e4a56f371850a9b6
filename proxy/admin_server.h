// The admin listener (plain HTTP, loopback by default): /metrics, /healthz, /ready, /config.
// Runs on the main thread's io_context, away from the workers.
#pragma once

#include <atomic>
#include <expected>
#include <string>

#include "config/config.h"
#include "net/asio.h"
#include "proxy/config_json.h"
#include "proxy/metrics.h"
#include "proxy/worker.h"

namespace ciap {

class FilterServices;

class AdminServer {
 public:
  // `services` serve their own admin documents (e.g. /jwks-status) and gate /ready.
  AdminServer(asio::io_context& io, Metrics& metrics, SharedState& shared,
              const FilterServices& services);

  // Binds; returns the bound endpoint (port 0 → the OS's choice).
  std::expected<tcp::endpoint, std::string> Listen(const config::HostPort& address);
  void Start();
  void Stop();

  // /ready answers 200 only after this is set (listeners bound), while not draining, and once
  // every filter service is ready (e.g. every identity provider has keys).
  void set_ready(bool ready) { ready_ = ready; }
  // What the process runs with, for /config after a reload asks for other settings.
  void set_process_settings(ProcessSettings settings) { in_force_ = std::move(settings); }

 private:
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(tcp::socket socket);

  asio::io_context& io_;
  Metrics& metrics_;
  SharedState& shared_;
  tcp::acceptor acceptor_;
  std::atomic<bool> ready_{false};
  const FilterServices& services_;
  ProcessSettings in_force_;
};

}  // namespace ciap
