// The `headers` filter: makes the upstream see only headers ciap vouches for.
//
// Drops every inbound x-ciap-* header (only ciap may assert identity to the upstream), then
// applies the route's request_headers: `remove` first, then `set` (which also drops any
// caller-supplied header of the same name, so a caller can never pre-seed an injected one).
// With `request_headers.identity`, the authenticated caller is named in x-ciap-provider and
// x-ciap-subject.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/filter.h"
#include "proxy/filter_chain.h"

namespace ciap::filters {

class HeadersFilter : public Filter {
 public:
  static std::expected<std::unique_ptr<Filter>, std::string> Create(
      const config::ListenerConfig& listener, const FilterEnv& env);

  Decision OnRequest(Request& request, StreamContext& context) const override;
  std::string_view name() const override { return "headers"; }

 private:
  struct RouteOps {
    std::vector<std::string> remove;  // lower-case names
    std::vector<config::HeaderValue> set;
    bool identity = false;  // inject x-ciap-provider / x-ciap-subject
  };
  std::vector<RouteOps> routes_;  // indexed by route index within the listener
};

}  // namespace ciap::filters
