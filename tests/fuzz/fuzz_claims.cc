// Claim matchers (filters/claims) compiled from fuzz-chosen conditions and run against
// fuzz-chosen claims. Input: the conditions as YAML (a `bound_claims` mapping, read by the
// config loader's schema code), a NUL byte, then the claims as JSON.
//
// Invariants beyond "never crashes":
//  - whatever the loader accepts compiles (Compile fails only on matchers the loader would not
//    produce);
//  - the object lookup and the ClaimSlots lookup give the same answers, and Explain() speaks
//    exactly when a condition fails;
//  - each compiled matcher agrees with a plain reading of the documented semantics (below,
//    written independently: globs by dynamic programming, regexes with RE2's default
//    leftmost-first FullMatch).
#include <re2/re2.h>

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "filters/claims/claim_conditions.h"
#include "filters/claims/glob.h"
#include "jose/strict_json.h"
#include "tests/fuzz/claim_yaml.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ciap::config::ClaimMatcher;
using Kind = ClaimMatcher::Kind;

// Glob semantics from filters/claims/glob.h: `*` is any run without '/' and ':', a run of two
// or more stars any run at all, every other byte itself.
bool ReferenceGlob(std::string_view pattern, std::string_view text) {
  // reachable[j]: the pattern read so far can have consumed text[0, j).
  std::vector<char> reachable(text.size() + 1, 0);
  reachable[0] = 1;
  for (std::size_t i = 0; i < pattern.size();) {
    std::vector<char> next(text.size() + 1, 0);
    if (pattern[i] == '*') {
      std::size_t run = 0;
      while (i < pattern.size() && pattern[i] == '*') ++i, ++run;
      for (std::size_t j = 0; j <= text.size(); ++j) {
        if (!reachable[j]) continue;
        next[j] = 1;
        for (std::size_t k = j; k < text.size(); ++k) {
          if (run == 1 && (text[k] == '/' || text[k] == ':')) break;
          next[k + 1] = 1;
        }
      }
    } else {
      for (std::size_t j = 0; j < text.size(); ++j) {
        if (reachable[j] && text[j] == pattern[i]) next[j + 1] = 1;
      }
      ++i;
    }
    reachable.swap(next);
  }
  return reachable[text.size()] != 0;
}

// The documented meaning of a matcher; nullopt where the documentation leaves the exact answer
// to the implementation (numbers spelled as strings).
std::optional<bool> Reference(const ClaimMatcher& m, const boost::json::value* claim) {
  const boost::json::string* s = claim ? claim->if_string() : nullptr;
  switch (m.kind) {
    case Kind::kExact:
      return s && std::string_view(*s) == m.text;
    case Kind::kGlob:
      return s && ReferenceGlob(m.text, *s);
    case Kind::kRegex:
      return s && RE2::FullMatch(std::string_view(*s), RE2(m.text, RE2::Quiet));
    case Kind::kBool:
      if (claim && claim->is_bool()) return claim->get_bool() == m.boolean;
      return s && std::string_view(*s) == (m.boolean ? "true" : "false");
    case Kind::kNumber:
      if (claim == nullptr) return false;
      if (claim->is_double()) return claim->get_double() == m.number;
      if (claim->is_int64() || claim->is_uint64()) {
        // Integers compare exactly, against an integral matcher within 2^53.
        if (!(m.number >= -9007199254740992.0 && m.number <= 9007199254740992.0) ||
            m.number != static_cast<double>(static_cast<int64_t>(m.number))) {
          return false;
        }
        auto integer = static_cast<int64_t>(m.number);
        if (claim->is_int64()) return claim->get_int64() == integer;
        return integer >= 0 && claim->get_uint64() == static_cast<uint64_t>(integer);
      }
      if (s) return std::nullopt;
      return false;
    case Kind::kOneOf: {
      bool unknown = false;
      for (const ClaimMatcher& child : m.children) {
        std::optional<bool> r = Reference(child, claim);
        if (r == true) return true;
        if (!r) unknown = true;
      }
      if (unknown) return std::nullopt;
      return false;
    }
    case Kind::kNot: {
      if (claim == nullptr) return false;  // a missing claim is not matched by `not`
      std::optional<bool> r = Reference(m.children.at(0), claim);
      if (!r) return std::nullopt;
      return !*r;
    }
    case Kind::kContains: {
      const boost::json::array* array = claim ? claim->if_array() : nullptr;
      if (array == nullptr) return false;
      bool unknown = false;
      for (const boost::json::value& element : *array) {
        std::optional<bool> r = Reference(m.children.at(0), &element);
        if (r == true) return true;
        if (!r) unknown = true;
      }
      if (unknown) return std::nullopt;
      return false;
    }
  }
  return std::nullopt;
}

