// Runs the loader on the files of tests/fixtures/config, the same files validate_cli_test.py
// feeds to `ciap validate`: each broken file must fail as its `# expect:` line says, each valid
// file must load. This keeps the fixtures honest even where the ciap binary is not built.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "config/loader.h"
#include "tests/unit/config/test_util.h"

namespace ciap::config {
namespace {

namespace fs = std::filesystem;

// The variables validate_cli_test.py sets; CIAP_TEST_CERTS points at placeholder files here.
EnvLookup FixtureEnv() {
  return testing::FakeEnv({{"CIAP_TEST_CERTS", testing::CertDir()},
                           {"CIAP_FIXTURE_UPSTREAM", "127.0.0.1:9000"},
                           {"CIAP_FIXTURE_TIMEOUT", "45s"},
                           {"CIAP_FIXTURE_EMPTY", ""}});
}

std::vector<fs::path> Fixtures(const std::string& kind) {
  std::vector<fs::path> files;
  for (const fs::directory_entry& entry :
       fs::directory_iterator(fs::path(CIAP_CONFIG_FIXTURES) / kind)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(FixtureTest, BrokenFilesFailAsTheirExpectLineSays) {
  const std::regex expect_line(R"(^# expect: (\d+):(\d+): (\S*): (.+))");
  std::vector<fs::path> files = Fixtures("broken");
  EXPECT_GE(files.size(), 20u);
  for (const fs::path& path : files) {
    SCOPED_TRACE(path.string());
    const std::string text = ReadAll(path);
    std::smatch m;
    const std::string first_line = text.substr(0, text.find('\n'));
    ASSERT_TRUE(std::regex_match(first_line, m, expect_line)) << first_line;
    const std::string key_path = m[3];
    const std::string prefix = path.string() + ":" + m[1].str() + ":" + m[2].str() + ": " +
                               (key_path.empty() ? "" : key_path + ": ");
    auto result = ParseConfig(text, path.string(), FixtureEnv());
    ASSERT_FALSE(result.has_value());
    std::string all;
    bool found = false;
    for (const ConfigError& e : result.error()) {
      const std::string line = e.ToString();
      all += "\n  " + line;
      found |=
          line.starts_with(prefix) && line.find(m[4].str(), prefix.size()) != std::string::npos;
    }
    EXPECT_TRUE(found) << "want " << prefix << "..." << m[4] << "\ngot:" << all;
    EXPECT_EQ(result.error().size(), 1u) << "got:" << all;
  }
}

TEST(FixtureTest, ValidFilesLoad) {
  std::vector<fs::path> files = Fixtures("valid");
  EXPECT_GE(files.size(), 1u);
  for (const fs::path& path : files) {
    SCOPED_TRACE(path.string());
    auto result = ParseConfig(ReadAll(path), path.string(), FixtureEnv());
    std::string all;
    if (!result) {
      for (const ConfigError& e : result.error()) all += "\n  " + e.ToString();
    }
    EXPECT_TRUE(result.has_value()) << all;
  }
}

}  // namespace
}  // namespace ciap::config
