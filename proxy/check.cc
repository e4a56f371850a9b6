// See check.h. Evaluates the same compiled route matchers, claim conditions and access filter
// the proxy uses, so its answers are the proxy's.
#include "proxy/check.h"

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "config/loader.h"
#include "filters/access/access_filter.h"
#include "filters/claims/claim_conditions.h"
#include "filters/identity/base64url.h"
#include "filters/identity/claims.h"
#include "filters/identity/identity_filter.h"
#include "filters/identity/jwk.h"
#include "filters/identity/jws.h"
#include "proxy/identity.h"
#include "proxy/metrics.h"
#include "proxy/path.h"
#include "proxy/router.h"

namespace ciap {
namespace json = boost::json;
namespace {

struct Report {
  std::vector<std::string> lines;
  std::string decision = "deny";  // allow | deny | shadow-allow | shadow-deny
  int status = 403;
  std::string reason;
  std::string route = "-";
  std::string provider = "-";

  void Line(std::string line) { lines.push_back(std::move(line)); }
};

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream contents;
  contents << in.rdbuf();
  std::string text = contents.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "ciap check: %s\n", message.c_str());
  return 2;
}

int Print(const Report& report, bool as_json) {
  bool allowed = report.decision == "allow" || report.decision.starts_with("shadow");
  if (as_json) {
    json::array lines;
    for (const std::string& line : report.lines) lines.emplace_back(line);
    json::object out{{"decision", report.decision}, {"status", report.status},
                     {"reason", report.reason},     {"route", report.route},
                     {"provider", report.provider}, {"explanation", std::move(lines)}};
    std::printf("%s\n", json::serialize(out).c_str());
  } else {
    for (const std::string& line : report.lines) std::printf("%s\n", line.c_str());
    std::printf("decision: %s (%d %s)\n", report.decision.c_str(), report.status,
                report.reason.c_str());
  }
  return allowed ? 0 : 1;
}

}  // namespace

