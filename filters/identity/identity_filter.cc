// See identity_filter.h.
#include "filters/identity/identity_filter.h"

#include <openssl/x509.h>

#include <boost/beast/core/string.hpp>
#include <boost/json.hpp>

#include "config/source_schema.h"
#include "filters/api/audit.h"
#include "filters/api/caller.h"
#include "filters/claims/claim_conditions.h"
#include "filters/identity/certificate_claims.h"
#include "filters/identity/token_cache.h"
#include "jose/base64url.h"
#include "jose/claims.h"
#include "jose/jws.h"
#include "jose/strict_json.h"

namespace ciap::identity {
namespace json = boost::json;
using boost::beast::iequals;

namespace {

constexpr std::chrono::seconds kRefetchWaitBound{5};

// Authentication outcomes by reason for one provider label. Reasons are a fixed set (the
// error enums' names plus a few of the filter's own), resolved once at build time.
struct AuthnCounters {
  prometheus::Counter* success = nullptr;
  std::unordered_map<std::string_view, prometheus::Counter*> failures;

  void Fail(std::string_view reason) const {
    if (auto it = failures.find(reason); it != failures.end()) it->second->Increment();
  }
};

constexpr std::string_view kOwnReasons[] = {"missing_token",
                                            "unknown_issuer",
                                            "keys_unavailable",
                                            "bound_claims",
                                            "invalid_token",
                                            "inactive_token",
                                            "expired",
                                            "wrong_audience",
                                            "invalid_certificate",
                                            "identity_source_unavailable"};

AuthnCounters MakeCounters(IdentityMetrics& metrics, const std::string& provider) {
  AuthnCounters counters;
  counters.success =
      &metrics.authn.Add({{"provider", provider}, {"result", "success"}, {"reason", "ok"}});
  auto add = [&](std::string_view reason) {
    counters.failures[reason] = &metrics.authn.Add(
        {{"provider", provider}, {"result", "failure"}, {"reason", std::string(reason)}});
  };
  for (std::string_view reason : kOwnReasons) add(reason);
  for (int e = 0; e <= static_cast<int>(jose::TokenError::kBadSignature); ++e) {
    add(jose::TokenErrorName(static_cast<jose::TokenError>(e)));
  }
  for (int e = 0; e <= static_cast<int>(jose::ClaimError::kWrongAudience); ++e) {
    add(jose::ClaimErrorName(static_cast<jose::ClaimError>(e)));
  }
  return counters;
}

TokenCache& LocalCache() {
  // One per worker thread: workers never share verified tokens, so no locks.
  thread_local TokenCache cache;
  return cache;
}

std::atomic<uint64_t> next_generation{1};

}  // namespace

jose::ClaimsPolicy ProviderClaimsPolicy(const config::IdentityProviderConfig& provider) {
  jose::ClaimsPolicy policy;
  policy.issuer = provider.issuer;
  policy.audiences = provider.audiences;
  policy.clock_skew = std::chrono::duration_cast<std::chrono::seconds>(provider.clock_skew);
  policy.max_token_lifetime =
      std::chrono::duration_cast<std::chrono::seconds>(provider.max_token_lifetime);
  policy.now = std::chrono::system_clock::now();
  return policy;
}

struct IdentityFilter::Provider {
  const config::IdentityProviderConfig* config;
  std::shared_ptr<ProviderKeys> keys;    // JWT providers
  std::shared_ptr<LookupSource> source;  // lookup providers; null offline
  std::vector<std::string> prefixes;     // lookup providers: the credentials they claim
  jose::AlgorithmSet algorithms;
  claims::ClaimConditions bound_claims;  // the tenant binding and any other must-holds
  AuthnCounters counters;
};

std::expected<std::unique_ptr<Filter>, std::string> IdentityFilter::Create(
    const config::ListenerConfig& listener, const FilterEnv& env) {
  auto filter = std::unique_ptr<IdentityFilter>(new IdentityFilter);
  filter->generation_ = next_generation.fetch_add(1);
  const auto* state = dynamic_cast<const IdentityState*>(env.prepared);
  const auto& providers = env.config.identity_providers;
  if (!providers.empty() && (state == nullptr || state->providers.size() != providers.size())) {
    return std::unexpected("identity filter built without the providers' keys");
  }
  // Without providers (and so without keys to prepare) the filter still counts its refusals.
  if (state == nullptr) filter->own_metrics_ = std::make_unique<IdentityMetrics>(env.metrics);
  filter->metrics_ = state != nullptr ? state->metrics : filter->own_metrics_.get();
  for (std::size_t i = 0; i < providers.size(); ++i) {
    auto provider = std::make_unique<Provider>();
    provider->config = &providers[i];
    provider->keys = state->providers[i];
    if (i < state->sources.size()) provider->source = state->sources[i];
    for (config::JwsAlgorithm alg : providers[i].algorithms) {
      provider->algorithms.Add(static_cast<jose::Algorithm>(alg));
    }
    provider->counters = MakeCounters(*filter->metrics_, providers[i].name);
    auto bound = claims::ClaimConditions::Compile(providers[i].bound_claims);
    if (!bound)
      return std::unexpected("identity provider " + providers[i].name + ": " + bound.error());
    provider->bound_claims = std::move(*bound);
    const bool jwt = config::IsJwtProvider(providers[i].type);
    if (jwt) filter->by_issuer_[providers[i].issuer].push_back(provider.get());
    if (config::IsLookupProvider(providers[i].type)) {
      provider->prefixes = config::ClaimedPrefixes(providers[i]);
      filter->lookups_.push_back(provider.get());
    }
    if (providers[i].type == config::ProviderType::kClientCertificate) {
      filter->certificate_ = provider.get();
    }
    auto add = [](std::vector<std::string>& headers, const std::string& header) {
      bool known = false;
      for (const std::string& h : headers) known = known || iequals(h, header);
      if (!known) headers.push_back(header);
    };
    for (const std::string& header : providers[i].token_headers) {
      add(filter->token_headers_, header);
      if (jwt) add(filter->jwt_headers_, header);
    }
    filter->providers_.push_back(std::move(provider));
  }
  for (const config::RouteConfig& route : listener.routes) {
    // Routes with group policy need an identity to decide on.
    bool authenticate = route.authenticate || !route.allow.empty() || !route.deny.empty();
    // Routes with groups are audited by the access filter, which decides them; a route that
    // only authenticates is decided here, so its successes are audited here too.
    bool audit_success = authenticate && route.allow.empty() && route.deny.empty();
    filter->routes_.push_back({authenticate, route.forward_token, audit_success});
  }
  auto& cache = filter->metrics_->token_cache;
  filter->cache_hit_ = &cache.Add({{"result", "hit"}});
  filter->cache_miss_ = &cache.Add({{"result", "miss"}});
  filter->cache_expired_ = &cache.Add({{"result", "expired"}});
  filter->cache_evicted_ = &cache.Add({{"result", "evicted"}});
  return filter;
}

std::optional<IdentityFilter::Token> IdentityFilter::FindToken(const Request& request) const {
  for (const std::string& header : token_headers_) {
    auto it = request.headers.find(header);
    if (it == request.headers.end()) continue;
    std::string_view value = it->value();
    if (iequals(header, "authorization")) {
      // RFC 6750: "Bearer" (any case), one or more spaces, the token.
      if (value.size() < 7 || !iequals(value.substr(0, 6), "bearer") || value[6] != ' ') continue;
      value.remove_prefix(7);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.empty()) continue;
    // The configured name, not the element's: erasing by a view into the element would dangle.
    return Token{value, header};
  }
  return std::nullopt;
}

Decision IdentityFilter::OnRequest(Request& request, RequestContext& context) const {
  if (context.route_index >= routes_.size() || !routes_[context.route_index].authenticate) {
    return Decision::Continue();  // public route: the only way to skip authentication
  }
  Decision decision = Check(request, context);
  if (!decision.is_suspend()) Audit(request, context, decision);
  return decision;
}

void IdentityFilter::Audit(const Request& request, const RequestContext& context,
                           const Decision& decision) const {
  std::string_view route = context.route != nullptr ? context.route->name : std::string_view();
  if (!decision.is_continue()) {
    WriteAuditEvent(request, context, route, "deny", decision.reason());
  } else if (routes_[context.route_index].audit_success) {
    WriteAuditEvent(request, context, route, "allow", context.reason);
  }
}

Decision IdentityFilter::Check(Request& request, RequestContext& context) const {
  std::optional<Token> token = FindToken(request);
  if (!token) {
    if (certificate_ != nullptr && context.connection != nullptr &&
        (context.connection->verified_certificate != nullptr ||
         context.connection->stand_in_certificate)) {
      return AuthenticateCertificate(request, context);
    }
    return Unauthenticated(nullptr, "missing_token", false);
  }

  // A cache hit skips everything below, including reading the issuer.
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  TokenCache::Result result;
  if (const TokenCache::Entry* hit = LocalCache().Find(token->value, generation_, now, &result)) {
    cache_hit_->Increment();
    static_cast<const Provider*>(hit->provider)->counters.success->Increment();
    context.caller = hit->identity;
    Accept(request, context, *token);
    return Decision::Continue();
  }
  (result == TokenCache::Result::kExpired ? cache_expired_ : cache_miss_)->Increment();
  if (const Provider* lookup = LookupProviderFor(*token)) {
    return AuthenticateLookup(*lookup, request, context, *token);
  }
  return Authenticate(request, context, *token, /*may_refetch=*/true);
}

asio::awaitable<Decision> IdentityFilter::OnRequestAsync(Request& request,
                                                         RequestContext& context) const {
  // Reached for a credential its source must be asked about, or for an unknown kid: then wait
  // (bounded) for the issuer's keys to be refetched, and decide with whatever keys there are.
  // Refetches are rate-limited per provider, so a flood of random kids costs at most one fetch
  // per interval.
  std::optional<Token> token = FindToken(request);
  if (const Provider* lookup = token ? LookupProviderFor(*token) : nullptr) {
    LookupAnswer answer = co_await lookup->source->Lookup(std::string(token->value));
    Decision decision = ApplyAnswer(*lookup, answer, request, context, &*token);
    Audit(request, context, decision);
    co_return decision;
  }
  std::string_view reason = "missing_token";
  const Candidates* candidates = token ? ProvidersFor(token->value, &reason) : nullptr;
  if (candidates == nullptr) {
    Decision decision = Unauthenticated(nullptr, reason, token.has_value());
    Audit(request, context, decision);
    co_return decision;
  }
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, kRefetchWaitBound);
  bool waiting = false;
  for (const Provider* provider : *candidates) {
    waiting |= provider->keys->RequestRefetch(
        [timer] { asio::post(timer->get_executor(), [timer] { timer->cancel(); }); });
  }
  if (waiting) co_await timer->async_wait(use_nothrow);
  Decision decision = Authenticate(request, context, *token, /*may_refetch=*/false);
  Audit(request, context, decision);
  co_return decision;
}

