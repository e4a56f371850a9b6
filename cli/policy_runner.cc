// See policy_runner.h.
#include "cli/policy_runner.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <exception>

#include "filters/api/caller.h"
#include "filters/api/stand_in.h"
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

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "METHOD URL" as the HTTP/1.1 codec would hand it to the decision path.
struct ParsedRequest {
  std::string method;
  std::string authority;
  std::string path;
  std::string query;
};

std::expected<ParsedRequest, std::string> ParseRequest(const std::string& text) {
  std::size_t space = text.find(' ');
  if (space == std::string::npos || space == 0) {
    return std::unexpected("a request is \"METHOD URL\", got \"" + text + "\"");
  }
  auto url = boost::urls::parse_uri(std::string_view(text).substr(space + 1));
  if (!url) return std::unexpected("cannot parse the URL in \"" + text + "\"");
  ParsedRequest request{text.substr(0, space), std::string(url->encoded_host_and_port()),
                        std::string(url->encoded_path()), std::string(url->encoded_query())};
  if (request.path.empty()) request.path = "/";
  return request;
}

std::vector<const config::IdentityProviderConfig*> ProvidersOf(const config::Config& config,
                                                               std::string_view issuer) {
  std::vector<const config::IdentityProviderConfig*> providers;
  for (const auto& p : config.identity_providers) {
    if (p.issuer == issuer) providers.push_back(&p);
  }
  return providers;
}

std::string IssuerOf(const json::object& claims) {
  const json::value* iss = claims.if_contains("iss");
  return iss != nullptr && iss->is_string() ? std::string(iss->as_string()) : std::string();
}

// A NumericDate claim as whole seconds, clamped to a sane range (a claim of 1e300 must not
// overflow the cast); nullopt when absent or not a number.
std::optional<int64_t> Seconds(const json::object& claims, std::string_view name) {
  const json::value* v = claims.if_contains(name);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  constexpr double kLimit = 1e15;  // ~31 million years
  return static_cast<int64_t>(std::clamp(v->to_number<double>(), -kLimit, kLimit));
}

// Moves iat, nbf and exp by the same amount so that the token starts now: from iat, else nbf,
// else (when it must) a minute before exp. Returns the shift (0: nothing moved).
int64_t IssueNow(json::object& claims, int64_t now, bool must) {
  std::optional<int64_t> start = Seconds(claims, "iat");
  if (!start) start = Seconds(claims, "nbf");
  std::optional<int64_t> exp = Seconds(claims, "exp");
  if (!start && must && exp) start = *exp - 60;
  // Issued in the future: a fixture written to stay valid. Past times are kept unless the
  // caller must (an expired real token, to show the policy), so that expiry can be tested.
  if (!start || (!must && *start <= now)) return 0;
  const int64_t shift = now - *start;
  for (const char* name : {"iat", "nbf", "exp"}) {
    if (std::optional<int64_t> t = Seconds(claims, name)) claims[name] = *t + shift;
  }
  return shift;
}

// Claims written by hand may leave out what only the token machinery cares about: fill in the
// provider's issuer and first audience and a lifetime; a claims set issued in the future (a
// fixture meant to stay valid) is moved to be issued now. Says what it did.
void CompleteClaims(json::object& claims, const config::IdentityProviderConfig* provider,
                    bool issue_now, Verdict& verdict) {
  std::vector<std::string> filled;
  const int64_t now = Now();
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
    claims["iat"] = now;  // an old iat with a fresh exp would read as a long lifetime
    filled.push_back("exp");
  } else if (int64_t shift = IssueNow(claims, now, issue_now); shift != 0) {
    verdict.Line("claims: times moved by " + std::to_string(shift) +
                 " s so that the token is issued now (its lifetime kept)");
  }
  if (filled.empty()) return;
  std::string names;
  for (const std::string& name : filled) names += (names.empty() ? "" : ", ") + name;
  verdict.Line("claims: " + names +
               " filled in (not in the claims set; only the policy is checked)");
}

}  // namespace

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

