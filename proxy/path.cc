// Request targets and path normalization; see path.h for the rules and
// tests/unit/proxy/path_test.cc and path_attack_test.cc for cases.
#include "proxy/path.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace ciap {
namespace {

constexpr std::size_t kMaxPathBytes = 16 * 1024;
constexpr char kHex[] = "0123456789ABCDEF";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsAlnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsUnreserved(unsigned char c) {
  return IsAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

// What RFC 3986 allows unencoded in a path: pchar and '/'. Everything else is escaped.
bool IsPathChar(unsigned char c) {
  if (IsUnreserved(c)) return true;
  switch (c) {
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
    case '/':
      return true;
    default:
      return false;
  }
}

// Code points whose NFKC form contains '.', '/', '\', ';', '%', '?', '#' or ':' ("．" U+FF0E,
// "／" U+FF0F, "‥" U+2025, "℀" U+2100 ...): an upstream that applies NFKC to paths would see
// dot segments or separators the policy never saw. Generated from Unicode 14's decomposition
// data (Python: unicodedata.normalize("NFKC", chr(cp)) for every cp >= 0x80).
constexpr char32_t kCompatibilityForms[] = {
    0x37E,  0x2024, 0x2025, 0x2026, 0x2047, 0x2048, 0x2049, 0x2100, 0x2101, 0x2105, 0x2106, 0x2488,
    0x2489, 0x248A, 0x248B, 0x248C, 0x248D, 0x248E, 0x248F, 0x2490, 0x2491, 0x2492, 0x2493, 0x2494,
    0x2495, 0x2496, 0x2497, 0x2498, 0x2499, 0x249A, 0x249B, 0x2A74, 0x33C2, 0x33C7, 0x33D8, 0xFE13,
    0xFE14, 0xFE16, 0xFE19, 0xFE30, 0xFE52, 0xFE54, 0xFE55, 0xFE56, 0xFE5F, 0xFE68, 0xFE6A, 0xFF03,
    0xFF05, 0xFF0E, 0xFF0F, 0xFF1A, 0xFF1B, 0xFF1F, 0xFF3C, 0x1F100};

bool IsCompatibilityForm(char32_t cp) {
  return std::binary_search(std::begin(kCompatibilityForms), std::end(kCompatibilityForms), cp);
}

// Incremental UTF-8 decoder (RFC 3629): no overlong forms, no surrogates, nothing above
// U+10FFFF. Upstreams that decode "%C0%AE" as '.' are what it is for.
class Utf8Decoder {
 public:
  enum Result { kBad, kPartial, kDone };
  Result Feed(unsigned char b) {
    if (need_ == 0) {
      if (b < 0x80) {
        cp_ = b;
        return kDone;
      }
      if (b >= 0xC2 && b <= 0xDF) return Expect(1, b & 0x1F, 0x80, 0xBF);
      if (b == 0xE0) return Expect(2, b & 0x0F, 0xA0, 0xBF);
      if (b == 0xED) return Expect(2, b & 0x0F, 0x80, 0x9F);
      if (b >= 0xE1 && b <= 0xEF) return Expect(2, b & 0x0F, 0x80, 0xBF);
      if (b == 0xF0) return Expect(3, b & 0x07, 0x90, 0xBF);
      if (b == 0xF4) return Expect(3, b & 0x07, 0x80, 0x8F);
      if (b >= 0xF1 && b <= 0xF3) return Expect(3, b & 0x07, 0x80, 0xBF);
      return kBad;
    }
    if (b < lo_ || b > hi_) return kBad;
    cp_ = (cp_ << 6) | (b & 0x3F);
    lo_ = 0x80;
    hi_ = 0xBF;
    return --need_ == 0 ? kDone : kPartial;
  }
  bool complete() const { return need_ == 0; }
  char32_t code_point() const { return cp_; }

 private:
  Result Expect(int need, char32_t bits, unsigned char lo, unsigned char hi) {
    need_ = need;
    cp_ = bits;
    lo_ = lo;
    hi_ = hi;
    return kPartial;
  }
  int need_ = 0;
  char32_t cp_ = 0;
  unsigned char lo_ = 0x80;
  unsigned char hi_ = 0xBF;
};

// Feeds one decoded octet of the path; the error, if it ends a bad or look-alike character.
std::optional<PathError> CheckOctet(Utf8Decoder& utf8, unsigned char c) {
  if (c < 0x80 && utf8.complete()) return std::nullopt;  // the common case
  switch (utf8.Feed(c)) {
    case Utf8Decoder::kBad:
      return PathError::kBadUtf8;
    case Utf8Decoder::kDone:
      if (IsCompatibilityForm(utf8.code_point())) return PathError::kCompatibilityForm;
      return std::nullopt;
    case Utf8Decoder::kPartial:
      return std::nullopt;
  }
  return std::nullopt;
}

// The end of a segment's name: its first ';' or "%3B" (a path parameter), or its end.
std::size_t NameEnd(std::string_view segment) {
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == ';') return i;
    if (segment[i] == '%' && segment.substr(i + 1, 2) == "3B") return i;
  }
  return segment.size();
}

