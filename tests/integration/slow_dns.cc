// LD_PRELOAD shim for the slow-DNS fault test (test_faults.py): getaddrinfo() for a host named
// "d<milliseconds>.slow.test" sleeps that long, then resolves 127.0.0.1, as a DNS server that
// answers late would. Every other name goes to the real getaddrinfo(). Each slowed lookup is
// also written as a line to the file CIAP_SLOW_DNS_CALLS names, if set.
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Real = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "getaddrinfo"));
  static constexpr char kSuffix[] = ".slow.test";
  const std::size_t length = node != nullptr ? std::strlen(node) : 0;
  if (length > sizeof kSuffix && node[0] == 'd' &&
      std::strcmp(node + length - (sizeof kSuffix - 1), kSuffix) == 0) {
    if (const char* calls = std::getenv("CIAP_SLOW_DNS_CALLS")) {
      const int fd = open(calls, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
      if (fd >= 0) {
        (void)!write(fd, node, length);
        (void)!write(fd, "\n", 1);
        close(fd);
      }
    }
    const long delay_ms = std::strtol(node + 1, nullptr, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    node = "127.0.0.1";
  }
  return real(node, service, hints, res);
}