const IdentityFilter::Candidates* IdentityFilter::ProvidersFor(std::string_view token,
                                                               std::string_view* reason) const {
  // The issuer picks the providers, so the payload is read before the signature is checked.
  // Nothing from it is trusted: it only chooses which keys and rules apply.
  if (token.size() > jose::kMaxTokenBytes) {
    *reason = jose::TokenErrorName(jose::TokenError::kTooLarge);
    return nullptr;
  }
  std::size_t first = token.find('.');
  std::size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos) {
    *reason = jose::TokenErrorName(jose::TokenError::kMalformed);
    return nullptr;
  }
  thread_local std::string payload;
  if (!jose::Base64UrlDecode(token.substr(first + 1, second - first - 1), payload)) {
    *reason = jose::TokenErrorName(jose::TokenError::kBadBase64);
    return nullptr;
  }
  // Parsed as strictly as Verify() will: with a duplicate "iss" there is no issuer to choose.
  // Into a per-thread arena, released when this returns: no heap allocation per value.
  thread_local unsigned char arena[8192];
  json::monotonic_resource resource(arena, sizeof arena);
  auto claims = jose::ParseStrictJsonObject(payload, &resource);
  const json::value* iss = claims ? claims->if_contains("iss") : nullptr;
  auto it = iss != nullptr && iss->is_string() ? by_issuer_.find(std::string(iss->as_string()))
                                               : by_issuer_.end();
  if (it == by_issuer_.end()) {
    *reason = "unknown_issuer";
    return nullptr;
  }
  return &it->second;
}

