// See headers_filter.h.
#include "filters/headers/headers_filter.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <cctype>

#include "proxy/identity.h"

namespace ciap::filters {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Claim values come from the token's issuer, not from us: percent-encode control bytes (and
// '%' itself) so a claim can never end a header line or smuggle another header.
std::string SafeHeaderValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '%') {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

bool HasCiapPrefix(std::string_view name) {
  return name.size() >= 7 && boost::beast::iequals(name.substr(0, 7), "x-ciap-");
}

}  // namespace

std::expected<std::unique_ptr<Filter>, std::string> HeadersFilter::Create(
    const config::ListenerConfig& listener, const FilterEnv&) {
  auto filter = std::make_unique<HeadersFilter>();
  for (const config::RouteConfig& route : listener.routes) {
    RouteOps ops;
    for (const std::string& name : route.request_headers.remove) ops.remove.push_back(Lower(name));
    ops.set = route.request_headers.set;
    ops.identity = route.request_headers.identity;
    filter->routes_.push_back(std::move(ops));
  }
  return filter;
}

Decision HeadersFilter::OnRequest(Request& request, StreamContext& context) const {
  auto& fields = request.headers;
  for (auto it = fields.begin(); it != fields.end();) {
    if (HasCiapPrefix(it->name_string())) {
      it = fields.erase(it);
    } else {
      ++it;
    }
  }
  if (context.route_index >= routes_.size()) return Decision::Continue();
  const RouteOps& ops = routes_[context.route_index];
  for (const std::string& name : ops.remove) fields.erase(name);
  for (const config::HeaderValue& header : ops.set) fields.set(header.name, header.value);
  if (ops.identity && context.identity) {
    fields.set("x-ciap-provider", SafeHeaderValue(context.identity->provider));
    fields.set("x-ciap-subject", SafeHeaderValue(context.identity->subject));
    if (!context.groups.empty()) {
      std::string groups;
      for (std::string_view group : context.groups) {
        if (!groups.empty()) groups.push_back(',');
        groups.append(group);
      }
      fields.set("x-ciap-groups", SafeHeaderValue(groups));
    }
  }
  return Decision::Continue();
}

}  // namespace ciap::filters
