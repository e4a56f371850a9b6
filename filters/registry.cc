// The table of every filter ciap knows. Adding a filter = one line here.
#include "filters/headers/headers_filter.h"
#include "proxy/filter_chain.h"

namespace ciap {

std::span<const FilterRegistration> FilterRegistry() {
  static const FilterRegistration kFilters[] = {
      {"headers", &filters::HeadersFilter::Create},
  };
  return kFilters;
}

}  // namespace ciap
