// Compiled claim matchers; see claim_matcher.h.
#include "filters/claims/claim_matcher.h"

#include <re2/re2.h>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace ciap::claims {
namespace {

using Kind = config::ClaimMatcher::Kind;

constexpr size_t kMaxExplainedBytes = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// "-12", "3.5", "2e3": the decimal number forms a claim string may spell a number in. No
// leading '+', no spaces, no hex, inf or nan.
bool IsDecimalNumber(std::string_view s, bool& integral) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  const size_t int_start = i;
  while (i < s.size() && IsDigit(s[i])) ++i;
  if (i == int_start) return false;
  integral = true;
  if (i < s.size() && s[i] == '.') {
    integral = false;
    const size_t frac_start = ++i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == frac_start) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    integral = false;
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    const size_t exp_start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == exp_start) return false;
  }
  return i == s.size();
}

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

std::string Truncated(std::string_view s) {
  std::string_view cut = CutUtf8(s, kMaxExplainedBytes);
  std::string out(cut);
  if (cut.size() < s.size()) out += "...";
  return out;
}

}  // namespace

struct CompiledMatcher::Node {
  Kind kind = Kind::kExact;
  uint32_t first_child = 0;
  uint32_t child_count = 0;
  std::string text;  // kExact: the value; kGlob, kRegex: the source; kNumber: as written
  bool boolean = false;
  double number = 0;
  // kNumber with an integral value (|n| <= 2^53): compared as an integer, exactly.
  bool integral = false;
  int64_t integer = 0;
  std::unique_ptr<const RE2> regex;
  std::unique_ptr<const Glob> glob;
};

CompiledMatcher::CompiledMatcher() = default;
CompiledMatcher::CompiledMatcher(CompiledMatcher&&) noexcept = default;
CompiledMatcher& CompiledMatcher::operator=(CompiledMatcher&&) noexcept = default;
CompiledMatcher::~CompiledMatcher() = default;

std::expected<CompiledMatcher, std::string> CompiledMatcher::Compile(
    const config::ClaimMatcher& matcher) {
  CompiledMatcher compiled;
  compiled.nodes_.emplace_back();
  if (auto built = compiled.Build(matcher, 0); !built) return std::unexpected(built.error());
  return compiled;
}

std::expected<void, std::string> CompiledMatcher::Build(const config::ClaimMatcher& m,
                                                        uint32_t index) {
  {
    Node& node = nodes_[index];
    node.kind = m.kind;
    node.text = m.text;
    node.boolean = m.boolean;
    node.number = m.number;
    switch (m.kind) {
      case Kind::kExact:
      case Kind::kBool:
        break;
      case Kind::kGlob:
        node.glob = std::make_unique<const Glob>(m.text);
        break;
      case Kind::kRegex: {
        // A full match only answers yes or no, and longest-match semantics give the same
        // answer as leftmost-first while letting RE2's DFA do less work.
        RE2::Options options(RE2::Quiet);
        options.set_longest_match(true);
        auto re = std::make_unique<const RE2>(m.text, options);
        if (!re->ok()) return std::unexpected("invalid RE2 regular expression: " + re->error());
        node.regex = std::move(re);
        break;
      }
      case Kind::kNumber:
        if (!std::isfinite(m.number)) return std::unexpected("a number matcher must be finite");
        if (std::trunc(m.number) == m.number && std::fabs(m.number) <= 9007199254740992.0) {
          node.integral = true;
          node.integer = static_cast<int64_t>(m.number);
        }
        break;
      case Kind::kOneOf:
        if (m.children.empty()) return std::unexpected("an empty one-of list matches nothing");
        break;
      case Kind::kNot:
      case Kind::kContains:
        if (m.children.size() != 1) {
          return std::unexpected(std::string(m.kind == Kind::kNot ? "not" : "contains") +
                                 " needs exactly one matcher");
        }
        break;
    }
  }
  if (m.kind != Kind::kOneOf && m.kind != Kind::kNot && m.kind != Kind::kContains) return {};
  // Children are appended as one block; `nodes_` may reallocate, so only indices are kept.
  const auto first = static_cast<uint32_t>(nodes_.size());
  const auto count = static_cast<uint32_t>(m.children.size());
  nodes_.resize(nodes_.size() + count);
  nodes_[index].first_child = first;
  nodes_[index].child_count = count;
  for (uint32_t i = 0; i < count; ++i) {
    if (auto built = Build(m.children[i], first + i); !built) return built;
  }
  return {};
}

bool CompiledMatcher::Matches(const boost::json::value* claim) const { return Matches(0, claim); }