int RunCheck(const CheckOptions& options) {
  auto loaded = config::LoadConfigFile(options.config_path);
  if (!loaded) {
    for (const auto& error : loaded.error()) std::fprintf(stderr, "%s\n", error.ToString().c_str());
    return 2;
  }
  const config::Config& config = **loaded;
  Report report;

  // The request.
  std::size_t space = options.request.find(' ');
  if (space == std::string::npos) return Fail("--request needs \"METHOD URL\"");
  std::string method = options.request.substr(0, space);
  const std::string url_text = options.request.substr(space + 1);  // the view below points here
  auto url = boost::urls::parse_uri(url_text);
  if (!url) return Fail("--request: cannot parse the URL");
  std::string raw_path(url->encoded_path());
  if (raw_path.empty()) raw_path.push_back('/');
  std::string path;
  if (auto error = NormalizePath(raw_path, &path)) {
    report.status = 400;
    report.reason = std::string(PathErrorReason(*error));
    report.Line("path: refused (" + report.reason + ")");
    return Print(report, options.json);
  }
  std::string host;
  CanonicalHost(std::string(url->encoded_host()), &host);

  const config::ListenerConfig* listener = &config.listeners.front();
  if (!options.listener.empty()) {
    listener = nullptr;
    for (const auto& l : config.listeners) {
      if (l.name == options.listener) listener = &l;
    }
    if (listener == nullptr) return Fail("no listener named " + options.listener);
  }
  report.Line("listener: " + listener->name);
  report.Line("request: " + method + " host " + host + " path " + path + " (normalized)");

  Router router(*listener);
  int route_index = router.Match(host, path, method, boost::beast::http::fields{});
  if (route_index < 0) {
    report.status = 404;
    report.reason = "no_route";
    report.Line("route: none matches (ciap answers 404 without contacting an upstream)");
    return Print(report, options.json);
  }
  // As the proxy does: a path whose `;parameters` would pick another route once stripped (what
  // servlet containers serve) is refused.
  if (std::string stripped;
      StripPathParameters(path, &stripped) &&
      router.Match(host, stripped, method, boost::beast::http::fields{}) != route_index) {
    report.status = 400;
    report.reason = "path_parameters_reroute";
    report.Line("path: refused (path_parameters_reroute)");
    return Print(report, options.json);
  }
  const config::RouteConfig& route = listener->routes[static_cast<std::size_t>(route_index)];
  report.route = route.name;
  report.Line("route: " + route.name + " -> upstream " + route.upstream);
  if (route.is_public) {
    report.decision = "allow";
    report.status = 200;
    report.reason = "public_route";
    report.Line("public route: no authentication");
    return Print(report, options.json);
  }

  // The caller.
  json::object claims;
  const config::IdentityProviderConfig* provider = nullptr;
  auto find_provider = [&](std::string_view name) {
    for (const auto& p : config.identity_providers) {
      if (p.name == name) return &p;
    }
    return static_cast<const config::IdentityProviderConfig*>(nullptr);
  };
  if (!options.claims_file.empty()) {
    if (options.provider.empty()) return Fail("--claims needs --provider");
    provider = find_provider(options.provider);
    if (provider == nullptr) return Fail("no identity provider named " + options.provider);
    auto text = ReadFile(options.claims_file);
    if (!text) return Fail("cannot read " + options.claims_file);
    error_code ec;
    json::value value = json::parse(*text, ec);
    if (ec || !value.is_object()) return Fail(options.claims_file + " is not a JSON object");
    claims = value.as_object();
    if (claims.contains("iss") && claims.contains("aud") && claims.contains("exp")) {
      // A full claims set (e.g. a decoded CI token): check iss, aud and times as the proxy
      // would, so the answer is the proxy's. A hand-written minimal set skips this.
      const json::value& iss = claims.at("iss");
      if (!iss.is_string() || iss.as_string() != provider->issuer) {
        bool known = false;
        for (const auto& p : config.identity_providers) {
          known = known || (iss.is_string() && iss.as_string() == p.issuer);
        }
        report.status = 401;
        report.reason = known ? "wrong_issuer" : "unknown_issuer";
        report.Line("caller: the claims' iss is not provider " + provider->name + "'s issuer");
        return Print(report, options.json);
      }
      identity::ClaimsPolicy policy = identity::ProviderClaimsPolicy(*provider);
      if (auto valid = identity::ValidateClaims(claims, policy); !valid) {
        report.status = 401;
        report.reason = std::string(identity::ClaimErrorName(valid.error()));
        report.Line("claims: refused (" + report.reason + ")");
        return Print(report, options.json);
      }
      report.Line("caller: claims from " + options.claims_file + " as provider " + provider->name +
                  " (issuer, audience and times checked; no signature)");
    } else {
      std::string missing;
      for (const char* name : {"iss", "aud", "exp"}) {
        if (claims.contains(name)) continue;
        if (!missing.empty()) missing += ", ";
        missing += name;
      }
      report.Line("caller: claims from " + options.claims_file + " as provider " + provider->name +
                  " (without " + missing +
                  ": issuer, audience and times are not checked, only the policy)");
    }
  } else if (!options.token_file.empty()) {
    auto token = ReadFile(options.token_file);
    if (!token) return Fail("cannot read " + options.token_file);
    if (token->starts_with("Bearer ")) token->erase(0, 7);
    std::size_t first = token->find('.');
    std::size_t second = first == std::string::npos ? first : token->find('.', first + 1);
    std::string payload;
    if (second == std::string::npos ||
        !identity::Base64UrlDecode(std::string_view(*token).substr(first + 1, second - first - 1),
                                   payload)) {
      return Fail(options.token_file + " does not hold a JWT");
    }
    error_code ec;
    json::value value = json::parse(payload, ec);
    if (ec || !value.is_object()) return Fail("the token's payload is not a JSON object");
    claims = value.as_object();
    const json::value* iss = claims.if_contains("iss");
    for (const auto& p : config.identity_providers) {
      if (iss != nullptr && iss->is_string() && iss->as_string() == p.issuer &&
          (options.provider.empty() || options.provider == p.name)) {
        provider = &p;
        break;
      }
    }
    if (provider == nullptr) {
      report.status = 401;
      report.reason = "unknown_issuer";
      report.Line("caller: no provider has the token's issuer");
      return Print(report, options.json);
    }
    if (!provider->jwks_file.empty()) {
      auto jwks = ReadFile(provider->jwks_file);
      auto keys =
          jwks ? identity::KeySet::Parse(*jwks) : std::unexpected(std::string("unreadable"));
      if (!keys) return Fail("cannot load " + provider->jwks_file + ": " + keys.error());
      identity::AlgorithmSet algorithms;
      for (auto alg : provider->algorithms) algorithms.Add(static_cast<identity::Algorithm>(alg));
      auto verified = identity::Verify(*token, **keys, algorithms);
      if (!verified) {
        report.status = 401;
        report.reason = std::string(identity::TokenErrorName(verified.error()));
        report.Line("token: refused (" + report.reason + ")");
        return Print(report, options.json);
      }
      identity::ClaimsPolicy policy = identity::ProviderClaimsPolicy(*provider);
      if (auto valid = identity::ValidateClaims(verified->payload(), policy); !valid) {
        report.status = 401;
        report.reason = std::string(identity::ClaimErrorName(valid.error()));
        report.Line("token: refused (" + report.reason + ")");
        return Print(report, options.json);
      }
      report.Line("token: signature, issuer, audience and times verified against " +
                  provider->jwks_file);
    } else {
      report.Line("token: decoded; signature not verified (provider " + provider->name +
                  " fetches its keys remotely; `ciap run` verifies)");
    }
  } else {
    return Fail("give --token-file FILE, or --claims FILE --provider NAME");
  }
  report.provider = provider->name;

  // The provider's binding.
  auto bound = claims::ClaimConditions::Compile(provider->bound_claims);
  if (!bound) return Fail(bound.error());
  if (auto why = bound->Explain(claims)) {
    report.status = 401;
    report.reason = "bound_claims";
    report.Line("provider " + provider->name + " bound_claims: no, " + *why);
    return Print(report, options.json);
  }
  report.Line("provider " + provider->name +
              " bound_claims: " + (bound->size() > 0 ? "every condition holds" : "none"));

  // The route's policy, decided by the proxy's own access filter.
  Identity identity;
  identity.provider = provider->name;
  identity.claims_document = identity::JsonDocument(claims);
  Metrics metrics;
  FilterEnv env{config, metrics};
  auto filter = access::AccessFilter::Create(*listener, env);
  if (!filter) return Fail(filter.error());
  auto explanation = static_cast<const access::AccessFilter&>(**filter).Explain(
      static_cast<std::size_t>(route_index), identity);
  if (!explanation.policy) {
    report.decision = "allow";
    report.status = 200;
    report.reason = "authenticated";
    report.Line("route policy: any authenticated caller");
    return Print(report, options.json);
  }
  for (std::string& line : explanation.lines) report.Line(std::move(line));
  report.reason = explanation.reason;
  if (explanation.shadow) {
    report.decision = explanation.allowed ? "shadow-allow" : "shadow-deny";
    report.status = 200;
    report.Line("mode: shadow (the request would pass; the decision is only logged)");
  } else {
    report.decision = explanation.allowed ? "allow" : "deny";
    report.status = explanation.allowed ? 200 : 403;
  }
  return Print(report, options.json);
}

}  // namespace ciap
