// A JSON parser for token headers, token payloads and JWKS documents that refuses what
// Boost.JSON accepts silently: duplicate member names (Boost 1.81 keeps the last one, so
// {"alg":"RS256","alg":"none"} would read differently here than in a library that keeps the
// first) and numbers that do not fit a double (1e400 would become infinity). Decimals are read
// to the nearest double, which Boost 1.81 alone does not always do.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>
#include <cstddef>
#include <expected>
#include <memory>
#include <optional>
#include <string_view>

namespace ciap::jose {

enum class JsonError {
  kSyntax,            // not JSON (RFC 8259, UTF-8 checked), trailing data, or nested too deep
  kDuplicateMember,   // some object, at any depth, names a member twice
  kNumberOutOfRange,  // a number that is infinite as a double
  kNotObject,         // valid JSON, but the top-level value is not an object
};

// Nesting allowed below the top-level object; vendor tokens use two or three levels.
inline constexpr std::size_t kMaxJsonDepth = 16;

// Parses `text`, which must be exactly one JSON object (surrounding whitespace allowed). The
// result's memory comes from `storage`. Never throws.
std::expected<boost::json::object, JsonError> ParseStrictJsonObject(
    std::string_view text, boost::json::storage_ptr storage = {});

// A parsed JSON object that owns the memory its values live in: one allocation sized from the
// text holds the object's bookkeeping and (usually) every string and table, so building it
// costs one malloc instead of one per member, and destroying it one free. (Shared storage_ptr
// ownership would also work, but pays two atomic operations per value.) Move-only; moving never
// touches the values.
class JsonDocument {
 public:
  JsonDocument() = default;  // an empty object
  // A copy of `object` in a block of its own (for claims that did not come from
  // ParseStrictJsonDocument: `ciap check --claims`, tests). Throws std::bad_alloc.
  explicit JsonDocument(const boost::json::object& object);
  JsonDocument(JsonDocument&&) noexcept = default;
  JsonDocument& operator=(JsonDocument&&) noexcept = default;

  const boost::json::object& object() const;

 private:
  struct Block;
  struct BlockDeleter {
    void operator()(Block* block) const;
  };
  friend std::expected<JsonDocument, JsonError> ParseStrictJsonDocument(std::string_view text);
  // A block whose arena starts with `buffer_size` bytes in the same allocation; null when out
  // of memory.
  static std::unique_ptr<Block, BlockDeleter> NewBlock(std::size_t buffer_size);

  std::unique_ptr<Block, BlockDeleter> block_;
};

// ParseStrictJsonObject into a self-contained JsonDocument.
std::expected<JsonDocument, JsonError> ParseStrictJsonDocument(std::string_view text);

}  // namespace ciap::jose
