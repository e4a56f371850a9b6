// See value_readers.h.
#include "config/value_readers.h"

#include <re2/re2.h>

#include "config/syntax.h"

namespace ciap::config {

std::optional<std::string> ReadFile(const yaml::Value& v) { return v.File(); }

std::optional<std::string> ReadRegex(const yaml::Value& v) {
  std::optional<std::string> pattern = v.String();
  if (!pattern) return std::nullopt;
  RE2 re(*pattern, RE2::Quiet);
  if (!re.ok()) {
    v.Error("invalid RE2 regular expression: " + re.error());
    return std::nullopt;
  }
  return pattern;
}

}  // namespace ciap::config
