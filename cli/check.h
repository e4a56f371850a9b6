// `ciap check`: what ciap would decide for one request, and why — for platform teams' own CI
// (test a policy change before it ships) and for debugging a 403.
#pragma once

#include <boost/json/object.hpp>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace ciap {

struct Verdict;

struct CheckOptions {
  std::string config_path;
  std::string request;     // "METHOD URL", e.g. "PUT https://artifacts.acme/releases/x"
  std::string token_file;  // a JWT (verified as is when its providers have a jwks_file); "-": stdin
  std::string claims_file;  // or claims as a JSON object, with `provider`
  std::string provider;     // with --claims: the provider whose issuer and audience fill in
  bool anonymous = false;   // no credential at all
  std::string listener;     // default: the first listener
  bool json = false;
  bool offline = false;  // read no file the config names: tokens are decided on their claims
};

// Prints the decision and its reasons; returns 0 allow, 1 deny, 2 error.
int RunCheck(const CheckOptions& options);

// Shared with `ciap test`: a file's text ("-": stdin) without trailing blanks.
std::optional<std::string> ReadInputFile(const std::string& path);
// The config for check and test (`offline`: no file it names is opened); the errors as lines.
std::expected<std::shared_ptr<const config::Config>, std::vector<std::string>> LoadForDecisions(
    const std::string& path, bool offline);
// Exit code 2 with the problems: "ciap COMMAND: …" lines on stderr, or {"errors": […]} on
// stdout for --json.
int FailWith(std::string_view command, const std::vector<std::string>& errors, bool as_json);
// {"decision","status","reason","route","provider","explanation":[{"step","detail"}]}
boost::json::object VerdictJson(const Verdict& verdict);

}  // namespace ciap
