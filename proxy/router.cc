// See router.h.
#include "proxy/router.h"

#include <re2/re2.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <cctype>

namespace ciap {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::unique_ptr<re2::RE2> Compile(const std::string& pattern) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  // The loader validated the pattern; a failure here would be a loader bug.
  return std::make_unique<re2::RE2>(pattern, options);
}

}  // namespace

void CanonicalHost(std::string_view host, std::string* out) {
  if (!host.empty() && host.front() == '[') {  // IPv6 literal: keep brackets, drop the port
    std::size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else if (std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  out->assign(host);
  for (char& c : *out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

RouteMatcher::RouteMatcher(const config::RouteMatch& match) {
  if (!match.host.empty()) {
    if (match.host.starts_with("*.")) {
      host_kind_ = HostKind::kSuffix;
      host_ = Lower(match.host.substr(1));
    } else {
      host_kind_ = HostKind::kExact;
      host_ = Lower(match.host);
    }
  }
  if (match.path) {
    path_kind_ = PathKind::kExact;
    path_ = *match.path;
  } else if (match.path_prefix) {
    path_kind_ = PathKind::kPrefix;
    path_ = *match.path_prefix;
  } else if (match.path_regex) {
    path_kind_ = PathKind::kRegex;
    path_regex_ = Compile(*match.path_regex);
  }
  methods_ = match.methods;
  for (const config::HeaderMatch& h : match.headers) {
    HeaderCondition condition{h.name, &h, nullptr};
    if (h.regex) condition.regex = Compile(*h.regex);
    headers_.push_back(std::move(condition));
  }
}

RouteMatcher::~RouteMatcher() = default;
RouteMatcher::RouteMatcher(RouteMatcher&&) noexcept = default;

bool RouteMatcher::Matches(std::string_view host, std::string_view path, std::string_view method,
                           const boost::beast::http::fields& headers) const {
  switch (host_kind_) {
    case HostKind::kAny:
      break;
    case HostKind::kExact:
      if (host != host_) return false;
      break;
    case HostKind::kSuffix:
      if (host.size() <= host_.size() || !host.ends_with(host_)) return false;
      break;
  }
  switch (path_kind_) {
    case PathKind::kAny:
      break;
    case PathKind::kExact:
      if (path != path_) return false;
      break;
    case PathKind::kPrefix:
      if (!path.starts_with(path_)) return false;
      break;
    case PathKind::kRegex:
      if (!re2::RE2::FullMatch(re2::StringPiece(path.data(), path.size()), *path_regex_)) {
        return false;
      }
      break;
  }
  if (!methods_.empty() && std::find(methods_.begin(), methods_.end(), method) == methods_.end()) {
    return false;
  }
  for (const HeaderCondition& condition : headers_) {
    auto it = headers.find(condition.name);
    bool present = it != headers.end();
    if (condition.config->present) {
      if (present != *condition.config->present) return false;
      continue;
    }
    if (!present) return false;
    std::string_view value = it->value();
    if (condition.config->exact && value != *condition.config->exact) return false;
    if (condition.regex &&
        !re2::RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *condition.regex)) {
      return false;
    }
  }
  return true;
}

Router::Router(const config::ListenerConfig& listener) {
  routes_.reserve(listener.routes.size());
  for (const config::RouteConfig& route : listener.routes) routes_.emplace_back(route.match);
}

int Router::Match(std::string_view host, std::string_view path, std::string_view method,
                  const boost::beast::http::fields& headers) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].Matches(host, path, method, headers)) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace ciap
