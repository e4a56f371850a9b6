// The identity filter's metric families, registered once per process by its service.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace ciap::identity {

struct IdentityMetrics {
  explicit IdentityMetrics(prometheus::Registry& registry)
      : authn(prometheus::BuildCounter()
                  .Name("ciap_authn_total")
                  .Help("Authentication attempts, by provider, result (success or failure) and "
                        "reason")
                  .Register(registry)),
        jwks_fetches(prometheus::BuildCounter()
                         .Name("ciap_jwks_fetch_total")
                         .Help("JWKS (and discovery) fetches, by provider and result")
                         .Register(registry)),
        jwks_keys(prometheus::BuildGauge()
                      .Name("ciap_jwks_keys")
                      .Help("Usable keys in each provider's current key set")
                      .Register(registry)),
        jwks_last_success(prometheus::BuildGauge()
                              .Name("ciap_jwks_last_success_timestamp_seconds")
                              .Help("When each provider's keys were last fetched successfully")
                              .Register(registry)),
        token_cache(prometheus::BuildCounter()
                        .Name("ciap_token_cache_total")
                        .Help("Verified-token cache lookups, by result (hit, miss, expired, "
                              "evicted)")
                        .Register(registry)),
        lookups(prometheus::BuildCounter()
                    .Name("ciap_identity_lookups_total")
                    .Help("Calls to identity sources (GitLab, introspection, STS), by provider "
                          "and result (accepted, refused, unavailable)")
                    .Register(registry)),
        lookup_duration(prometheus::BuildHistogram()
                            .Name("ciap_identity_lookup_duration_seconds")
                            .Help("How long calls to identity sources took, by provider")
                            .Register(registry)) {}

  prometheus::Family<prometheus::Counter>& authn;            // ciap_authn_total
  prometheus::Family<prometheus::Counter>& jwks_fetches;     // ciap_jwks_fetch_total
  prometheus::Family<prometheus::Gauge>& jwks_keys;          // ciap_jwks_keys
  prometheus::Family<prometheus::Gauge>& jwks_last_success;  // ..._last_success_timestamp_seconds
  prometheus::Family<prometheus::Counter>& token_cache;      // ciap_token_cache_total
  prometheus::Family<prometheus::Counter>& lookups;          // ciap_identity_lookups_total
  prometheus::Family<prometheus::Histogram>& lookup_duration;
};

}  // namespace ciap::identity
