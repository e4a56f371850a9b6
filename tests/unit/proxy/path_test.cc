// Verifies path normalization: the canonical path policy and upstream both see.
#include "proxy/path.h"

#include <gtest/gtest.h>

namespace ciap {
namespace {

struct PathCase {
  const char* raw;
  const char* normalized;  // nullptr when refused
  PathError error = PathError::kNotAbsolute;
};

class NormalizePathTest : public testing::TestWithParam<PathCase> {};

TEST_P(NormalizePathTest, NormalizesOrRefuses) {
  const PathCase& c = GetParam();
  std::string out = "stale contents from an earlier request";
  auto error = NormalizePath(c.raw, &out);
  if (c.normalized != nullptr) {
    ASSERT_FALSE(error.has_value()) << c.raw << " refused as " << PathErrorReason(*error);
    EXPECT_EQ(out, c.normalized) << c.raw;
  } else {
    ASSERT_TRUE(error.has_value()) << c.raw << " accepted as " << out;
    EXPECT_EQ(*error, c.error) << c.raw << ": " << PathErrorReason(*error);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Accepted, NormalizePathTest,
    testing::Values(
        PathCase{"/", "/"}, PathCase{"/a", "/a"}, PathCase{"/a/", "/a/"}, PathCase{"//a", "/a"},
        PathCase{"/a//b///c", "/a/b/c"}, PathCase{"/a/./b", "/a/b"}, PathCase{"/a/../b", "/b"},
        PathCase{"/public/../admin", "/admin"}, PathCase{"/..", "/"},
        PathCase{"/../../etc/passwd", "/etc/passwd"}, PathCase{"/a/.", "/a/"},
        PathCase{"/a/..", "/"}, PathCase{"/a/b/..", "/a/"}, PathCase{"/%61dmin", "/admin"},
        PathCase{"/%2e%2e/admin", "/admin"}, PathCase{"/public/%2E%2e/admin", "/admin"},
        PathCase{"/public/%2E./admin", "/admin"}, PathCase{"/a%7eb", "/a~b"},
        PathCase{"/a%20b", "/a%20b"}, PathCase{"/a%3fb", "/a%3Fb"},
        PathCase{"/caf%c3%a9", "/caf%C3%A9"}, PathCase{"/admin;x=y", "/admin;x=y"},
        PathCase{"/.hidden/..x", "/.hidden/..x"}, PathCase{"//", "/"}, PathCase{"/a/b/", "/a/b/"}));

INSTANTIATE_TEST_SUITE_P(
    Refused, NormalizePathTest,
    testing::Values(PathCase{"", nullptr, PathError::kNotAbsolute},
                    PathCase{"a/b", nullptr, PathError::kNotAbsolute},
                    PathCase{"/a%2fb", nullptr, PathError::kEncodedSlash},
                    PathCase{"/a%2Fb", nullptr, PathError::kEncodedSlash},
                    PathCase{"/a%5cb", nullptr, PathError::kEncodedSlash},
                    PathCase{"/a\\b", nullptr, PathError::kBackslash},
                    PathCase{"/a%00b", nullptr, PathError::kNul},
                    PathCase{"/a%", nullptr, PathError::kBadEscape},
                    PathCase{"/a%4", nullptr, PathError::kBadEscape},
                    PathCase{"/a%zz", nullptr, PathError::kBadEscape},
                    PathCase{"/public/..;/admin", nullptr, PathError::kDotMatrix},
                    PathCase{"/public/.;x/admin", nullptr, PathError::kDotMatrix},
                    PathCase{"/%2e%2e;/admin", nullptr, PathError::kDotMatrix}));

TEST(NormalizePath, RefusesOverlongPaths) {
  std::string out;
  std::string raw = "/" + std::string(20000, 'a');
  EXPECT_EQ(NormalizePath(raw, &out), PathError::kTooLong);
}

// Found by fuzz_path: raw non-ASCII bytes are escaped, so a path under the cap can normalize to
// one three times as long. What is accepted must be accepted again as it is.
TEST(NormalizePath, CapAppliesToTheNormalizedPath) {
  std::string out;
  std::string raw = "/";
  for (int i = 0; i < 6000; ++i) raw += "\xc3\xa9";  // é, escaped to %C3%A9
  ASSERT_LE(raw.size(), 16u * 1024);
  EXPECT_EQ(NormalizePath(raw, &out), PathError::kTooLong);
  std::string fits = "/";
  for (int i = 0; i < 2000; ++i) fits += "\xc3\xa9";
  ASSERT_EQ(NormalizePath(fits, &out), std::nullopt);
  std::string again;
  EXPECT_EQ(NormalizePath(out, &again), std::nullopt);
  EXPECT_EQ(again, out);
}

TEST(NormalizePath, NulByteInsideTheStringIsRefused) {
  std::string out;
  std::string raw("/a\0b", 4);
  EXPECT_EQ(NormalizePath(raw, &out), PathError::kNul);
}

}  // namespace
}  // namespace ciap
