// The decision path: what happens to a request between "a codec read its head" and "forward it
// or answer locally". Every codec (HTTP/1.1 today) and `ciap check` call exactly these
// functions, so the command platform teams run in their CI decides as the proxy does.
//
//   RouteRequest   canonical path and host → request hygiene → route (first match) → the
//                  path-parameter reroute check
//   RunFilters     the listener's filter chain, synchronously as far as it goes;
//   ResumeFilters  ... and on from a filter that suspended (e.g. waiting for a key refetch)
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <span>
#include <string>
#include <string_view>

#include "filters/api/filter.h"

namespace ciap {

struct ListenerRuntime;
class FilterChain;
class PreparedState;

// A request head as any protocol delivers it.
struct RequestHead {
  std::string_view method;
  std::string_view authority;  // Host (or :authority) as the client sent it, port included
  std::string_view raw_path;   // the target's path, before normalization
  std::string_view query;      // raw, without '?'
};

// What RouteRequest established. Strings are reused across a connection's requests.
struct RoutedRequest {
  std::string path;  // normalized: what the policy saw and the upstream receives
  std::string host;  // canonical: lower-case, without port or trailing dot
  int route_index = -1;
};

// Request hygiene, whatever the filter chain: every caller-sent x-ciap-* header is removed
// (only ciap asserts identity to an upstream), and a request that carries one of
// `credential_headers` more than once is refused: it would have two readings, and a server
// behind ciap that reads the last one would act on a token ciap never checked (RFC 9110 5.3:
// Authorization is not a list). Returns the refusal's reason, or empty.
std::string_view SanitizeRequestHeaders(boost::beast::http::fields& headers,
                                        std::span<const std::string> credential_headers);

// Continue with `out` filled, or a local answer: 400 (path that cannot be normalized,
// duplicate_credential, path_parameters_reroute) or 404 no_route. On a 400 for the path,
// out.path holds the raw path (cut to 256 bytes) for the access log.
Decision RouteRequest(const ListenerRuntime& listener, const RequestHead& head,
                      boost::beast::http::fields& headers, RoutedRequest& out);

// The document a filter service publishes on every listener at `raw_path` (the assertion JWKS),
// for GET and HEAD; null for any other request, which is routed as usual.
const PreparedState* FindPublicDocument(std::span<const PreparedState* const> documents,
                                        std::string_view method, std::string_view raw_path);

// Runs the chain from filter `*next` on, until one does not continue. On Suspend, `*next` is
// the suspended filter: ResumeFilters(…, *next) awaits it and goes on.
Decision RunFilters(const FilterChain& chain, Request& request, RequestContext& context,
                    std::size_t* next);
boost::asio::awaitable<Decision> ResumeFilters(const FilterChain& chain, Request& request,
                                               RequestContext& context, std::size_t next);

}  // namespace ciap
