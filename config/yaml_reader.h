// A small typed reader over yaml-cpp nodes for the config loader.
//
// Every read knows the key path ("listeners[0].routes[2].match") and the source position of the
// node it reads, checks the node's shape, and on a mismatch records a ConfigError and returns
// nullopt instead of throwing. The schema code in loader.cc can then read the whole document in
// one pass and report every problem, not just the first. Scalars are run through ${NAME}
// environment substitution as they are read, after YAML parsing, so that positions stay right
// and an environment value can never change the structure of the document.
#pragma once

#include <yaml-cpp/mark.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/loader.h"
#include "config/yaml_document.h"

namespace ciap::config::yaml {

// What reading one file collects besides the values: its errors, the files it names and the
// ${NAME} substitutions it made; and how it is read (LoadOptions).
class Diagnostics {
 public:
  explicit Diagnostics(std::string file, LoadOptions options = {})
      : file_(std::move(file)), options_(options) {}

  // `mark` is yaml-cpp's 0-based position; a null mark is reported as 1:1.
  void Add(const YAML::Mark& mark, std::string key_path, std::string message);
  bool empty() const { return errors_.empty(); }
  std::size_t size() const { return errors_.size(); }
  // The errors in file order: the schema is read section by section, not top to bottom.
  ConfigErrors Take();

  const LoadOptions& options() const { return options_; }
  // A file the config names, written at `mark` under `key_path` (Config::files).
  void AddFile(std::string path, const YAML::Mark& mark, std::string key_path);
  std::vector<FileReference> TakeFiles() { return std::move(files_); }
  // Each ${NAME} reference as written ("${NAME}", "${NAME:-x}") and the text it became.
  std::map<std::string, std::string>& substitutions() { return substitutions_; }

 private:
  std::string file_;
  LoadOptions options_;
  ConfigErrors errors_;
  std::vector<FileReference> files_;
  std::map<std::string, std::string> substitutions_;
};

// Parses `text` as one YAML document; an empty file gives a document whose root is null. A
// syntax error or a second document is recorded in `diagnostics` and gives nullptr.
std::unique_ptr<Document> LoadSingleDocument(std::string_view text, Diagnostics& diagnostics);

// Whether a scalar may carry ${secret:...} and ${claim:...} references. They are resolved per
// request by the proxy, not by the loader, so they are kept verbatim (and so is the `$${` escape,
// which that later expansion has to honour as well); everywhere else they are an error.
enum class Refs { kEnvOnly, kKeepSecretAndClaim };

// Replaces ${NAME} with the variable's value and `$${` with `${`; ${NAME:-default} gives the
// default when NAME is unset or empty, and an empty NAME without a default is an error. Returns
// the reason on failure. `used`, when given, gets each reference as written and its text.
std::expected<std::string, std::string> SubstituteEnv(
    std::string_view text, const EnvLookup& env, Refs refs,
    std::map<std::string, std::string>* used = nullptr);

class Map;

// One node of the document with its key path. Cheap to copy (nodes are handles into their
// Document, which must outlive them).
class Value {
 public:
  Value(Diagnostics* diagnostics, const EnvLookup* env, Node node, std::string path,
        YAML::Mark fallback_mark);

  const std::string& path() const { return path_; }
  const Node& node() const { return node_; }
  // Where the value is. An empty value (`key:` and nothing) has no position of its own, so it
  // is reported at its key.
  YAML::Mark mark() const;
  bool IsNull() const { return node_.IsNull(); }

  // Records an error at this node.
  void Error(std::string message) const;

