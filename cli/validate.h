// `ciap validate`: whether `ciap run` would start with a config, and if not, every reason, at its
// place in the file. It loads every file run loads (certificates and keys that must match,
// CAs, jwks_file key sets, ${secret:} files) on run's own code path, up to binding sockets;
// --offline checks the config alone, for a config repository's CI.
#pragma once

#include <string>

namespace ciap {

struct ValidateOptions {
  std::string config_path;
  bool offline = false;  // open none of the files the config names
  bool json = false;     // one JSON object on stdout instead of lines
};

// Prints the verdict; returns 0 when the config is valid, 1 when it is not.
int RunValidate(const ValidateOptions& options);

}  // namespace ciap
