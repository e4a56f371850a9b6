// Claim globs as a bit-parallel NFA; see glob.h.
#include "filters/claims/glob.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

namespace ciap::claims {
namespace {

// State sets up to this many words live on the stack: patterns of up to 1024 characters.
constexpr uint32_t kInlineWords = 16;

bool IsSegmentSeparator(unsigned char c) { return c == '/' || c == ':'; }

enum class Token : uint8_t { kLiteral, kSegmentStar, kAnyStar };

void SetBit(std::vector<uint64_t>& mask, uint32_t base, uint32_t bit) {
  mask[base + bit / 64] |= uint64_t{1} << (bit % 64);
}

}  // namespace

Glob::Glob(std::string_view pattern) {
  const size_t first_star = pattern.find('*');
  if (first_star == std::string_view::npos) {
    prefix_ = std::string(pattern);
    return;
  }
  has_star_ = true;
  const size_t last_star = pattern.rfind('*');
  prefix_ = std::string(pattern.substr(0, first_star));
  suffix_ = std::string(pattern.substr(last_star + 1));
  const std::string_view middle = pattern.substr(first_star, last_star + 1 - first_star);

  // A run of two or more stars is one `**`, so no two star tokens are adjacent: the closure
  // over "a star may match nothing" then takes a single step.
  std::vector<Token> tokens;
  std::vector<unsigned char> literals;
  for (size_t i = 0; i < middle.size();) {
    if (middle[i] != '*') {
      tokens.push_back(Token::kLiteral);
      literals.push_back(static_cast<unsigned char>(middle[i++]));
      continue;
    }
    size_t run = 0;
    while (i < middle.size() && middle[i] == '*') ++i, ++run;
    tokens.push_back(run == 1 ? Token::kSegmentStar : Token::kAnyStar);
    literals.push_back(0);
  }
  tokens_ = static_cast<uint32_t>(tokens.size());
  words_ = (tokens_ + 1 + 63) / 64;
  token_chars_.resize(tokens_);
  run_end_.assign(tokens_, 0);
  for (uint32_t i = tokens_; i-- > 0;) {
    const bool literal = tokens[i] == Token::kLiteral;
    token_chars_[i] = literal ? static_cast<char>(literals[i]) : '*';
    run_end_[i] = !literal                                                ? i
                  : (i + 1 < tokens_ && tokens[i + 1] == Token::kLiteral) ? run_end_[i + 1]
                                                                          : i + 1;
  }

  uint16_t classes = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] == Token::kLiteral && class_of_[literals[i]] == 0) {
      class_of_[literals[i]] = ++classes;
    }
  }
  literal_.assign(size_t{classes + 1u} * words_, 0);
  segment_star_.assign(words_, 0);
  any_star_.assign(words_, 0);
  star_.assign(words_, 0);
  for (uint32_t i = 0; i < tokens_; ++i) {
    switch (tokens[i]) {
      case Token::kLiteral:
        SetBit(literal_, class_of_[literals[i]] * words_, i);
        break;
      case Token::kSegmentStar:
        SetBit(segment_star_, 0, i);
        SetBit(star_, 0, i);
        break;
      case Token::kAnyStar:
        SetBit(any_star_, 0, i);
        SetBit(star_, 0, i);
        break;
    }
  }
}

