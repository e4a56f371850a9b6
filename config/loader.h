// Loading a config file: YAML → validated `Config`, with errors that point at the file.
#pragma once

#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace ciap::config {

// One problem found in a config file. `line` and `column` are 1-based; `key_path` is the
// YAML path of the offending node, e.g. "listeners[0].routes[2].match.path_prefix".
struct ConfigError {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key_path;
  std::string message;

  // "ciap.yaml:14:7: listeners[0].address: expected host:port (e.g. 0.0.0.0:8443)"
  std::string ToString() const;
};

using ConfigErrors = std::vector<ConfigError>;

// How a config file is loaded.
struct LoadOptions {
  // The config alone: the files it names (certificates, keys, CAs, jwks_file, ${secret:}
  // files) are recorded but not opened, for a config repository's CI where they do not exist.
  // Everything else is checked as always (syntax, types, references, regexes, ${NAME}).
  bool offline = false;
};

// Looks up an environment variable for ${NAME} substitution; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The process environment.
EnvLookup ProcessEnv();

// Parses and validates YAML text. `file_name` is only used in error messages and
// `Config::source_path`. Returns every error found, not just the first.
std::expected<std::shared_ptr<const Config>, ConfigErrors> ParseConfig(
    std::string_view yaml_text, const std::string& file_name, const EnvLookup& env,
    const LoadOptions& options = {});

// Reads `path` and calls ParseConfig with the process environment.
std::expected<std::shared_ptr<const Config>, ConfigErrors> LoadConfigFile(
    const std::string& path, const LoadOptions& options = {});

}  // namespace ciap::config