Decision IdentityFilter::Authenticate(Request& request, RequestContext& context, const Token& token,
                                      bool may_refetch) const {
  std::string_view reason;
  // With one issuer there is nothing to choose: skip reading the payload before verification
  // (AuthenticateWith reads it only to explain a refusal).
  const Candidates* candidates =
      by_issuer_.size() == 1 ? &by_issuer_.begin()->second : ProvidersFor(token.value, &reason);
  if (candidates == nullptr) return Unauthenticated(nullptr, reason, true);
  // Several providers may share an issuer (two GitHub organizations with their own bindings):
  // the first that accepts the token wins; otherwise the first one's refusal is reported.
  std::optional<Decision> refusal;
  for (const Provider* provider : *candidates) {
    Decision decision = AuthenticateWith(*provider, request, context, token, may_refetch);
    if (decision.is_continue() || decision.is_suspend()) return decision;
    if (!refusal) refusal = std::move(decision);
  }
  return std::move(*refusal);
}

Decision IdentityFilter::AuthenticateWith(const Provider& provider, Request& request,
                                          RequestContext& context, const Token& token,
                                          bool may_refetch) const {
  // When the issuer was not read up front, a token of another issuer must still be refused as
  // such (and must not make us refetch our keys for its kid).
  auto foreign_issuer = [&]() -> std::optional<Decision> {
    if (by_issuer_.size() != 1) return std::nullopt;
    std::string_view peek_reason;
    if (ProvidersFor(token.value, &peek_reason) != nullptr) return std::nullopt;
    return Unauthenticated(nullptr, peek_reason, true);
  };

  // A token that is not even one of this issuer's is refused as such (401) whether or not the
  // keys are loaded: a garbage token gets the same answer before and after the first fetch.
  std::shared_ptr<const jose::KeySet> keys = provider.keys->keys();
  if (!keys) {
    if (auto refusal = foreign_issuer()) return std::move(*refusal);
    provider.counters.Fail("keys_unavailable");
    return Decision::Respond(http::status::service_unavailable, "keys_unavailable")
        .WithHeader("Retry-After", "5");
  }

  auto verified = jose::Verify(token.value, *keys, provider.algorithms);
  if (!verified) {
    if (auto foreign = foreign_issuer()) return std::move(*foreign);
    if (verified.error() == jose::TokenError::kUnknownKid && may_refetch)
      return Decision::Suspend();
    return Unauthenticated(&provider, jose::TokenErrorName(verified.error()), true);
  }

  const config::IdentityProviderConfig& config = *provider.config;
  jose::ClaimsPolicy policy = ProviderClaimsPolicy(config);
  const json::object& claims = verified->payload();
  if (auto valid = jose::ValidateClaims(claims, policy); !valid) {
    if (valid.error() == jose::ClaimError::kWrongIssuer ||
        valid.error() == jose::ClaimError::kMissingIssuer) {
      if (auto foreign = foreign_issuer()) return std::move(*foreign);
    }
    return Unauthenticated(&provider, jose::ClaimErrorName(valid.error()), true);
  }
  // A validly signed token of another tenant on a shared issuer (another Buildkite org, another
  // GitHub owner) is not a credential for this proxy.
  if (!provider.bound_claims.Matches(claims)) {
    return Unauthenticated(&provider, "bound_claims", true);
  }

  const json::value& exp = claims.at("exp");  // ValidateClaims guarantees a sane number
  // The verified document moves into the identity whole: its values stay where they were
  // parsed (moving it moves one pointer), so `claims` remains valid throughout.
  auto identity = std::make_shared<Caller>(Caller{
      .provider = config.name,
      .subject = ClaimText(claims, {"sub"}),
      .claims_document = std::move(verified->payload_document),
      .jti = ClaimText(claims, {"jti"}),
      .job_id = ClaimText(claims, {"job_id", "oidc.circleci.com/job-id", "run_id"}),
      .pipeline = ClaimText(
          claims, {"pipeline_slug", "project_path", "oidc.circleci.com/project-id", "repository"}),
      .expires_at = exp.is_int64()    ? exp.as_int64()
                    : exp.is_uint64() ? static_cast<int64_t>(exp.as_uint64())
                                      : static_cast<int64_t>(exp.as_double()),
      .credential_digest = DigestOf(token.value),
  });

  bool evicted = LocalCache().Insert(
      token.value, TokenCache::Entry{identity, keys, provider.keys.get(), &provider, generation_,
                                     identity->expires_at});
  if (evicted) cache_evicted_->Increment();
  provider.counters.success->Increment();
  context.caller = std::move(identity);
  Accept(request, context, token);
  return Decision::Continue();
}