// Every glob of `m` against every string in `value` (the claims, recursively), with texts and
// patterns cut so the quadratic reference stays fast.
void CheckGlobs(const ClaimMatcher& m, const boost::json::value& value) {
  if (m.kind == Kind::kGlob && m.text.size() <= 256) {
    if (const boost::json::string* s = value.if_string(); s && s->size() <= 1024) {
      ciap::claims::Glob glob(m.text);
      bool expected = ReferenceGlob(m.text, *s);
      FUZZ_CHECK(glob.Matches(*s) == expected, "glob [%s] on [%s]: reference says %d",
                 m.text.c_str(), s->c_str(), expected);
    }
  }
  for (const ClaimMatcher& child : m.children) CheckGlobs(child, value);
  if (const boost::json::array* a = value.if_array()) {
    for (const boost::json::value& element : *a) CheckGlobs(m, element);
  } else if (const boost::json::object* o = value.if_object()) {
    for (const auto& member : *o) CheckGlobs(m, member.value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = ciap::fuzz::AsText(data, size);
  std::size_t split = input.find('\0');
  if (split == std::string_view::npos) return 0;
  std::string_view yaml_text = input.substr(0, split);
  std::string_view json_text = input.substr(split + 1);

  std::optional<std::vector<ciap::config::ClaimCondition>> conditions =
      ciap::fuzz::ReadConditionsYaml(yaml_text);
  if (!conditions) return 0;

  ciap::claims::ClaimSlots slots;
  auto compiled = ciap::claims::ClaimConditions::Compile(*conditions, &slots);
  FUZZ_CHECK(compiled.has_value(), "the loader's conditions do not compile: %s",
             compiled.error().c_str());
  FUZZ_CHECK(compiled->size() == conditions->size(), "%zu conditions, %zu compiled",
             conditions->size(), compiled->size());

  auto claims = ciap::jose::ParseStrictJsonObject(json_text);
  if (!claims) return 0;

  std::vector<const boost::json::value*> resolved(slots.size());
  slots.Resolve(*claims, resolved);
  std::optional<std::size_t> by_object = compiled->FirstFailure(*claims);
  std::optional<std::size_t> by_slots = compiled->FirstFailure(resolved);
  FUZZ_CHECK(by_object == by_slots, "first failure %zd by object, %zd by slots",
             by_object ? (ssize_t)*by_object : -1, by_slots ? (ssize_t)*by_slots : -1);
  FUZZ_CHECK(compiled->Matches(*claims) == !by_object, "Matches disagrees with FirstFailure");
  std::optional<std::string> why = compiled->Explain(*claims);
  FUZZ_CHECK(why.has_value() == by_object.has_value(), "Explain on a match, or silent on a miss");

  const boost::json::value claims_value(*claims);
  for (std::size_t i = 0; i < conditions->size(); ++i) {
    const ciap::config::ClaimCondition& condition = (*conditions)[i];
    auto matcher = ciap::claims::CompiledMatcher::Compile(condition.matcher);
    FUZZ_CHECK(matcher.has_value(), "matcher %zu does not compile", i);
    (void)matcher->Describe();
    (void)compiled->ExplainCondition(i, *claims);
    const boost::json::value* claim = ciap::claims::FindClaim(*claims, condition.path);
    bool actual = matcher->Matches(claim);
    if (by_object && i < *by_object) {
      FUZZ_CHECK(actual, "condition %zu precedes the first failure but does not hold", i);
    }
    if (by_object && i == *by_object) FUZZ_CHECK(!actual, "the first failure %zu holds", i);
    std::optional<bool> expected = Reference(condition.matcher, claim);
    if (expected) {
      std::string value = claim ? boost::json::serialize(*claim) : "(missing)";
      FUZZ_CHECK(actual == *expected, "condition %zu (%s) on %s: compiled %d, reference %d", i,
                 matcher->Describe().c_str(), value.c_str(), actual, *expected);
    }
    CheckGlobs(condition.matcher, claims_value);
  }
  return 0;
}