// One stand-in key per algorithm a provider signs with first: a re-signed token carries the
// algorithm its provider expects.
struct PolicyRunner::Signers {
  std::map<jose::Algorithm, jose::JwsSigner> by_algorithm;
  std::string jwks;  // every public key, one document; empty until made
};

// Services and a decision-only snapshot, prepared as `ciap run` prepares them.
struct PolicyRunner::Mode {
  Metrics metrics;
  OfflineInputs offline;
  std::unique_ptr<FilterServices> services;
  std::shared_ptr<const Snapshot> snapshot;
};

PolicyRunner::PolicyRunner(std::shared_ptr<const config::Config> config, bool offline)
    : config_(std::move(config)), offline_(offline), signers_(std::make_unique<Signers>()) {}

PolicyRunner::~PolicyRunner() = default;

// Made on first use: an RSA key takes a good part of a second to generate, and a case without a
// token, or with a token verified against key files, needs none.
std::expected<PolicyRunner::Signers*, std::string> PolicyRunner::StandIns() {
  if (!signers_->jwks.empty()) return signers_.get();
  json::array keys;
  auto add = [&](jose::Algorithm alg) -> std::expected<void, std::string> {
    if (signers_->by_algorithm.contains(alg)) return {};
    auto signer =
        jose::JwsSigner::Generate(alg, "ciap-stand-in-" + std::string(jose::AlgorithmName(alg)));
    if (!signer) return std::unexpected(signer.error());
    json::value jwks = json::parse(signer->PublicJwks());
    for (json::value& key : jwks.as_object()["keys"].as_array()) keys.push_back(std::move(key));
    signers_->by_algorithm.emplace(alg, std::move(*signer));
    return {};
  };
  if (auto added = add(jose::Algorithm::kRs256); !added) return std::unexpected(added.error());
  for (const auto& provider : config_->identity_providers) {
    if (provider.algorithms.empty()) continue;
    auto added = add(static_cast<jose::Algorithm>(provider.algorithms.front()));
    if (!added) return std::unexpected(added.error());
  }
  signers_->jwks = json::serialize(json::object{{"keys", std::move(keys)}});
  return signers_.get();
}

std::expected<PolicyRunner::Mode*, std::string> PolicyRunner::ModeFor(Keys keys) {
  if (keys == Keys::kAny && !modes_.empty()) return modes_.begin()->second.get();
  std::unique_ptr<Mode>& mode = modes_[keys];
  if (mode) return mode.get();
  auto made = std::make_unique<Mode>();
  made->offline.key_files = keys == Keys::kFiles;
  if (keys == Keys::kStandIn) {
    auto signers = StandIns();
    if (!signers) return std::unexpected(signers.error());
    made->offline.stand_in_jwks = (*signers)->jwks;
  }
  // The filters' services as `run` makes them, offline: nothing fetched, nothing started.
  made->services = std::make_unique<FilterServices>(
      FilterRegistry(),
      ServiceEnv{.metrics = &made->metrics.registry(), .offline = &made->offline});
  auto prepared = made->services->Prepare(*config_);
  if (!prepared) return std::unexpected(prepared.error());
  SnapshotInputs inputs{.prepared = std::move(*prepared), .decision_only = true};
  auto snapshot = BuildSnapshot(config_, made->metrics, std::move(inputs));
  if (!snapshot) return std::unexpected(snapshot.error());
  made->snapshot = std::move(*snapshot);
  mode = std::move(made);
  return mode.get();
}

std::expected<std::string, std::string> PolicyRunner::SignStandIn(const json::object& claims) {
  jose::Algorithm alg = jose::Algorithm::kRs256;
  auto candidates = ProvidersOf(*config_, IssuerOf(claims));
  if (!candidates.empty() && !candidates.front()->algorithms.empty()) {
    alg = static_cast<jose::Algorithm>(candidates.front()->algorithms.front());
  }
  auto signers = StandIns();
  if (!signers) return std::unexpected(signers.error());
  return (*signers)->by_algorithm.at(alg).Sign(json::serialize(claims));
}

