// Typed readers for config values that several schema files need: a readable file path and a
// valid RE2 pattern. Errors are reported at the value's position.
#pragma once

#include <optional>
#include <string>

#include "config/yaml_reader.h"

namespace ciap::config {

// A non-empty path to a readable file (checked now, so `ciap validate` catches it, unless the
// load is offline), recorded in Config::files.
std::optional<std::string> ReadFile(const yaml::Value& v);

// A pattern RE2 accepts. Compiled here only to check it: a pattern RE2 rejects must fail
// `ciap validate`, not a request.
std::optional<std::string> ReadRegex(const yaml::Value& v);

// A secret (a client secret): the value itself (from ${NAME}, say) into `literal`, or exactly
// one ${secret:PATH} reference, whose path goes into `file` (checked like every file).
void ReadSecretReference(const yaml::Value& v, std::string& literal, std::string& file);

}  // namespace ciap::config
