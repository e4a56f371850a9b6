// See server.h.
#include "proxy/server.h"

#include <signal.h>
#include <sys/socket.h>

#include <thread>

#include "config/loader.h"
#include "filters/identity/key_manager.h"
#include "proxy/admin_server.h"
#include "proxy/log.h"
#include "proxy/worker.h"

namespace ciap {
namespace {

using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

std::expected<asio::ip::address, std::string> ListenAddress(const config::HostPort& address) {
  error_code ec;
  auto ip = asio::ip::make_address(address.host == "localhost" ? "127.0.0.1" : address.host, ec);
  if (ec) return std::unexpected("bad listen address " + address.ToString());
  return ip;
}

// One acceptor per worker on the same address (SO_REUSEPORT lets the kernel spread
// connections). With port 0 the first bind picks the port and the others reuse it.
std::expected<uint16_t, std::string> BindListener(std::vector<std::unique_ptr<Worker>>& workers,
                                                  const config::ListenerConfig& listener,
                                                  std::size_t listener_index) {
  auto ip = ListenAddress(listener.address);
  if (!ip) return std::unexpected(ip.error());
  uint16_t port = listener.address.port;
  if (port != 0) {
    // SO_REUSEPORT would let us bind next to another process listening there (a second ciap,
    // an old one still draining) and silently split its traffic. A plain bind first tells.
    asio::io_context probe_io;
    tcp::acceptor probe(probe_io);
    tcp::endpoint endpoint(*ip, port);
    error_code ec;
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec) {
      return std::unexpected("listener " + listener.name + ": cannot listen on " +
                             listener.address.ToString() + ": " + ec.message());
    }
  }
  for (auto& worker : workers) {
    tcp::acceptor acceptor(worker->io());
    tcp::endpoint endpoint(*ip, port);
    error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.set_option(ReusePort(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return std::unexpected("listener " + listener.name + ": cannot listen on " +
                             listener.address.ToString() + ": " + ec.message());
    }
    port = acceptor.local_endpoint().port();
    worker->AddAcceptor(std::move(acceptor), listener_index);
  }
  return port;
}

std::string EndpointString(const asio::ip::address& ip, uint16_t port) {
  config::HostPort host_port{ip.to_string(), port};
  return host_port.ToString();
}

}  // namespace

int RunServer(const RunOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);

  auto config = config::LoadConfigFile(options.config_path);
  if (!config) {
    for (const config::ConfigError& error : config.error()) {
      std::fprintf(stderr, "%s\n", error.ToString().c_str());
    }
    return 1;
  }

  Metrics metrics;
  asio::io_context main_io(1);
  // Keys are fetched on the main thread; workers only read published key sets.
  auto key_manager = std::make_unique<identity::KeyManager>(main_io, **config, metrics);
  auto snapshot = BuildSnapshot(*config, metrics, key_manager.get());
  if (!snapshot) {
    LogEvent(LogLevel::kError, "invalid configuration", {{"error", snapshot.error()}});
    return 1;
  }
  std::string error;
  std::unique_ptr<LogSink> access_log = LogSink::Open((*config)->logging.access_log, &error);
  if (!access_log) {
    LogEvent(LogLevel::kError, "invalid configuration", {{"error", error}});
    return 1;
  }

  int concurrency = options.concurrency > 0
                        ? options.concurrency
                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  SharedState shared;
  shared.snapshot.store(*snapshot);
  shared.metrics = &metrics;
  shared.access_log = access_log.get();
  shared.workers = concurrency;
  for (std::size_t i = 0; i < (*config)->listeners.size(); ++i) {
    shared.listener_connections.push_back(std::make_unique<std::atomic<int64_t>>(0));
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < concurrency; ++i) {
    workers.push_back(std::make_unique<Worker>(static_cast<std::size_t>(i), shared));
  }
  std::vector<uint16_t> ports;
  for (std::size_t i = 0; i < (*config)->listeners.size(); ++i) {
    auto port = BindListener(workers, (*config)->listeners[i], i);
    if (!port) {
      LogEvent(LogLevel::kError, "cannot start", {{"error", port.error()}});
      return 1;
    }
    ports.push_back(*port);
  }

  AdminServer admin(main_io, metrics, shared);
  admin.set_key_manager(key_manager.get());
  auto admin_endpoint = admin.Listen((*config)->admin.address);
  if (!admin_endpoint) {
    LogEvent(LogLevel::kError, "cannot start", {{"error", admin_endpoint.error()}});
    return 1;
  }
  // Only now, with every socket bound, do the listeners count as ready.
  for (std::size_t i = 0; i < ports.size(); ++i) {
    const config::ListenerConfig& listener = (*config)->listeners[i];
    LogEvent(LogLevel::kInfo, "listener ready",
             {{"listener", listener.name},
              {"address", EndpointString(*ListenAddress(listener.address), ports[i])},
              {"tls", listener.tls ? "on" : "off"}});
  }
  LogEvent(LogLevel::kInfo, "admin ready",
           {{"address", EndpointString(admin_endpoint->address(), admin_endpoint->port())}});
  admin.Start();
  key_manager->Start();
  for (auto& worker : workers) worker->Start();
  admin.set_ready(true);
  LogEvent(LogLevel::kInfo, "ciap started",
           {{"version", CIAP_VERSION},
            {"workers", concurrency},
            {"config", (*config)->source_path},
            {"config_hash", (*config)->hash}});

  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish (bounded), exit 0.
  asio::signal_set signals(main_io, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer drain_timer(main_io);
  Deadline::Clock::time_point drain_deadline;
  std::function<void()> wait_for_signal;
  std::function<void()> poll_drain = [&] {
    drain_timer.expires_after(std::chrono::milliseconds(50));
    drain_timer.async_wait([&](error_code ec) {
      if (ec) return;
      bool idle = shared.sessions.load() == 0;
      if (idle || Deadline::Clock::now() >= drain_deadline) {
        if (!idle) {
          LogEvent(LogLevel::kWarning, "drain timeout; closing remaining connections",
                   {{"connections", shared.sessions.load()}});
        }
        admin.Stop();
        key_manager->Stop();
        signals.cancel();
        main_io.stop();
        return;
      }
      poll_drain();
    });
  };
  wait_for_signal = [&] {
    signals.async_wait([&](error_code ec, int signal_number) {
      if (ec) return;
      if (signal_number == SIGHUP) {
        // Hot reload arrives with the hardening work; until then SIGHUP must not kill us.
        LogEvent(LogLevel::kWarning, "SIGHUP ignored: config reload is not supported yet");
        wait_for_signal();
        return;
      }
      if (shared.draining.exchange(true)) return;
      LogEvent(LogLevel::kInfo, "draining",
               {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
                {"connections", shared.sessions.load()},
                {"drain_timeout_ms", static_cast<int64_t>(options.drain_timeout.count())}});
      for (auto& worker : workers) worker->StopAccepting();
      drain_deadline = Deadline::Clock::now() + options.drain_timeout;
      poll_drain();
      wait_for_signal();
    });
  };
  wait_for_signal();
  main_io.run();

  for (auto& worker : workers) worker->Stop();
  for (auto& worker : workers) worker->Join();
  // Requests waiting for a key refetch hold wake-up callbacks that own worker timers: drop
  // them while the workers' io_contexts still exist.
  key_manager.reset();
  workers.clear();
  LogEvent(LogLevel::kInfo, "ciap stopped");
  return 0;
}

}  // namespace ciap
