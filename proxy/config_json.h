// The effective config as JSON for the admin /config endpoint, with secrets redacted.
#pragma once

#include <string>

#include "config/config.h"

namespace ciap {

// What only a restart changes: the admin listener's address and the access log's target.
struct ProcessSettings {
  std::string admin_address;
  std::string access_log;
};

// Injected header values are credentials: a `${secret:/path}` reference is shown as written
// (it names a file, not its content) and every other value as "[redacted]". With `in_force`,
// `admin` and `logging` show those settings (what the process runs with), and a reloaded file
// that asks for others lists them under `pending_restart`.
std::string ConfigToJson(const config::Config& config, const ProcessSettings* in_force = nullptr);

}  // namespace ciap