const IdentityFilter::Provider* IdentityFilter::LookupProviderFor(const Token& token) const {
  const Provider* owner = nullptr;
  for (const Provider* provider : lookups_) {
    const auto& headers = provider->config->token_headers;
    if (std::none_of(headers.begin(), headers.end(),
                     [&](const std::string& h) { return iequals(h, token.header); })) {
      continue;
    }
    const auto& prefixes = provider->prefixes;
    if (!prefixes.empty() &&
        std::none_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return token.value.starts_with(p); })) {
      continue;
    }
    owner = provider;  // validate allows one owner per credential
    break;
  }
  if (owner == nullptr) return nullptr;
  // A compact JWS of a known issuer, in a header the JWT providers read, is theirs.
  const bool jwt_header =
      std::any_of(jwt_headers_.begin(), jwt_headers_.end(),
                  [&](const std::string& h) { return iequals(h, token.header); });
  std::string_view reason;
  if (jwt_header && std::count(token.value.begin(), token.value.end(), '.') == 2 &&
      ProvidersFor(token.value, &reason) != nullptr) {
    return nullptr;
  }
  return owner;
}

Decision IdentityFilter::AuthenticateLookup(const Provider& provider, Request& request,
                                            RequestContext& context, const Token& token) const {
  if (!provider.source) {
    LookupAnswer unavailable = LookupAnswer::Unavailable("no source (offline)");
    return ApplyAnswer(provider, unavailable, request, context, &token);
  }
  if (std::optional<LookupAnswer> cached = provider.source->Cached(token.value)) {
    return ApplyAnswer(provider, *cached, request, context, &token);
  }
  return Decision::Suspend();
}

