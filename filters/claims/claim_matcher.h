// A claim matcher from the config (config::ClaimMatcher), compiled once per config snapshot and
// then evaluated against JWT claim values on the request path: regexes are compiled with RE2
// once, globs to a small NFA (glob.h); matching never allocates and never throws.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/claims/glob.h"

namespace re2 {
class RE2;
}

namespace ciap::claims {

class CompiledMatcher {
 public:
  // Fails (with a human sentence) only on a matcher the config loader would not produce: a bad
  // regex, a `not`/`contains` without exactly one child, an empty one-of list.
  static std::expected<CompiledMatcher, std::string> Compile(const config::ClaimMatcher& matcher);

  CompiledMatcher(CompiledMatcher&&) noexcept;
  CompiledMatcher& operator=(CompiledMatcher&&) noexcept;
  ~CompiledMatcher();

  // Whether the claim value satisfies the matcher; `claim` is nullptr when the claim is absent.
  // The semantics are those of config::ClaimMatcher: strings never match numbers or booleans
  // except where the config comment says so ("true" for true, "20" for 20), and there is no
  // truthiness.
  bool Matches(const boost::json::value* claim) const;

  // The matcher as a short deterministic text for explanations: "acme-inc" (quoted), glob
  // "release-*", one of ["a", "b"], not "x", an array containing "x", regex "...", true, 20.
  std::string Describe() const;

 private:
  struct Node;
  CompiledMatcher();

  bool Matches(uint32_t index, const boost::json::value* claim) const;
  void Describe(uint32_t index, std::string& out) const;
  std::expected<void, std::string> Build(const config::ClaimMatcher& m, uint32_t index);

  // The matcher tree, flattened: node 0 is the root and each node's children are contiguous.
  std::vector<Node> nodes_;
};

// Text and claim values as they appear in explanations: JSON (a string quoted and escaped), cut
// to at most 64 bytes (never inside a UTF-8 sequence) with "..." appended when cut.
std::string QuoteForExplanation(std::string_view text);
std::string ValueForExplanation(const boost::json::value& value);

}  // namespace ciap::claims
