// The table of every filter ciap knows. Adding a filter = one line here.
#include "filters/registry.h"

#include "filters/access/access_filter.h"
#include "filters/headers/headers_filter.h"
#include "filters/headers/headers_service.h"
#include "filters/identity/identity_filter.h"
#include "filters/identity/identity_service.h"
#include "filters/rate_limit/rate_limit_filter.h"

namespace ciap {

std::span<const FilterRegistration> FilterRegistry() {
  static const FilterRegistration kFilters[] = {
      {"identity", &identity::IdentityFilter::Create, /*decides=*/true,
       &identity::IdentityService::Make},
      {"access", &access::AccessFilter::Create, /*decides=*/true},
      {"rate_limit", &rate_limit::RateLimitFilter::Create, /*decides=*/false,
       &rate_limit::RateLimitService::Make},
      {"headers", &headers::HeadersFilter::Create, /*decides=*/false,
       &headers::HeadersService::Make},
  };
  return kFilters;
}

}  // namespace ciap
