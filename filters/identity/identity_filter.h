// The `identity` filter: authenticates the caller of every route that requires it from a JWT
// bearer token, against the identity provider named by the token's issuer; or from a credential
// a lookup provider owns (by header and prefix: GitLab tokens, introspection, AWS IAM), asked of
// its source (lookup_source.h); or, when the request carries no credential, from the client
// certificate the listener verified (a client_certificate provider).
//
// Order of checks: token present → provider by exact `iss` → provider has keys (else 503) →
// JWS verification (identity/jws.h) → registered claims (identity/claims.h) → the provider's
// bound_claims. Verified tokens are cached per worker (token_cache.h). An unknown kid suspends
// the request while the provider's keys are refetched (rate-limited; see key_manager.h).
#pragma once

#include <atomic>
#include <expected>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "filters/api/chain.h"
#include "filters/api/filter.h"
#include "filters/identity/identity_service.h"
#include "filters/identity/key_manager.h"
#include "filters/identity/lookup_source.h"
#include "jose/algorithm.h"
#include "jose/claims.h"

namespace ciap::identity {

// The registered-claim rules (iss, aud, skew, lifetime) of a provider, at the current time.
// Views into `provider`, which must outlive the policy.
jose::ClaimsPolicy ProviderClaimsPolicy(const config::IdentityProviderConfig& provider);

class IdentityFilter : public Filter {
 public:
  static std::expected<std::unique_ptr<Filter>, std::string> Create(
      const config::ListenerConfig& listener, const FilterEnv& env);

  Decision OnRequest(Request& request, RequestContext& context) const override;
  asio::awaitable<Decision> OnRequestAsync(Request& request,
                                           RequestContext& context) const override;
  void Explain(const Request& request, const RequestContext& context,
               std::vector<std::string>& lines) const override;
  std::string_view name() const override { return "identity"; }

 private:
  struct Provider;
  struct Route {
    bool authenticate = false;
    bool forward_token = false;
    bool audit_success = false;  // a route that only authenticates: its allows are audited here
  };
  // Where the token came from, so it can be removed before forwarding.
  struct Token {
    std::string_view value;
    std::string_view header;
  };

  IdentityFilter() = default;
  std::optional<Token> FindToken(const Request& request) const;
  // OnRequest on a route that authenticates: the cache, then the full check.
  Decision Check(Request& request, RequestContext& context) const;
  // Every refusal is an audit event, and so is an allow on a route no group policy decides.
  void Audit(const Request& request, const RequestContext& context, const Decision& decision) const;
  // The full check of a token not in the cache. `may_refetch`: an unknown kid suspends.
  Decision Authenticate(Request& request, RequestContext& context, const Token& token,
                        bool may_refetch) const;
  using Candidates = std::vector<const Provider*>;
  // The providers for the token's issuer, or null with a reason.
  const Candidates* ProvidersFor(std::string_view token, std::string_view* reason) const;
  Decision AuthenticateWith(const Provider& provider, Request& request, RequestContext& context,
                            const Token& token, bool may_refetch) const;
  Decision Unauthenticated(const Provider* provider, std::string_view reason,
                           bool token_present) const;
  void Accept(Request& request, RequestContext& context, const Token& token) const;
  // The lookup provider a credential belongs to (by header and prefix), unless it is a JWT for
  // a JWT provider reading that header; null: the JWT providers decide.
  const Provider* LookupProviderFor(const Token& token) const;
  // A looked-up credential: the source's cached answer, else Suspend (OnRequestAsync asks).
  Decision AuthenticateLookup(const Provider& provider, Request& request, RequestContext& context,
                              const Token& token) const;
  // The caller the source answered with, after the provider's bound_claims.
  Decision ApplyAnswer(const Provider& provider, const LookupAnswer& answer, Request& request,
                       RequestContext& context, const Token* token) const;
  // No credential in a header: the listener's verified client certificate, if a provider
  // takes it.
  Decision AuthenticateCertificate(Request& request, RequestContext& context) const;

  std::vector<std::unique_ptr<Provider>> providers_;
  std::unordered_map<std::string, Candidates> by_issuer_;  // exact, byte-for-byte issuer
  std::vector<std::string> token_headers_;                 // union over providers, first match wins
  std::vector<std::string> jwt_headers_;                   // the JWT providers' headers
  std::vector<const Provider*> lookups_;                   // lookup providers, in config order
  const Provider* certificate_ = nullptr;                  // the client_certificate provider
  std::vector<Route> routes_;                              // by route index
  uint64_t generation_ = 0;  // tells this instance's cache entries apart
  prometheus::Counter* cache_hit_ = nullptr;
  prometheus::Counter* cache_miss_ = nullptr;
  prometheus::Counter* cache_expired_ = nullptr;
  prometheus::Counter* cache_evicted_ = nullptr;
  IdentityMetrics* metrics_ = nullptr;
  std::unique_ptr<IdentityMetrics> own_metrics_;  // when no service prepared any
};

}  // namespace ciap::identity
