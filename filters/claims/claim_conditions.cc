// Claim condition lists; see claim_conditions.h.
#include "filters/claims/claim_conditions.h"

namespace ciap::claims {

std::expected<ClaimConditions, std::string> ClaimConditions::Compile(
    std::span<const config::ClaimCondition> conditions, ClaimSlots* slots) {
  ClaimConditions out;
  out.conditions_.reserve(conditions.size());
  for (const config::ClaimCondition& condition : conditions) {
    if (condition.path.empty()) return std::unexpected("a claim condition needs a claim name");
    std::string display;
    for (const std::string& key : condition.path) {
      if (!display.empty()) display += ".";
      display += key;
    }
    std::expected<CompiledMatcher, std::string> matcher =
        CompiledMatcher::Compile(condition.matcher);
    if (!matcher) return std::unexpected(display + ": " + matcher.error());
    const uint32_t slot = slots ? slots->Intern(condition.path) : 0;
    out.conditions_.push_back({condition.path, std::move(display), slot, std::move(*matcher)});
  }
  return out;
}

std::optional<size_t> ClaimConditions::FirstFailure(const boost::json::object& claims) const {
  for (size_t i = 0; i < conditions_.size(); ++i) {
    const Compiled& c = conditions_[i];
    if (!c.matcher.Matches(FindClaim(claims, c.path))) return i;
  }
  return std::nullopt;
}

std::optional<size_t> ClaimConditions::FirstFailure(ResolvedClaims claims) const {
  for (size_t i = 0; i < conditions_.size(); ++i) {
    const Compiled& c = conditions_[i];
    if (!c.matcher.Matches(claims[c.slot])) return i;
  }
  return std::nullopt;
}

std::optional<std::string> ClaimConditions::Explain(const boost::json::object& claims) const {
  std::optional<size_t> failure = FirstFailure(claims);
  if (!failure) return std::nullopt;
  return ExplainCondition(*failure, claims);
}

std::string ClaimConditions::ExplainCondition(size_t index,
                                              const boost::json::object& claims) const {
  const Compiled& c = conditions_.at(index);
  const boost::json::value* value = FindClaim(claims, c.path);
  if (value == nullptr) return c.display + ": missing, expected " + c.matcher.Describe();
  return c.display + ": " + ValueForExplanation(*value) +
         (c.matcher.Matches(value) ? " matches " : " does not match ") + c.matcher.Describe();
}

}  // namespace ciap::claims
