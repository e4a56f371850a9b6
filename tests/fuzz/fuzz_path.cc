// Path normalization (proxy/path.h) on arbitrary request-target paths. Besides "never crashes":
// a path that is accepted comes out canonical, so that routing, policy and the upstream can
// never disagree about it. Normalizing the output again changes nothing, and the output has no
// empty, "." or ".." segment, no escape of an unreserved character, no NUL and no backslash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/path.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lower-case hex digits are not canonical
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw = ciap::fuzz::AsText(data, size);
  std::string out = "stale";
  if (ciap::NormalizePath(raw, &out)) return 0;

  const char* in = out.c_str();
  FUZZ_CHECK(!out.empty() && out.front() == '/', "input [%.*s] -> [%s]", (int)size, raw.data(), in);
  FUZZ_CHECK(out.find("//") == std::string::npos, "[%s]", in);
  FUZZ_CHECK(out.find("/./") == std::string::npos, "[%s]", in);
  FUZZ_CHECK(out.find("/../") == std::string::npos, "[%s]", in);
  FUZZ_CHECK(!out.ends_with("/.") && !out.ends_with("/.."), "[%s]", in);
  FUZZ_CHECK(out.find('\0') == std::string::npos, "[%s]", in);
  FUZZ_CHECK(out.find('\\') == std::string::npos, "[%s]", in);
  for (std::size_t i = out.find('%'); i != std::string::npos; i = out.find('%', i + 1)) {
    FUZZ_CHECK(i + 2 < out.size(), "dangling escape in [%s]", in);
    int hi = HexValue(out[i + 1]);
    int lo = HexValue(out[i + 2]);
    FUZZ_CHECK(hi >= 0 && lo >= 0, "non-canonical escape in [%s]", in);
    auto value = static_cast<unsigned char>(hi * 16 + lo);
    FUZZ_CHECK(!IsUnreserved(value) && value != '/' && value != '\\' && value != 0,
               "escape %%%c%c left in [%s]", out[i + 1], out[i + 2], in);
  }

  std::string again;
  auto error = ciap::NormalizePath(out, &again);
  FUZZ_CHECK(!error, "[%s] refused on the second pass: %s", in,
             std::string(ciap::PathErrorReason(*error)).c_str());
  FUZZ_CHECK(again == out, "not idempotent: [%s] -> [%s]", in, again.c_str());
  return 0;
}
