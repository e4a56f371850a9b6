// The strict JSON parser: objects only, no duplicate member names at any depth, no numbers
// that overflow a double.
#include "jose/strict_json.h"

#include <gtest/gtest.h>

#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <optional>

namespace ciap::jose {
namespace {

std::optional<JsonError> ErrorOf(std::string_view text) {
  auto result = ParseStrictJsonObject(text);
  if (result) return std::nullopt;
  return result.error();
}

TEST(StrictJson, ParsesObjects) {
  // Plain objects, nesting, whitespace around the document and escaped keys parse.
  auto object = ParseStrictJsonObject(R"( {"a":1,"b":{"c":[1,{"d":null}]},"\u0065":"x"} )");
  ASSERT_TRUE(object);
  EXPECT_EQ(object->at("a").as_int64(), 1);
  EXPECT_EQ(object->at("e").as_string(), "x");
}

TEST(StrictJson, RejectsDuplicateTopLevelMembers) {
  // The RFC 8725 example and variants that only differ after unescaping.
  EXPECT_EQ(ErrorOf(R"({"alg":"RS256","alg":"none"})"), JsonError::kDuplicateMember);
  EXPECT_EQ(ErrorOf(R"({"a":1,"b":2,"a":1})"), JsonError::kDuplicateMember);
  EXPECT_EQ(ErrorOf(R"({"alg":"RS256","\u0061lg":"none"})"), JsonError::kDuplicateMember);
}

TEST(StrictJson, RejectsDuplicateNestedMembers) {
  // Duplicates inside nested objects, objects in arrays, and inside a dropped duplicate.
  EXPECT_EQ(ErrorOf(R"({"a":{"x":1,"x":2}})"), JsonError::kDuplicateMember);
  EXPECT_EQ(ErrorOf(R"({"a":[{"x":1},{"y":1,"y":1}]})"), JsonError::kDuplicateMember);
  EXPECT_EQ(ErrorOf(R"({"a":{"p":1,"q":2},"a":{}})"), JsonError::kDuplicateMember);
  EXPECT_EQ(ErrorOf(R"({"a":{},"a":{"p":1}})"), JsonError::kDuplicateMember);
}

TEST(StrictJson, SameKeyInDifferentObjectsIsFine) {
  // Only repeats within one object count.
  EXPECT_TRUE(ParseStrictJsonObject(R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]})"));
}

TEST(StrictJson, RejectsNonObjects) {
  // Arrays, strings, numbers and literals are JSON but not a JWT header or claims set.
  EXPECT_EQ(ErrorOf("[]"), JsonError::kNotObject);
  EXPECT_EQ(ErrorOf(R"("RS256")"), JsonError::kNotObject);
  EXPECT_EQ(ErrorOf("42"), JsonError::kNotObject);
  EXPECT_EQ(ErrorOf("null"), JsonError::kNotObject);
}

TEST(StrictJson, RejectsSyntaxErrors) {
  // Trailing data, comments, trailing commas, bad UTF-8, lone surrogates, empty input.
  EXPECT_EQ(ErrorOf(R"({"a":1}{"b":2})"), JsonError::kSyntax);
  EXPECT_EQ(ErrorOf(R"({"a":1} x)"), JsonError::kSyntax);
  EXPECT_EQ(ErrorOf(R"({"a":1 /* c */})"), JsonError::kSyntax);
  EXPECT_EQ(ErrorOf(R"({"a":1,})"), JsonError::kSyntax);
  EXPECT_EQ(ErrorOf("{\"a\":\"\xff\"}"), JsonError::kSyntax);
  EXPECT_EQ(ErrorOf(R"({"a":"\ud800"})"), JsonError::kSyntax);
  EXPECT_EQ(ErrorOf(""), JsonError::kSyntax);
  EXPECT_EQ(ErrorOf("{"), JsonError::kSyntax);
}

TEST(StrictJson, RejectsDeepNesting) {
  // More than kMaxJsonDepth levels is refused instead of recursing.
  std::string deep = R"({"a":)";
  for (std::size_t i = 0; i < kMaxJsonDepth + 1; ++i) deep += "[";
  for (std::size_t i = 0; i < kMaxJsonDepth + 1; ++i) deep += "]";
  deep += "}";
  EXPECT_EQ(ErrorOf(deep), JsonError::kSyntax);
}

TEST(StrictJson, RejectsNumbersThatOverflow) {
  // 1e400 would silently become infinity; huge integers stay finite doubles.
  EXPECT_EQ(ErrorOf(R"({"exp":1e400})"), JsonError::kNumberOutOfRange);
  EXPECT_EQ(ErrorOf(R"({"exp":-1e400})"), JsonError::kNumberOutOfRange);
  EXPECT_EQ(ErrorOf(R"({"x":[1,{"y":1e309}]})"), JsonError::kNumberOutOfRange);
  auto huge = ParseStrictJsonObject(R"({"exp":123456789012345678901234567890})");
  ASSERT_TRUE(huge);
  EXPECT_TRUE(huge->at("exp").is_double());
}

TEST(StrictJson, ReadsDecimalsAsTheNearestDouble) {
  // Boost 1.81 alone reads the first one unit in the last place high (found by fuzz_jws: the
  // claims then changed in a serialize-and-parse round trip). The C++ literals are rounded to
  // nearest by the compiler.
  auto object = ParseStrictJsonObject(
      R"({"a":1.8446744073809559E22,"b":2.5E-3,"c":-0.1,"d":4.9e-324,"e":1e-400,)"
      R"("f":123456789012345678901234567890,"g":1.7976931348623157e308,"h":-0.0})");
  ASSERT_TRUE(object);
  EXPECT_EQ(object->at("a").as_double(), 1.8446744073809559E22);
  EXPECT_EQ(object->at("b").as_double(), 2.5E-3);
  EXPECT_EQ(object->at("c").as_double(), -0.1);
  EXPECT_EQ(object->at("d").as_double(), 4.9e-324);
  EXPECT_EQ(object->at("e").as_double(), 0.0);  // below the smallest double: zero, as before
  EXPECT_EQ(object->at("f").as_double(), 123456789012345678901234567890.0);
  EXPECT_EQ(object->at("g").as_double(), 1.7976931348623157e308);
  EXPECT_TRUE(std::signbit(object->at("h").as_double()));
  // Just past the largest double rounds to infinity, which stays refused.
  EXPECT_EQ(ErrorOf(R"({"x":1.7976931348623159e308})"), JsonError::kNumberOutOfRange);
  // Whatever is read survives serializing and reading again.
  auto again = ParseStrictJsonObject(boost::json::serialize(*object));
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *object);
}

