// Claim globs: `*` matches any run of characters except '/' and ':' (one segment of a path like
// "acme/platform" or of a subject like "repo:org/app:ref:..."), `**` matches any run, and every
// other character matches itself. There is no escape and no `?` or `[...]`.
//
// A glob compiles to a small NFA that is run bit-parallel over the text: time is linear in the
// text (times the pattern length / 64), with no backtracking, so no pattern/claim pair can make a
// match slow; and matching never allocates for patterns of up to 1024 characters. For patterns
// of up to 63 tokens (nearly all), the stretches a star skips are found with memchr or a short
// scan and literal runs are compared whole, so a long `sub` costs little more than a memcmp.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ciap::claims {

class Glob {
 public:
  explicit Glob(std::string_view pattern);

  bool Matches(std::string_view text) const;

 private:
  bool MatchesOneWord(std::string_view text) const;

  // Literal characters before the first star and after the last one: compared directly, so
  // the NFA only runs over the part in between (often a lone `*`).
  std::string prefix_;
  std::string suffix_;
  bool has_star_ = false;
  // The NFA of the middle part, which starts and ends with a star. Bit i of a state set means
  // "tokens 0..i-1 are matched"; bit `tokens_` is acceptance. Masks are `words_` words each.
  uint32_t tokens_ = 0;
  uint32_t words_ = 0;
  std::string token_chars_;               // per token: its literal byte, or '*' for a star
  std::vector<uint32_t> run_end_;         // per literal token: the end of its run of literals
  std::array<uint16_t, 256> class_of_{};  // byte → literal class; 0: not in the pattern
  std::vector<uint64_t> literal_;         // per class: tokens that are that literal
  std::vector<uint64_t> segment_star_;    // `*` tokens: stay on bytes other than '/' and ':'
  std::vector<uint64_t> any_star_;        // `**` tokens: stay on any byte
  std::vector<uint64_t> star_;            // either star: may also match nothing
};

}  // namespace ciap::claims
