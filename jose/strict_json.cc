// Strict JSON parsing on top of boost::json::basic_parser; see strict_json.h.
//
// Duplicates are found by counting, not by remembering keys: the handler adds up the member
// count the parser reports for every object, and boost::json::value_stack builds each object
// keeping one member per distinct key. If no object had duplicates, the objects in the result
// hold exactly as many members as were parsed; any duplicate makes the result strictly smaller
// (its object loses a member, and whatever objects hid in the dropped value disappear too).
#include "jose/strict_json.h"

// <boost/json/src.hpp>, among these, is all of Boost.JSON's compiled code for the whole program
// (the ciap_json target), included here so that StrictHandler's calls into value_stack inline.
// It brings basic_parser_impl.hpp too.
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/src.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_stack.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <system_error>

namespace ciap::jose {
namespace {

namespace json = boost::json;

class StrictHandler {
 public:
  // Limits basic_parser asks its handler for.
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  void Reset(json::storage_ptr storage) {
    stack_.reset(std::move(storage));
    members_parsed_ = 0;
    number_out_of_range_ = false;
    number_.clear();
  }
  json::value Release() { return stack_.release(); }
  uint64_t members_parsed() const { return members_parsed_; }
  bool number_out_of_range() const { return number_out_of_range_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    members_parsed_ += n;
    stack_.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    stack_.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack_.push_string(s);
    return true;
  }
  // A number split across input buffers arrives in parts (never here: the whole document is one
  // buffer, but the parser's contract allows it).
  bool on_number_part(json::string_view part, json::error_code&) {
    number_.append(part.data(), part.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view, json::error_code&) {
    number_.clear();
    stack_.push_int64(i);
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, json::error_code&) {
    number_.clear();
    stack_.push_uint64(u);
    return true;
  }
  // Boost 1.81 converts decimal text to double fast but not always to the nearest double (it
  // reads 1.8446744073809559E22 one unit in the last place high), so the same claim could read
  // differently here than in another JOSE library, and a value would not survive serializing and
  // parsing again. std::from_chars rounds correctly; Boost's value stands only where from_chars
  // reports the number out of range: infinity (refused below) or zero.
  bool on_double(double d, json::string_view last_part, json::error_code& ec) {
    std::string_view text(last_part.data(), last_part.size());
    if (!number_.empty()) {
      number_.append(text);
      text = number_;
    }
    double nearest = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), nearest);
    if (error == std::errc() && end == text.data() + text.size()) d = nearest;
    number_.clear();
    if (!std::isfinite(d)) {
      number_out_of_range_ = true;
      ec = json::error::exponent_overflow;
      return false;
    }
    stack_.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack_.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack_.push_null();
    return true;
  }
  // Comments are off in the parse options; these are never called.
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  json::value_stack stack_;
  uint64_t members_parsed_ = 0;
  bool number_out_of_range_ = false;
  std::string number_;  // the parts so far of a number split across buffers
};

json::parse_options StrictOptions() {
  json::parse_options options;
  options.max_depth = kMaxJsonDepth + 1;  // + the top-level object
  return options;  // the rest defaults to standard JSON with UTF-8 validation
}

// The parser and its value stack keep their internal buffers between documents; one per thread
// saves several allocations per token.
json::basic_parser<StrictHandler>& ThreadParser() {
  thread_local json::basic_parser<StrictHandler> parser(StrictOptions());
  return parser;
}

uint64_t CountMembers(const json::value& value) {
  uint64_t count = 0;
  if (const json::object* object = value.if_object()) {
    count += object->size();
    for (const auto& member : *object) count += CountMembers(member.value());
  } else if (const json::array* array = value.if_array()) {
    for (const json::value& element : *array) count += CountMembers(element);
  }
  return count;
}

}  // namespace

std::expected<json::object, JsonError> ParseStrictJsonObject(std::string_view text,
                                                             json::storage_ptr storage) {
  json::basic_parser<StrictHandler>& parser = ThreadParser();
  StrictHandler& handler = parser.handler();
  parser.reset();
  try {
    handler.Reset(std::move(storage));
    json::error_code ec;
    const std::size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
    if (ec || consumed != text.size() || !parser.done()) {
      const bool out_of_range = handler.number_out_of_range();
      handler.Reset({});  // drop partial values now rather than at the next parse
      return std::unexpected(out_of_range ? JsonError::kNumberOutOfRange : JsonError::kSyntax);
    }
    json::value value = handler.Release();
    if (!value.is_object()) return std::unexpected(JsonError::kNotObject);
    if (CountMembers(value) != handler.members_parsed()) {
      return std::unexpected(JsonError::kDuplicateMember);
    }
    return std::move(value.get_object());
  } catch (const std::exception&) {
    // Allocation failure or a size limit inside Boost.JSON: the document is unusable either way,
    // and the request path must not see an exception.
    parser.reset();
    handler.Reset({});
    return std::unexpected(JsonError::kSyntax);
  }
}

// The arena and the object, followed in the same allocation by the arena's first buffer. When
// the buffer runs out the arena continues on the heap, so the size is a guess, not a limit.
struct JsonDocument::Block {
  explicit Block(std::size_t buffer_size)
      : arena(reinterpret_cast<unsigned char*>(this + 1), buffer_size) {}

  json::monotonic_resource arena;
  std::optional<json::object> object;  // set once, by move construction (keeps its storage)
};

void JsonDocument::BlockDeleter::operator()(Block* block) const {
  block->~Block();  // the object first (declared last), then the arena's heap blocks, if any
  ::operator delete(static_cast<void*>(block));
}

std::unique_ptr<JsonDocument::Block, JsonDocument::BlockDeleter> JsonDocument::NewBlock(
    std::size_t buffer_size) {
  void* memory = ::operator new(sizeof(Block) + buffer_size, std::nothrow);
  return std::unique_ptr<Block, BlockDeleter>(memory ? new (memory) Block(buffer_size) : nullptr);
}

JsonDocument::JsonDocument(const json::object& object) : block_(NewBlock(1024)) {
  if (!block_) throw std::bad_alloc();
  block_->object.emplace(object, &block_->arena);
}

const json::object& JsonDocument::object() const {
  static const json::object empty;
  return block_ && block_->object ? *block_->object : empty;
}

std::expected<JsonDocument, JsonError> ParseStrictJsonDocument(std::string_view text) {
  // Measured for vendor payloads: values take about twice the text's size.
  JsonDocument document;
  document.block_ = JsonDocument::NewBlock(2 * text.size() + 256);
  if (!document.block_) return std::unexpected(JsonError::kSyntax);  // as Boost's own failures
  auto object = ParseStrictJsonObject(text, &document.block_->arena);
  if (!object) return std::unexpected(object.error());
  document.block_->object.emplace(std::move(*object));
  return document;
}

}  // namespace ciap::jose
