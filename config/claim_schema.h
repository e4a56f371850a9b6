// Reading claim matchers (`bound_claims` of a provider and the `claims:` of group rules)
// from the config file. The YAML form decides the kind, see ClaimMatcher in config.h; how a
// scalar is typed follows YAML itself: a plain `true` is a boolean and a plain `42` a number,
// while a quoted "true" or "42" is a string.
#pragma once

#include <optional>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace ciap::config {

// One matcher: a scalar, a one-of list of scalars, or a mapping with exactly one of `not`,
// `contains`, `regex` (regexes are compiled here, so a bad one fails `ciap validate`).
std::optional<ClaimMatcher> ReadClaimMatcher(const yaml::Value& v);

// A mapping of literal claim name → matcher, appended to `out` in file order. Returns the
// mapping so that callers can look at which keys were written; a key whose matcher has an
// error is reported and left out of `out`.
std::optional<yaml::Map> ReadClaimConditions(const yaml::Value& v,
                                             std::vector<ClaimCondition>& out);

// Whether `m` only accepts values fixed in the config: an exact string, a number, or a one-of
// list of those. This is what pins a token to one tenant; a glob, regex or `not` does not.
bool PinsExactValues(const ClaimMatcher& m);

// Like PinsExactValues, and with `glob_min_colons`, globs too whose literal start (before the
// first '*') is not empty and holds that many colons: "project_42_bot*" and "acme/**" name
// their values' owner, as "arn:aws:sts::123456789012:assumed-role/ci-*" (5) names the account.
bool AnchorsValues(const ClaimMatcher& m, std::optional<int> glob_min_colons);

}  // namespace ciap::config