TEST(StrictJson, RecoversAfterErrors) {
  // The per-thread parser is reusable after every kind of failure.
  EXPECT_FALSE(ParseStrictJsonObject(R"({"a":[1,2,{"b":)"));
  EXPECT_FALSE(ParseStrictJsonObject(R"({"a":1,"a":2})"));
  EXPECT_FALSE(ParseStrictJsonObject(R"({"a":1e999})"));
  auto ok = ParseStrictJsonObject(R"({"a":[1,2]})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->size(), 1u);
}

TEST(StrictJson, UsesTheGivenStorage) {
  // Values are allocated from the caller's memory resource.
  boost::json::monotonic_resource resource;
  auto object = ParseStrictJsonObject(R"({"key":"a string long enough to allocate"})", &resource);
  ASSERT_TRUE(object);
  EXPECT_EQ(object->storage().get(), &resource);
}

TEST(StrictJson, DocumentsOwnTheirMemory) {
  // A document outlives moves of its handle, and grows past its first buffer when it must.
  auto document = ParseStrictJsonDocument(R"({"iss":"https://issuer.example","groups":["a","b"]})");
  ASSERT_TRUE(document);
  JsonDocument moved = std::move(*document);
  JsonDocument assigned;
  EXPECT_TRUE(assigned.object().empty());
  assigned = std::move(moved);
  EXPECT_EQ(assigned.object().at("iss").as_string(), "https://issuer.example");
  EXPECT_EQ(assigned.object().at("groups").as_array().size(), 2u);

  std::string many = "{";
  for (int i = 0; i < 500; ++i) {
    many += (i ? ",\"" : "\"") + std::to_string(i) + "\":[" + std::to_string(i) + ",{}]";
  }
  many += "}";
  auto big = ParseStrictJsonDocument(many);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->object().size(), 500u);
  EXPECT_EQ(big->object().at("499").as_array()[0].as_int64(), 499);
}

TEST(StrictJson, DocumentsCopyAnObjectIntoTheirOwnMemory) {
  // What `ciap check --claims` gives the access filter: a copy that outlives its source and
  // keeps its values in the document's block, not in the source's storage.
  std::optional<JsonDocument> copy;
  {
    boost::json::monotonic_resource source_memory;
    boost::json::object source(&source_memory);
    source["sub"] = "repo:octo-org/deploy-api:ref:refs/heads/main";
    source["teams"] = boost::json::array{"sre", boost::json::object{{"nested", true}}};
    source["exp"] = 1767225900;
    copy.emplace(source);
    EXPECT_NE(copy->object().storage().get(), source.storage().get());
  }
  EXPECT_EQ(copy->object().at("sub").as_string(), "repo:octo-org/deploy-api:ref:refs/heads/main");
  EXPECT_TRUE(copy->object().at("teams").as_array()[1].as_object().at("nested").as_bool());
  EXPECT_EQ(copy->object().at("exp").as_int64(), 1767225900);
  EXPECT_EQ(copy->object().size(), 3u);
}

TEST(StrictJson, DocumentsReportTheSameErrors) {
  // The document form applies the same strictness.
  EXPECT_EQ(ParseStrictJsonDocument(R"({"a":1,"a":2})").error(), JsonError::kDuplicateMember);
  EXPECT_EQ(ParseStrictJsonDocument("[]").error(), JsonError::kNotObject);
  EXPECT_EQ(ParseStrictJsonDocument(R"({"a":1e999})").error(), JsonError::kNumberOutOfRange);
  EXPECT_EQ(ParseStrictJsonDocument("{").error(), JsonError::kSyntax);
}

}  // namespace
}  // namespace ciap::jose
