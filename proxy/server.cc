// See server.h.
#include "proxy/server.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <thread>

#include "config/loader.h"
#include "config/located_error.h"
#include "config/syntax.h"
#include "filters/registry.h"
#include "net/file_watcher.h"
#include "net/log.h"
#include "proxy/admin_server.h"
#include "proxy/services.h"
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

std::string EndpointString(const asio::ip::address& ip, uint16_t port) {
  config::HostPort host_port{ip.to_string(), port};
  return host_port.ToString();
}

// The files whose contents a config depends on beyond itself, and that only a reload re-reads:
// TLS certificates, keys and CAs, the IdPs' CAs included. (jwks_file and ${secret:} files have
// their own watchers.)
std::vector<std::string> WatchedFiles(const std::string& config_path,
                                      const config::Config& config) {
  std::vector<std::string> files{config_path};
  for (const config::ListenerConfig& listener : config.listeners) {
    if (!listener.tls) continue;
    for (const config::CertificateConfig& cert : listener.tls->certificates) {
      files.push_back(cert.cert_file);
      files.push_back(cert.key_file);
    }
    files.push_back(listener.tls->client_ca_file);
  }
  for (const config::IdentityProviderConfig& provider : config.identity_providers) {
    files.push_back(provider.ca_file);
  }
  for (const config::UpstreamConfig& upstream : config.upstreams) {
    if (!upstream.tls) continue;
    files.push_back(upstream.tls->ca_file);
    files.push_back(upstream.tls->cert_file);
    files.push_back(upstream.tls->key_file);
  }
  std::erase_if(files, [](const std::string& f) { return f.empty(); });
  return files;
}

// Changes when any of the files' contents (or existence) changes.
uint64_t Fingerprint(const std::vector<std::string>& files) {
  uint64_t fingerprint = 1469598103934665603ull;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::string contents;
    if (in) contents.assign(std::istreambuf_iterator<char>(in), {});
    uint64_t h = std::hash<std::string>{}(contents) ^ (in ? 0x9e3779b97f4a7c15ull : 0);
    fingerprint = (fingerprint ^ h) * 1099511628211ull;
  }
  return fingerprint;
}

class Server {
 public:
  explicit Server(const RunOptions& options) : options_(options) {}
  int Run();

 private:
  // A listening address and the listener it accepts for.
  struct Binding {
    std::string listener;
    config::HostPort address;  // as configured (port 0: the OS chose `port`)
    uint16_t port = 0;
  };
  // One acceptor per worker, on the same address (SO_REUSEPORT lets the kernel spread
  // connections). With port 0 the first bind picks the port and the others reuse it.
  std::expected<uint16_t, std::string> Bind(const config::ListenerConfig& listener,
                                            std::vector<tcp::acceptor>& acceptors);
  // Makes `config` the running one. On error nothing changes and the error is returned.
  std::expected<void, std::string> Apply(std::shared_ptr<const config::Config> config);
  // How each listener of a new config gets its socket: an existing one at the same address,
  // or a new one, bound here (nothing else changes yet).
  struct Plan {
    const config::ListenerConfig* listener;
    std::size_t binding;  // index into bindings_, or kNewSocket
    std::vector<tcp::acceptor> acceptors;
    uint16_t port = 0;
  };
  static constexpr std::size_t kNewSocket = static_cast<std::size_t>(-1);
  std::expected<std::vector<Plan>, std::string> PlanSockets(const config::Config& config);
  // After the new snapshot is published: closes, renames and adds acceptors as planned.
  void MoveSockets(std::vector<Plan>& plans);
  // With the first config applied and the admin port bound: logs the listeners, starts the
  // workers, services and admin server, and watches the config's files.
  void StartServing(const config::Config& config, const std::optional<tcp::endpoint>& admin);
  void Reload(bool forced, std::string_view trigger);
  void WaitForSignal();
  // Stops accepting and lets open connections finish, up to the drain timeout; then exits.
  void Drain(std::string_view signal_name);
  void PollDrain();

