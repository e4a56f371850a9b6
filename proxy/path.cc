// Path normalization; see path.h for the rules and tests/unit/proxy/path_test.cc for cases.
#include "proxy/path.h"

#include <cstring>

namespace ciap {
namespace {

constexpr std::size_t kMaxPathBytes = 16 * 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// A segment that is "." or ".." once decoded, optionally followed by ";params".
bool IsDotSegment(std::string_view segment, bool* has_params) {
  std::size_t semicolon = segment.find(';');
  std::string_view name = segment.substr(0, semicolon);
  *has_params = semicolon != std::string_view::npos;
  return name == "." || name == "..";
}

}  // namespace

std::string_view PathErrorReason(PathError error) {
  switch (error) {
    case PathError::kNotAbsolute:
      return "path_not_absolute";
    case PathError::kBadEscape:
      return "path_bad_escape";
    case PathError::kEncodedSlash:
      return "path_encoded_slash";
    case PathError::kBackslash:
      return "path_backslash";
    case PathError::kNul:
      return "path_nul";
    case PathError::kDotMatrix:
      return "path_dot_segment_parameters";
    case PathError::kTooLong:
      return "path_too_long";
  }
  return "path_invalid";
}

std::optional<PathError> NormalizePath(std::string_view raw, std::string* out) {
  if (raw.size() > kMaxPathBytes) return PathError::kTooLong;
  if (raw.empty() || raw[0] != '/') return PathError::kNotAbsolute;

  // Pass 1: decode unreserved escapes, canonicalize the others, refuse the dangerous ones.
  std::string& s = *out;
  s.clear();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\0') return PathError::kNul;
    if (c == '\\') return PathError::kBackslash;
    if (c != '%') {
      s.push_back(c);
      continue;
    }
    if (i + 2 >= raw.size()) return PathError::kBadEscape;
    int hi = HexValue(raw[i + 1]);
    int lo = HexValue(raw[i + 2]);
    if (hi < 0 || lo < 0) return PathError::kBadEscape;
    auto value = static_cast<unsigned char>(hi * 16 + lo);
    if (value == 0) return PathError::kNul;
    if (value == '/' || value == '\\') return PathError::kEncodedSlash;
    if (IsUnreserved(value)) {
      s.push_back(static_cast<char>(value));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      s.push_back('%');
      s.push_back(kHex[value >> 4]);
      s.push_back(kHex[value & 15]);
    }
    i += 2;
  }

  // Pass 2, in place: the output s[0, w) is a run of "/segment"s and never overtakes the
  // read position, so segments move left with memmove. Empty segments merge; "." and ".."
  // resolve, ".." never above the root.
  std::size_t w = 0;
  std::size_t r = 1;
  bool trailing_slash = false;
  while (true) {
    std::size_t end = s.find('/', r);
    bool last = end == std::string::npos;
    if (last) end = s.size();
    std::string_view segment(s.data() + r, end - r);
    bool has_params = false;
    if (IsDotSegment(segment, &has_params)) {
      if (has_params) return PathError::kDotMatrix;
      if (segment == "..") {
        while (w > 0 && s[w - 1] != '/') --w;
        if (w > 0) --w;
      }
      trailing_slash = true;  // "/a/." and "/a/.." both name a directory
    } else if (!segment.empty()) {
      s[w] = '/';
      std::memmove(s.data() + w + 1, segment.data(), segment.size());
      w += segment.size() + 1;
      trailing_slash = false;
    } else {
      trailing_slash = w > 0 || last;
    }
    if (last) break;
    r = end + 1;
  }
  s.resize(w);
  if (w == 0 || trailing_slash) s.push_back('/');
  return std::nullopt;
}

}  // namespace ciap
