// The ciap command line: run, validate, check, test, token, version (the CLI is a contract; see
// README). Each command takes its own flags; `ciap <command> --help` prints its usage.
#include <openssl/opensslv.h>

#include <boost/version.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cli/allocator.h"
#include "cli/case_table.h"
#include "cli/check.h"
#include "cli/token.h"
#include "cli/validate.h"
#include "config/duration.h"
#include "proxy/server.h"

namespace {

struct Command {
  std::string_view name;
  std::string_view usage;
};

constexpr Command kCommands[] = {
    {"run",
     "ciap run      -c ciap.yaml [--concurrency N] [--drain-timeout 30s] [--shutdown-delay 5s]\n"
     "                 serve; on SIGTERM keep serving for the shutdown delay with /ready at 503,\n"
     "                 then drain open requests for up to the drain timeout\n"},
    {"validate",
     "ciap validate -c ciap.yaml [--offline] [--json]\n"
     "                 exit 0 when the config (and every file it names) is valid, 1 with\n"
     "                 file:line:col errors; --offline checks the config alone\n"},
    {"check",
     "ciap check    -c ciap.yaml --request \"METHOD URL\"\n"
     "                 (--token-file T | --claims F [--provider P] | --anonymous)\n"
     "                 [--listener L] [--offline] [--json]\n"
     "                 what ciap decides for one request and why; exit 0 allow, 1 deny, 2 error\n"
     "                 (T or F may be - for stdin)\n"},
    {"test",
     "ciap test     -c ciap.yaml cases.yaml [--offline] [--json]\n"
     "                 runs a table of cases; exit 0 when all hold, 1 naming each that does not\n"},
    {"token",
     "ciap token    aws-iam --audience A [--region R] [--endpoint URL] [--expires 60s]\n"
     "                 prints a presigned sts:GetCallerIdentity token for an aws_iam provider,\n"
     "                 made from the job's AWS credentials (environment or container endpoint)\n"},
    {"version", "ciap version\n"},
};

void PrintUsage(FILE* out, std::string_view only = {}) {
  std::fputs("usage:\n", out);
  for (const Command& c : kCommands) {
    if (!only.empty() && c.name != only) continue;
    std::fprintf(out, "  %.*s", static_cast<int>(c.usage.size()), c.usage.data());
  }
}

int Usage(std::string_view command, const std::string& problem) {
  std::fprintf(stderr, "ciap %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               problem.c_str());
  PrintUsage(stderr, command);
  return 2;
}

// Levenshtein distance, for "did you mean" on a mistyped command or flag.
std::size_t Distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string Suggest(std::string_view typed, std::span<const std::string_view> known) {
  std::string_view best;
  std::size_t best_distance = 3;  // more than two edits away is not a typo
  for (std::string_view k : known) {
    std::size_t d = Distance(typed, k);
    if (d < best_distance) best = k, best_distance = d;
  }
  return best.empty() ? std::string() : " (did you mean " + std::string(best) + "?)";
}

// Everything any command takes; each command accepts only its own flags.
struct Args {
  ciap::RunOptions run;
  ciap::CheckOptions check;
  ciap::TokenOptions token;
  std::vector<std::string> positional;
  bool help = false;
};

// The flags each command accepts (those taking a value end in '=').
constexpr std::string_view kRunFlags[] = {
    "-c=", "--config=", "--concurrency=", "--drain-timeout=", "--shutdown-delay="};
constexpr std::string_view kValidateFlags[] = {"-c=", "--config=", "--offline", "--json"};
constexpr std::string_view kCheckFlags[] = {
    "-c=",         "--config=",   "--request=", "--token-file=", "--claims=",
    "--provider=", "--listener=", "--json",     "--anonymous",   "--offline"};
constexpr std::string_view kTestFlags[] = {"-c=", "--config=", "--offline", "--json"};
constexpr std::string_view kTokenFlags[] = {
    "--audience=", "--region=", "--endpoint=", "--expires="};

std::span<const std::string_view> FlagsOf(std::string_view command) {
  if (command == "run") return kRunFlags;
  if (command == "validate") return kValidateFlags;
  if (command == "check") return kCheckFlags;
  if (command == "token") return kTokenFlags;
  return kTestFlags;
}

// The flag's value into its place; an error sentence when it does not fit.
std::string Apply(std::string_view flag, const char* value, Args& args) {
  std::string_view v = value != nullptr ? value : "";
  if (flag == "-c" || flag == "--config") {
    args.run.config_path = v;
  } else if (flag == "--concurrency") {
    int n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > 1024) {
      return "--concurrency needs a number from 1 to 1024";
    }
    args.run.concurrency = n;
  } else if (flag == "--drain-timeout" || flag == "--shutdown-delay") {
    auto* into = flag == "--drain-timeout" ? &args.run.drain_timeout : &args.run.shutdown_delay;
    auto duration = ciap::config::ParseDuration(v);  // the config file's durations
    if (!duration) return std::string(flag) + ": " + duration.error();
    *into = *duration;
  } else if (flag == "--audience") {
    args.token.audience = v;
  } else if (flag == "--region") {
    args.token.region = v;
  } else if (flag == "--endpoint") {
    args.token.endpoint = v;
  } else if (flag == "--expires") {
    auto duration = ciap::config::ParseDuration(v);
    if (!duration) return "--expires: " + duration.error();
    args.token.expires = std::chrono::duration_cast<std::chrono::seconds>(*duration);
  } else if (flag == "--request") {
    args.check.request = v;
  } else if (flag == "--token-file") {
    args.check.token_file = v;
  } else if (flag == "--claims") {
    args.check.claims_file = v;
  } else if (flag == "--provider") {
    args.check.provider = v;
  } else if (flag == "--listener") {
    args.check.listener = v;
  } else if (flag == "--json") {
    args.check.json = true;
  } else if (flag == "--anonymous") {
    args.check.anonymous = true;
  } else if (flag == "--offline") {
    args.check.offline = true;
  }
  return {};
}

// Empty on success, else the problem.
std::string Parse(std::string_view command, int argc, char** argv, Args& args) {
  std::span<const std::string_view> flags = FlagsOf(command);
  std::vector<std::string_view> names;
  for (std::string_view f : flags)
    names.push_back(f.ends_with('=') ? f.substr(0, f.size() - 1) : f);
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      args.help = true;
      return {};
    }
    if (!arg.starts_with("-") || arg == "-") {
      args.positional.emplace_back(arg);
      continue;
    }
    std::optional<std::string_view> value_inline;  // --flag=value
    if (std::size_t eq = arg.find('='); eq != std::string_view::npos && arg.starts_with("--")) {
      value_inline = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto known = std::ranges::find(names, arg);
    if (known == names.end()) return "unknown flag " + std::string(arg) + Suggest(arg, names);
    bool takes_value = flags[static_cast<std::size_t>(known - names.begin())].ends_with('=');
    if (!takes_value && value_inline) return std::string(arg) + " takes no value";
    std::string value(value_inline.value_or(""));
    if (takes_value && !value_inline) {
      if (i + 1 >= argc) return std::string(arg) + " needs a value";
      value = argv[++i];
    }
    if (takes_value && value.empty()) return std::string(arg) + " needs a value";
    std::string problem = Apply(arg, takes_value ? value.c_str() : nullptr, args);
    if (!problem.empty()) return problem;
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return 2;
  }
  std::string_view command = argv[1];
  if (command == "version" || command == "--version") {
    std::printf("ciap %s (%s, Boost %d.%d)\n", CIAP_VERSION, OPENSSL_VERSION_TEXT,
                BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000);
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    PrintUsage(stdout, argc > 2 ? std::string_view(argv[2]) : std::string_view());
    return 0;
  }
  constexpr std::string_view kNames[] = {"run",   "validate", "check", "test",
                                         "token", "version",  "help"};
  if (std::ranges::find(kNames, command) == std::end(kNames)) {
    std::fprintf(stderr, "ciap: unknown command '%s'%s\n", argv[1],
                 Suggest(command, kNames).c_str());
    PrintUsage(stderr);
    return 2;
  }

