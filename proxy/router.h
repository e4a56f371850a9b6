// Route selection: the first route of a listener whose match holds for a request.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace re2 {
class RE2;
}

namespace ciap {

// A route's match compiled once per snapshot.
class RouteMatcher {
 public:
  explicit RouteMatcher(const config::RouteMatch& match);
  ~RouteMatcher();
  RouteMatcher(RouteMatcher&&) noexcept;

  // `host` lower-case without port; `path` normalized.
  bool Matches(std::string_view host, std::string_view path, std::string_view method,
               const boost::beast::http::fields& headers) const;

 private:
  enum class HostKind { kAny, kExact, kSuffix };
  enum class PathKind { kAny, kExact, kPrefix, kRegex };
  struct HeaderCondition {
    std::string name;
    const config::HeaderMatch* config;
    std::unique_ptr<re2::RE2> regex;
  };

  HostKind host_kind_ = HostKind::kAny;
  std::string host_;  // exact name, or ".suffix" for "*.suffix"
  PathKind path_kind_ = PathKind::kAny;
  std::string path_;
  std::unique_ptr<re2::RE2> path_regex_;
  std::vector<std::string> methods_;
  std::vector<HeaderCondition> headers_;
};

// Picks the first route, in configuration order, whose match holds: a compiled lookup that
// gives exactly the answer of trying every route in order (MatchInOrder), without trying
// them all. Routes are indexed by host (exact name, wildcard suffix, or any host), then by
// path (exact paths and prefixes in a radix tree; regex and path-less routes in a list). A
// request collects the few candidate lists its host and path reach, each sorted by route
// order, and tries their routes in ascending order: the first that fully matches (methods,
// header conditions, regex) wins, so a regex or header condition is evaluated only on a route
// that comes before every other candidate that could still match.
class Router {
 public:
  explicit Router(const config::ListenerConfig& listener);
  ~Router();
  Router(Router&&) noexcept;

  // Index of the first matching route, or -1.
  int Match(std::string_view host, std::string_view path, std::string_view method,
            const boost::beast::http::fields& headers) const;
  // The same answer by trying every route in order (the reference the lookup is tested
  // against).
  int MatchInOrder(std::string_view host, std::string_view path, std::string_view method,
                   const boost::beast::http::fields& headers) const;

 private:
  struct Index;  // router.cc
  std::vector<RouteMatcher> routes_;
  std::unique_ptr<const Index> index_;
};

// Lower-cases a Host header value and strips its port and a trailing dot, into `*out`.
void CanonicalHost(std::string_view host_header, std::string* out);

}  // namespace ciap