bool CompiledMatcher::Matches(uint32_t index, const boost::json::value* claim) const {
  const Node& node = nodes_[index];
  switch (node.kind) {
    case Kind::kExact: {
      const boost::json::string* s = claim ? claim->if_string() : nullptr;
      return s && std::string_view(*s) == node.text;
    }
    case Kind::kGlob: {
      const boost::json::string* s = claim ? claim->if_string() : nullptr;
      return s && node.glob->Matches(*s);
    }
    case Kind::kRegex: {
      const boost::json::string* s = claim ? claim->if_string() : nullptr;
      // Match() directly: FullMatch's variadic capture plumbing costs more than a short match.
      return s && node.regex->Match(re2::StringPiece(s->data(), s->size()), 0, s->size(),
                                    RE2::ANCHOR_BOTH, nullptr, 0);
    }
    case Kind::kBool: {
      if (claim == nullptr) return false;
      if (const bool* b = claim->if_bool()) return *b == node.boolean;
      const boost::json::string* s = claim->if_string();
      return s && std::string_view(*s) == (node.boolean ? "true" : "false");
    }
    case Kind::kNumber: {
      if (claim == nullptr) return false;
      if (const int64_t* i = claim->if_int64()) return node.integral && *i == node.integer;
      if (const uint64_t* u = claim->if_uint64()) {
        return node.integral && node.integer >= 0 && *u == static_cast<uint64_t>(node.integer);
      }
      if (const double* d = claim->if_double()) return *d == node.number;
      const boost::json::string* s = claim->if_string();
      if (s == nullptr) return false;
      const std::string_view text = *s;
      bool integral = false;
      if (!IsDecimalNumber(text, integral)) return false;
      const char* end = text.data() + text.size();
      if (integral) {
        // Exact for any length: "9007199254740993" is not 9007199254740992.
        int64_t value = 0;
        auto [ptr, ec] = std::from_chars(text.data(), end, value);
        return ec == std::errc() && ptr == end && node.integral && value == node.integer;
      }
      double value = 0;
      auto [ptr, ec] = std::from_chars(text.data(), end, value);
      return ec == std::errc() && ptr == end && value == node.number;
    }
    case Kind::kOneOf:
      for (uint32_t i = 0; i < node.child_count; ++i) {
        if (Matches(node.first_child + i, claim)) return true;
      }
      return false;
    case Kind::kNot:
      return claim != nullptr && !Matches(node.first_child, claim);
    case Kind::kContains: {
      const boost::json::array* array = claim ? claim->if_array() : nullptr;
      if (array == nullptr) return false;
      for (const boost::json::value& element : *array) {
        if (Matches(node.first_child, &element)) return true;
      }
      return false;
    }
  }
  return false;
}

std::string CompiledMatcher::Describe() const {
  std::string out;
  Describe(0, out);
  return out;
}

void CompiledMatcher::Describe(uint32_t index, std::string& out) const {
  const Node& node = nodes_[index];
  switch (node.kind) {
    case Kind::kExact:
      out += QuoteForExplanation(node.text);
      return;
    case Kind::kGlob:
      out += "glob " + QuoteForExplanation(node.text);
      return;
    case Kind::kRegex:
      out += "regex " + QuoteForExplanation(node.text);
      return;
    case Kind::kBool:
      out += node.boolean ? "true" : "false";
      return;
    case Kind::kNumber:
      if (!node.text.empty()) {
        out += Truncated(node.text);
      } else {
        char buffer[32];
        auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, node.number);
        out.append(buffer, end);
      }
      return;
    case Kind::kOneOf:
      out += "one of [";
      for (uint32_t i = 0; i < node.child_count; ++i) {
        if (i > 0) out += ", ";
        Describe(node.first_child + i, out);
      }
      out += "]";
      return;
    case Kind::kNot:
      out += "not ";
      Describe(node.first_child, out);
      return;
    case Kind::kContains:
      out += "an array containing ";
      Describe(node.first_child, out);
      return;
  }
}

std::string QuoteForExplanation(std::string_view text) {
  const std::string_view cut = CutUtf8(text, kMaxExplainedBytes);
  std::string out = boost::json::serialize(boost::json::string_view(cut.data(), cut.size()));
  if (cut.size() < text.size()) out += "...";
  return out;
}

std::string ValueForExplanation(const boost::json::value& value) {
  if (const boost::json::string* s = value.if_string()) return QuoteForExplanation(*s);
  return Truncated(boost::json::serialize(value));
}

}  // namespace ciap::claims
