// See allocator.h.
#include "cli/allocator.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define CIAP_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CIAP_SANITIZED 1
#endif

namespace ciap {

void TuneAllocator(char** argv) {
#if defined(__GLIBC__) && !defined(CIAP_SANITIZED)
  constexpr const char* kTunable = "glibc.malloc.tcache_count";
  const char* choice = std::getenv("CIAP_MALLOC_TUNING");
  if (choice != nullptr && std::strcmp(choice, "off") == 0) return;
  const char* current = std::getenv("GLIBC_TUNABLES");
  std::string tunables = current != nullptr ? current : "";
  if (tunables.find(kTunable) != std::string::npos) return;  // set by the operator, or by us
  if (!tunables.empty()) tunables += ':';
  tunables += kTunable;
  tunables += "=128";
  if (setenv("GLIBC_TUNABLES", tunables.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // No /proc (or no exec): run with the default cache; restore what the operator had.
  if (current != nullptr) {
    setenv("GLIBC_TUNABLES", current, 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
#else
  (void)argv;
#endif
}

}  // namespace ciap
