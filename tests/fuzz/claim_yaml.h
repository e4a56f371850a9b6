// Claim conditions from YAML text, read by the config loader's own schema code
// (config/claim_schema.h), for the fuzz targets that need a matcher set.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "config/claim_schema.h"
#include "config/yaml_reader.h"

namespace ciap::fuzz {

// The conditions of a `bound_claims`-style mapping, or nullopt when the loader reports any
// error (as `ciap validate` would refuse the file).
inline std::optional<std::vector<config::ClaimCondition>> ReadConditionsYaml(
    std::string_view yaml_text) {
  config::yaml::Diagnostics diagnostics("fuzz.yaml");
  std::unique_ptr<config::yaml::Document> document =
      config::yaml::LoadSingleDocument(yaml_text, diagnostics);
  if (!document) return std::nullopt;
  static const config::EnvLookup env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "FUZZ_ORG") return "acme-inc";
    return std::nullopt;
  };
  config::yaml::Value value(&diagnostics, &env, document->root(), "bound_claims", YAML::Mark());
  std::vector<config::ClaimCondition> conditions;
  config::ReadClaimConditions(value, conditions);
  if (!diagnostics.empty()) return std::nullopt;
  return conditions;
}

}  // namespace ciap::fuzz
