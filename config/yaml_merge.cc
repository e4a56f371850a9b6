// See yaml_merge.h.
#include "config/yaml_merge.h"

#include <algorithm>

namespace ciap::config::yaml {
namespace {

// Merge keys (`<<: *defaults`) may nest: a merged mapping may merge another. This bounds the
// chain, and so a mapping that merges itself.
constexpr int kMaxMergeDepth = 16;

bool IsMergeKey(const Node& key) {
  // A quoted "<<" is an ordinary key; yaml-cpp tags a plain scalar "?".
  return key.IsScalar() && key.Scalar() == "<<" && key.Tag() == "?";
}

// A key of a mapping as keys are compared when merging: the scalar, or a claim path "[a, b]".
std::string KeyText(const Node& key) {
  if (key.IsScalar()) return key.Scalar();
  std::string text = "[";
  for (size_t i = 0; i < key.size(); ++i) {
    text += (i > 0 ? ", " : "") + key.Item(i).Scalar();
  }
  return text + "]";
}

// The pairs of `map` with its merge keys (`<<: *defaults`, `<<: [*a, *b]`) resolved, as YAML
// defines them: the mapping's own pairs in order, then the pairs of each merged mapping that
// the mapping does not set itself (of several merged mappings, the first wins). A merged
// mapping may merge others in turn, up to kMaxMergeDepth.
class MergeResolver {
 public:
  MergeResolver(Diagnostics& diagnostics, const std::string& path)
      : diagnostics_(diagnostics), path_(path) {}

  void Collect(const Node& map, int depth, std::vector<KeyValue>& out) {
    const size_t first = out.size();
    std::vector<std::pair<Node, Node>> merges;  // <<'s key (for errors) and value
    for (size_t i = 0; i < map.size(); ++i) {
      if (IsMergeKey(map.Key(i))) {
        merges.emplace_back(map.Key(i), map.Value(i));
      } else {
        out.push_back({map.Key(i), map.Value(i)});
      }
    }
    for (const auto& [key, source] : merges) {
      std::vector<Node> maps;
      for (size_t i = 0; source.IsSequence() && i < source.size(); ++i) {
        maps.push_back(source.Item(i));
      }
      if (source.IsMap()) maps.push_back(source);
      auto not_map =
          std::find_if(maps.begin(), maps.end(), [](const Node& n) { return !n.IsMap(); });
      if (maps.empty() || not_map != maps.end()) {
        diagnostics_.Add(key.Mark(), ChildPath(path_, "<<"),
                         "a merge key takes a mapping or a list of mappings (<<: *defaults or "
                         "<<: [*a, *b]), got " +
                             (maps.empty() ? source.Describe() : not_map->Describe()) +
                             (source.IsSequence() ? " in the list" : ""));
        continue;
      }
      for (const Node& merged : maps) {
        if (depth + 1 > kMaxMergeDepth) {
          if (!too_deep_) {
            diagnostics_.Add(key.Mark(), ChildPath(path_, "<<"),
                             "merge keys nest more than " + std::to_string(kMaxMergeDepth) +
                                 " deep (does a mapping merge itself?)");
          }
          too_deep_ = true;
        }
        if (too_deep_) return;
        std::vector<KeyValue> pairs;
        Collect(merged, depth + 1, pairs);
        for (KeyValue& pair : pairs) {
          const std::string text = KeyText(pair.key);
          bool present = false;
          for (size_t k = first; k < out.size() && !present; ++k) {
            present = KeyText(out[k].key) == text;
          }
          if (!present) out.push_back(std::move(pair));
        }
      }
    }
  }

 private:
  Diagnostics& diagnostics_;
  const std::string& path_;
  bool too_deep_ = false;
};

}  // namespace

std::vector<KeyValue> ResolveMergeKeys(const Node& map, Diagnostics& diagnostics,
                                       const std::string& path) {
  std::vector<KeyValue> pairs;
  MergeResolver(diagnostics, path).Collect(map, 0, pairs);
  return pairs;
}

}  // namespace ciap::config::yaml
