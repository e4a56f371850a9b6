// Path normalization; see path.h for the rules and tests/unit/proxy/path_test.cc for cases.
#include "proxy/path.h"

#include <vector>

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
    case PathError::kNotAbsolute: return "path_not_absolute";
    case PathError::kBadEscape: return "path_bad_escape";
    case PathError::kEncodedSlash: return "path_encoded_slash";
    case PathError::kBackslash: return "path_backslash";
    case PathError::kNul: return "path_nul";
    case PathError::kDotMatrix: return "path_dot_segment_parameters";
    case PathError::kTooLong: return "path_too_long";
  }
  return "path_invalid";
}

std::expected<std::string, PathError> NormalizePath(std::string_view raw) {
  if (raw.size() > kMaxPathBytes) return std::unexpected(PathError::kTooLong);
  if (raw.empty() || raw[0] != '/') return std::unexpected(PathError::kNotAbsolute);

  // Pass 1: decode unreserved escapes, canonicalize the others, refuse the dangerous ones.
  std::string decoded;
  decoded.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\0') return std::unexpected(PathError::kNul);
    if (c == '\\') return std::unexpected(PathError::kBackslash);
    if (c != '%') {
      decoded.push_back(c);
      continue;
    }
    if (i + 2 >= raw.size()) return std::unexpected(PathError::kBadEscape);
    int hi = HexValue(raw[i + 1]);
    int lo = HexValue(raw[i + 2]);
    if (hi < 0 || lo < 0) return std::unexpected(PathError::kBadEscape);
    auto value = static_cast<unsigned char>(hi * 16 + lo);
    if (value == 0) return std::unexpected(PathError::kNul);
    if (value == '/' || value == '\\') return std::unexpected(PathError::kEncodedSlash);
    if (IsUnreserved(value)) {
      decoded.push_back(static_cast<char>(value));
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      decoded.push_back('%');
      decoded.push_back(kHex[value >> 4]);
      decoded.push_back(kHex[value & 15]);
    }
    i += 2;
  }

  // Pass 2: segments. Empty segments merge; "." and ".." resolve.
  std::vector<std::string_view> segments;
  std::string_view rest(decoded);
  rest.remove_prefix(1);
  bool trailing_slash = false;
  while (true) {
    std::size_t slash = rest.find('/');
    std::string_view segment = rest.substr(0, slash);
    bool last = slash == std::string_view::npos;
    bool has_params = false;
    if (IsDotSegment(segment, &has_params)) {
      if (has_params) return std::unexpected(PathError::kDotMatrix);
      if (segment == ".." && !segments.empty()) segments.pop_back();
      trailing_slash = true;  // "/a/." and "/a/.." both name a directory
    } else if (!segment.empty()) {
      segments.push_back(segment);
      trailing_slash = false;
    } else {
      trailing_slash = !segments.empty() || last;
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }

  std::string out;
  out.reserve(decoded.size());
  for (std::string_view segment : segments) {
    out.push_back('/');
    out.append(segment);
  }
  if (out.empty() || trailing_slash) out.push_back('/');
  return out;
}

}  // namespace ciap