namespace {

// The caller as the request carries it.
struct Sent {
  bool present = false;
  std::string token;
  std::string issuer;
  std::string header;  // when not the issuer's providers' first
};

// Where the chain looks for the token: the issuer's first provider's first token header.
void AddCredential(const config::Config& config, const Sent& sent,
                   boost::beast::http::fields& headers) {
  if (!sent.present) return;
  std::string header = sent.header.empty() ? "Authorization" : sent.header;
  auto candidates = ProvidersOf(config, sent.issuer);
  if (sent.header.empty() && !candidates.empty() && !candidates.front()->token_headers.empty()) {
    header = candidates.front()->token_headers.front();
  }
  const bool bearer = boost::beast::iequals(header, "authorization");
  headers.insert(header, (bearer ? "Bearer " : "") + sent.token);
}

// The decision path, exactly as the proxy runs it on a request; with no connection: no peer
// address, no TLS session.
ConnectionInfo NoPeer() {
  ConnectionInfo connection;
  connection.client_address = "-";
  return connection;
}

struct Decided {
  ConnectionInfo connection = NoPeer();
  Decision decision = Decision::Continue();
  RoutedRequest routed;
  RequestContext context;
};

void RunPath(const ListenerRuntime& listener, const ParsedRequest& request,
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
      // An exception must not leave a half-made decision standing (it would read as allow).
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run();
}

void Conclude(const ListenerRuntime& listener, const ParsedRequest& request,
              boost::beast::http::fields& headers, const Decided& decided, Verdict& verdict) {
  verdict.Line("request: " + request.method + " host " + decided.routed.host + " path " +
               decided.routed.path + " (normalized)");
  if (decided.routed.route_index < 0) {
    if (decided.decision.reason() == "no_route") {
      verdict.Line("route: none matches (ciap answers 404 without contacting an upstream)");
    } else {
      verdict.Line("path: refused (" + std::string(decided.decision.reason()) + ")");
    }
  } else {
    const config::RouteConfig& route =
        *listener.routes[static_cast<std::size_t>(decided.routed.route_index)].config;
    verdict.route = route.name;
    verdict.Line("route: " + route.name + " -> upstream " + route.upstream);
    Request filter_request{headers, request.method, decided.routed.host, decided.routed.path,
                           request.query};
    for (const auto& filter : listener.filters.filters()) {
      filter->Explain(filter_request, decided.context, verdict.explanation);
    }
  }
  if (decided.context.caller) verdict.provider = decided.context.caller->provider;
  if (!decided.decision.is_continue()) {
    verdict.decision = "deny";
    verdict.status = static_cast<int>(decided.decision.status());
    verdict.reason = std::string(decided.decision.reason());
    return;
  }
  const config::RouteConfig& route =
      *listener.routes[static_cast<std::size_t>(decided.routed.route_index)].config;
  verdict.status = 200;
  verdict.reason = std::string(decided.context.reason);
  const bool policy = !route.allow.empty() || !route.deny.empty();
  if (route.mode == config::PolicyMode::kShadow && policy) {
    verdict.decision = verdict.reason == "allowed_group" ? "shadow_allow" : "shadow_deny";
  } else {
    verdict.decision = "allow";
  }
}

bool TimeRefusal(std::string_view reason) {
  return reason == "expired" || reason == "not_yet_valid" || reason == "issued_in_future";
}

}  // namespace

std::expected<Verdict, std::string> PolicyRunner::Decide(const PolicyCase& input) {
  auto verdict = DecideOnce(input, /*allow_as_is=*/true);
  if (!verdict || input.source != PolicyCase::Source::kToken || verdict->status != 401 ||
      !TimeRefusal(verdict->reason)) {
    return verdict;
  }
  // A real token past its time: still show what the policy says about its claims.
  std::optional<json::object> claims = TokenClaims(input.token);
  if (!claims) return verdict;
  PolicyCase fresh = input;
  fresh.source = PolicyCase::Source::kClaims;
  fresh.claims = std::move(*claims);
  fresh.claims_origin = "the token";
  fresh.issue_now = true;
  auto policy = DecideOnce(fresh, /*allow_as_is=*/false);
  if (policy) {
    verdict->Line("policy: issued now, the same claims would get " + policy->decision + " (" +
                  std::to_string(policy->status) + " " + policy->reason + ") on route " +
                  policy->route);
  }
  return verdict;
}

