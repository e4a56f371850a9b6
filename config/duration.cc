// See duration.h.
#include "config/duration.h"

#include <cstdint>

#include "config/text.h"

namespace ciap::config {
namespace {

// Longer than a year is surely a typo, and bounding it keeps `now() + d` far from overflow.
constexpr int64_t kMaxDurationMs = int64_t{365} * 24 * 3600 * 1000;
// Beyond this many decimals (after trailing zeros are dropped) a fraction cannot come out as a
// whole number of milliseconds of any unit, and the arithmetic below stays within 64 bits.
constexpr std::size_t kMaxFractionDigits = 9;

bool IsUnitChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
}

struct Unit {
  std::string_view name;
  int64_t ms;
  int rank;  // larger units first
};
constexpr Unit kUnits[] = {
    {"d", int64_t{24} * 3600 * 1000, 5},
    {"h", 3600 * 1000, 4},
    {"m", 60 * 1000, 3},
    {"s", 1000, 2},
    {"ms", 1, 1},
};

const Unit* FindUnit(std::string_view name) {
  for (const Unit& unit : kUnits) {
    if (unit.name == name) return &unit;
  }
  return nullptr;
}

std::string Quoted(std::string_view text) {
  std::string out = "'";  // built step by step: GCC 12 warns falsely on "'" + string
  out += text;
  out += '\'';
  return out;
}

std::string Expected(std::string_view text) {
  return "expected a duration like 30s, 500ms, 5m, 1h or 1h30m, got " + Quoted(text);
}

constexpr std::string_view kTooLong = "duration too long (at most 8760h, one year)";

// One <number><unit> term of `text` from `*at` on; moves `*at` past it.
struct Term {
  std::string_view whole;     // digits before the '.'
  std::string_view fraction;  // digits after it, if any
  const Unit* unit = nullptr;
  std::string_view unit_name;
};

std::expected<Term, std::string> ReadTerm(std::string_view text, std::size_t* at) {
  std::size_t i = *at;
  const std::size_t start = i;
  Term term;
  while (i < text.size() && IsDigit(text[i])) ++i;
  term.whole = text.substr(start, i - start);
  if (i < text.size() && text[i] == '.') {
    const std::size_t dot = ++i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    term.fraction = text.substr(dot, i - dot);
    if (term.whole.empty() || term.fraction.empty()) {
      return std::unexpected(Expected(text) +
                             " (a decimal needs digits on both sides of the '.': 0.5s, 1.5m)");
    }
  }
  if (term.whole.empty()) {
    if (text[start] == ' ' || text[start] == '\t') {
      return std::unexpected(Expected(text) + " (no spaces: write 1m30s, not 1m 30s)");
    }
    return std::unexpected(Expected(text));
  }
  if (i == text.size()) {
    if (start == 0) return std::unexpected("durations need a unit: 30s, 500ms, 5m");
    return std::unexpected(Expected(text) + " (the last number has no unit)");
  }
  if (text[i] == ' ' || text[i] == '\t') {
    return std::unexpected(Expected(text) + " (no space between the number and the unit)");
  }
  const std::size_t unit_start = i;
  while (i < text.size() && IsUnitChar(text[i])) ++i;
  term.unit_name = text.substr(unit_start, i - unit_start);
  if (term.unit_name.empty()) return std::unexpected(Expected(text));
  term.unit = FindUnit(term.unit_name);
  if (term.unit == nullptr) {
    const std::string_view u = term.unit_name;
    if (u == "us" || u == "ns" || u == "\xC2\xB5s" || u == "\xCE\xBCs") {
      return std::unexpected(
          "durations are counted in milliseconds: the smallest unit is ms, got " + Quoted(text));
    }
    return std::unexpected("unknown duration unit " + Quoted(u) +
                           " (use ms, s, m, h or d: 500ms, 30s, 5m, 1h, 1d, 1h30m)");
  }
  *at = i;
  return term;
}

// The term's value in milliseconds: exact, or an error when it is not a whole number of them.
std::expected<int64_t, std::string> TermMilliseconds(std::string_view text, Term term) {
  const int64_t unit_ms = term.unit->ms;
  int64_t value = 0;
  for (char c : term.whole) {
    value = value * 10 + (c - '0');
    if (value > kMaxDurationMs / unit_ms) return std::unexpected(std::string(kTooLong));
  }
  int64_t ms = value * unit_ms;
  while (!term.fraction.empty() && term.fraction.back() == '0') term.fraction.remove_suffix(1);
  if (term.fraction.empty()) return ms;
  const std::string not_whole = Quoted(text) + " is not a whole number of milliseconds";
  if (term.fraction.size() > kMaxFractionDigits) return std::unexpected(not_whole);
  int64_t digits = 0;
  int64_t scale = 1;
  for (char c : term.fraction) {
    digits = digits * 10 + (c - '0');
    scale *= 10;
  }
  // digits < 10^9 and unit_ms <= 8.64e7: the product fits in 64 bits.
  if (digits * unit_ms % scale != 0) return std::unexpected(not_whole);
  return ms + digits * unit_ms / scale;
}

}  // namespace

std::expected<Duration, std::string> ParseDuration(std::string_view text) {
  if (text.empty()) return std::unexpected(Expected(text));
  if (text.front() == '-') {
    return std::unexpected("a duration cannot be negative, got " + Quoted(text));
  }
  if (text.front() == '+') {
    return std::unexpected("no sign in a duration: write " + Quoted(text.substr(1)));
  }
  int64_t total = 0;
  const Term* previous = nullptr;
  Term last;
  for (std::size_t at = 0; at < text.size();) {
    std::expected<Term, std::string> term = ReadTerm(text, &at);
    if (!term) return std::unexpected(term.error());
    if (previous != nullptr && term->unit->rank == previous->unit->rank) {
      return std::unexpected("unit " + Quoted(term->unit_name) + " appears twice in " +
                             Quoted(text));
    }
    if (previous != nullptr && term->unit->rank > previous->unit->rank) {
      return std::unexpected(
          "units must go from the largest to the smallest (write 1m30s, not 30s1m), got " +
          Quoted(term->unit_name) + " after " + Quoted(previous->unit_name));
    }
    std::expected<int64_t, std::string> ms = TermMilliseconds(text, *term);
    if (!ms) return std::unexpected(ms.error());
    total += *ms;
    if (total > kMaxDurationMs) return std::unexpected(std::string(kTooLong));
    last = *term;
    previous = &last;
  }
  return Duration(total);
}

}  // namespace ciap::config
