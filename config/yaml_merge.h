// YAML merge keys (`<<: *defaults`, `<<: [*a, *b]`) for the config reader. yaml-cpp's parser
// reports `<<` as an ordinary key; the reader resolves it here, as YAML 1.1 defines it.
#pragma once

#include <string>
#include <vector>

#include "config/yaml_document.h"
#include "config/yaml_reader.h"

namespace ciap::config::yaml {

struct KeyValue {
  Node key;
  Node value;
};

// The pairs of the mapping `map` with its merge keys resolved: the mapping's own pairs in order,
// then the pairs of each merged mapping that the mapping does not set itself (of several merged
// mappings, the first wins). A merged mapping may merge others in turn, up to 16 deep. A merge
// key whose value is not a mapping or a list of mappings is reported to `diagnostics` at `path`.
// A quoted "<<" is an ordinary key.
std::vector<KeyValue> ResolveMergeKeys(const Node& map, Diagnostics& diagnostics,
                                       const std::string& path);

}  // namespace ciap::config::yaml
