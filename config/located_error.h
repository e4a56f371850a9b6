// Errors found after a config was read, when what it names is loaded (a certificate that does
// not parse, a key that does not match it, a jwks_file that is not JSON): placed back in the
// config file, at the key that names the file, as the loader places its own errors.
#pragma once

#include <string_view>

#include "config/config.h"
#include "config/loader.h"

namespace ciap::config {

// `message` is an error of building what `config` describes ("listener agents: /etc/ciap/tls.key
// does not match certificate /etc/ciap/tls.crt"). Every such error names the file it is about;
// the error is placed at the first file of Config::files the message names, preferring one that
// belongs to the listener, upstream, provider or route the message names. The message loses the
// owner it starts with ("listener agents: "), which the key path says. A message that names no
// file of the config is returned as it is, for the whole file.
ConfigError LocateError(const Config& config, std::string_view message);

}  // namespace ciap::config