Decision IdentityFilter::ApplyAnswer(const Provider& provider, const LookupAnswer& answer,
                                     Request& request, RequestContext& context,
                                     const Token* token) const {
  if (answer.kind == LookupAnswer::Kind::kUnavailable) {
    provider.counters.Fail("identity_source_unavailable");
    return Decision::Respond(http::status::service_unavailable, "identity_source_unavailable")
        .WithHeader("Retry-After", "5");
  }
  if (answer.kind == LookupAnswer::Kind::kRefused) {
    return Unauthenticated(&provider, answer.reason, true);
  }
  if (!provider.bound_claims.Matches(answer.caller->claims())) {
    return Unauthenticated(&provider, "bound_claims", true);
  }
  if (token != nullptr) {
    // The worker's cache keeps it no longer than the source's cache would.
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    int64_t until =
        now + std::chrono::duration_cast<std::chrono::seconds>(provider.config->cache_ttl).count();
    if (answer.expires_at > 0) until = std::min(until, answer.expires_at);
    // An answer from the source's cache is good only as long as that cache keeps it: counted
    // from when the source answered, not from this request.
    if (answer.cached_until > 0) until = std::min(until, answer.cached_until);
    bool evicted = LocalCache().Insert(
        token->value,
        TokenCache::Entry{answer.caller, nullptr, nullptr, &provider, generation_, until});
    if (evicted) cache_evicted_->Increment();
  }
  provider.counters.success->Increment();
  context.caller = answer.caller;
  context.reason = "authenticated";
  if (token != nullptr && !routes_[context.route_index].forward_token) {
    request.headers.erase(token->header);
  }
  return Decision::Continue();
}

