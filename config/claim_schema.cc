// Reading claim matchers from the config file; see claim_schema.h.
#include "config/claim_schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <string_view>

#include "config/text.h"
#include "config/value_readers.h"

namespace ciap::config {
namespace {

using yaml::Map;
using yaml::Value;

constexpr std::string_view kMatcherForms =
    "a value, a list of values, or a mapping with one of not, contains, regex";

// yaml-cpp's tags: "?" for a plain scalar (its type is resolved from its text), "!" for a
// quoted or block scalar (always a string), or an explicit tag like !!str.
constexpr std::string_view kPlainTag = "?";
constexpr std::string_view kNonPlainTag = "!";
constexpr std::string_view kStrTag = "tag:yaml.org,2002:str";
constexpr std::string_view kBoolTag = "tag:yaml.org,2002:bool";
constexpr std::string_view kIntTag = "tag:yaml.org,2002:int";
constexpr std::string_view kFloatTag = "tag:yaml.org,2002:float";

// Doubles hold every integer up to 2^53 exactly; past it two different ids could compare equal.
constexpr double kMaxExactInteger = 9007199254740992.0;

// The decimal forms of YAML 1.2's core schema: -12, 3.5, 1e3, -2.5E-3. Hex, octal, .inf and
// .nan stay strings: no claim carries them as numbers.
bool LooksLikeNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  const size_t int_start = i;
  while (i < s.size() && IsDigit(s[i])) ++i;
  if (i == int_start) return false;
  if (i < s.size() && s[i] == '.') {
    const size_t frac_start = ++i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == frac_start) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    const size_t exp_start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    if (i == exp_start) return false;
  }
  return i == s.size();
}

// YAML 1.1 booleans (yes, on, True, ...) that YAML 1.2 reads as strings. Matching them as
// either would surprise someone, so they must be written unambiguously.
bool IsAmbiguousBool(std::string_view s) {
  static constexpr std::string_view kWords[] = {"true", "false", "yes", "no", "on", "off"};
  std::string lower;
  for (char c : s) lower.push_back(ToLower(c));
  return std::find(std::begin(kWords), std::end(kWords), lower) != std::end(kWords);
}

std::optional<ClaimMatcher> ReadNumber(const Value& v, const std::string& text) {
  if (!LooksLikeNumber(text)) {
    v.Error("expected a number, got '" + text + "'");
    return std::nullopt;
  }
  const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
  double value = 0;
  auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    v.Error("'" + text + "' is out of range for a number");
    return std::nullopt;
  }
  const bool integral = text.find_first_of(".eE") == std::string::npos;
  if (integral && std::fabs(value) > kMaxExactInteger) {
    v.Error(text + " is too large to compare exactly as a number; quote it (\"" + text +
            "\") to match the string");
    return std::nullopt;
  }
  ClaimMatcher m;
  m.kind = ClaimMatcher::Kind::kNumber;
  m.number = value;
  m.text = text;  // kept for messages: "20" reads better than 20.000000
  return m;
}

std::optional<ClaimMatcher> ReadString(const Value& v) {
  std::optional<std::string> text = v.String();
  if (!text) return std::nullopt;
  ClaimMatcher m;
  m.text = std::move(*text);
  if (m.text.find('*') == std::string::npos) return m;
  if (m.text.find("***") != std::string::npos) {
    v.Error(
        "'***' is ambiguous in a glob: use * (within one segment, never '/' or ':') or ** "
        "(any run of characters)");
    return std::nullopt;
  }
  m.kind = ClaimMatcher::Kind::kGlob;
  return m;
}

std::optional<ClaimMatcher> ReadScalar(const Value& v) {
  const std::string& tag = v.node().Tag();
  const std::string& raw = v.node().Scalar();
  if (tag == kNonPlainTag || tag == kStrTag) return ReadString(v);
  if (tag == kBoolTag || (tag == kPlainTag && (raw == "true" || raw == "false"))) {
    if (raw != "true" && raw != "false") {
      v.Error("expected true or false, got '" + raw + "'");
      return std::nullopt;
    }
    ClaimMatcher m;
    m.kind = ClaimMatcher::Kind::kBool;
    m.boolean = raw == "true";
    return m;
  }
  if (tag == kIntTag || tag == kFloatTag) return ReadNumber(v, raw);
  if (tag != kPlainTag) {
    v.Error("unsupported YAML tag '" + tag + "' (write a plain value, a quoted string, " +
            "true/false or a number)");
    return std::nullopt;
  }
  if (IsAmbiguousBool(raw)) {
    v.Error("'" + raw + "' is ambiguous: write true or false for a boolean claim, or quote it (\"" +
            raw + "\") to match the string");
    return std::nullopt;
  }
  if (LooksLikeNumber(raw)) return ReadNumber(v, raw);
  return ReadString(v);
}

