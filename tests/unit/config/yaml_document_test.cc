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
        match: { <<: *team, methods: [PUT] }
        upstream: u
        public: true
)",
                            "t.yaml", testing::FakeEnv());
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  const ListenerConfig& listener = (*result)->listeners[0];
  ASSERT_EQ(listener.routes.size(), 2u);
  EXPECT_EQ(listener.routes[1].match.path_prefix, "/team/");
  EXPECT_EQ(listener.routes[0].match.methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(listener.routes[1].match.methods, std::vector<std::string>{"PUT"});
}

// A tab in the indentation is named as such, where it is, instead of yaml-cpp's words for what
// it broke ("end of map not found", "illegal map value").
TEST(YamlDocument, LoaderNamesATabInTheIndentation) {
  auto first_error = [](std::string_view text) {
    auto result = ParseConfig(text, "t.yaml", testing::FakeEnv());
    return result ? std::string("valid") : result.error().front().ToString();
  };
  const std::string tab =
      ": invalid YAML: a tab in the indentation (YAML indents with spaces only; replace the tab "
      "with spaces)";
  EXPECT_EQ(first_error("admin:\n\taddress: 127.0.0.1:0\nlisteners: []\n"), "t.yaml:2:1" + tab);
  EXPECT_EQ(first_error("admin:\n  address: 127.0.0.1:0\n\tfoo: 1\n"), "t.yaml:3:1" + tab);
  EXPECT_EQ(first_error("admin:\n  \t address: x\n"), "t.yaml:2:3" + tab);
  EXPECT_EQ(first_error("listeners:\n - \tname: a\n -\tname: b\n"), "t.yaml:2:4" + tab);
  // A tab elsewhere is not blamed for an error it did not cause.
  EXPECT_NE(first_error("a: [1,\n# x\tb\nc: 3\n").find("invalid YAML: "), std::string::npos);
  EXPECT_EQ(first_error("a: [1,\n# x\tb\nc: 3\n").find("a tab"), std::string::npos);
  EXPECT_EQ(first_error("a: b: c\nd: 1\n\te: 2\n"), "t.yaml:1:5: invalid YAML: illegal map value")
      << "the tab comes after the error";
}

// Merge keys: a mapping gets the keys of the mappings it merges that it does not set itself; the
// first of several merged mappings wins; merged mappings may merge others; x- keys at the top
// level hold anchors and are otherwise ignored.
TEST(YamlDocument, LoaderResolvesMergeKeys) {
  auto result = ParseConfig(R"(x-defaults:
  upstream: &upstream { endpoints: [127.0.0.1:9000], connect_timeout: 1s, idle_timeout: 5s }
  slow: &slow { <<: *upstream, connect_timeout: 9s }
  route: &route { upstream: u, public: true, timeout: 7s }
  long: &long { timeout: 70s }
upstreams:
  - <<: *upstream
    name: u
  - { <<: *slow, name: v }
  - { <<: *upstream, name: w, connect_timeout: 3s }
listeners:
  - name: l
    address: 127.0.0.1:0
    plaintext: true
    routes:
      - { <<: *route, name: a, match: { path: /a } }
      - { <<: [*long, *route], name: b, match: { path: /b } }
      - { <<: [*route, *long], name: c, match: { path: /c }, upstream: v }
)",
                            "t.yaml", testing::FakeEnv());
  ASSERT_TRUE(result.has_value()) << result.error().front().ToString();
  const Config& config = **result;
  ASSERT_EQ(config.upstreams.size(), 3u);
  EXPECT_EQ(config.upstreams[0].endpoints.size(), 1u);
  EXPECT_EQ(config.upstreams[0].connect_timeout, Duration(1000));
  EXPECT_EQ(config.upstreams[0].idle_timeout, Duration(5000));
  EXPECT_EQ(config.upstreams[1].connect_timeout, Duration(9000)) << "merged in a merged mapping";
  EXPECT_EQ(config.upstreams[1].idle_timeout, Duration(5000)) << "two levels down";
  EXPECT_EQ(config.upstreams[2].connect_timeout, Duration(3000)) << "written keys win";
  const ListenerConfig& listener = config.listeners[0];
  ASSERT_EQ(listener.routes.size(), 3u);
  EXPECT_TRUE(listener.routes[0].is_public);
  EXPECT_EQ(listener.routes[0].timeout, Duration(7000));
  EXPECT_EQ(listener.routes[1].timeout, Duration(70000)) << "the first merged mapping wins";
  EXPECT_EQ(listener.routes[2].timeout, Duration(7000));
  EXPECT_EQ(listener.routes[2].upstream, "v");
}

TEST(YamlDocument, LoaderReportsMergeKeyMistakes) {
  auto errors = [](std::string_view text) {
    auto result = ParseConfig(text, "t.yaml", testing::FakeEnv());
    std::string out;
    if (!result) {
      for (const ConfigError& e : result.error()) out += e.ToString() + "\n";
    }
    return out;
  };
  const std::string listener =
      "listeners:\n  - { name: l, address: 127.0.0.1:0, plaintext: true, routes: [";
  // A key a merged mapping brings that does not belong is reported where it is written.
  EXPECT_NE(errors("x-r: &r { upstream: u, public: true, bogus: 1 }\nupstreams: [{ name: u, "
                   "endpoints: [127.0.0.1:1] }]\n" +
                   listener + "{ <<: *r, name: a }] }\n")
                .find("t.yaml:1:38: listeners[0].routes[0].bogus: unknown key 'bogus'"),
            std::string::npos);
  EXPECT_NE(
      errors("upstreams: [{ name: u, endpoints: [127.0.0.1:1], <<: 3 }]\n" + listener + "] }\n")
          .find("t.yaml:1:50: upstreams[0].<<: a merge key takes a mapping or a list of "
                "mappings (<<: *defaults or <<: [*a, *b]), got '3'"),
      std::string::npos);
  EXPECT_NE(errors("x: &x { a: 1 }\nupstreams: [{ name: u, endpoints: [127.0.0.1:1], <<: [*x, "
                   "[]] }]\n")
                .find("upstreams[0].<<: a merge key takes a mapping or a list of mappings (<<: "
                      "*defaults or <<: [*a, *b]), got a list in the list"),
            std::string::npos);
  EXPECT_NE(errors("upstreams: [&u { name: u, endpoints: [127.0.0.1:1], <<: *u }]\n")
                .find("upstreams[0].<<: merge keys nest more than 16 deep (does a mapping merge "
                      "itself?)"),
            std::string::npos);
  // A quoted "<<" is an ordinary key, and not one ciap knows.
  EXPECT_NE(errors("upstreams: [{ name: u, endpoints: [127.0.0.1:1], \"<<\": {} }]\n")
                .find("upstreams[0].<<: unknown key '<<'"),
            std::string::npos);
  // Only the top level has extension fields.
  EXPECT_NE(errors("admin: { x-a: 1 }\n").find("admin.x-a: unknown key 'x-a'"), std::string::npos);
  EXPECT_EQ(errors("x-anything: [1, {a: b}]\n" + listener + "] }\nx-more: 1\n").find("x-"),
            std::string::npos);
}

}  // namespace
}  // namespace ciap::config::yaml
