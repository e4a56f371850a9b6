// Request-target path normalization: one canonical path for routing, policy and the upstream.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ciap {

// Why a path was refused; each maps to a 400 with this reason code.
enum class PathError {
  kNotAbsolute,   // does not start with '/'
  kBadEscape,     // '%' not followed by two hex digits
  kEncodedSlash,  // %2F or %5C: the upstream might split on it, the policy would not
  kBackslash,     // a raw '\': some upstreams treat it as '/'
  kNul,           // %00 or a raw NUL
  kDotMatrix,     // ".;" or "..;" segments: Tomcat-style bypasses
  kTooLong,
};

std::string_view PathErrorReason(PathError error);

// Normalizes the path part (no query) of an origin-form request target:
//  - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded, other escapes
//    are kept with upper-case hex digits;
//  - empty segments are merged ("//a" → "/a"), "." and ".." segments removed per RFC 3986 5.2.4
//    (".." never climbs above the root);
//  - a trailing '/' is kept.
// Anything that cannot be normalized without guessing what the upstream will do is refused.
// Writes the result to `*out` (reusing its capacity); returns the error, if any.
std::optional<PathError> NormalizePath(std::string_view raw, std::string* out);

}  // namespace ciap