void AppendEscaped(std::string& s, unsigned char value) {
  s.push_back('%');
  s.push_back(kHex[value >> 4]);
  s.push_back(kHex[value & 15]);
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
    case PathError::kDoubleEncoding:
      return "path_double_encoding";
    case PathError::kBadUtf8:
      return "path_bad_utf8";
    case PathError::kTrailingDot:
      return "path_trailing_dot";
    case PathError::kCompatibilityForm:
      return "path_compatibility_character";
    case PathError::kTooLong:
      return "path_too_long";
  }
  return "path_invalid";
}

namespace {

// Pass 1: decode unreserved escapes, canonicalize the others, escape what may not appear raw,
// refuse the dangerous ones. The decoded octets must be UTF-8. Sets *semicolon when ';' or
// "%3B" appears (segments may have parameters).
std::optional<PathError> DecodePath(std::string_view raw, std::string& s, bool* semicolon) {
  s.clear();
  Utf8Decoder utf8;
  bool escaped_percent = false;  // "%25" in s: look for double encoding
  for (std::size_t i = 0; i < raw.size(); ++i) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (c == '%') {
      if (i + 2 >= raw.size()) return PathError::kBadEscape;
      int hi = HexValue(raw[i + 1]);
      int lo = HexValue(raw[i + 2]);
      if (hi < 0 || lo < 0) return PathError::kBadEscape;
      c = static_cast<unsigned char>(hi * 16 + lo);
      i += 2;
      if (c == '/' || c == '\\') return PathError::kEncodedSlash;
      if (c == 0) return PathError::kNul;
      if (auto error = CheckOctet(utf8, c)) return error;
      escaped_percent |= c == '%';
      *semicolon |= c == ';';
      if (IsUnreserved(c)) {
        s.push_back(static_cast<char>(c));
      } else {
        AppendEscaped(s, c);
      }
      continue;
    }
    if (c == 0) return PathError::kNul;
    if (c == '\\') return PathError::kBackslash;
    if (auto error = CheckOctet(utf8, c)) return error;
    *semicolon |= c == ';';
    if (IsPathChar(c)) {
      s.push_back(static_cast<char>(c));
    } else {
      AppendEscaped(s, c);
    }
  }
  if (!utf8.complete()) return PathError::kBadUtf8;
  // "%25" is the only escape of '%'; followed by two hex digits (after decoding: "%252e",
  // "%25%32%65") it is an escape of an escape.
  for (std::size_t i = escaped_percent ? s.find("%25") : std::string::npos; i != std::string::npos;
       i = s.find("%25", i + 3)) {
    if (i + 4 < s.size() && HexValue(s[i + 3]) >= 0 && HexValue(s[i + 4]) >= 0) {
      return PathError::kDoubleEncoding;
    }
  }
  return std::nullopt;
}

