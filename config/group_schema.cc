// Reading `groups:`; see group_schema.h.
#include "config/group_schema.h"

#include <string>
#include <string_view>

#include "config/claim_schema.h"
#include "config/syntax.h"
#include "config/text.h"

namespace ciap::config {
namespace {

using yaml::Map;
using yaml::Value;

constexpr std::string_view kRuleForms = "any, all, not or provider";

// Reads one group's rule tree. Best effort: a node with an error is still put in the tree (the
// errors make the whole config fail anyway), but nothing below a reported node is reported again.
class RuleReader {
 public:
  explicit RuleReader(const GroupContext& context) : context_(context) {}

  GroupRule Read(const Value& v, int depth) {
    GroupRule rule;
    if (depth > kMaxGroupRuleDepth) {
      if (!depth_reported_) {
        v.Error("rules are nested too deeply (at most " + std::to_string(kMaxGroupRuleDepth) +
                " levels of any/all/not; split the rule into simpler groups)");
        depth_reported_ = true;
      }
      return rule;
    }
    std::optional<Map> m = v.AsMap({"any", "all", "not", "provider", "claims"});
    if (!m) return rule;
    const Map::Entry* kind = nullptr;
    for (const Map::Entry& entry : m->entries()) {
      if (entry.key == "claims") continue;
      if (kind) {
        m->ErrorAtKey(entry, "a rule has exactly one of " + std::string(kRuleForms) + " (" +
                                 kind->key + " is already set; nest them in any/all instead)");
        continue;
      }
      kind = &entry;
    }
    const Map::Entry* claims = m->Find("claims");
    if (!kind) {
      if (claims) {
        m->ErrorMissing("provider",
                        "required: claims are conditions on the tokens of one identity provider");
      } else if (v.node().size() == 0) {
        // Keys that were there but unknown are already reported.
        v.Error("a rule needs exactly one of " + std::string(kRuleForms));
      }
      return rule;
    }
    if (claims && kind->key != "provider") {
      m->ErrorAtKey(*claims, "only a provider leaf has claims (this rule is `" + kind->key +
                                 "`; put the claims in a `provider:` rule inside it)");
    }
    if (kind->key == "provider") {
      ReadLeaf(kind->value, claims, rule);
    } else if (kind->key == "not") {
      rule.kind = GroupRule::Kind::kNot;
      if (kind->value.node().IsSequence()) {
        kind->value.Error(
            "expected one rule (a mapping), got a list; to negate several, write "
            "not: { any: [...] }");
        return rule;
      }
      rule.children.push_back(Read(kind->value, depth + 1));
    } else {
      rule.kind = kind->key == "any" ? GroupRule::Kind::kAny : GroupRule::Kind::kAll;
      std::optional<std::vector<Value>> items = kind->value.List();
      if (!items) return rule;
      if (items->empty()) {
        kind->value.Error("needs at least one rule (an empty `" + kind->key +
                          "` would decide nothing; list the rules)");
      }
      for (const Value& item : *items) rule.children.push_back(Read(item, depth + 1));
    }
    return rule;
  }

 private:
  void ReadLeaf(const Value& provider, const Map::Entry* claims, GroupRule& rule) {
    rule.kind = GroupRule::Kind::kLeaf;
    if (++leaves_ == kMaxGroupRuleLeaves + 1) {
      provider.Error("too many provider conditions in one group (at most " +
                     std::to_string(kMaxGroupRuleLeaves) + "; split it into several groups)");
    }
    if (std::optional<std::string> name = provider.NonEmptyString()) {
      rule.provider = *name;
      const NameSet& defined = *context_.providers;
      if (context_.providers_complete && !defined.Contains(*name)) {
        provider.Error("unknown identity provider '" + *name + "' (" +
                       (defined.names().empty() ? "no identity providers are defined"
                                                : "defined: " + JoinNames(defined.names())) +
                       ")");
      }
    }
    if (claims) ReadClaimConditions(claims->value, rule.claims);
  }

  const GroupContext& context_;
  int leaves_ = 0;
  bool depth_reported_ = false;
};

}  // namespace

bool ReadGroups(const Value& v, const GroupContext& context, std::vector<GroupConfig>& out,
                NameSet& names) {
  std::optional<Map> m = v.AsOpenMap();
  if (!m) return false;
  for (const Map::Entry& entry : m->entries()) {
    if (entry.key.find(':') != std::string::npos) {
      m->ErrorAtKey(entry, "'" + entry.key +
                               "' is not a valid group name: ':' is reserved for the groups of "
                               "a provider's groups_claim (<provider>:<value>)");
    } else if (!IsValidName(entry.key)) {
      m->ErrorAtKey(
          entry, "'" + entry.key + "' is not a valid name (use letters, digits, '_', '.' and '-')");
    }
    // Duplicate keys are already reported by the reader.
    names.Add(entry.key, entry.value);
    GroupConfig& group = out.emplace_back();
    group.name = entry.key;
    group.rule = RuleReader(context).Read(entry.value, 1);
  }
  return true;
}

}  // namespace ciap::config
