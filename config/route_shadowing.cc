// See route_shadowing.h.
#include "config/route_shadowing.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include "config/text.h"

namespace ciap::config {
namespace {

bool FullMatch(std::string_view text, const std::string& pattern) {
  RE2 re(pattern, RE2::Quiet);
  return re.ok() && RE2::FullMatch(re2::StringPiece(text.data(), text.size()), re);
}

// Normalized request paths always start with '/': a prefix of "/" holds for every path.
bool AnyPath(const RouteMatch& m) {
  return !m.path && !m.path_regex && (!m.path_prefix || *m.path_prefix == "/");
}

// Hosts are lower-case in the config; "*.example.com" holds for names ending in ".example.com"
// with at least one byte before it.
bool HostCovers(const std::string& earlier, const std::string& later) {
  if (earlier.empty()) return true;
  if (later.empty()) return false;
  if (!earlier.starts_with("*.")) return earlier == later;
  const std::string_view suffix = std::string_view(earlier).substr(1);  // ".example.com"
  if (later.starts_with("*.")) return std::string_view(later).substr(1).ends_with(suffix);
  return later.size() > suffix.size() && later.ends_with(suffix);
}

bool PathCovers(const RouteMatch& earlier, const RouteMatch& later) {
  if (AnyPath(earlier)) return true;
  if (earlier.path) return later.path == earlier.path;
  if (earlier.path_prefix) {
    const std::string& prefix = *earlier.path_prefix;
    return (later.path && later.path->starts_with(prefix)) ||
           (later.path_prefix && later.path_prefix->starts_with(prefix));
  }
  // A regex: the same pattern, or an exact path it matches.
  return later.path_regex == earlier.path_regex ||
         (later.path && FullMatch(*later.path, *earlier.path_regex));
}

bool MethodsCover(const std::vector<std::string>& earlier, const std::vector<std::string>& later) {
  if (earlier.empty()) return true;
  if (later.empty()) return false;
  return std::all_of(later.begin(), later.end(), [&](const std::string& method) {
    return std::find(earlier.begin(), earlier.end(), method) != earlier.end();
  });
}

// Whether `later`'s condition on a header makes `earlier`'s hold (both on the same name; the
// router looks at the first instance of the header for both).
bool HeaderImplies(const HeaderMatch& later, const HeaderMatch& earlier) {
  if (earlier.present) {
    if (!*earlier.present) return later.present == false;
    return later.present == true || later.exact || later.regex;
  }
  if (earlier.exact) return later.exact == earlier.exact;
  return later.regex == earlier.regex || (later.exact && FullMatch(*later.exact, *earlier.regex));
}

bool HeadersCover(const std::vector<HeaderMatch>& earlier, const std::vector<HeaderMatch>& later) {
  return std::all_of(earlier.begin(), earlier.end(), [&](const HeaderMatch& e) {
    return std::any_of(later.begin(), later.end(), [&](const HeaderMatch& l) {
      return EqualsIgnoreCase(l.name, e.name) && HeaderImplies(l, e);
    });
  });
}

// Candidates for covering a route are looked up by host condition, then by path; each list
// holds route indexes in order.
struct PathGroup {
  std::vector<std::size_t> any_path;
  std::unordered_map<std::string, std::vector<std::size_t>> exact;
  std::unordered_map<std::string, std::vector<std::size_t>> prefix;
  std::set<std::size_t> prefix_lengths;
  std::vector<std::size_t> regex;

  void Add(const RouteMatch& m, std::size_t index) {
    if (AnyPath(m)) {
      any_path.push_back(index);
    } else if (m.path) {
      exact[*m.path].push_back(index);
    } else if (m.path_prefix) {
      prefix[*m.path_prefix].push_back(index);
      prefix_lengths.insert(m.path_prefix->size());
    } else {
      regex.push_back(index);
    }
  }

  // Calls `visit` with each list of routes that might cover `m`.
  template <class Visit>
  void Candidates(const RouteMatch& m, Visit&& visit) const {
    visit(any_path);
    const std::string* path = m.path ? &*m.path : m.path_prefix ? &*m.path_prefix : nullptr;
    if (m.path) {
      if (auto it = exact.find(*m.path); it != exact.end()) visit(it->second);
    }
    if (path != nullptr) {
      for (std::size_t length : prefix_lengths) {
        if (length > path->size()) break;
        if (auto it = prefix.find(path->substr(0, length)); it != prefix.end()) visit(it->second);
      }
    }
    if (m.path || m.path_regex) visit(regex);
  }
};

class ShadowIndex {
 public:
  explicit ShadowIndex(const std::vector<RouteConfig>& routes) : routes_(routes) {}

  // The first earlier route (among those added) that covers route `index`, if any.
  std::optional<std::size_t> FindCover(std::size_t index) const {
    const RouteMatch& m = routes_[index].match;
    std::optional<std::size_t> best;
    std::size_t budget = kMaxCandidates;
    auto visit = [&](const std::vector<std::size_t>& list) {
      for (std::size_t earlier : list) {
        if (budget == 0 || (best && earlier >= *best)) return;
        --budget;
        if (MatchCovers(routes_[earlier].match, m)) best = earlier;
      }
    };
    any_host_.Candidates(m, visit);
    const std::string& host = m.host;
    if (!host.empty() && !host.starts_with("*.")) {
      if (auto it = exact_hosts_.find(host); it != exact_hosts_.end())
        it->second.Candidates(m, visit);
    }
    // The wildcards whose suffix the host (or the later wildcard's suffix) ends with: every dot
    // after the first byte starts one (for "*.x.y", the first is ".x.y" itself).
    for (std::size_t dot = host.find('.', 1); dot != std::string::npos;
         dot = host.find('.', dot + 1)) {
      if (auto it = suffix_hosts_.find(host.substr(dot)); it != suffix_hosts_.end()) {
        it->second.Candidates(m, visit);
      }
    }
    return best;
  }

  void Add(std::size_t index) {
    const RouteMatch& m = routes_[index].match;
    if (m.host.empty()) {
      any_host_.Add(m, index);
    } else if (m.host.starts_with("*.")) {
      suffix_hosts_[m.host.substr(1)].Add(m, index);
    } else {
      exact_hosts_[m.host].Add(m, index);
    }
  }

 private:
  // Candidates tried per route, at most: a table where thousands of routes share one host and
  // path and differ only by method or header is checked partly (never wrongly).
  static constexpr std::size_t kMaxCandidates = 512;

  const std::vector<RouteConfig>& routes_;
  PathGroup any_host_;
  std::unordered_map<std::string, PathGroup> exact_hosts_;
  std::unordered_map<std::string, PathGroup> suffix_hosts_;  // by ".example.com"
};

}  // namespace

bool MatchCovers(const RouteMatch& earlier, const RouteMatch& later) {
  return HostCovers(earlier.host, later.host) && PathCovers(earlier, later) &&
         MethodsCover(earlier.methods, later.methods) &&
         HeadersCover(earlier.headers, later.headers);
}

std::vector<ShadowedRoute> FindShadowedRoutes(const std::vector<RouteConfig>& routes) {
  std::vector<ShadowedRoute> shadowed;
  ShadowIndex index(routes);
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (std::optional<std::size_t> by = index.FindCover(i)) shadowed.push_back({i, *by});
    index.Add(i);
  }
  return shadowed;
}

}  // namespace ciap::config
