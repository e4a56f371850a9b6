// See validate.h. The config is read by the loader run uses, then built as run's Server::Apply
// builds it before it binds anything: the filter services Prepare() it (identity providers'
// key files and CAs) and BuildSnapshot() compiles it with the TLS contexts of every listener and
// upstream and the filter chains (${secret:} files). The services are made as run makes them
// and never started, so nothing is fetched and no socket is opened.
#include "cli/validate.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "config/loader.h"
#include "config/located_error.h"
#include "filters/registry.h"
#include "net/asio.h"
#include "proxy/metrics.h"
#include "proxy/services.h"
#include "proxy/snapshot.h"

namespace ciap {
namespace json = boost::json;
namespace {

struct ValidateResult {
  std::shared_ptr<const config::Config> config;
  config::ConfigErrors errors;
  std::vector<std::string> warnings;
  std::size_t routes = 0;
};

// What run does with the config before it binds a socket. The first error, placed in the file.
std::optional<config::ConfigError> BuildAsRun(const std::shared_ptr<const config::Config>& config,
                                              ValidateResult& verdict) {
  asio::io_context io;  // the services' timers live on it; it never runs
  Metrics metrics;
  FilterServices services(FilterRegistry(), ServiceEnv{.io = &io, .metrics = &metrics.registry()});
  auto prepared = services.Prepare(*config);
  if (!prepared) return config::LocateError(*config, prepared.error());
  auto snapshot = BuildSnapshot(config, metrics, SnapshotInputs{.prepared = std::move(*prepared)});
  if (!snapshot) return config::LocateError(*config, snapshot.error());

  // Not errors: run starts with them, and so does validate, but says so.
  const std::time_t now = std::time(nullptr);
  for (const ListenerRuntime& listener : (*snapshot)->listeners) {
    if (!listener.tls) continue;
    const auto& certificates = listener.tls->certificates();
    for (std::size_t i = 0; i < certificates.size(); ++i) {
      if (certificates[i].not_after == 0 || certificates[i].not_after > now) continue;
      char when[32];
      std::tm tm{};
      gmtime_r(&certificates[i].not_after, &tm);
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
      verdict.warnings.push_back("listener " + listener.config->name + ": certificate " +
                                 listener.config->tls->certificates[i].cert_file + " expired on " +
                                 when + " (clients will refuse it)");
    }
  }
  return std::nullopt;
}

// run opens the access log (appending, creating it) before anything else; validate only checks
// that it could, and creates nothing.
std::optional<config::ConfigError> CheckAccessLog(const config::Config& config) {
  const std::string& target = config.logging.access_log;
  if (target == "stdout" || target == "stderr" || target == "off") return std::nullopt;
  std::string problem;
  const int fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
  } else if (errno != ENOENT) {
    problem = std::strerror(errno);
  } else {
    std::filesystem::path dir = std::filesystem::path(target).parent_path();
    if (dir.empty()) dir = ".";
    if (::access(dir.c_str(), W_OK | X_OK) != 0) problem = std::strerror(errno);
  }
  if (problem.empty()) return std::nullopt;
  return config::ConfigError{config.source_path, 0, 0, "logging.access_log",
                             "cannot open access log " + target + ": " + problem};
}

ValidateResult Validate(const ValidateOptions& options) {
  ValidateResult verdict;
  auto loaded = config::LoadConfigFile(options.config_path, {.offline = options.offline});
  if (!loaded) {
    verdict.errors = std::move(loaded.error());
    return verdict;
  }
  verdict.config = *loaded;
  for (const config::ListenerConfig& listener : verdict.config->listeners) {
    verdict.routes += listener.routes.size();
  }
  if (options.offline) return verdict;
  if (auto error = CheckAccessLog(*verdict.config)) verdict.errors.push_back(std::move(*error));
  if (auto error = BuildAsRun(verdict.config, verdict)) verdict.errors.push_back(std::move(*error));
  return verdict;
}

void PrintText(const ValidateOptions& options, const ValidateResult& verdict) {
  for (const config::ConfigError& error : verdict.errors) {
    std::fprintf(stderr, "%s\n", error.ToString().c_str());
  }
  for (const std::string& warning : verdict.warnings) {
    std::fprintf(stderr, "%s: warning: %s\n", options.config_path.c_str(), warning.c_str());
  }
  if (!verdict.errors.empty()) return;
  const config::Config& config = *verdict.config;
  std::string files;
  if (options.offline)
    files = "; the " + std::to_string(config.files.size()) +
            " files it names "
            "were not opened";
  std::printf("%s: valid%s (%zu listeners, %zu upstreams, sha256 %s%s)\n",
              options.config_path.c_str(), options.offline ? " offline" : "",
              config.listeners.size(), config.upstreams.size(), config.hash.c_str(), files.c_str());
}

void PrintJson(const ValidateOptions& options, const ValidateResult& verdict) {
  json::object out;
  out["valid"] = verdict.errors.empty();
  out["config"] = options.config_path;
  out["offline"] = options.offline;
  if (!verdict.errors.empty()) {
    json::array errors;
    for (const config::ConfigError& e : verdict.errors) {
      // Errors about the whole file (it cannot be read, the access log) have no position.
      const json::value line = e.line > 0 ? json::value(e.line) : json::value(nullptr);
      const json::value column = e.line > 0 ? json::value(e.column) : json::value(nullptr);
      json::object error{{"file", e.file},
                         {"line", line},
                         {"column", column},
                         {"key_path", e.key_path},
                         {"message", e.message}};
      errors.push_back(std::move(error));
    }
    out["errors"] = std::move(errors);
  } else {
    const config::Config& config = *verdict.config;
    out["config_hash"] = config.hash;
    out["listeners"] = config.listeners.size();
    out["routes"] = verdict.routes;
    out["upstreams"] = config.upstreams.size();
    out["identity_providers"] = config.identity_providers.size();
    out["groups"] = config.groups.size();
    json::array files;
    for (const config::FileReference& file : config.files) files.emplace_back(file.path);
    out["files"] = std::move(files);
  }
  json::array warnings;
  for (const std::string& warning : verdict.warnings) warnings.emplace_back(warning);
  out["warnings"] = std::move(warnings);
  std::printf("%s\n", json::serialize(out).c_str());
}

}  // namespace

int RunValidate(const ValidateOptions& options) {
  const ValidateResult verdict = Validate(options);
  if (options.json) {
    PrintJson(options, verdict);
  } else {
    PrintText(options, verdict);
  }
  return verdict.errors.empty() ? 0 : 1;
}

}  // namespace ciap
