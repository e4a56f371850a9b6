// Request targets and path normalization: one canonical path for routing, policy and the
// upstream. See README "Path normalization and request strictness".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ciap {

// Why a path was refused; each maps to a 400 with this reason code.
enum class PathError {
  kNotAbsolute,        // does not start with '/'
  kBadEscape,          // '%' not followed by two hex digits
  kEncodedSlash,       // %2F or %5C: the upstream might split on it, the policy would not
  kBackslash,          // a raw '\': some upstreams treat it as '/'
  kNul,                // %00 or a raw NUL
  kDotMatrix,          // ".;x", "..;x" or ";x" segments: Tomcat-style bypasses
  kDoubleEncoding,     // "%25" followed by two hex digits: an upstream that decodes twice
  kBadUtf8,            // escapes (or raw bytes) that are not UTF-8, e.g. overlong "%C0%AE"
  kTrailingDot,        // a segment ending in '.' or a space: Windows upstreams drop them
  kCompatibilityForm,  // a character whose NFKC form holds '.', '/', ';', '%' ... ("．" U+FF0E)
  kTooLong,
};

std::string_view PathErrorReason(PathError error);

// Normalizes the path part (no query, no fragment) of an origin-form request target:
//  - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded, other escapes
//    are kept with upper-case hex digits; characters RFC 3986 does not allow in a path (raw
//    bytes >= 0x80, '"', '<', '>', '[', ']', '^', '`', '{', '|', '}') are percent-encoded, so
//    one resource has one spelling;
//  - empty segments are merged ("//a" → "/a"), "." and ".." segments removed per RFC 3986 5.2.4
//    (".." never climbs above the root);
//  - a trailing '/' is kept.
// Letters are compared as bytes: case and Unicode compatibility forms of letters are the
// upstream's business (a case-insensitive upstream needs a "(?i)" path_regex route). What is
// refused is what changes a path's structure for some upstream: see PathError.
// Anything that cannot be normalized without guessing what the upstream will do is refused.
// The output normalizes to itself. Writes the result to `*out` (reusing its capacity); returns
// the error, if any.
std::optional<PathError> NormalizePath(std::string_view raw, std::string* out);

// Writes `path` (a NormalizePath output) with the parameters of each segment removed (from ';'
// or "%3B" to the end of the segment: "/a;x=1/b%3By" → "/a/b"), the path servlet containers
// and similar upstreams act on. Returns false, leaving `*out` untouched, when there are none.
bool StripPathParameters(std::string_view path, std::string* out);

// The parts of a request-target (RFC 9112 3.2). A fragment ('#' onwards), which clients never
// send but a raw socket can, is dropped.
struct RequestTarget {
  enum Form { kOrigin, kAbsolute, kAuthority, kAsterisk };
  Form form = kOrigin;
  std::string_view authority;  // absolute- and authority-form
  std::string_view path;       // origin- and absolute-form ("/" when an absolute URI has none)
  std::string_view query;      // without the '?'
};

// Splits `target` into its form's parts; nullopt when it has none of the four forms, or is an
// absolute URI that is not http(s), carries userinfo, or has an invalid authority.
std::optional<RequestTarget> ParseRequestTarget(std::string_view target);

// True for `host [":" port]` as a Host header or authority may carry it: a DNS name or IPv4
// address (letters, digits, '-', '.', '_'), or a bracketed IPv6 address; a port of 1-5 digits.
bool IsValidAuthority(std::string_view authority);

}  // namespace ciap