// Pass 2, in place: the output s[0, w) is a run of "/segment"s and never overtakes the read
// position, so segments move left with memmove. Empty segments merge; "." and ".." resolve,
// ".." never above the root.
std::optional<PathError> ResolveSegments(std::string& s, bool semicolon) {
  std::size_t w = 0;
  std::size_t r = 1;
  bool trailing_slash = false;
  while (true) {
    std::size_t end = s.find('/', r);
    bool last = end == std::string::npos;
    if (last) end = s.size();
    std::string_view segment(s.data() + r, end - r);
    std::size_t name_end = semicolon ? NameEnd(segment) : segment.size();
    std::string_view name = segment.substr(0, name_end);
    const bool has_params = name_end != segment.size();
    if (name == "." || name == "..") {
      // "..;x" is ".." to Tomcat and a name to everyone else; ";x" is an empty segment.
      if (has_params) return PathError::kDotMatrix;
      if (name == "..") {
        while (w > 0 && s[w - 1] != '/') --w;
        if (w > 0) --w;
      }
      trailing_slash = true;  // "/a/." and "/a/.." both name a directory
    } else if (name.empty() && has_params) {
      return PathError::kDotMatrix;
    } else if (!segment.empty()) {
      if (name.ends_with('.') || name.ends_with("%20")) return PathError::kTrailingDot;
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

}  // namespace

std::optional<PathError> NormalizePath(std::string_view raw, std::string* out) {
  if (raw.size() > kMaxPathBytes) return PathError::kTooLong;
  if (raw.empty() || raw[0] != '/') return PathError::kNotAbsolute;
  bool semicolon = false;
  if (auto error = DecodePath(raw, *out, &semicolon)) return error;
  if (auto error = ResolveSegments(*out, semicolon)) return error;
  // Escaping may have tripled the length: the cap holds for what routes and upstreams see too,
  // so that every accepted path is accepted again as it is.
  if (out->size() > kMaxPathBytes) return PathError::kTooLong;
  return std::nullopt;
}

bool StripPathParameters(std::string_view path, std::string* out) {
  if (path.find(';') == std::string_view::npos && path.find("%3B") == std::string_view::npos) {
    return false;
  }
  out->clear();
  std::size_t r = 0;
  while (r < path.size()) {
    std::size_t end = path.find('/', r + 1);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(r, end - r);  // "/name;params"
    out->append(segment.substr(0, 1 + NameEnd(segment.substr(1))));
    r = end;
  }
  return true;
}

bool IsValidAuthority(std::string_view authority) {
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : authority.substr(1, close - 1)) {
      if (HexValue(c) < 0 && c != ':' && c != '.') return false;
    }
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
  } else {
    std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    for (char c : host) {
      if (!IsAlnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
        return false;
      }
    }
  }
  if (port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::optional<RequestTarget> ParseRequestTarget(std::string_view target) {
  RequestTarget parsed;
  if (target.empty()) return std::nullopt;
  if (target == "*") {
    parsed.form = RequestTarget::kAsterisk;
    return parsed;
  }
  if (target.front() == '/') {
    parsed.form = RequestTarget::kOrigin;
  } else if (std::size_t scheme_end = target.find("://"); scheme_end != std::string_view::npos) {
    std::string_view scheme = target.substr(0, scheme_end);
    auto lower_equals = [](std::string_view a, std::string_view b) {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if ((a[i] | 0x20) != b[i]) return false;
      }
      return true;
    };
    if (!lower_equals(scheme, "http") && !lower_equals(scheme, "https")) return std::nullopt;
    std::string_view after = target.substr(scheme_end + 3);
    std::size_t authority_end = after.find_first_of("/?#");
    parsed.form = RequestTarget::kAbsolute;
    parsed.authority = after.substr(0, authority_end);
    if (!IsValidAuthority(parsed.authority)) return std::nullopt;  // '@' userinfo included
    target =
        authority_end == std::string_view::npos ? std::string_view() : after.substr(authority_end);
  } else {
    // authority-form ("host:port"), only meaningful for CONNECT.
    if (!IsValidAuthority(target) || target.find(':') == std::string_view::npos) {
      return std::nullopt;
    }
    parsed.form = RequestTarget::kAuthority;
    parsed.authority = target;
    return parsed;
  }
  target = target.substr(0, target.find('#'));
  std::size_t query_start = target.find('?');
  parsed.path = target.substr(0, query_start);
  if (query_start != std::string_view::npos) parsed.query = target.substr(query_start + 1);
  if (parsed.path.empty()) parsed.path = "/";
  return parsed;
}

}  // namespace ciap
