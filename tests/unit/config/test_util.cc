// Helpers shared by the config unit tests; see test_util.h.
#include "tests/unit/config/test_util.h"

#include <unistd.h>

namespace ciap::config::testing {
namespace {

// Removes the directory at exit; a static object so that every test binary cleans up.
struct TempDir {
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ciap-config-test-XXXXXX").string();
    path = mkdtemp(pattern.data());
    for (const char* name : {"tls.crt", "tls.key", "ca.crt", "client.crt", "client.key",
                             "server.crt", "server.key", "a.crt", "a.key"}) {
      std::ofstream(std::filesystem::path(path) / name) << "not parsed by the loader\n";
    }
    std::ofstream(std::filesystem::path(path) / "token") << "a-secret-token\n";  // ${secret:}
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string path;
};

}  // namespace

const std::string& CertDir() {
  static TempDir dir;
  return dir.path;
}

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  vars.emplace("CERTS", CertDir());
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace ciap::config::testing
