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

class Router {
 public:
  explicit Router(const config::ListenerConfig& listener);

  // Index of the first matching route, or -1.
  int Match(std::string_view host, std::string_view path, std::string_view method,
            const boost::beast::http::fields& headers) const;

 private:
  std::vector<RouteMatcher> routes_;
};

// Lower-cases a Host header value and strips its port and a trailing dot, into `*out`.
void CanonicalHost(std::string_view host_header, std::string* out);

}  // namespace ciap
