// Tests of Glob: the `*` / `**` rules on hand-picked cases, agreement with a plain recursive
// reference on random patterns (short and over 64 tokens, to cover the multi-word NFA), and
// linear time on patterns that make backtracking matchers explode.
#include "filters/claims/glob.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace ciap::claims {
namespace {

// The definition, written as directly as possible (exponential in the worst case, memoized).
class ReferenceGlob {
 public:
  ReferenceGlob(std::string_view pattern, std::string_view text)
      : p_(pattern), t_(text), memo_((p_.size() + 1) * (t_.size() + 1), -1) {}

  bool Match() { return Match(0, 0); }

 private:
  bool Match(size_t i, size_t j) {
    int8_t& m = memo_[i * (t_.size() + 1) + j];
    if (m >= 0) return m;
    bool result;
    if (i == p_.size()) {
      result = j == t_.size();
    } else if (p_[i] == '*') {
      size_t run = 0;
      while (i + run < p_.size() && p_[i + run] == '*') ++run;
      const bool any = run >= 2;
      result = Match(i + run, j);  // the star matches nothing
      for (size_t k = j; !result && k < t_.size(); ++k) {
        if (!any && (t_[k] == '/' || t_[k] == ':')) break;
        result = Match(i + run, k + 1);
      }
    } else {
      result = j < t_.size() && p_[i] == t_[j] && Match(i + 1, j + 1);
    }
    m = result;
    return result;
  }

  std::string p_;
  std::string t_;
  std::vector<int8_t> memo_;
};

struct GlobCase {
  const char* pattern;
  const char* text;
  bool matches;
};

TEST(ClaimGlobTest, Rules) {
  const GlobCase cases[] = {
      {"*", "", true},
      {"*", "abc", true},
      {"*", "a/b", false},
      {"*", "a:b", false},
      {"**", "", true},
      {"**", "a/b:c", true},
      {"a*", "a", true},
      {"a*", "abc", true},
      {"a*", "ba", false},
      {"*a", "ba", true},
      {"*a", "ab", false},
      {"a*b", "ab", true},
      {"a*b", "axxb", true},
      {"a*b", "ax/b", false},
      {"a**b", "ax/y:b", true},
      {"a*b*c", "abxbc", true},
      {"a*b*c", "abxbd", false},
      {"*/*", "a/b", true},
      {"*/*", "a/b/c", false},
      {"**/*", "a/b/c", true},
      {"*/**", "a/b/c", true},
      {"**/*", "abc", false},
      {"*:*", "repo:x", true},
      {"***", "a/b", true},  // a run of stars is `**`
      {"release-*", "release-1.4", true},
      {"release-*", "release", false},
      {"release-*", "Release-1", false},
      {"exact", "exact", true},
      {"exact", "exac", false},
      {"", "", true},
      {"", "a", false},
      {"a*a*a*a", "aaa", false},
      {"a*a*a*a", "aaaa", true},
      {"?", "a", false},  // only `*` is special
      {"[a]", "[a]", true},
      {"*.yml@refs/tags/*", "deploy.yml@refs/tags/v3", true},
      {"*.yml@refs/tags/*", "x/deploy.yml@refs/tags/v3", false},
      {"é*", "été", true},
  };
  for (const GlobCase& c : cases) {
    EXPECT_EQ(Glob(c.pattern).Matches(c.text), c.matches) << c.pattern << " vs " << c.text;
    EXPECT_EQ(ReferenceGlob(c.pattern, c.text).Match(), c.matches)
        << "reference disagrees: " << c.pattern << " vs " << c.text;
  }
}

// Random patterns over a tiny alphabet hit every interplay of `*`, `**`, '/' and ':'.
void CompareWithReference(size_t max_pattern, size_t max_text, int rounds, uint32_t seed) {
  std::mt19937 rng(seed);
  const std::string pattern_chars = "ab/:**";
  const std::string text_chars = "ab/:";
  int matched = 0;
  for (int round = 0; round < rounds; ++round) {
    std::string pattern(rng() % (max_pattern + 1), ' ');
    for (char& c : pattern) c = pattern_chars[rng() % pattern_chars.size()];
    std::string text(rng() % (max_text + 1), ' ');
    for (char& c : text) c = text_chars[rng() % text_chars.size()];
    // Half the time, derive the text from the pattern so that matches are common.
    if (round % 2 == 0) {
      text.clear();
      for (char c : pattern) {
        if (c != '*') {
          text.push_back(c);
        } else if (rng() % 2) {
          text.push_back(text_chars[rng() % 2]);
        }
      }
    }
    const bool expected = ReferenceGlob(pattern, text).Match();
    matched += expected;
    ASSERT_EQ(Glob(pattern).Matches(text), expected)
        << "pattern: " << pattern << "\ntext: " << text;
  }
  EXPECT_GT(matched, rounds / 10) << "the generator should produce matches too";
}

TEST(ClaimGlobTest, AgreesWithReferenceOnShortPatterns) { CompareWithReference(12, 16, 20000, 1); }

TEST(ClaimGlobTest, AgreesWithReferenceOnLongPatterns) {
  // Over 64 tokens the NFA spans several words; over 1024 it leaves the stack.
  CompareWithReference(300, 300, 2000, 2);
  CompareWithReference(1500, 1500, 50, 3);
}

TEST(ClaimGlobTest, CarriesAcrossWordBoundaries) {
  // Appends instead of "x" + std::string(...): GCC 12 warns falsely (-Wrestrict) on the latter.
  auto between = [](char left, size_t n, char right) {
    return std::string(1, left).append(n, 'a').append(1, right);
  };
  for (size_t n : {60u, 61u, 62u, 63u, 64u, 65u, 127u, 128u, 129u}) {
    const std::string pattern = between('*', n, '*');  // n + 2 tokens
    EXPECT_TRUE(Glob(pattern).Matches(between('x', n, 'y'))) << n;
    EXPECT_FALSE(Glob(pattern).Matches(between('x', n - 1, 'y'))) << n;
    std::string stars;
    for (size_t i = 0; i < n; ++i) stars += "a*";
    EXPECT_TRUE(Glob(stars).Matches(std::string(n, 'a'))) << n;
    EXPECT_FALSE(Glob(stars).Matches(std::string(n - 1, 'a'))) << n;
    EXPECT_FALSE(Glob(stars + "/").Matches(std::string(n, 'a') + "/x")) << n;
  }
}

// The classic backtracking killers run in linear time.
TEST(ClaimGlobTest, NoCatastrophicBacktracking) {
  const std::string text(20000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(Glob("*a*a*a*a*a*a*a*a*a*a*a*a*b").Matches(text));
  EXPECT_FALSE(Glob("**a**a**a**a**a**a**a**a**a**b").Matches(text));
  EXPECT_FALSE(Glob("a*" + std::string(200, 'a') + "*b").Matches(text));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));
}

}  // namespace
}  // namespace ciap::claims
