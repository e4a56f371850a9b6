// See filter_schema.h.
#include "config/filter_schema.h"

#include <algorithm>
#include <string>

namespace ciap::config {
namespace {

constexpr std::string_view kAfterIdentity[] = {"headers", "access"};

std::string_view IdentityUse(const RouteConfig& r) {
  if (r.authenticate) return "authenticate: true";
  return r.allow.empty() ? "" : "allow groups";
}
std::string_view AccessUse(const RouteConfig& r) {
  if (!r.allow.empty()) return "allow groups";
  return r.deny.empty() ? "" : "deny groups";
}
std::string_view RateLimitUse(const RouteConfig& r) {
  if (r.rate_limit) return "a rate_limit";
  return r.single_use ? "replay: single_use" : "";
}
std::string_view HeadersUse(const RouteConfig& r) {
  const RequestHeadersConfig& h = r.request_headers;
  if (r.credentials) return "credentials";
  return h.set.empty() && h.remove.empty() && !h.identity && !h.assertion ? "" : "request_headers";
}

constexpr FilterRule kRules[] = {
    {"identity", kAfterIdentity, "the identity that the identity filter establishes", &IdentityUse,
     "its requests would never be authenticated"},
    {"access", {}, {}, &AccessUse, "they would never be checked"},
    {"rate_limit", {}, {}, &RateLimitUse, "it would never be applied"},
    {"headers", {}, {}, &HeadersUse, "they would never be applied"},
};

const FilterRule* FindRule(std::string_view name) {
  for (const FilterRule& rule : kRules) {
    if (rule.name == name) return &rule;
  }
  return nullptr;
}

bool Listed(const std::vector<std::string>& filters, std::string_view name) {
  return std::find(filters.begin(), filters.end(), name) != filters.end();
}

// "identity must come before headers and access (both use the identity ...)" when `name`
// should precede filters already listed.
std::string OrderProblem(const FilterRule& rule, const std::vector<std::string>& listed) {
  std::vector<std::string_view> late;
  for (std::string_view after : rule.precedes) {
    if (Listed(listed, after)) late.push_back(after);
  }
  if (late.empty()) return {};
  std::string names(late[0]);
  if (late.size() > 1) names += " and " + std::string(late[1]);
  return std::string(rule.name) + " must come before " + names + " (" +
         (late.size() > 1 ? "both use " : std::string(late[0]) + " uses ") +
         std::string(rule.precedes_why) + ")";
}

}  // namespace

std::span<const FilterRule> FilterRules() { return kRules; }

std::vector<std::string> DefaultFilters() {
  std::vector<std::string> names;
  for (const FilterRule& rule : kRules) names.emplace_back(rule.name);
  return names;
}

void ReadFilters(const yaml::Value& v, std::vector<std::string>& filters) {
  std::optional<std::vector<yaml::Value>> items = v.List();
  if (!items) return;
  filters.clear();
  for (const yaml::Value& item : *items) {
    std::optional<std::string> name = item.String();
    if (!name) continue;
    const FilterRule* rule = FindRule(*name);
    if (rule == nullptr) {
      std::string known;
      for (const FilterRule& r : kRules) known += (known.empty() ? "" : ", ") + std::string(r.name);
      item.Error("unknown filter '" + *name + "' (known: " + known + ")");
    } else if (Listed(filters, *name)) {
      item.Error("filter '" + *name + "' is listed twice");
    } else {
      if (std::string problem = OrderProblem(*rule, filters); !problem.empty()) {
        item.Error(problem);
      }
      filters.push_back(*name);  // even out of order, so that it is not reported missing too
    }
  }
}

void CheckFilterChain(const yaml::Value& filters, const ListenerConfig& l) {
  for (const FilterRule& rule : kRules) {
    if (Listed(l.filters, rule.name)) continue;
    for (const RouteConfig& r : l.routes) {
      std::string_view use = rule.route_use(r);
      if (use.empty()) continue;
      filters.Error("must include " + std::string(rule.name) + ": route '" + r.name + "' has " +
                    std::string(use) + ", and without the " + std::string(rule.name) + " filter " +
                    std::string(rule.without));
      break;  // one error per missing filter
    }
  }
  auto position = [&](std::string_view name) {
    return std::find(l.filters.begin(), l.filters.end(), name) - l.filters.begin();
  };
  for (const RouteConfig& r : l.routes) {
    if (r.single_use && position("identity") > position("rate_limit")) {
      filters.Error("identity must come before rate_limit: route '" + r.name +
                    "' has replay: single_use, and the token's jti is known only after identity");
      return;
    }
    if (!r.rate_limit) continue;
    const bool per_caller = r.rate_limit->per == RateLimitConfig::Per::kSubject ||
                            r.rate_limit->per == RateLimitConfig::Per::kProvider;
    if (per_caller && position("identity") > position("rate_limit")) {
      filters.Error("identity must come before rate_limit: route '" + r.name +
                    "' limits per caller, and the caller is known only after identity");
      return;
    }
  }
}

}  // namespace ciap::config
