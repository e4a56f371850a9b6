// See decide.h.
#include "proxy/decide.h"

#include <boost/beast/core/string.hpp>

#include "filters/api/chain.h"
#include "filters/api/service.h"
#include "proxy/path.h"
#include "proxy/router.h"
#include "proxy/snapshot.h"

namespace ciap {
namespace http = boost::beast::http;
using boost::beast::iequals;

namespace {

bool HasCiapPrefix(std::string_view name) {
  return name.size() >= 7 && iequals(name.substr(0, 7), "x-ciap-");
}

}  // namespace

std::string_view SanitizeRequestHeaders(http::fields& headers,
                                        std::span<const std::string> credential_headers) {
  for (auto it = headers.begin(); it != headers.end();) {
    if (HasCiapPrefix(it->name_string())) {
      it = headers.erase(it);
    } else {
      ++it;
    }
  }
  for (const std::string& name : credential_headers) {
    auto [first, last] = headers.equal_range(name);
    if (first != last && std::next(first) != last) return "duplicate_credential";
  }
  return {};
}

Decision RouteRequest(const ListenerRuntime& listener, const RequestHead& head,
                      http::fields& headers, RoutedRequest& out) {
  out.route_index = -1;
  if (auto error = NormalizePath(head.raw_path, &out.path)) {
    out.path.assign(head.raw_path.substr(0, 256));
    return Decision::Respond(http::status::bad_request, PathErrorReason(*error));
  }
  CanonicalHost(head.authority, &out.host);
  if (std::string_view refusal = SanitizeRequestHeaders(headers, listener.credential_headers);
      !refusal.empty()) {
    return Decision::Respond(http::status::bad_request, refusal);
  }
  int route = listener.router.Match(out.host, out.path, head.method, headers);
  if (route < 0) return Decision::Respond(http::status::not_found, "no_route");
  // Upstreams that drop path parameters (servlet containers read "/admin;x/y" as "/admin/y")
  // must not act on a path that routes elsewhere than the one the policy saw.
  if (std::string stripped;
      StripPathParameters(out.path, &stripped) &&
      listener.router.Match(out.host, stripped, head.method, headers) != route) {
    return Decision::Respond(http::status::bad_request, "path_parameters_reroute");
  }
  out.route_index = route;
  // A public route skips authentication, but the caller's token is still a credential for
  // ciap, not for the upstream: it goes on only where the route says forward_token.
  const config::RouteConfig& config = listener.config->routes[static_cast<std::size_t>(route)];
  if (config.is_public && !config.forward_token) {
    headers.erase(http::field::authorization);
    for (const std::string& name : listener.credential_headers) headers.erase(name);
  }
  return Decision::Continue();
}

const PreparedState* FindPublicDocument(std::span<const PreparedState* const> documents,
                                        std::string_view method, std::string_view raw_path) {
  if (method != "GET" && method != "HEAD") return nullptr;
  for (const PreparedState* document : documents) {
    if (document->public_path() == raw_path) return document;
  }
  return nullptr;
}

Decision RunFilters(const FilterChain& chain, Request& request, RequestContext& context,
                    std::size_t* next) {
  auto filters = chain.filters();
  for (; *next < filters.size(); ++*next) {
    Decision decision = filters[*next]->OnRequest(request, context);
    if (!decision.is_continue()) return decision;
  }
  return Decision::Continue();
}

boost::asio::awaitable<Decision> ResumeFilters(const FilterChain& chain, Request& request,
                                               RequestContext& context, std::size_t next) {
  for (;;) {
    Decision decision = co_await chain.filters()[next]->OnRequestAsync(request, context);
    if (!decision.is_continue()) co_return decision;
    ++next;
    decision = RunFilters(chain, request, context, &next);
    if (!decision.is_suspend()) co_return decision;
  }
}

}  // namespace ciap
