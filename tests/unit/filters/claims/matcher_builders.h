// Short builders for config::ClaimMatcher values in tests: Exact("main"), GlobOf("release-*"),
// OneOf({...}), ...
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace ciap::claims::testing {

using Kind = config::ClaimMatcher::Kind;

inline config::ClaimMatcher Exact(std::string text) {
  config::ClaimMatcher m;
  m.kind = Kind::kExact;
  m.text = std::move(text);
  return m;
}
inline config::ClaimMatcher GlobOf(std::string pattern) {
  config::ClaimMatcher m;
  m.kind = Kind::kGlob;
  m.text = std::move(pattern);
  return m;
}
inline config::ClaimMatcher Regex(std::string pattern) {
  config::ClaimMatcher m;
  m.kind = Kind::kRegex;
  m.text = std::move(pattern);
  return m;
}
inline config::ClaimMatcher Bool(bool value) {
  config::ClaimMatcher m;
  m.kind = Kind::kBool;
  m.boolean = value;
  return m;
}
inline config::ClaimMatcher Number(double value) {
  config::ClaimMatcher m;
  m.kind = Kind::kNumber;
  m.number = value;
  return m;
}
inline config::ClaimMatcher OneOf(std::vector<config::ClaimMatcher> children) {
  config::ClaimMatcher m;
  m.kind = Kind::kOneOf;
  m.children = std::move(children);
  return m;
}
inline config::ClaimMatcher Not(config::ClaimMatcher child) {
  config::ClaimMatcher m;
  m.kind = Kind::kNot;
  m.children.push_back(std::move(child));
  return m;
}
inline config::ClaimMatcher Contains(config::ClaimMatcher child) {
  config::ClaimMatcher m;
  m.kind = Kind::kContains;
  m.children.push_back(std::move(child));
  return m;
}

}  // namespace ciap::claims::testing
