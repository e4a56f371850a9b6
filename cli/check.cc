// See check.h. The decision itself is the policy runner's (policy_runner.h): the proxy's own
// decision path, offline.
#include "cli/check.h"

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/policy_runner.h"
#include "config/loader.h"
#include "jose/strict_json.h"

namespace ciap {
namespace json = boost::json;

std::optional<std::string> ReadInputFile(const std::string& path) {
  std::stringstream contents;
  if (path == "-") {
    contents << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    contents << in.rdbuf();
  }
  std::string text = contents.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

json::array ExplanationJson(const std::vector<std::string>& lines) {
  json::array out;
  for (const std::string& line : lines) {
    std::size_t colon = line.find(": ");
    if (colon == std::string::npos) {
      out.push_back(json::object{{"step", ""}, {"detail", line}});
    } else {
      out.push_back(
          json::object{{"step", line.substr(0, colon)}, {"detail", line.substr(colon + 2)}});
    }
  }
  return out;
}

json::object VerdictJson(const Verdict& verdict) {
  return json::object{
      {"decision", verdict.decision}, {"status", verdict.status},
      {"reason", verdict.reason},     {"route", verdict.route},
      {"provider", verdict.provider}, {"explanation", ExplanationJson(verdict.explanation)}};
}

std::expected<std::shared_ptr<const config::Config>, std::vector<std::string>> LoadForDecisions(
    const std::string& path, bool offline) {
  auto loaded = config::LoadConfigFile(path, config::LoadOptions{.offline = offline});
  if (loaded) return *loaded;
  std::vector<std::string> errors;
  for (const auto& error : loaded.error()) errors.push_back(error.ToString());
  return std::unexpected(std::move(errors));
}

int FailWith(std::string_view command, const std::vector<std::string>& errors, bool as_json) {
  if (as_json) {
    json::array list;
    for (const std::string& e : errors) list.emplace_back(e);
    std::printf("%s\n", json::serialize(json::object{{"errors", std::move(list)}}).c_str());
  } else {
    for (const std::string& e : errors) {
      std::fprintf(stderr, "ciap %.*s: %s\n", static_cast<int>(command.size()), command.data(),
                   e.c_str());
    }
  }
  return 2;
}

namespace {

int Fail(const std::vector<std::string>& errors, bool as_json) {
  return FailWith("check", errors, as_json);
}

int Print(const Verdict& verdict, bool as_json) {
  if (as_json) {
    std::printf("%s\n", json::serialize(VerdictJson(verdict)).c_str());
  } else {
    for (const std::string& line : verdict.explanation) std::printf("%s\n", line.c_str());
    std::printf("decision: %s (%d %s)\n", verdict.decision.c_str(), verdict.status,
                verdict.reason.c_str());
  }
  return verdict.passes() ? 0 : 1;
}

std::expected<PolicyCase, std::string> CaseFromOptions(const CheckOptions& options) {
  PolicyCase input;
  input.request = options.request;
  input.provider = options.provider;
  input.listener = options.listener;
  const int sources = (options.anonymous ? 1 : 0) + (options.claims_file.empty() ? 0 : 1) +
                      (options.token_file.empty() ? 0 : 1);
  if (sources > 1) return std::unexpected("give one of --token-file, --claims and --anonymous");
  if (options.anonymous) return input;
  if (!options.claims_file.empty()) {
    auto text = ReadInputFile(options.claims_file);
    if (!text) return std::unexpected("cannot read " + options.claims_file);
    auto document = jose::ParseStrictJsonDocument(*text);
    if (!document) return std::unexpected(options.claims_file + " is not a strict JSON object");
    input.source = PolicyCase::Source::kClaims;
    input.claims = json::object(document->object(), json::storage_ptr());
    input.claims_origin = options.claims_file == "-" ? "stdin" : options.claims_file;
  } else if (!options.token_file.empty()) {
    auto token = ReadInputFile(options.token_file);
    if (!token) return std::unexpected("cannot read " + options.token_file);
    if (token->starts_with("Bearer ")) token->erase(0, 7);
    input.source = PolicyCase::Source::kToken;
    input.token = std::move(*token);
  } else {
    return std::unexpected("give --token-file FILE, --claims FILE or --anonymous");
  }
  return input;
}

}  // namespace

int RunCheck(const CheckOptions& options) {
  auto loaded = LoadForDecisions(options.config_path, options.offline);
  if (!loaded) {
    if (!options.json) {
      for (const std::string& e : loaded.error()) std::fprintf(stderr, "%s\n", e.c_str());
      return 2;
    }
    return Fail(loaded.error(), true);
  }
  auto input = CaseFromOptions(options);
  if (!input) return Fail({input.error()}, options.json);
  PolicyRunner runner(*loaded, options.offline);
  auto verdict = runner.Decide(*input);
  if (!verdict) return Fail({verdict.error()}, options.json);
  return Print(*verdict, options.json);
}

}  // namespace ciap
