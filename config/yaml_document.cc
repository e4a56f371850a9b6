// See yaml_document.h.
#include "config/yaml_document.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <sstream>

namespace ciap::config::yaml {

// Turns parser events into Document entries. Open collections keep their children on a
// stack until they end, then the children move to the document's child array in one slice.
class Builder : public YAML::EventHandler {
 public:
  Builder(Document& document, std::vector<YAML::Mark>& starts)
      : document_(document), starts_(starts) {}

  void OnDocumentStart(const YAML::Mark& mark) override { starts_.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Add(Document::Kind::kNull, mark, anchor);
  }
  void OnAlias(const YAML::Mark& /*mark*/, YAML::anchor_t anchor) override {
    if (!building()) return;
    // An alias is the anchored node itself, as yaml-cpp's own nodes have it.
    if (anchor < anchors_.size()) Attach(anchors_[anchor]);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    uint32_t index = Add(Document::Kind::kScalar, mark, anchor);
    if (index == kNone) return;
    Document::Entry& entry = document_.entries_[index];
    entry.scalar = value;
    entry.tag = Intern(tag);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    Open(Add(Document::Kind::kSequence, mark, anchor));
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    Open(Add(Document::Kind::kMap, mark, anchor));
  }
  void OnMapEnd() override { Close(); }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  // Only the first document is kept.
  bool building() const { return starts_.size() == 1; }

  uint32_t Add(Document::Kind kind, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (!building()) return kNone;
    const auto index = static_cast<uint32_t>(document_.entries_.size());
    Document::Entry& entry = document_.entries_.emplace_back();
    entry.kind = kind;
    entry.mark = mark;
    if (anchor != YAML::NullAnchor) {
      if (anchors_.size() <= anchor) anchors_.resize(anchor + 1, 0);
      anchors_[anchor] = index;
    }
    Attach(index);
    return index;
  }

  void Attach(uint32_t index) {
    if (open_.empty()) {
      document_.has_root_ = true;  // the first node is the root (index 0)
    } else {
      pending_.push_back(index);
    }
  }

  void Open(uint32_t index) {
    if (index != kNone) open_.push_back({index, pending_.size()});
  }

  void Close() {
    if (!building() || open_.empty()) return;
    auto [index, start] = open_.back();
    open_.pop_back();
    Document::Entry& entry = document_.entries_[index];
    entry.first_child = static_cast<uint32_t>(document_.children_.size());
    entry.child_count = static_cast<uint32_t>(pending_.size() - start);
    document_.children_.insert(document_.children_.end(),
                               pending_.begin() + static_cast<std::ptrdiff_t>(start),
                               pending_.end());
    pending_.resize(start);
  }

  uint16_t Intern(const std::string& tag) {
    std::vector<std::string>& tags = document_.tags_;
    for (std::size_t i = 0; i < tags.size(); ++i) {
      if (tags[i] == tag) return static_cast<uint16_t>(i);
    }
    if (tags.size() == UINT16_MAX) return 0;  // absurdly many distinct tags: forget the rest
    tags.push_back(tag);
    return static_cast<uint16_t>(tags.size() - 1);
  }

  struct OpenCollection {
    uint32_t index;
    std::size_t start;  // its first child in pending_
  };

  Document& document_;
  std::vector<YAML::Mark>& starts_;
  std::vector<OpenCollection> open_;
  std::vector<uint32_t> pending_;
  std::vector<uint32_t> anchors_;  // anchor id → entry
};

std::unique_ptr<Document> Document::Parse(std::string_view text,
                                          std::vector<YAML::Mark>* document_starts) {
  auto document = std::make_unique<Document>();
  std::istringstream stream{std::string(text)};
  YAML::Parser parser(stream);
  Builder builder(*document, *document_starts);
  // Bounded: yaml-cpp 0.7 can report empty documents at one position forever on some invalid
  // input (a stray ',' at the top level, jbeder/yaml-cpp#1040).
  while (document_starts->size() < 2 && parser.HandleNextDocument(builder)) {
  }
  return document;
}

bool Node::IsNull() const {
  return document_ == nullptr || document_->entries_[index_].kind == Document::Kind::kNull;
}
bool Node::IsScalar() const {
  return document_ != nullptr && document_->entries_[index_].kind == Document::Kind::kScalar;
}
bool Node::IsSequence() const {
  return document_ != nullptr && document_->entries_[index_].kind == Document::Kind::kSequence;
}
bool Node::IsMap() const {
  return document_ != nullptr && document_->entries_[index_].kind == Document::Kind::kMap;
}

const std::string& Node::Scalar() const {
  static const std::string kEmpty;
  return document_ != nullptr ? document_->entries_[index_].scalar : kEmpty;
}

const std::string& Node::Tag() const {
  static const std::string kEmpty;
  return document_ != nullptr ? document_->tags_[document_->entries_[index_].tag] : kEmpty;
}

YAML::Mark Node::Mark() const {
  return document_ != nullptr ? document_->entries_[index_].mark : YAML::Mark::null_mark();
}

std::size_t Node::size() const {
  if (document_ == nullptr) return 0;
  const Document::Entry& entry = document_->entries_[index_];
  if (entry.kind == Document::Kind::kSequence) return entry.child_count;
  if (entry.kind == Document::Kind::kMap) return entry.child_count / 2;
  return 0;
}

Node Node::Child(std::size_t i) const {
  const Document::Entry& entry = document_->entries_[index_];
  return Node(document_, document_->children_[entry.first_child + i]);
}

Node Node::Item(std::size_t i) const { return Child(i); }
Node Node::Key(std::size_t i) const { return Child(2 * i); }
Node Node::Value(std::size_t i) const { return Child(2 * i + 1); }

std::string Node::Describe() const {
  if (IsMap()) return "a mapping";
  if (IsSequence()) return "a list";
  if (IsNull()) return "nothing";
  return "'" + Scalar() + "'";
}

bool Node::HasKey(std::string_view key) const {
  if (!IsMap()) return false;
  for (std::size_t i = 0; i < size(); ++i) {
    Node k = Key(i);
    if (k.IsScalar() && k.Scalar() == key) return true;
  }
  return false;
}

}  // namespace ciap::config::yaml