std::expected<Verdict, std::string> PolicyRunner::DecideOnce(const PolicyCase& input,
                                                             bool allow_as_is) {
  auto request = ParseRequest(input.request);
  if (!request) return std::unexpected(request.error());
  const config::ListenerConfig* listener = &config_->listeners.front();
  if (!input.listener.empty()) {
    listener = nullptr;
    for (const auto& l : config_->listeners) listener = l.name == input.listener ? &l : listener;
    if (listener == nullptr) return std::unexpected("no listener named " + input.listener);
  }
  const config::IdentityProviderConfig* named = nullptr;
  if (!input.provider.empty()) {
    for (const auto& p : config_->identity_providers) named = p.name == input.provider ? &p : named;
    if (named == nullptr) return std::unexpected("no identity provider named " + input.provider);
  }
  Verdict verdict;
  verdict.Line("listener: " + listener->name);
  Sent sent;
  bool key_files = false;
  // Without a credential, keys play no part: any mode decides alike.
  Keys keys = input.source == PolicyCase::Source::kNone ? Keys::kAny : Keys::kStandIn;
  std::shared_ptr<const Caller> certificate;
  if (input.source == PolicyCase::Source::kNone) {
    verdict.Line("caller: no token");
  } else if (input.source == PolicyCase::Source::kClaims && named != nullptr &&
             !config::IsJwtProvider(named->type)) {
    // A source's answer (or a certificate's claims) described by hand: nothing is asked.
    verdict.Line("caller: claims from " + input.claims_origin + " (standing in for what " +
                 named->name + " would answer)");
    keys = Keys::kAny;
    if (named->type == config::ProviderType::kClientCertificate) {
      certificate = CallerFromClaims(named->name, input.claims, 0);
    } else {
      sent = Sent{true, StandInCredential(*named, input.claims), {}, named->token_headers.front()};
    }
  } else if (input.source == PolicyCase::Source::kClaims) {
    json::object claims = input.claims;
    verdict.Line("caller: claims from " + input.claims_origin + " (signed by a stand-in key)");
    CompleteClaims(claims, named, input.issue_now, verdict);
    auto token = SignStandIn(claims);
    if (!token) return std::unexpected(token.error());
    sent = Sent{true, std::move(*token), IssuerOf(claims), {}};
  } else {
    sent = Sent{true, input.token, {}, {}};
    std::optional<json::object> claims = TokenClaims(input.token);
    if (!claims) verdict.Line("caller: a token that is not a readable JWT");
    if (claims) sent.issuer = IssuerOf(*claims);
    auto candidates = ProvidersOf(*config_, sent.issuer);
    key_files = allow_as_is && !offline_ && claims && !candidates.empty();
    for (const auto* p : candidates) key_files = key_files && !p->jwks_file.empty();
    if (!claims || candidates.empty()) {
      keys = Keys::kAny;  // refused before any key is looked at: not a JWT, or no provider
    } else if (!key_files) {
      verdict.Line(
          "token: signature not verified (" +
          std::string(offline_ ? "offline" : "the provider's keys are fetched at run time") +
          "); its claims are decided on");
      auto token = SignStandIn(*claims);
      if (!token) return std::unexpected(token.error());
      sent.token = std::move(*token);
    }
  }
  if (key_files) keys = Keys::kFiles;
  auto mode = ModeFor(keys);
  if (!mode) return std::unexpected(mode.error());
  const ListenerRuntime& runtime = *(*mode)->snapshot->FindListener(listener->name);
  boost::beast::http::fields headers;
  AddCredential(*config_, sent, headers);
  Decided decided;
  decided.connection.stand_in_certificate = std::move(certificate);
  RunPath(runtime, *request, headers, decided);
  if (key_files && decided.context.caller) {
    for (const auto& p : config_->identity_providers) {
      if (p.name != decided.context.caller->provider) continue;
      verdict.Line("token: signature, issuer, audience and times verified against " + p.jwks_file);
    }
  }
  Conclude(runtime, *request, headers, decided, verdict);
  return verdict;
}

}  // namespace ciap
