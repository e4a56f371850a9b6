// Verifies the path classes that bypassed other proxies' policies:
// each is either normalized to the one spelling the router, the policy and the upstream all
// see, or refused. Also the request-target forms and the authority syntax.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proxy/path.h"

namespace ciap {
namespace {

struct AttackCase {
  const char* raw;
  const char* normalized;  // nullptr when refused
  PathError error = PathError::kNotAbsolute;
};

class PathAttackTest : public testing::TestWithParam<AttackCase> {};

TEST_P(PathAttackTest, NormalizesToOneSpellingOrRefuses) {
  const AttackCase& c = GetParam();
  std::string out = "stale";
  auto error = NormalizePath(c.raw, &out);
  if (c.normalized != nullptr) {
    ASSERT_FALSE(error.has_value()) << c.raw << " refused as " << PathErrorReason(*error);
    EXPECT_EQ(out, c.normalized) << c.raw;
    std::string again;
    ASSERT_FALSE(NormalizePath(out, &again).has_value()) << out;
    EXPECT_EQ(again, out) << "not idempotent: " << c.raw;
  } else {
    ASSERT_TRUE(error.has_value()) << c.raw << " accepted as " << out;
    EXPECT_EQ(*error, c.error) << c.raw << ": " << PathErrorReason(*error);
  }
}

INSTANTIATE_TEST_SUITE_P(DotSegments, PathAttackTest,
                         testing::Values(AttackCase{"/public/../admin", "/admin"},
                                         AttackCase{"/public/./../admin/", "/admin/"},
                                         AttackCase{"/./admin", "/admin"},
                                         AttackCase{"/public/%2e%2e/admin", "/admin"},
                                         AttackCase{"/public/%2E./admin", "/admin"},
                                         AttackCase{"/public/.%2e/admin", "/admin"},
                                         AttackCase{"/public/%2e/admin", "/public/admin"},
                                         AttackCase{"/public/x/../../../admin", "/admin"},
                                         AttackCase{"/public/..", "/"}));

INSTANTIATE_TEST_SUITE_P(
    SlashesAndEncodings, PathAttackTest,
    testing::Values(AttackCase{"//admin", "/admin"}, AttackCase{"///admin//x", "/admin/x"},
                    AttackCase{"/%61dmin", "/admin"}, AttackCase{"/%41DMIN", "/ADMIN"},
                    AttackCase{"/a%2db%5fc%7e", "/a-b_c~"}, AttackCase{"/a%3a%40", "/a%3A%40"},
                    AttackCase{"/public%2f..%2fadmin", nullptr, PathError::kEncodedSlash},
                    AttackCase{"/%2fadmin", nullptr, PathError::kEncodedSlash},
                    AttackCase{"/public/..%5cadmin", nullptr, PathError::kEncodedSlash},
                    AttackCase{"/public\\..\\admin", nullptr, PathError::kBackslash},
                    AttackCase{"/admin%00", nullptr, PathError::kNul},
                    AttackCase{"/admin%0", nullptr, PathError::kBadEscape},
                    AttackCase{"/admin%g1", nullptr, PathError::kBadEscape},
                    AttackCase{"/%u002e%u002e/admin", nullptr, PathError::kBadEscape}));

INSTANTIATE_TEST_SUITE_P(
    DoubleEncoding, PathAttackTest,
    testing::Values(AttackCase{"/%2561dmin", nullptr, PathError::kDoubleEncoding},
                    AttackCase{"/public/%252e%252e/admin", nullptr, PathError::kDoubleEncoding},
                    AttackCase{"/public/..%252fadmin", nullptr, PathError::kDoubleEncoding},
                    AttackCase{"/%25%32%65", nullptr, PathError::kDoubleEncoding},
                    AttackCase{"/%25%34%31", nullptr, PathError::kDoubleEncoding},
                    AttackCase{"/%25252e", nullptr, PathError::kDoubleEncoding},
                    // A '%' that is not the start of another escape is just a percent sign.
                    AttackCase{"/100%25", "/100%25"}, AttackCase{"/100%25off", "/100%25off"},
                    AttackCase{"/%25zz", "/%25zz"}));

INSTANTIATE_TEST_SUITE_P(
    Utf8, PathAttackTest,
    testing::Values(AttackCase{"/caf%C3%A9", "/caf%C3%A9"},
                    AttackCase{"/caf\xc3\xa9", "/caf%C3%A9"},  // raw and escaped: one spelling
                    AttackCase{"/%E2%82%AC%F0%9F%98%80", "/%E2%82%AC%F0%9F%98%80"},
                    AttackCase{"/public/%c0%ae%c0%ae/admin", nullptr, PathError::kBadUtf8},
                    AttackCase{"/public/%e0%80%ae/admin", nullptr, PathError::kBadUtf8},
                    AttackCase{"/public/%f0%80%80%ae/admin", nullptr, PathError::kBadUtf8},
                    AttackCase{"/%c0%afadmin", nullptr, PathError::kBadUtf8},
                    AttackCase{"/%c1%9c", nullptr, PathError::kBadUtf8},
                    AttackCase{"/%ed%a0%80", nullptr, PathError::kBadUtf8},  // a surrogate
                    AttackCase{"/%f4%90%80%80", nullptr, PathError::kBadUtf8},
                    AttackCase{"/%e9t%e9", nullptr, PathError::kBadUtf8},  // Latin-1
                    AttackCase{"/%c3", nullptr, PathError::kBadUtf8},      // truncated
                    AttackCase{"/%c3a", nullptr, PathError::kBadUtf8},
                    AttackCase{"/\xc0\xae\xc0\xae/admin", nullptr, PathError::kBadUtf8}));

INSTANTIATE_TEST_SUITE_P(
    CompatibilityForms, PathAttackTest,
    testing::Values(
        // NFKC turns these into '.', '/', a backslash, '%' or ';': refused, escaped or raw.
        AttackCase{"/public/%EF%BC%8E%EF%BC%8E/admin", nullptr, PathError::kCompatibilityForm},
        AttackCase{"/public/\xef\xbc\x8e\xef\xbc\x8e/admin", nullptr,
                   PathError::kCompatibilityForm},
        AttackCase{"/public%ef%bc%8f..%ef%bc%8fadmin", nullptr, PathError::kCompatibilityForm},
        AttackCase{"/public/%E2%80%A5/admin", nullptr, PathError::kCompatibilityForm},
        AttackCase{"/public/..%EF%B9%A8admin", nullptr, PathError::kCompatibilityForm},
        AttackCase{"/a%EF%BC%85%32%65", nullptr, PathError::kCompatibilityForm},
        AttackCase{"/admin%EF%BC%9Bx", nullptr, PathError::kCompatibilityForm},
        AttackCase{"/%E2%84%80", nullptr, PathError::kCompatibilityForm},     // U+2100 "a/c"
        AttackCase{"/%F0%9F%84%80", nullptr, PathError::kCompatibilityForm},  // U+1F100 "0."
        AttackCase{"/%CD%BE", nullptr, PathError::kCompatibilityForm},        // U+037E ';'
        // Compatibility forms of letters and digits do not change the structure.
        AttackCase{"/%EF%BD%81dmin", "/%EF%BD%81dmin"},  // U+FF41 'a'
        AttackCase{"/%EF%BC%90", "/%EF%BC%90"},          // U+FF10 '0'
        AttackCase{"/%E2%80%A3", "/%E2%80%A3"}));        // U+2023, next to U+2024

INSTANTIATE_TEST_SUITE_P(RawCharacters, PathAttackTest,
                         testing::Values(AttackCase{"/a\"b<c>", "/a%22b%3Cc%3E"},
                                         AttackCase{"/a{b}|c^d`", "/a%7Bb%7D%7Cc%5Ed%60"},
                                         AttackCase{"/a[b]", "/a%5Bb%5D"},
                                         AttackCase{"/a%22b", "/a%22b"},
                                         AttackCase{"/a!$&'()*+,=:@b", "/a!$&'()*+,=:@b"}));

INSTANTIATE_TEST_SUITE_P(
    MatrixParameters, PathAttackTest,
    testing::Values(AttackCase{"/admin;x=y", "/admin;x=y"},
                    AttackCase{"/admin;x=y/secret", "/admin;x=y/secret"},
                    AttackCase{"/public;x/../admin", "/admin"},
                    AttackCase{"/public/..;/admin", nullptr, PathError::kDotMatrix},
                    AttackCase{"/public/..;x=y/admin", nullptr, PathError::kDotMatrix},
                    AttackCase{"/public/.;/admin", nullptr, PathError::kDotMatrix},
                    AttackCase{"/public/%2e%2e;/admin", nullptr, PathError::kDotMatrix},
                    AttackCase{"/public/..%3b/admin", nullptr, PathError::kDotMatrix},
                    AttackCase{"/public/..%3Bx/admin", nullptr, PathError::kDotMatrix},
                    AttackCase{"/;x/admin", nullptr, PathError::kDotMatrix},
                    AttackCase{"/;/admin", nullptr, PathError::kDotMatrix},
                    AttackCase{"//;x=y/admin", nullptr, PathError::kDotMatrix},
                    AttackCase{"/%3bx/admin", nullptr, PathError::kDotMatrix}));

INSTANTIATE_TEST_SUITE_P(
    TrailingDotsAndSpaces, PathAttackTest,
    testing::Values(AttackCase{"/admin.", nullptr, PathError::kTrailingDot},
                    AttackCase{"/admin./secret", nullptr, PathError::kTrailingDot},
                    AttackCase{"/admin%2e", nullptr, PathError::kTrailingDot},
                    AttackCase{"/admin%20", nullptr, PathError::kTrailingDot},
                    AttackCase{"/admin%20/x", nullptr, PathError::kTrailingDot},
                    AttackCase{"/admin...", nullptr, PathError::kTrailingDot},
                    AttackCase{"/admin.;x", nullptr, PathError::kTrailingDot},
                    AttackCase{"/a/.../b", nullptr, PathError::kTrailingDot},
                    AttackCase{"/v1.2/file.tar.gz", "/v1.2/file.tar.gz"},
                    AttackCase{"/a%20b", "/a%20b"},
                    AttackCase{"/.well-known/x", "/.well-known/x"}));

TEST(NormalizePath, EveryByteAfterASlashNormalizesIdempotently) {
  // Each single byte and each escape, alone and in front of a dot segment: accepted ones
  // normalize to themselves.
  for (int b = 0; b < 256; ++b) {
    for (std::string raw :
         {std::string("/a") + static_cast<char>(b) + "b/../c",
          std::string("/%") + "0123456789ABCDEF"[b >> 4] + "0123456789abcdef"[b & 15] + "x"}) {
      std::string out;
      if (NormalizePath(raw, &out)) continue;
      std::string again;
      ASSERT_FALSE(NormalizePath(out, &again).has_value()) << raw << " -> " << out;
      EXPECT_EQ(again, out) << raw;
    }
  }
}

TEST(StripPathParameters, CutsEachSegmentAtItsParameters) {
  std::string out = "untouched";
  EXPECT_FALSE(StripPathParameters("/admin/x", &out));
  EXPECT_EQ(out, "untouched");
  ASSERT_TRUE(StripPathParameters("/admin;x=y/secret", &out));
  EXPECT_EQ(out, "/admin/secret");
  ASSERT_TRUE(StripPathParameters("/a;1/b%3B2/c;", &out));
  EXPECT_EQ(out, "/a/b/c");
  ASSERT_TRUE(StripPathParameters("/admin;jsessionid=1", &out));
  EXPECT_EQ(out, "/admin");
  ASSERT_TRUE(StripPathParameters("/a;b/", &out));
  EXPECT_EQ(out, "/a/");
}

TEST(ParseRequestTarget, OriginForm) {
  auto t = ParseRequestTarget("/a/b?x=1&y=/../admin#frag");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->form, RequestTarget::kOrigin);
  EXPECT_EQ(t->path, "/a/b");
  EXPECT_EQ(t->query, "x=1&y=/../admin");
  t = ParseRequestTarget("/admin#/../public");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/admin");
  EXPECT_EQ(t->query, "");
  t = ParseRequestTarget("/p?");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/p");
  EXPECT_EQ(t->query, "");
}

TEST(ParseRequestTarget, AbsoluteForm) {
  auto t = ParseRequestTarget("http://Example.com:8080/a?q#f");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->form, RequestTarget::kAbsolute);
  EXPECT_EQ(t->authority, "Example.com:8080");
  EXPECT_EQ(t->path, "/a");
  EXPECT_EQ(t->query, "q");
  t = ParseRequestTarget("HTTPS://h?q");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->authority, "h");
  EXPECT_EQ(t->path, "/");
  EXPECT_EQ(t->query, "q");
  t = ParseRequestTarget("http://[::1]:80/x");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->authority, "[::1]:80");
  EXPECT_FALSE(ParseRequestTarget("http://user:pw@h/admin"));
  t = ParseRequestTarget("http://h#x@evil/admin");  // the fragment ends the authority
  ASSERT_TRUE(t);
  EXPECT_EQ(t->authority, "h");
  EXPECT_EQ(t->path, "/");
  EXPECT_FALSE(ParseRequestTarget("ftp://h/a"));
  EXPECT_FALSE(ParseRequestTarget("http:///admin"));
  EXPECT_FALSE(ParseRequestTarget("http://h%2fadmin/x"));
}

TEST(ParseRequestTarget, OtherForms) {
  auto t = ParseRequestTarget("*");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->form, RequestTarget::kAsterisk);
  t = ParseRequestTarget("example.com:443");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->form, RequestTarget::kAuthority);
  EXPECT_EQ(t->authority, "example.com:443");
  EXPECT_FALSE(ParseRequestTarget(""));
  EXPECT_FALSE(ParseRequestTarget("admin"));
  EXPECT_FALSE(ParseRequestTarget("admin/x"));
}

TEST(IsValidAuthority, HostAndPort) {
  for (const char* ok : {"localhost", "a.example.com", "a.example.com.", "10.0.0.1:8443",
                         "under_score:1", "[::1]", "[2001:db8::1]:443", "x:65535"}) {
    EXPECT_TRUE(IsValidAuthority(ok)) << ok;
  }
  for (const char* bad : {"", ":80", "h:", "h:80x", "h:123456", "a b", "a/b", "a\\b", "u@h", "h?x",
                          "h#x", "[::1", "[]", "[::1]x", "[zz::1]", "h%2e", "a,b"}) {
    EXPECT_FALSE(IsValidAuthority(bad)) << bad;
  }
}

}  // namespace
}  // namespace ciap
