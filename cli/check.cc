// See check.h. `ciap check` runs the proxy's own decision path (decide.h) on the listener's
// routers and deciding filters, built from the config as `ciap run` builds them. What it cannot
// have offline, it stands in for without changing the path:
// - a token of a provider whose keys are fetched at run time is re-signed, claims unchanged,
//   with a key check makes for itself, which stands in for that provider's keys;
// - `--claims` become such a token, iss/aud/exp/iat filled in where the claims lack them.
// A token whose issuer's providers all have a `jwks_file` is verified as it is.
#include "cli/check.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "config/loader.h"
#include "filters/api/caller.h"
#include "filters/registry.h"
#include "jose/base64url.h"
#include "jose/jws_signer.h"
#include "jose/strict_json.h"
#include "proxy/decide.h"
#include "proxy/metrics.h"
#include "proxy/services.h"
#include "proxy/snapshot.h"

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
  std::stringstream contents;
  if (path == "-") {
    contents << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    contents << in.rdbuf();
  }
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

// "METHOD URL" as the HTTP/1.1 codec would hand it to the decision path.
struct CheckRequest {
  std::string method;
  std::string authority;
  std::string path;
  std::string query;
};

std::expected<CheckRequest, std::string> ParseRequest(const std::string& text) {
  std::size_t space = text.find(' ');
  if (space == std::string::npos) return std::unexpected("--request needs \"METHOD URL\"");
  auto url = boost::urls::parse_uri(std::string_view(text).substr(space + 1));
  if (!url) return std::unexpected("--request: cannot parse the URL");
  CheckRequest request{text.substr(0, space), std::string(url->encoded_host_and_port()),
                       std::string(url->encoded_path()), std::string(url->encoded_query())};
  if (request.path.empty()) request.path = "/";
  return request;
}

// The caller check sends: a token (or none) and the claims it carries.
struct Credential {
  bool present = false;
  std::string token;
  std::optional<json::object> claims;  // absent when the token cannot be decoded
  bool as_is = false;  // sent as given: verified against jwks_file keys, or not a JWT at all
  std::string issuer;
};

std::vector<const config::IdentityProviderConfig*> ProvidersOf(const config::Config& config,
                                                               std::string_view issuer) {
  std::vector<const config::IdentityProviderConfig*> providers;
  for (const auto& p : config.identity_providers) {
    if (p.issuer == issuer) providers.push_back(&p);
  }
  return providers;
}

// A hand-written claims set may leave out what only the token machinery cares about: fill in
// the provider's issuer and first audience and a current lifetime, and say so.
void CompleteClaims(json::object& claims, const config::IdentityProviderConfig* provider,
                    Report& report) {
  std::vector<std::string> filled;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  if (!claims.contains("iss") && provider != nullptr) {
    claims["iss"] = provider->issuer;
    filled.push_back("iss");
  }
  if (!claims.contains("aud") && provider != nullptr && !provider->audiences.empty()) {
    claims["aud"] = provider->audiences.front();
    filled.push_back("aud");
  }
  if (!claims.contains("exp")) {
    claims["exp"] = now + 60;
    if (!claims.contains("iat")) claims["iat"] = now;
    filled.push_back("exp");
  }
  if (filled.empty()) return;
  std::string names;
  for (const std::string& name : filled) names += (names.empty() ? "" : ", ") + name;
  report.Line("claims: " + names +
              " filled in (not in the claims set; only the policy is checked)");
}

// The payload of a compact JWS, strictly parsed; nullopt when it is not one.
std::optional<json::object> TokenClaims(std::string_view token) {
  std::size_t first = token.find('.');
  std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  std::string payload;
  if (second == std::string_view::npos ||
      !jose::Base64UrlDecode(token.substr(first + 1, second - first - 1), payload)) {
    return std::nullopt;
  }
  auto document = jose::ParseStrictJsonDocument(payload);
  if (!document) return std::nullopt;
  return json::object(document->object(), json::storage_ptr());
}

