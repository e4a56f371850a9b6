// The effective config as JSON for the admin /config endpoint, with secrets redacted.
#pragma once

#include <string>

#include "config/config.h"

namespace ciap {

// Injected header values are credentials: a `${secret:/path}` reference is shown as written
// (it names a file, not its content) and every other value as "[redacted]".
std::string ConfigToJson(const config::Config& config);

}  // namespace ciap
