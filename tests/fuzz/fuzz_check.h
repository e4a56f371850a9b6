// The fuzz targets' invariant check: a broken invariant is a crash, with the input's story on
// stderr, so libFuzzer saves the input as a reproducer.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace ciap::fuzz {

// Where FUZZ_CHECK reports: stderr, unless a target has moved stderr away for a while.
inline int& ReportFd() {
  static int fd = 2;
  return fd;
}

// The fuzz input as text.
inline std::string_view AsText(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace ciap::fuzz

#define FUZZ_CHECK(condition, ...)                                                           \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      dprintf(::ciap::fuzz::ReportFd(), "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, \
              #condition);                                                                   \
      dprintf(::ciap::fuzz::ReportFd(), __VA_ARGS__);                                        \
      dprintf(::ciap::fuzz::ReportFd(), "\n");                                               \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)