std::expected<Credential, std::string> ReadCredential(const CheckOptions& options,
                                                      const config::Config& config,
                                                      Report& report) {
  Credential credential;
  if (options.anonymous) {
    report.Line("caller: no token");
    return credential;
  }
  credential.present = true;
  const config::IdentityProviderConfig* named = nullptr;
  if (!options.provider.empty()) {
    for (const auto& p : config.identity_providers) named = p.name == options.provider ? &p : named;
    if (named == nullptr) return std::unexpected("no identity provider named " + options.provider);
  }
  if (!options.claims_file.empty()) {
    auto text = ReadFile(options.claims_file);
    if (!text) return std::unexpected("cannot read " + options.claims_file);
    auto document = jose::ParseStrictJsonDocument(*text);
    if (!document) return std::unexpected(options.claims_file + " is not a strict JSON object");
    // A copy in the default memory: the document's own block goes with it.
    credential.claims = json::object(document->object(), json::storage_ptr());
    report.Line("caller: claims from " + options.claims_file + " (signed by check itself)");
    CompleteClaims(*credential.claims, named, report);
  } else if (!options.token_file.empty()) {
    auto token = ReadFile(options.token_file);
    if (!token) return std::unexpected("cannot read " + options.token_file);
    if (token->starts_with("Bearer ")) token->erase(0, 7);
    credential.token = std::move(*token);
    credential.claims = TokenClaims(credential.token);
    // Not a JWT at all: the proxy refuses it as it is, and so does check.
    if (!credential.claims) report.Line("caller: a token that is not a readable JWT");
  } else {
    return std::unexpected("give --token-file FILE, --claims FILE or --anonymous");
  }
  const json::value* iss = credential.claims ? credential.claims->if_contains("iss") : nullptr;
  if (iss != nullptr && iss->is_string()) credential.issuer = std::string(iss->as_string());
  return credential;
}

// What the identity service uses offline, and the token to send: the real one where the
// issuer's providers all read local key files, otherwise the claims re-signed with check's own
// key, which then stands in for every provider's keys.
std::expected<OfflineInputs, std::string> PrepareKeys(const config::Config& config,
                                                      Credential& credential, Report& report) {
  auto candidates = ProvidersOf(config, credential.issuer);
  bool file_keys = !credential.token.empty() && !candidates.empty();
  for (const auto* p : candidates) file_keys = file_keys && !p->jwks_file.empty();
  credential.as_is = file_keys || (credential.present && !credential.claims);
  OfflineInputs offline{.stand_in_jwks = {}, .key_files = file_keys};
  if (credential.as_is || !credential.present) return offline;

  jose::Algorithm alg = jose::Algorithm::kRs256;
  if (!candidates.empty() && !candidates.front()->algorithms.empty()) {
    alg = static_cast<jose::Algorithm>(candidates.front()->algorithms.front());
  }
  auto signer = jose::JwsSigner::Generate(alg, "ciap-check");
  if (!signer) return std::unexpected(signer.error());
  offline.stand_in_jwks = signer->PublicJwks();
  if (!credential.token.empty()) {
    report.Line(
        "token: signature not verified (the provider's keys are fetched at run time); "
        "its claims are decided on");
  }
  auto token = signer->Sign(json::serialize(*credential.claims));
  if (!token) return std::unexpected(token.error());
  credential.token = std::move(*token);
  return offline;
}

// Where the chain looks for the token: the issuer's first provider's first token header.
void AddCredential(const config::Config& config, const Credential& credential,
                   boost::beast::http::fields& headers) {
  if (!credential.present) return;
  std::string header = "Authorization";
  auto candidates = ProvidersOf(config, credential.issuer);
  if (!candidates.empty() && !candidates.front()->token_headers.empty()) {
    header = candidates.front()->token_headers.front();
  }
  const bool bearer = boost::beast::iequals(header, "authorization");
  headers.insert(header, (bearer ? "Bearer " : "") + credential.token);
}

// check has no connection: no peer address, no TLS session.
ConnectionInfo NoPeer() {
  ConnectionInfo connection;
  connection.client_address = "-";
  return connection;
}

// The decision path, exactly as the proxy runs it on a request.
struct Decided {
  ConnectionInfo connection = NoPeer();
  Decision decision = Decision::Continue();
  RoutedRequest routed;
  RequestContext context;
};

void Decide(const ListenerRuntime& listener, const CheckRequest& request,
            boost::beast::http::fields& headers, Decided& out) {
  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        RequestHead head{request.method, request.authority, request.path, request.query};
        out.decision = RouteRequest(listener, head, headers, out.routed);
        if (!out.decision.is_continue()) co_return;
        const RouteRuntime& route =
            listener.routes[static_cast<std::size_t>(out.routed.route_index)];
        out.context.listener = listener.config->name;
        out.context.route = route.config;
        out.context.route_index = static_cast<std::size_t>(out.routed.route_index);
        out.context.request_id = "check";
        out.context.connection = &out.connection;
        if (route.config->is_public) out.context.reason = "public_route";
        Request filter_request{headers, request.method, out.routed.host, out.routed.path,
                               request.query};
        std::size_t next = 0;
        out.decision = RunFilters(listener.filters, filter_request, out.context, &next);
        if (out.decision.is_suspend()) {
          out.decision =
              co_await ResumeFilters(listener.filters, filter_request, out.context, next);
        }
      },
      asio::detached);
  io.run();
}