  if (command == "run") ciap::TuneAllocator(argv);  // may start the process afresh

  Args args;
  if (std::string problem = Parse(command, argc, argv, args); !problem.empty()) {
    return Usage(command, problem);
  }
  if (args.help) {
    PrintUsage(stdout, command);
    return 0;
  }
  if (command == "token") {
    if (args.positional.size() != 1) return Usage(command, "the token kind (aws-iam) is required");
    args.token.kind = args.positional.front();
    return ciap::RunToken(args.token);
  }
  const std::string& config = args.run.config_path;
  if (config.empty()) return Usage(command, "-c ciap.yaml is required");
  std::size_t positional_wanted = command == "test" ? 1 : 0;
  if (args.positional.size() != positional_wanted) {
    return Usage(command, args.positional.size() < positional_wanted
                              ? "the cases file is required"
                              : "unexpected argument '" + args.positional.back() + "'");
  }

  if (command == "validate") {
    return ciap::RunValidate(
        {.config_path = config, .offline = args.check.offline, .json = args.check.json});
  }
  if (command == "run") return ciap::RunServer(args.run);
  if (command == "test") {
    return ciap::RunCaseTable({.config_path = config,
                               .cases_path = args.positional.front(),
                               .offline = args.check.offline,
                               .json = args.check.json});
  }
  args.check.config_path = config;
  if (args.check.request.empty()) return Usage(command, "--request \"METHOD URL\" is required");
  return ciap::RunCheck(args.check);
}
