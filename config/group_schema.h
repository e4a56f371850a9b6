// Reading the top-level `groups:` of the config file: a mapping of group name → rule, where a
// rule is `any` / `all` / `not` of rules (nestable) or a leaf `{provider, claims}` whose claims
// use the matchers of claim_schema.h. Errors go to the Diagnostics behind the Value, like
// everywhere in the loader.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "config/name_set.h"
#include "config/yaml_reader.h"

namespace ciap::config {

// Limits of one group's rule: deeper nesting or more leaves is a config error.
inline constexpr int kMaxGroupRuleDepth = 8;     // levels of rule nodes, the group's own counts
inline constexpr int kMaxGroupRuleLeaves = 256;  // provider conditions per group

// What a group rule may refer to: the identity providers that were read.
struct GroupContext {
  const NameSet* providers = nullptr;
  // False when a provider's name could not be read (or identity_providers is malformed): an
  // unknown provider may then be that one, so it is not reported.
  bool providers_complete = true;
};

// `groups:` at the top level. Group names are appended to `names` (also invalid ones, so that
// references to them are not reported again as unknown). Returns false when the section is not
// a mapping (its names are then unknown).
bool ReadGroups(const yaml::Value& v, const GroupContext& context, std::vector<GroupConfig>& out,
                NameSet& names);

}  // namespace ciap::config