Decision IdentityFilter::AuthenticateCertificate(Request& request, RequestContext& context) const {
  const ConnectionInfo& connection = *context.connection;
  if (connection.stand_in_certificate) {
    connection.certificate_caller = connection.stand_in_certificate;
    connection.certificate_owner = generation_;
  }
  // The same certificate for every request on the connection: its claims are made once.
  if (!connection.certificate_caller || connection.certificate_owner != generation_) {
    auto claims = CertificateClaims(const_cast<X509*>(connection.verified_certificate));
    if (!claims) return Unauthenticated(certificate_, claims.error().reason, true);
    auto caller = claims->ToCaller(certificate_->config->name);
    unsigned int size = 0;  // the certificate's SHA-256 names it (see Caller)
    X509_digest(connection.verified_certificate, EVP_sha256(), caller->credential_digest.data(),
                &size);
    connection.certificate_caller = std::move(caller);
    connection.certificate_owner = generation_;
  }
  // A connection may outlive its certificate: past notAfter it is no credential.
  const int64_t end = connection.certificate_caller->expires_at;
  if (end > 0 && end <= std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count()) {
    return Unauthenticated(certificate_, "expired", true);
  }
  LookupAnswer answer;
  answer.kind = LookupAnswer::Kind::kAccepted;
  answer.caller = connection.certificate_caller;
  return ApplyAnswer(*certificate_, answer, request, context, nullptr);
}

void IdentityFilter::Accept(Request& request, RequestContext& context, const Token& token) const {
  context.reason = "authenticated";
  // The token is a bearer credential for ciap, not for the upstream.
  if (!routes_[context.route_index].forward_token) request.headers.erase(token.header);
}

void IdentityFilter::Explain(const Request& request, const RequestContext& context,
                             std::vector<std::string>& lines) const {
  if (context.route_index >= routes_.size() || !routes_[context.route_index].authenticate) {
    lines.push_back("identity: not required on this route");
    return;
  }
  if (context.caller) {
    lines.push_back("identity: provider " + context.caller->provider +
                    " accepted the token (subject " + context.caller->subject + ")");
    return;
  }
  std::optional<Token> token = FindToken(request);
  std::string_view reason;
  const Candidates* candidates = token ? ProvidersFor(token->value, &reason) : nullptr;
  if (candidates == nullptr) return;  // the refusal's reason says it all
  // Why each provider of the issuer refused a token whose signature and times may be fine.
  std::string_view payload_segment = token->value.substr(token->value.find('.') + 1);
  payload_segment = payload_segment.substr(0, payload_segment.find('.'));
  std::string payload;
  if (!jose::Base64UrlDecode(payload_segment, payload)) return;
  auto claims = jose::ParseStrictJsonDocument(payload);
  if (!claims) return;
  for (const Provider* provider : *candidates) {
    std::optional<std::string> why = provider->bound_claims.Explain(claims->object());
    lines.push_back("provider " + provider->config->name + " bound_claims: " +
                    (why                                 ? "no, " + *why
                     : provider->bound_claims.size() > 0 ? "every condition holds"
                                                         : "none"));
  }
}

Decision IdentityFilter::Unauthenticated(const Provider* provider, std::string_view reason,
                                         bool token_present) const {
  if (provider != nullptr) {
    provider->counters.Fail(reason);
  } else {
    // Not attributable to a provider: counted under provider "-".
    metrics_->authn.Add({{"provider", "-"}, {"result", "failure"}, {"reason", std::string(reason)}})
        .Increment();
  }
  // RFC 6750 §3.1: no error code when the request simply carried no credential.
  return Decision::Respond(http::status::unauthorized, reason)
      .WithHeader("WWW-Authenticate", token_present
                                          ? "Bearer realm=\"ciap\", error=\"invalid_token\""
                                          : "Bearer realm=\"ciap\"");
}

}  // namespace ciap::identity