void Conclude(const ListenerRuntime& listener, const CheckRequest& request,
              boost::beast::http::fields& headers, const Decided& decided, Report& report) {
  if (decided.routed.route_index < 0) {
    if (decided.decision.reason() == "no_route") {
      report.Line("route: none matches (ciap answers 404 without contacting an upstream)");
    } else {
      report.Line("path: refused (" + std::string(decided.decision.reason()) + ")");
    }
  } else {
    const config::RouteConfig& route =
        *listener.routes[static_cast<std::size_t>(decided.routed.route_index)].config;
    report.route = route.name;
    report.Line("route: " + route.name + " -> upstream " + route.upstream);
    Request filter_request{headers, request.method, decided.routed.host, decided.routed.path,
                           request.query};
    for (const auto& filter : listener.filters.filters()) {
      filter->Explain(filter_request, decided.context, report.lines);
    }
  }
  if (decided.context.caller) report.provider = decided.context.caller->provider;
  if (!decided.decision.is_continue()) {
    report.decision = "deny";
    report.status = static_cast<int>(decided.decision.status());
    report.reason = std::string(decided.decision.reason());
    return;
  }
  const config::RouteConfig& route =
      *listener.routes[static_cast<std::size_t>(decided.routed.route_index)].config;
  report.status = 200;
  report.reason = std::string(decided.context.reason);
  const bool policy = !route.allow.empty() || !route.deny.empty();
  if (route.mode == config::PolicyMode::kShadow && policy) {
    report.decision = report.reason == "allowed_group" ? "shadow-allow" : "shadow-deny";
  } else {
    report.decision = "allow";
  }
}

}  // namespace

int RunCheck(const CheckOptions& options) {
  auto loaded = config::LoadConfigFile(options.config_path);
  if (!loaded) {
    for (const auto& error : loaded.error()) std::fprintf(stderr, "%s\n", error.ToString().c_str());
    return 2;
  }
  std::shared_ptr<const config::Config> config = *loaded;
  auto request = ParseRequest(options.request);
  if (!request) return Fail(request.error());
  const config::ListenerConfig* listener = &config->listeners.front();
  if (!options.listener.empty()) {
    listener = nullptr;
    for (const auto& l : config->listeners) listener = l.name == options.listener ? &l : listener;
    if (listener == nullptr) return Fail("no listener named " + options.listener);
  }
  Report report;
  report.Line("listener: " + listener->name);
  auto credential = ReadCredential(options, *config, report);
  if (!credential) return Fail(credential.error());
  auto offline = PrepareKeys(*config, *credential, report);
  if (!offline) return Fail(offline.error());

  // The filters' services as `run` makes them, offline: nothing fetched, nothing started.
  Metrics metrics;
  FilterServices services(FilterRegistry(),
                          ServiceEnv{.metrics = &metrics.registry(), .offline = &*offline});
  auto prepared = services.Prepare(*config);
  if (!prepared) return Fail(prepared.error());
  SnapshotInputs inputs{.prepared = std::move(*prepared), .decision_only = true};
  auto snapshot = BuildSnapshot(config, metrics, std::move(inputs));
  if (!snapshot) return Fail(snapshot.error());
  const ListenerRuntime& runtime = *(*snapshot)->FindListener(listener->name);

  boost::beast::http::fields headers;
  AddCredential(*config, *credential, headers);
  Decided decided;
  Decide(runtime, *request, headers, decided);
  if (credential->as_is && decided.context.caller) {
    for (const auto& p : config->identity_providers) {
      if (p.name != decided.context.caller->provider) continue;
      report.Line("token: signature, issuer, audience and times verified against " + p.jwks_file);
    }
  }
  report.Line("request: " + request->method + " host " + decided.routed.host + " path " +
              decided.routed.path + " (normalized)");
  Conclude(runtime, *request, headers, decided, report);
  return Print(report, options.json);
}

}  // namespace ciap
