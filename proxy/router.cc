// See router.h.
#include "proxy/router.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <cctype>
#include <span>
#include <unordered_map>

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

namespace {

// Exact paths and path prefixes in a radix tree: a walk along the request path meets every
// node whose key is a prefix of it, and the node whose key is the whole path.
class PathTree {
 public:
  void Insert(std::string_view key, int route, bool exact) {
    Node* node = &root_;
    for (;;) {
      if (key.empty()) break;
      Node* child = node->Find(key.front());
      if (child == nullptr) {
        node = node->Add(std::string(key));
        break;
      }
      std::size_t common = 0;
      const std::size_t limit = std::min(key.size(), child->label.size());
      while (common < limit && key[common] == child->label[common]) ++common;
      if (common < child->label.size()) child = node->Split(child, common);
      key.remove_prefix(common);
      node = child;
    }
    (exact ? node->exact : node->prefix).push_back(route);
  }

  // Calls `emit` with each non-empty route list the path reaches: prefixes of it, then the
  // routes whose exact path it is.
  template <class Emit>
  void Walk(std::string_view path, Emit&& emit) const {
    const Node* node = &root_;
    for (;;) {
      if (!node->prefix.empty()) emit(node->prefix);
      if (path.empty()) {
        if (!node->exact.empty()) emit(node->exact);
        return;
      }
      const Node* child = node->Find(path.front());
      if (child == nullptr || !path.starts_with(child->label)) return;
      path.remove_prefix(child->label.size());
      node = child;
    }
  }

 private:
  struct Node {
    std::string label;  // the edge from the parent
    std::vector<int> prefix;
    std::vector<int> exact;
    std::vector<std::unique_ptr<Node>> children;  // sorted by first label byte

    template <class Children>
    static auto LowerBound(Children& children, char c) {
      return std::lower_bound(
          children.begin(), children.end(), c,
          [](const std::unique_ptr<Node>& n, char v) { return n->label.front() < v; });
    }
    Node* Find(char c) const {
      auto it = LowerBound(children, c);
      return it != children.end() && (*it)->label.front() == c ? it->get() : nullptr;
    }
    Node* Add(std::string label) {
      auto node = std::make_unique<Node>();
      node->label = std::move(label);
      return children.insert(LowerBound(children, node->label.front()), std::move(node))->get();
    }
    // Cuts `child`'s edge after `at` bytes; returns the new middle node.
    Node* Split(Node* child, std::size_t at) {
      auto it = LowerBound(children, child->label.front());
      auto middle = std::make_unique<Node>();
      middle->label = child->label.substr(0, at);
      child->label.erase(0, at);
      middle->children.push_back(std::move(*it));
      *it = std::move(middle);
      return it->get();
    }
  };
  Node root_;
};

// The routes of one host condition, by path.
struct PathIndex {
  PathTree tree;
  std::vector<int> others;  // regex or no path condition: candidates for every path

  void Add(const config::RouteMatch& match, int route) {
    if (match.path) {
      tree.Insert(*match.path, route, /*exact=*/true);
    } else if (match.path_prefix) {
      tree.Insert(*match.path_prefix, route, /*exact=*/false);
    } else {
      others.push_back(route);
    }
  }
  template <class Emit>
  void Collect(std::string_view path, Emit&& emit) const {
    tree.Walk(path, emit);
    if (!others.empty()) emit(others);
  }
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
using HostMap = std::unordered_map<std::string, PathIndex, StringHash, std::equal_to<>>;

// Up to this many candidate lists are merged in place; a request reaching more (a deep path
// under many nested prefixes, on many wildcard names) is matched in order instead.
constexpr std::size_t kMaxLists = 32;

constexpr std::size_t kInOrderRoutes = 16;

}  // namespace

struct Router::Index {
  HostMap exact_hosts;   // "api.example.com"
  HostMap suffix_hosts;  // ".example.com" for "*.example.com"
  PathIndex any_host;
};

Router::Router(const config::ListenerConfig& listener) {
  routes_.reserve(listener.routes.size());
  auto index = std::make_unique<Index>();
  for (std::size_t i = 0; i < listener.routes.size(); ++i) {
    const config::RouteMatch& match = listener.routes[i].match;
    routes_.emplace_back(match);
    PathIndex* group = &index->any_host;
    if (match.host.starts_with("*.")) {
      group = &index->suffix_hosts[Lower(match.host.substr(1))];
    } else if (!match.host.empty()) {
      group = &index->exact_hosts[Lower(match.host)];
    }
    group->Add(match, static_cast<int>(i));
  }
  index_ = std::move(index);
}

Router::~Router() = default;
Router::Router(Router&&) noexcept = default;

int Router::Match(std::string_view host, std::string_view path, std::string_view method,
                  const boost::beast::http::fields& headers) const {
  // A short table is tried in order faster than the index is consulted (about 4 ns a route
  // against 70 ns).
  if (routes_.size() <= kInOrderRoutes) return MatchInOrder(host, path, method, headers);
  std::array<std::span<const int>, kMaxLists> lists;
  std::size_t count = 0;
  bool overflow = false;
  auto emit = [&](const std::vector<int>& list) {
    if (count == kMaxLists) {
      overflow = true;
      return;
    }
    lists[count++] = list;
  };
  if (auto it = index_->exact_hosts.find(host); it != index_->exact_hosts.end()) {
    it->second.Collect(path, emit);
  }
  if (!index_->suffix_hosts.empty()) {
    // "*.example.com" holds for any name ending in ".example.com" with at least one byte
    // before it: every dot after the first byte starts a suffix to look up.
    for (std::size_t dot = host.find('.', 1); dot != std::string_view::npos;
         dot = host.find('.', dot + 1)) {
      auto it = index_->suffix_hosts.find(host.substr(dot));
      if (it != index_->suffix_hosts.end()) it->second.Collect(path, emit);
    }
  }
  index_->any_host.Collect(path, emit);
  if (overflow) return MatchInOrder(host, path, method, headers);

  // Merge the sorted lists: candidates in route order, the first full match wins.
  std::array<std::size_t, kMaxLists> next{};
  for (;;) {
    std::size_t best_list = kMaxLists;
    int best = -1;
    for (std::size_t i = 0; i < count; ++i) {
      if (next[i] < lists[i].size() && (best < 0 || lists[i][next[i]] < best)) {
        best = lists[i][next[i]];
        best_list = i;
      }
    }
    if (best < 0) return -1;
    ++next[best_list];
    if (routes_[static_cast<std::size_t>(best)].Matches(host, path, method, headers)) return best;
  }
}

int Router::MatchInOrder(std::string_view host, std::string_view path, std::string_view method,
                         const boost::beast::http::fields& headers) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].Matches(host, path, method, headers)) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace ciap