std::optional<ClaimMatcher> ReadOneOf(const Value& v) {
  std::optional<std::vector<Value>> items = v.List();
  if (!items) return std::nullopt;
  if (items->empty()) {
    v.Error("an empty list matches nothing (list the accepted values)");
    return std::nullopt;
  }
  ClaimMatcher m;
  m.kind = ClaimMatcher::Kind::kOneOf;
  bool ok = true;
  for (const Value& item : *items) {
    if (!item.node().IsScalar()) {
      item.Error(std::string("expected a single value in a one-of list (a string, glob, ") +
                 "true/false or number), got " +
                 (item.node().IsNull()  ? "nothing"
                  : item.node().IsMap() ? "a mapping"
                                        : "a list"));
      ok = false;
      continue;
    }
    std::optional<ClaimMatcher> child = ReadScalar(item);
    if (child) {
      m.children.push_back(std::move(*child));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return m;
}

std::optional<ClaimMatcher> ReadRegexMatcher(const Value& v) {
  std::optional<std::string> pattern = ReadRegex(v);
  if (!pattern) return std::nullopt;
  ClaimMatcher m;
  m.kind = ClaimMatcher::Kind::kRegex;
  m.text = std::move(*pattern);
  return m;
}

std::optional<ClaimMatcher> ReadOperator(const Value& v) {
  std::optional<Map> map = v.AsMap({"not", "contains", "regex"});
  if (!map) return std::nullopt;
  if (map->entries().empty()) {
    // Keys that were there but unknown or not strings are already reported.
    if (v.node().size() == 0) v.Error("needs exactly one of not, contains, regex");
    return std::nullopt;
  }
  if (map->entries().size() > 1) {
    map->ErrorAtKey(map->entries()[1], "exactly one of not, contains, regex (" +
                                           map->entries()[0].key + " is already set)");
    return std::nullopt;
  }
  const Map::Entry& entry = map->entries()[0];
  if (entry.key == "regex") return ReadRegexMatcher(entry.value);
  std::optional<ClaimMatcher> child = ReadClaimMatcher(entry.value);
  if (!child) return std::nullopt;
  ClaimMatcher m;
  m.kind = entry.key == "not" ? ClaimMatcher::Kind::kNot : ClaimMatcher::Kind::kContains;
  m.children.push_back(std::move(*child));
  return m;
}

}  // namespace

std::optional<ClaimMatcher> ReadClaimMatcher(const Value& v) {
  const yaml::Node& node = v.node();
  if (node.IsNull()) {
    v.Error("expected a claim matcher (" + std::string(kMatcherForms) + "), got nothing");
    return std::nullopt;
  }
  if (node.IsSequence()) return ReadOneOf(v);
  if (node.IsMap()) return ReadOperator(v);
  return ReadScalar(v);
}

std::optional<Map> ReadClaimConditions(const Value& v, std::vector<ClaimCondition>& out) {
  // Keys are literal claim names ("oidc.circleci.com/org-id" is one claim); a list key
  // `[a, b]` reaches claim b inside object a.
  std::optional<Map> map = v.AsPathKeyedMap();
  if (!map) return std::nullopt;
  for (const Map::Entry& entry : map->entries()) {
    if (entry.key.empty()) {
      map->ErrorAtKey(entry, "claim names must not be empty");
      continue;
    }
    if (std::optional<ClaimMatcher> matcher = ReadClaimMatcher(entry.value)) {
      out.push_back({entry.key_path.empty() ? std::vector<std::string>{entry.key} : entry.key_path,
                     std::move(*matcher)});
    }
  }
  return map;
}

bool AnchorsValues(const ClaimMatcher& m, std::optional<int> glob_min_colons) {
  switch (m.kind) {
    case ClaimMatcher::Kind::kExact:
    case ClaimMatcher::Kind::kNumber:
      return true;
    case ClaimMatcher::Kind::kOneOf:
      return !m.children.empty() &&
             std::all_of(m.children.begin(), m.children.end(),
                         [&](const ClaimMatcher& c) { return AnchorsValues(c, glob_min_colons); });
    case ClaimMatcher::Kind::kGlob: {
      if (!glob_min_colons) return false;
      std::string_view prefix = std::string_view(m.text).substr(0, m.text.find('*'));
      return !prefix.empty() && std::count(prefix.begin(), prefix.end(), ':') >= *glob_min_colons;
    }
    default:  // not, regex, contains, booleans: they let unnamed values in
      return false;
  }
}

bool PinsExactValues(const ClaimMatcher& m) { return AnchorsValues(m, std::nullopt); }

}  // namespace ciap::config
