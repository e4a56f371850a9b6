// The ciap command line: run, validate, check, version (the CLI is a contract; see README).
#include <openssl/opensslv.h>

#include <boost/version.hpp>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "cli/check.h"
#include "cli/validate.h"
#include "config/duration.h"
#include "proxy/server.h"

namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  ciap run      -c ciap.yaml [--concurrency N] [--drain-timeout 30s]\n"
    "  ciap validate -c ciap.yaml [--offline] [--json]\n"
    "  ciap check    -c ciap.yaml --request \"METHOD URL\" (--token-file T | --claims F "
    "[--provider P] | --anonymous)\n"
    "  ciap version\n";

int Usage(const char* problem) {
  if (problem != nullptr) std::fprintf(stderr, "ciap: %s\n", problem);
  std::fputs(kUsage, stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage(nullptr);
  std::string_view command = argv[1];
  if (command == "version" || command == "--version") {
    std::printf("ciap %s (%s, Boost %d.%d)\n", CIAP_VERSION, OPENSSL_VERSION_TEXT,
                BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000);
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }

  ciap::RunOptions options;
  ciap::CheckOptions check;
  ciap::ValidateOptions validate;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "-c" || arg == "--config") {
      const char* v = value();
      if (v == nullptr) return Usage("-c needs a file");
      options.config_path = v;
    } else if (arg == "--concurrency") {
      const char* v = value();
      if (v == nullptr || (options.concurrency = std::atoi(v)) <= 0 || options.concurrency > 1024) {
        return Usage("--concurrency needs a number from 1 to 1024");
      }
    } else if (arg == "--drain-timeout") {
      const char* v = value();
      if (v == nullptr) return Usage("--drain-timeout needs a duration such as 30s or 1m30s");
      auto timeout = ciap::config::ParseDuration(v);  // the config file's durations
      if (!timeout) return Usage(("--drain-timeout: " + timeout.error()).c_str());
      options.drain_timeout = *timeout;
    } else if (command == "check" &&
               (arg == "--request" || arg == "--token-file" || arg == "--claims" ||
                arg == "--provider" || arg == "--listener")) {
      const char* v = value();
      if (v == nullptr) return Usage("check: a flag is missing its value");
      if (arg == "--request") check.request = v;
      if (arg == "--token-file") check.token_file = v;
      if (arg == "--claims") check.claims_file = v;
      if (arg == "--provider") check.provider = v;
      if (arg == "--listener") check.listener = v;
    } else if (command == "check" && arg == "--json") {
      check.json = true;
    } else if (command == "validate" && (arg == "--offline" || arg == "--json")) {
      (arg == "--json" ? validate.json : validate.offline) = true;
    } else if (command == "check" && arg == "--anonymous") {
      check.anonymous = true;
    } else {
      std::string problem = "unknown argument '" + std::string(arg) + "'";
      return Usage(problem.c_str());
    }
  }
  if (options.config_path.empty()) return Usage("-c ciap.yaml is required");

  if (command == "validate") {
    validate.config_path = options.config_path;
    return ciap::RunValidate(validate);
  }
  if (command == "run") return ciap::RunServer(options);
  if (command == "check") {
    check.config_path = options.config_path;
    if (check.request.empty()) return Usage("check needs --request \"METHOD URL\"");
    return ciap::RunCheck(check);
  }
  return Usage("unknown command");
}