  // A scalar after environment substitution.
  std::optional<std::string> String(Refs refs = Refs::kEnvOnly) const;
  // A scalar that must not be empty.
  std::optional<std::string> NonEmptyString() const;
  // A non-empty path of a file the config names: recorded (Config::files) and, unless the load
  // is offline, checked to be a file this process can read.
  std::optional<std::string> File() const;
  // Records `path`, named in this value (a ${secret:PATH} reference), like File(); reports an
  // unreadable file here. Returns whether it is readable (or the load is offline).
  bool NamesFile(const std::string& path) const;
  std::optional<bool> Bool() const;  // exactly `true` or `false`
  std::optional<uint64_t> UInt(uint64_t min, uint64_t max) const;
  // A decimal number (`0.5`, `20`) within [min, max].
  std::optional<double> Number(double min, double max) const;
  // A duration; zero is rejected unless `allow_zero`.
  std::optional<Duration> Dur(bool allow_zero = false) const;
  // A string turned into T by `parse`, whose error message is reported at this value.
  template <typename T>
  std::optional<T> Parse(
      const std::function<std::expected<T, std::string>(std::string_view)>& parse) const {
    std::optional<std::string> text = String();
    if (!text) return std::nullopt;
    std::expected<T, std::string> parsed = parse(*text);
    if (!parsed) {
      Error(parsed.error());
      return std::nullopt;
    }
    return std::move(*parsed);
  }

  // The items of a list; `key:` with nothing after it reads as an empty list.
  std::optional<std::vector<Value>> List() const;
  // A mapping whose keys must all be in `known_keys`; `key:` with nothing after it reads as an
  // empty mapping. Unknown and duplicate keys are reported here (and left out of the Map).
  std::optional<Map> AsMap(std::initializer_list<std::string_view> known_keys) const;
  // Like AsMap, and keys that start with "x-" are left out without an error: extension fields,
  // a place for YAML anchors that merge keys and aliases use elsewhere (the top level).
  std::optional<Map> AsMapWithExtensions(std::initializer_list<std::string_view> known_keys) const;
  // A mapping with free-form keys (request_headers.set); duplicates are still reported.
  std::optional<Map> AsOpenMap() const;
  // Like AsOpenMap, and a key may also be a sequence of names (`[a, b]: …`), read as a path
  // into nested objects (claim conditions).
  std::optional<Map> AsPathKeyedMap() const;

 private:
  friend class Map;

  std::optional<Map> ReadMap(const std::vector<std::string_view>* known_keys,
                             bool path_keys = false, bool extensions = false) const;
  bool ExpectScalar(std::string_view what) const;

  Diagnostics* diagnostics_;
  const EnvLookup* env_;
  Node node_;
  std::string path_;
  YAML::Mark fallback_mark_;
};

// A mapping with its keys checked. Lookups are by exact key. Merge keys (`<<: *defaults`) are
// resolved: the mapping holds the merged keys it does not set itself, at their own positions.
class Map {
 public:
  struct Entry {
    std::string key;
    YAML::Mark key_mark;
    Value value;
    // Set when the key was a YAML sequence of names (only for AsPathKeyedMap): a path into
    // nested objects. `key` then shows it as "[a, b]".
    std::vector<std::string> key_path;
  };

  explicit Map(Value self) : self_(std::move(self)) {}

  const Value& self() const { return self_; }
  const std::vector<Entry>& entries() const { return entries_; }

  // The value under `key`, or nullopt if the key is absent.
  std::optional<Value> Get(std::string_view key) const;
  const Entry* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  // The value under `key`; when absent, records "required" (plus `why`) at this mapping.
  std::optional<Value> Require(std::string_view key, std::string_view why = {}) const;
  // An error about a key that is absent, reported at this mapping with the key's path.
  void ErrorMissing(std::string_view key, std::string message) const;
  // An error about a key that is present, reported at the key itself.
  void ErrorAtKey(const Entry& entry, std::string message) const;
  // Reports `message` at each of `keys` that is present (recognized but rejected keys).
  void RejectKeys(std::initializer_list<std::string_view> keys, std::string_view message) const;

  void Add(Entry entry) { entries_.push_back(std::move(entry)); }

 private:
  Value self_;
  std::vector<Entry> entries_;
};

// The key path of `key` inside the mapping at `parent`.
std::string ChildPath(const std::string& parent, std::string_view key);

}  // namespace ciap::config::yaml
