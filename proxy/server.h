// `ciap run`: load the config, bind listeners on every worker, serve, drain on SIGTERM.
#pragma once

#include <chrono>
#include <string>

namespace ciap {

struct RunOptions {
  std::string config_path;
  int concurrency = 0;  // 0: one worker per core
  std::chrono::milliseconds drain_timeout{30000};
  // After SIGTERM: keep accepting and serving this long with /ready at 503, then drain.
  std::chrono::milliseconds shutdown_delay{0};
};

// Returns the process exit code.
int RunServer(const RunOptions& options);

}  // namespace ciap
