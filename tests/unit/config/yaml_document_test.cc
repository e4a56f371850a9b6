// The compact YAML tree (config/yaml_document.h) keeps what the loader relied on from
// yaml-cpp's own nodes: positions, scalar tags, anchors and aliases, duplicate keys in order,
// nulls, one document only, and syntax errors reported with their position.
#include "config/yaml_document.h"

#include <gtest/gtest.h>
#include <yaml-cpp/exceptions.h>

#include "config/loader.h"
#include "config/yaml_reader.h"
#include "test_util.h"

namespace ciap::config::yaml {
namespace {

std::unique_ptr<Document> MustParse(std::string_view text) {
  std::vector<YAML::Mark> starts;
  auto document = Document::Parse(text, &starts);
  EXPECT_LE(starts.size(), 1u);
  return document;
}

TEST(YamlDocument, KindsPositionsAndTags) {
  auto document = MustParse("a: 1\nb: \"two\"\nc: [x, 'y', ~]\nd:\n  e: null\n");
  Node root = document->root();
  ASSERT_TRUE(root.IsMap());
  ASSERT_EQ(root.size(), 4u);
  EXPECT_EQ(root.Key(0).Scalar(), "a");
  EXPECT_EQ(root.Value(0).Scalar(), "1");
  EXPECT_EQ(root.Value(0).Tag(), "?");  // plain
  EXPECT_EQ(root.Value(1).Tag(), "!");  // quoted
  EXPECT_EQ(root.Value(1).Mark().line, 1);
  EXPECT_EQ(root.Value(1).Mark().column, 3);
  Node list = root.Value(2);
  ASSERT_TRUE(list.IsSequence());
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list.Item(1).Scalar(), "y");
  EXPECT_TRUE(list.Item(2).IsNull());
  Node nested = root.Value(3);
  ASSERT_TRUE(nested.IsMap());
  EXPECT_TRUE(nested.HasKey("e"));
  EXPECT_FALSE(nested.HasKey("f"));
  EXPECT_TRUE(nested.Value(0).IsNull());
  EXPECT_EQ(nested.Mark().line, 4);
}

TEST(YamlDocument, EmptyFileHasAnAbsentRoot) {
  auto document = MustParse("# only a comment\n");
  EXPECT_TRUE(document->root().IsNull());
  EXPECT_TRUE(document->root().Mark().is_null());
  EXPECT_EQ(document->root().size(), 0u);
}

TEST(YamlDocument, AliasesAreTheAnchoredNode) {
  auto document = MustParse("base: &b {k: v, n: [1, 2]}\ncopy: *b\nlist: [*b, *b]\n");
  Node root = document->root();
  Node copy = root.Value(1);
  ASSERT_TRUE(copy.IsMap());
  EXPECT_EQ(copy.Value(0).Scalar(), "v");
  EXPECT_EQ(copy.Value(1).Item(1).Scalar(), "2");
  EXPECT_EQ(copy.Mark().line, root.Value(0).Mark().line);  // where the anchor is
  EXPECT_EQ(root.Value(2).size(), 2u);
  EXPECT_EQ(root.Value(2).Item(1).Value(0).Scalar(), "v");
}

TEST(YamlDocument, DuplicateKeysStayInOrder) {
  auto document = MustParse("k: 1\nk: 2\n");
  ASSERT_EQ(document->root().size(), 2u);
  EXPECT_EQ(document->root().Value(1).Scalar(), "2");
}

TEST(YamlDocument, ASecondDocumentIsFoundAndNotKept) {
  std::vector<YAML::Mark> starts;
  auto document = Document::Parse("a: 1\n---\nb: 2\n", &starts);
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[1].line, 1);
  EXPECT_EQ(document->root().size(), 1u);
  EXPECT_EQ(document->root().Key(0).Scalar(), "a");
}

TEST(YamlDocument, SyntaxErrorsThrowWithAPosition) {
  std::vector<YAML::Mark> starts;
  try {
    Document::Parse("a: [1, 2\nb: 3\n", &starts);
    FAIL() << "expected a parser exception";
  } catch (const YAML::Exception& e) {
    EXPECT_FALSE(e.mark.is_null());
  }
}

// Through the loader: the reader's messages, positions and the single-document rule.
TEST(YamlDocument, LoaderReportsDocumentsCommasAndUndefinedAliases) {
  auto first_error = [](std::string_view text) {
    auto result = ParseConfig(text, "t.yaml", testing::FakeEnv());
    return result ? std::string("valid") : result.error().front().ToString();
  };
  EXPECT_NE(first_error("listeners: []\n---\nlisteners: []\n").find("found more"),
            std::string::npos);
  EXPECT_NE(first_error("listeners: []\n,\n").find("invalid YAML"), std::string::npos);
  EXPECT_NE(first_error("listeners: *nowhere\n").find("invalid YAML"), std::string::npos);
  EXPECT_NE(first_error("").find("the config file is empty"), std::string::npos);
}

// Anchors shared by routes read the same as written out.
TEST(YamlDocument, LoaderReadsAnchoredValues) {
  auto result = ParseConfig(R"(upstreams:
  - { name: u, endpoints: [127.0.0.1:9000] }
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - name: a
        match: &team { path_prefix: /team/, methods: [GET] }
        upstream: u
        public: true
      - name: b
        match: *team
        upstream: u
        public: true
)",
                            "t.yaml", testing::FakeEnv());
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  const ListenerConfig& listener = (*result)->listeners[0];
  ASSERT_EQ(listener.routes.size(), 2u);
  EXPECT_EQ(listener.routes[1].match.path_prefix, "/team/");
  EXPECT_EQ(listener.routes[1].match.methods, std::vector<std::string>{"GET"});
}

}  // namespace
}  // namespace ciap::config::yaml
