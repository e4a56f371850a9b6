// A YAML document as a compact tree, built in one pass over yaml-cpp's parser events.
//
// yaml-cpp's own node graph (YAML::Load) costs about 400 bytes per node: a 40,000-route file
// took 2.7 s and 300 MB to load before any checking. Here a node is one entry of a flat array
// (kind, position, scalar text, tag, and a slice of a shared child array), and the same pass
// counts documents, so the file is parsed once.
#pragma once

#include <yaml-cpp/mark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ciap::config::yaml {

class Document;

// A handle on one node of a Document (which must outlive it). A default-constructed Node is
// an absent node: null, without position.
class Node {
 public:
  Node() = default;

  bool IsNull() const;
  bool IsScalar() const;
  bool IsSequence() const;
  bool IsMap() const;
  // The text of a scalar ("" otherwise).
  const std::string& Scalar() const;
  // yaml-cpp's tag: "?" for a plain scalar, "!" for a quoted one, or the explicit tag.
  const std::string& Tag() const;
  // Where the node starts (a null mark for an absent node).
  YAML::Mark Mark() const;
  // The items of a sequence, or the pairs of a mapping (0 for anything else).
  std::size_t size() const;
  // Item `i` of a sequence.
  Node Item(std::size_t i) const;
  // Key and value of pair `i` of a mapping, in document order (duplicate keys included).
  Node Key(std::size_t i) const;
  Node Value(std::size_t i) const;
  // What the node is, for messages: "a mapping", "a list", "nothing" or the quoted scalar.
  std::string Describe() const;
  // Whether a mapping has a pair whose key is the scalar `key`.
  bool HasKey(std::string_view key) const;

 private:
  friend class Document;
  Node(const Document* document, uint32_t index) : document_(document), index_(index) {}
  Node Child(std::size_t i) const;

  const Document* document_ = nullptr;
  uint32_t index_ = 0;
};

class Document {
 public:
  // Parses the first document of `text`, and goes on only far enough to find where a second
  // one starts: `document_starts` gets at most two marks. Throws yaml-cpp's exceptions on
  // syntax errors.
  static std::unique_ptr<Document> Parse(std::string_view text,
                                         std::vector<YAML::Mark>* document_starts);

  // The document's root; an absent node for an empty file.
  Node root() const { return has_root_ ? Node(this, 0) : Node(); }

 private:
  friend class Node;
  friend class Builder;

  enum class Kind : uint8_t { kNull, kScalar, kSequence, kMap };
  struct Entry {
    Kind kind = Kind::kNull;
    uint16_t tag = 0;  // index into tags_
    YAML::Mark mark;
    std::string scalar;
    uint32_t first_child = 0;  // into children_
    uint32_t child_count = 0;  // items; keys and values alternate in a mapping
  };

  std::vector<Entry> entries_;
  std::vector<uint32_t> children_;
  std::vector<std::string> tags_{""};
  bool has_root_ = false;
};

}  // namespace ciap::config::yaml
