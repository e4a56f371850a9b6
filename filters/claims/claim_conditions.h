// A list of claim conditions (a provider's `bound_claims`, later a group rule's `claims:`),
// compiled once and evaluated against a token's claims: all must hold. When one does not,
// Explain() says which and why, for `ciap check` and the audit log.
//
// Two ways to evaluate: against the claims object (each condition looks its claim up), or
// against claims resolved once per token through ClaimSlots (see claim_slots.h), which is what
// many condition lists over the same token should use.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/claims/claim_matcher.h"
#include "filters/claims/claim_slots.h"

namespace ciap::claims {

// Claim values resolved by ClaimSlots::Resolve, indexed by slot.
using ResolvedClaims = std::span<const boost::json::value* const>;

class ClaimConditions {
 public:
  // Fails only on a matcher the config loader would not produce (see CompiledMatcher::Compile);
  // the message names the claim. Each condition's claim is interned in `slots` when given, for
  // the ResolvedClaims overloads.
  static std::expected<ClaimConditions, std::string> Compile(
      std::span<const config::ClaimCondition> conditions, ClaimSlots* slots = nullptr);

  // Whether every condition holds. No allocation.
  bool Matches(const boost::json::object& claims) const { return !FirstFailure(claims); }
  bool Matches(ResolvedClaims claims) const { return !FirstFailure(claims); }

  // The index of the first condition (in config order) that does not hold. No allocation.
  std::optional<size_t> FirstFailure(const boost::json::object& claims) const;
  std::optional<size_t> FirstFailure(ResolvedClaims claims) const;

  // Why the first failing condition does not hold, or nullopt when all hold. Deterministic:
  //   organization_slug: "evil-inc" does not match "acme-inc"
  //   pipeline_slug: missing, expected one of ["deploy-api", glob "release-*"]
  // Values are JSON, cut to 64 bytes.
  std::optional<std::string> Explain(const boost::json::object& claims) const;

  // What condition `index` says about `claims` (the same text as Explain gives for a failure;
  // "... matches ..." when it holds).
  std::string ExplainCondition(size_t index, const boost::json::object& claims) const;

  size_t size() const { return conditions_.size(); }

 private:
  struct Compiled {
    std::vector<std::string> path;
    std::string display;  // the path as shown in explanations
    uint32_t slot = 0;    // in the ClaimSlots given to Compile
    CompiledMatcher matcher;
  };

  std::vector<Compiled> conditions_;
};

}  // namespace ciap::claims
