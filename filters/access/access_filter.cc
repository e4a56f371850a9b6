// See access_filter.h.
#include "filters/access/access_filter.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <boost/json.hpp>

#include "filters/api/audit.h"
#include "filters/api/caller.h"
#include "net/log.h"

namespace ciap::access {
namespace json = boost::json;

namespace {

std::expected<AccessFilter::Rule, std::string> Compile(const config::GroupRule& config,
                                                       claims::ClaimSlots& slots) {
  AccessFilter::Rule rule;
  rule.kind = config.kind;
  rule.provider = config.provider;
  for (const config::GroupRule& child : config.children) {
    auto compiled = Compile(child, slots);
    if (!compiled) return std::unexpected(compiled.error());
    rule.children.push_back(std::move(*compiled));
  }
  if (config.kind == config::GroupRule::Kind::kLeaf) {
    auto conditions = claims::ClaimConditions::Compile(config.claims, &slots);
    if (!conditions) return std::unexpected(conditions.error());
    rule.claims = std::move(*conditions);
  }
  return rule;
}

}  // namespace

bool AccessFilter::Rule::Evaluate(const Caller& identity, claims::ResolvedClaims resolved, Why* why,
                                  int depth) const {
  std::string indent(why != nullptr ? static_cast<std::size_t>(depth) * 2 : 0, ' ');
  switch (kind) {
    case config::GroupRule::Kind::kLeaf: {
      if (identity.provider != provider) {
        if (why)
          why->push_back(indent + "provider " + provider + ": no (the token is from " +
                         identity.provider + ")");
        return false;
      }
      std::optional<std::size_t> failure = claims.FirstFailure(resolved);
      if (why && failure) {
        why->push_back(indent + "provider " + provider + ": no, " +
                       claims.ExplainCondition(*failure, identity.claims()));
      } else if (why) {
        why->push_back(indent + "provider " + provider + ": yes" +
                       (claims.size() > 0 ? ", every claim condition holds" : ""));
      }
      return !failure;
    }
    case config::GroupRule::Kind::kAny:
    case config::GroupRule::Kind::kAll: {
      const bool any = kind == config::GroupRule::Kind::kAny;
      if (why) why->push_back(indent + (any ? "any of:" : "all of:"));
      // An empty list matches nothing, either way (the loader refuses one).
      bool result = !any && !children.empty();
      for (const Rule& child : children) {
        const bool matched = child.Evaluate(identity, resolved, why, depth + 1);
        result = any ? (result || matched) : (result && matched);
        // Explaining evaluates every child; deciding stops once the answer is known.
        if (!why && result == any) break;
      }
      return result;
    }
    case config::GroupRule::Kind::kNot:
      if (why) why->push_back(indent + "not:");
      return !children.empty() && !children.front().Evaluate(identity, resolved, why, depth + 1);
  }
  return false;
}

bool AccessFilter::GroupRef::Evaluate(const Caller& identity, claims::ResolvedClaims resolved,
                                      Why* why) const {
  if (rule != nullptr) return rule->Evaluate(identity, resolved, why);
  bool matched = false;
  if (const json::value* groups =
          identity.provider == provider ? identity.claims().if_contains(claim) : nullptr) {
    if (groups->is_string()) matched = groups->as_string() == value;
    if (const json::array* list = groups->if_array()) {
      for (const json::value& item : *list) {
        matched = matched || (item.is_string() && item.as_string() == value);
      }
    }
  }
  if (why) {
    why->push_back("  " + provider + "'s " + claim +
                   (matched ? " contains " : " does not contain ") + value);
  }
  return matched;
}

AccessFilter::Verdict AccessFilter::Decide(const RoutePolicy& route, const Caller& identity,
                                           Why* why) const {
  // Each claim the groups look at, looked up once.
  thread_local std::vector<const json::value*> resolved;
  resolved.resize(slots_.size());
  slots_.Resolve(identity.claims(), resolved);
  auto member = [&](const char* list, const GroupRef& group) {
    if (why) why->push_back(std::string(list) + " group " + group.name + ":");
    const bool matched = group.Evaluate(identity, resolved, why);
    if (why) why->push_back(std::string("  => ") + (matched ? "member" : "not a member"));
    return matched;
  };
  Verdict verdict{false, "no_allowed_group", nullptr};
  for (const GroupRef& group : route.deny) {
    if (member("deny", group) && verdict.group == nullptr) {
      verdict = {false, "denied_group", &group};
      if (!why) return verdict;
    }
  }
  if (verdict.group != nullptr && !why) return verdict;
  for (const GroupRef& group : route.allow) {
    if (member("allow", group) && verdict.group == nullptr) {
      verdict = {true, "allowed_group", &group};
      if (!why) return verdict;
    }
  }
  return verdict;
}

void AccessFilter::Explain(const Request&, const RequestContext& context,
                           std::vector<std::string>& lines) const {
  if (context.route_index >= routes_.size() || !routes_[context.route_index].active) return;
  if (!context.caller) return;  // refused before policy: the identity filter says why
  const RoutePolicy& route = routes_[context.route_index];
  Decide(route, *context.caller, &lines);
  if (route.shadow)
    lines.push_back("mode: shadow (the request passes; the decision is only logged)");
}

std::expected<std::unique_ptr<Filter>, std::string> AccessFilter::Create(
    const config::ListenerConfig& listener, const FilterEnv& env) {
  auto filter = std::unique_ptr<AccessFilter>(new AccessFilter);
  const config::Config& config = env.config;
  auto& authz = prometheus::BuildCounter()
                    .Name("ciap_authz_total")
                    .Help("Route policy decisions: allow, deny, shadow_allow, shadow_deny")
                    .Register(env.metrics);
  for (const config::GroupConfig& group : config.groups) {
    auto rule = Compile(group.rule, filter->slots_);
    if (!rule) return std::unexpected("group " + group.name + ": " + rule.error());
    filter->rules_.push_back(std::make_unique<Rule>(std::move(*rule)));
  }
  auto resolve = [&](const std::string& name) -> std::expected<GroupRef, std::string> {
    GroupRef ref;
    ref.name = name;
    for (std::size_t i = 0; i < config.groups.size(); ++i) {
      if (config.groups[i].name == name) {
        ref.rule = filter->rules_[i].get();
        return ref;
      }
    }
    std::size_t colon = name.find(':');
    if (colon != std::string::npos) {
      ref.provider = name.substr(0, colon);
      ref.value = name.substr(colon + 1);
      for (const config::IdentityProviderConfig& provider : config.identity_providers) {
        if (provider.name == ref.provider && !provider.groups_claim.empty()) {
          ref.claim = provider.groups_claim;
          return ref;
        }
      }
    }
    return std::unexpected("unknown group " + name);  // the loader validated; a bug otherwise
  };
  for (const config::RouteConfig& route : listener.routes) {
    RoutePolicy policy;
    policy.name = route.name;
    policy.active = !route.allow.empty() || !route.deny.empty();
    policy.shadow = route.mode == config::PolicyMode::kShadow;
    for (const std::string& name : route.allow) {
      auto ref = resolve(name);
      if (!ref) return std::unexpected("route " + route.name + ": " + ref.error());
      policy.allow.push_back(std::move(*ref));
    }
    for (const std::string& name : route.deny) {
      auto ref = resolve(name);
      if (!ref) return std::unexpected("route " + route.name + ": " + ref.error());
      policy.deny.push_back(std::move(*ref));
    }
    auto counter = [&](const char* decision) {
      return &authz.Add(
          {{"listener", listener.name}, {"route", route.name}, {"decision", decision}});
    };
    if (policy.active) {
      policy.allowed = counter("allow");
      policy.denied = counter("deny");
      policy.shadow_allowed = counter("shadow_allow");
      policy.shadow_denied = counter("shadow_deny");
    }
    filter->routes_.push_back(std::move(policy));
  }
  return filter;
}

Decision AccessFilter::OnRequest(Request& request, RequestContext& context) const {
  if (context.route_index >= routes_.size()) return Decision::Continue();
  const RoutePolicy& route = routes_[context.route_index];
  if (!route.active) return Decision::Continue();
  // The identity filter authenticates every route with allow/deny; no identity here would be a
  // chain-order bug, and failing closed is the only safe answer.
  if (!context.caller) {
    return Decision::Respond(boost::beast::http::status::internal_server_error,
                             "policy_without_identity");
  }
  const Verdict verdict = Decide(route, *context.caller, nullptr);
  const bool allowed = verdict.allowed;
  const std::string_view reason = verdict.reason;
  if (verdict.group != nullptr) context.groups.push_back(verdict.group->name);
  context.reason = reason;

  if (route.shadow) {
    (allowed ? route.shadow_allowed : route.shadow_denied)->Increment();
    WriteAuditEvent(request, context, route.name, allowed ? "shadow_allow" : "shadow_deny", reason);
    return Decision::Continue();
  }
  (allowed ? route.allowed : route.denied)->Increment();
  WriteAuditEvent(request, context, route.name, allowed ? "allow" : "deny", reason);
  if (allowed) return Decision::Continue();
  return Decision::Respond(boost::beast::http::status::forbidden, reason);
}

}  // namespace ciap::access
