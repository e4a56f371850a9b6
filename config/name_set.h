// Names of config objects (upstreams, listeners, routes, identity providers): the shared rules
// for reading a `name:` key and for keeping names unique within one list.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/syntax.h"
#include "config/yaml_reader.h"

namespace ciap::config {

// Names unique within one list (upstreams, listeners, the routes of a listener, providers).
class NameSet {
 public:
  explicit NameSet(std::string what) : what_(std::move(what)) {}

  // Remembers `name`; a repeat is reported at `at`.
  void Add(const std::string& name, const yaml::Value& at) {
    auto [it, inserted] = lines_.emplace(name, at.mark().line + 1);
    if (!inserted) {
      at.Error("duplicate " + what_ + " name '" + name + "' (first defined on line " +
               std::to_string(it->second) + ")");
      return;
    }
    names_.push_back(name);
  }
  bool Contains(const std::string& name) const { return lines_.contains(name); }
  // In the order they were added.
  const std::vector<std::string>& names() const { return names_; }

 private:
  std::string what_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, int> lines_;  // name → the line it was first defined on
};

// `name`: required, [A-Za-z0-9_.-]+, unique in `names`. Invalid names are still remembered
// so that references to them are not reported a second time as unknown.
inline std::optional<std::string> ReadName(const yaml::Map& m, NameSet& names) {
  std::optional<yaml::Value> v = m.Require("name");
  if (!v) return std::nullopt;
  std::optional<std::string> name = v->NonEmptyString();
  if (!name) return std::nullopt;
  if (!IsValidName(*name)) {
    v->Error("'" + *name + "' is not a valid name (use letters, digits, '_', '.' and '-')");
  }
  names.Add(*name, *v);
  return name;
}

}  // namespace ciap::config