  RunOptions options_;
  Metrics metrics_;
  asio::io_context main_io_{1};
  std::unique_ptr<FilterServices> services_;
  SharedState shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Binding> bindings_;
  std::unique_ptr<LogSink> access_log_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<FileWatcher> watcher_;
  std::vector<std::string> watched_;
  uint64_t fingerprint_ = 0;
  // The fingerprint of files that failed to load and get one more look after kSettle.
  uint64_t settling_ = 0;
  static constexpr std::chrono::milliseconds kSettle{2000};
  std::unique_ptr<asio::steady_timer> settle_timer_;
  bool started_ = false;
  std::unique_ptr<asio::signal_set> signals_;
  std::unique_ptr<asio::steady_timer> drain_timer_;
  Deadline::Clock::time_point drain_deadline_;
};

std::expected<uint16_t, std::string> Server::Bind(const config::ListenerConfig& listener,
                                                  std::vector<tcp::acceptor>& acceptors) {
  auto ip = ListenAddress(listener.address);
  if (!ip) return std::unexpected(ip.error());
  uint16_t port = listener.address.port;
  auto failed = [&](const error_code& ec) {
    return std::unexpected("listener " + listener.name + ": cannot listen on " +
                           listener.address.ToString() + ": " + ec.message());
  };
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
    if (ec) return failed(ec);
  }
  for (auto& worker : workers_) {
    tcp::acceptor acceptor(worker->io());
    tcp::endpoint endpoint(*ip, port);
    error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.set_option(ReusePort(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return failed(ec);
    port = acceptor.local_endpoint().port();
    acceptors.push_back(std::move(acceptor));
  }
  return port;
}

std::expected<std::vector<Server::Plan>, std::string> Server::PlanSockets(
    const config::Config& config) {
  // Which listeners keep their sockets: the same address (whatever the name: a rename keeps
  // the socket). The rest bind anew.
  std::vector<Plan> plans;
  std::vector<bool> claimed(bindings_.size(), false);
  for (const config::ListenerConfig& listener : config.listeners) {
    Plan& plan = plans.emplace_back(Plan{&listener, kNewSocket, {}, 0});
    for (std::size_t i = 0; i < bindings_.size() && plan.binding == kNewSocket; ++i) {
      const Binding& b = bindings_[i];
      if (claimed[i] || b.address.host != listener.address.host) continue;
      // An explicit port matches the port a socket has (also one the OS chose for port 0);
      // port 0 only matches the same listener's port-0 socket.
      const bool same = listener.address.port != 0
                            ? listener.address.port == b.port
                            : b.address.port == 0 && b.listener == listener.name;
      if (!same) continue;
      claimed[i] = true;
      plan.binding = i;
      plan.port = b.port;
    }
  }
  for (Plan& plan : plans) {
    if (plan.binding != kNewSocket) continue;
    auto port = Bind(*plan.listener, plan.acceptors);
    if (!port) return std::unexpected(port.error());  // the new acceptors close as plans go
    plan.port = *port;
  }
  return plans;
}

void Server::MoveSockets(std::vector<Plan>& plans) {
  std::vector<bool> claimed(bindings_.size(), false);
  for (const Plan& plan : plans) {
    if (plan.binding != kNewSocket) claimed[plan.binding] = true;
  }
  // Renames go through unique temporary names, so that two listeners may swap addresses.
  for (std::size_t i = 0; i < bindings_.size(); ++i) {
    if (claimed[i]) continue;
    for (auto& worker : workers_) worker->CloseAcceptors(bindings_[i].listener);
    LogEvent(LogLevel::kInfo, "listener closed",
             {{"listener", bindings_[i].listener}, {"address", bindings_[i].address.ToString()}});
  }
  for (std::size_t p = 0; p < plans.size(); ++p) {
    if (plans[p].binding == kNewSocket) continue;
    const std::string& from = bindings_[plans[p].binding].listener;
    if (from == plans[p].listener->name) continue;
    for (auto& worker : workers_) worker->RenameAcceptors(from, "\x01" + std::to_string(p));
  }
  std::vector<Binding> bindings;
  for (std::size_t p = 0; p < plans.size(); ++p) {
    Plan& plan = plans[p];
    const config::ListenerConfig& listener = *plan.listener;
    if (plan.binding != kNewSocket) {
      if (bindings_[plan.binding].listener != listener.name) {
        for (auto& worker : workers_) {
          worker->RenameAcceptors("\x01" + std::to_string(p), listener.name);
        }
      }
    } else {
      for (std::size_t w = 0; w < workers_.size(); ++w) {
        workers_[w]->AddAcceptor(std::move(plan.acceptors[w]), listener.name);
      }
      if (started_) {
        LogEvent(LogLevel::kInfo, "listener ready",
                 {{"listener", listener.name},
                  {"address", EndpointString(*ListenAddress(listener.address), plan.port)},
                  {"tls", listener.tls ? "on" : "off"}});
      }
    }
    bindings.push_back(Binding{listener.name, listener.address, plan.port});
  }
  bindings_ = std::move(bindings);
}

std::expected<void, std::string> Server::Apply(std::shared_ptr<const config::Config> config) {
  std::shared_ptr<const Snapshot> previous = shared_.snapshot.load();
  auto prepared = services_->Prepare(*config);
  if (!prepared) return std::unexpected(prepared.error());
  auto snapshot = BuildSnapshot(config, metrics_, {std::move(*prepared), previous.get()});
  if (!snapshot) return std::unexpected(snapshot.error());
  auto plans = PlanSockets(*config);
  if (!plans) return std::unexpected(plans.error());

  // Point of no return: publish the snapshot, then move the sockets.
  services_->Commit((*snapshot)->prepared);
  shared_.snapshot.store(*snapshot);
  shared_.generation.fetch_add(1, std::memory_order_acq_rel);
  MoveSockets(*plans);
  metrics_.config_last_reload.Add({}).Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  return {};
}

void Server::Reload(bool forced, std::string_view trigger) {
  if (shared_.draining.load()) return;
  uint64_t fingerprint = Fingerprint(watched_);
  if (!forced && fingerprint == fingerprint_) return;
  fingerprint_ = fingerprint;  // a broken file is reported once, not at every poll

  if (forced) {
    settle_timer_->cancel();
    settling_ = 0;
  }
  std::string error;
  auto config = config::LoadConfigFile(options_.config_path);
  if (!config) {
    for (const config::ConfigError& e : config.error()) {
      if (!error.empty()) error += "\n";
      error += e.ToString();
    }
  } else {
    std::shared_ptr<const Snapshot> running = shared_.snapshot.load();
    const config::Config& old = *running->config;
    if (!((*config)->admin.address == old.admin.address) ||
        (*config)->admin.enabled != old.admin.enabled ||
        (*config)->logging.access_log != old.logging.access_log) {
      LogEvent(LogLevel::kWarning,
               "admin and logging.access_log changes take effect at the next restart");
    }
    auto applied = Apply(*config);
    if (!applied) error = config::LocateError(**config, applied.error()).ToString();
  }
  if (!error.empty()) {
    // A file seen half-written (a copy in two steps, an editor's save) fails to load: look
    // again once it has had time to settle, and report only what still fails then.
    if (!forced && settling_ != fingerprint) {
      settling_ = fingerprint;
      LogEvent(LogLevel::kInfo, "config change does not load yet; checking again shortly",
               {{"config", options_.config_path}, {"settle_ms", kSettle.count()}});
      settle_timer_->expires_after(kSettle);
      settle_timer_->async_wait([this](error_code ec) {
        if (ec || settling_ == 0) return;
        fingerprint_ = 0;  // look again even if nothing changed since
        Reload(false, "file change");
      });
      return;
    }
    metrics_.config_reloads.Add({{"result", "error"}}).Increment();
    LogEvent(LogLevel::kError, "config reload failed; keeping the running config",
             {{"trigger", trigger}, {"config", options_.config_path}, {"error", error}});
    return;
  }
  settling_ = 0;  // a second look pending for an earlier, half-written state is moot now
  settle_timer_->cancel();
  watched_ = WatchedFiles(options_.config_path, **config);
  watcher_->Watch(watched_);
  fingerprint_ = Fingerprint(watched_);
  metrics_.config_reloads.Add({{"result", "success"}}).Increment();
  LogEvent(LogLevel::kInfo, "config reloaded",
           {{"trigger", trigger},
            {"config", options_.config_path},
            {"config_hash", (*config)->hash},
            {"listeners", static_cast<int64_t>((*config)->listeners.size())}});
}

void Server::PollDrain() {
  drain_timer_->expires_after(std::chrono::milliseconds(50));
  drain_timer_->async_wait([this](error_code ec) {
    if (ec) return;
    bool idle = shared_.sessions.load() == 0;
    if (idle || Deadline::Clock::now() >= drain_deadline_) {
      if (!idle) {
        LogEvent(LogLevel::kWarning, "drain timeout; closing remaining connections",
                 {{"connections", shared_.sessions.load()}});
      }
      if (admin_) admin_->Stop();
      services_->Stop();
      watcher_->Stop();
      signals_->cancel();
      main_io_.stop();
      return;
    }
    PollDrain();
  });
}

void Server::WaitForSignal() {
  signals_->async_wait([this](error_code ec, int signal_number) {
    if (ec) return;
    WaitForSignal();
    if (signal_number == SIGHUP) {
      Reload(/*forced=*/true, "SIGHUP");
      return;
    }
    std::string_view name = signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
    // A second signal during the shutdown delay cuts it short.
    if (options_.shutdown_delay.count() > 0 && !shared_.shutting_down.exchange(true)) {
      LogEvent(LogLevel::kInfo, "shutting down: /ready answers 503, listeners stay open",
               {{"signal", name},
                {"shutdown_delay_ms", static_cast<int64_t>(options_.shutdown_delay.count())}});
      drain_timer_->expires_after(options_.shutdown_delay);
      drain_timer_->async_wait([this, name](error_code ec) {
        if (!ec) Drain(name);
      });
      return;
    }
    Drain(name);
  });
}

void Server::Drain(std::string_view signal_name) {
  shared_.shutting_down.store(true);
  if (shared_.draining.exchange(true)) return;
  LogEvent(LogLevel::kInfo, "draining",
           {{"signal", signal_name},
            {"connections", shared_.sessions.load()},
            {"drain_timeout_ms", static_cast<int64_t>(options_.drain_timeout.count())}});
  for (auto& worker : workers_) worker->StopAccepting();
  watcher_->Stop();
  drain_deadline_ = Deadline::Clock::now() + options_.drain_timeout;
  PollDrain();
}

void Server::StartServing(const config::Config& config, const std::optional<tcp::endpoint>& admin) {
  // Only now, with every socket bound, do the listeners count as ready.
  for (const Binding& binding : bindings_) {
    LogEvent(LogLevel::kInfo, "listener ready",
             {{"listener", binding.listener},
              {"address", EndpointString(*ListenAddress(binding.address), binding.port)},
              {"tls", config.listeners[&binding - bindings_.data()].tls ? "on" : "off"}});
  }
  if (admin) {
    LogEvent(LogLevel::kInfo, "admin ready",
             {{"address", EndpointString(admin->address(), admin->port())}});
  } else {
    LogEvent(LogLevel::kInfo, "admin listener off (admin.enabled: false)");
  }
  started_ = true;
  if (admin_) admin_->Start();
  services_->Start();
  for (auto& worker : workers_) worker->Start();
  if (admin_) {
    admin_->set_process_settings({config.admin.address.ToString(), config.logging.access_log});
    admin_->set_ready(true);
  }

  // Config changes: SIGHUP, or the config file (or a certificate it names) changing on disk.
  watcher_ = std::make_unique<FileWatcher>(main_io_, [this] { Reload(false, "file change"); });
  watched_ = WatchedFiles(options_.config_path, config);
  fingerprint_ = Fingerprint(watched_);
  watcher_->Watch(watched_);

  LogEvent(LogLevel::kInfo, "ciap started",
           {{"version", CIAP_VERSION},
            {"workers", static_cast<int64_t>(workers_.size())},
            {"config", config.source_path},
            {"config_hash", config.hash}});
}

int Server::Run() {
  // SIGTERM/SIGINT: after the shutdown delay (if any), stop accepting, let in-flight requests
  // finish (bounded), exit 0. SIGHUP: reload. Handled from the start, so that an early SIGHUP
  // cannot kill the process.
  signals_ = std::make_unique<asio::signal_set>(main_io_, SIGINT, SIGTERM, SIGHUP);
  drain_timer_ = std::make_unique<asio::steady_timer>(main_io_);
  settle_timer_ = std::make_unique<asio::steady_timer>(main_io_);
  auto config = config::LoadConfigFile(options_.config_path);
  if (!config) {
    for (const config::ConfigError& error : config.error()) {
      std::fprintf(stderr, "%s\n", error.ToString().c_str());
    }
    return 1;
  }
  std::string error;
  access_log_ = LogSink::Open((*config)->logging.access_log, &error);
  if (!access_log_) {
    LogEvent(LogLevel::kError, "invalid configuration", {{"error", error}});
    return 1;
  }

  int concurrency = options_.concurrency > 0
                        ? options_.concurrency
                        : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  shared_.metrics = &metrics_;
  shared_.access_log = access_log_.get();
  shared_.workers = concurrency;
  for (int i = 0; i < concurrency; ++i) {
    workers_.push_back(std::make_unique<Worker>(static_cast<std::size_t>(i), shared_));
  }
  // Filter state (key sets fetched on the main thread, rate-limit buckets) lives in services.
  services_ = std::make_unique<FilterServices>(
      FilterRegistry(), ServiceEnv{.io = &main_io_, .metrics = &metrics_.registry()});
  if (auto applied = Apply(*config); !applied) {
    LogEvent(LogLevel::kError, "cannot start",
             {{"error", config::LocateError(**config, applied.error()).ToString()}});
    return 1;
  }

  std::optional<tcp::endpoint> admin_endpoint;
  if ((*config)->admin.enabled) {
    admin_ = std::make_unique<AdminServer>(main_io_, metrics_, shared_, *services_);
    auto listening = admin_->Listen((*config)->admin.address);
    if (!listening) {
      LogEvent(LogLevel::kError, "cannot start", {{"error", listening.error()}});
      return 1;
    }
    admin_endpoint = *listening;
  }
  StartServing(**config, admin_endpoint);
  WaitForSignal();
  main_io_.run();

  for (auto& worker : workers_) worker->Stop();
  for (auto& worker : workers_) worker->Join();
  // Requests waiting for a key refetch hold wake-up callbacks that own worker timers: drop
  // them while the workers' io_contexts still exist.
  watcher_.reset();
  services_.reset();
  shared_.snapshot.store(nullptr);
  workers_.clear();
  LogEvent(LogLevel::kInfo, "ciap stopped");
  return 0;
}

}  // namespace

int RunServer(const RunOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  // Every connection is a file descriptor (two when proxied): use all the kernel allows us,
  // like nginx's worker_rlimit_nofile, instead of a shell's default soft limit of 1024.
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  auto server = std::make_unique<Server>(options);
  return server->Run();
}

}  // namespace ciap