bool Glob::Matches(std::string_view text) const {
  if (!has_star_) return text == prefix_;
  if (text.size() < prefix_.size() + suffix_.size() || !text.starts_with(prefix_) ||
      !text.ends_with(suffix_)) {
    return false;
  }
  const std::string_view middle =
      text.substr(prefix_.size(), text.size() - prefix_.size() - suffix_.size());
  const uint32_t accept_word = tokens_ / 64;
  const uint64_t accept_bit = uint64_t{1} << (tokens_ % 64);

  if (words_ == 1) return MatchesOneWord(middle);

  uint64_t inline_d[kInlineWords];
  uint64_t inline_next[kInlineWords];
  std::unique_ptr<uint64_t[]> heap;  // only for patterns longer than kInlineWords * 64 tokens
  uint64_t* d = inline_d;
  uint64_t* next = inline_next;
  if (words_ > kInlineWords) {
    heap = std::make_unique<uint64_t[]>(size_t{2} * words_);
    d = heap.get();
    next = heap.get() + words_;
  }
  // next = (d & mask) << 1 across words, OR-ed into `next`.
  auto shift_in = [this](const uint64_t* from, const uint64_t* mask, uint64_t* into) {
    uint64_t carry = 0;
    for (uint32_t w = 0; w < words_; ++w) {
      const uint64_t bits = from[w] & mask[w];
      into[w] |= (bits << 1) | carry;
      carry = bits >> 63;
    }
  };
  std::fill(d, d + words_, 0);
  d[0] = 1;
  shift_in(d, star_.data(), d);  // bit 0 has no star below it, so in-place is safe here
  for (char ch : middle) {
    const auto c = static_cast<unsigned char>(ch);
    const uint64_t* literal = literal_.data() + size_t{class_of_[c]} * words_;
    const bool separator = IsSegmentSeparator(c);
    uint64_t any_bit = 0;
    for (uint32_t w = 0; w < words_; ++w) {
      next[w] = (d[w] & any_star_[w]) | (separator ? 0 : d[w] & segment_star_[w]);
    }
    shift_in(d, literal, next);
    // The epsilon step: a star reached may also match nothing. Star tokens are never adjacent,
    // so the bits it sets are literals or acceptance and need no further step.
    uint64_t carry = 0;
    for (uint32_t w = 0; w < words_; ++w) {
      const uint64_t bits = next[w] & star_[w];
      const uint64_t shifted = (bits << 1) | carry;
      carry = bits >> 63;
      next[w] |= shifted;
      any_bit |= next[w];
    }
    std::swap(d, next);
    if (any_bit == 0) return false;
  }
  return (d[accept_word] & accept_bit) != 0;
}

bool Glob::MatchesOneWord(std::string_view text) const {
  const uint64_t star = star_[0];
  const uint64_t any = any_star_[0];
  const uint64_t segment = segment_star_[0];
  const uint64_t accept = uint64_t{1} << tokens_;
  const char* const data = text.data();
  const size_t n = text.size();
  uint64_t d = 1 | ((1 & star) << 1);
  size_t i = 0;
  while (i < n) {
    const uint64_t active_stars = d & star;
    if (active_stars == 0 && (d & (d - 1)) == 0) {
      // One literal state and no star: the rest of its run must follow verbatim.
      const uint32_t token = static_cast<uint32_t>(std::countr_zero(d));
      if (token == tokens_) return false;  // accepted with text left over
      const uint32_t length = run_end_[token] - token;
      if (n - i < length || std::memcmp(data + i, token_chars_.data() + token, length) != 0) {
        return false;
      }
      i += length;
      d = uint64_t{1} << run_end_[token];
      d |= (d & star) << 1;
      continue;
    }
    if ((active_stars | (active_stars << 1)) == d) {
      // Only stars and the states right after them are active: the set stays as it is until a
      // byte some state waits for, or a separator that ends a `*`. Skip to the next such byte.
      const uint64_t waiting = d & ~star & ~accept;
      const bool stops_at_separator = (d & segment) != 0;
      if (waiting == 0) {
        if (!stops_at_separator) return (d & accept) != 0;  // only `**`: the rest is absorbed
        while (i < n && !IsSegmentSeparator(static_cast<unsigned char>(data[i]))) ++i;
      } else if ((waiting & (waiting - 1)) == 0) {
        const char wanted = token_chars_[std::countr_zero(waiting)];
        if (stops_at_separator) {
          while (i < n && data[i] != wanted &&
                 !IsSegmentSeparator(static_cast<unsigned char>(data[i]))) {
            ++i;
          }
        } else {
          const void* found = std::memchr(data + i, wanted, n - i);
          i = found ? static_cast<size_t>(static_cast<const char*>(found) - data) : n;
        }
      }
      if (i == n) break;
    }
    const auto c = static_cast<unsigned char>(data[i++]);
    uint64_t next = ((d & literal_[class_of_[c]]) << 1) | (d & any);
    if (!IsSegmentSeparator(c)) next |= d & segment;
    next |= (next & star) << 1;
    d = next;
    if (d == 0) return false;
  }
  return (d & accept) != 0;
}

}  // namespace ciap::claims
