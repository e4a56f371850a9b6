// See case_table.h.
#include "cli/case_table.h"

#include <yaml-cpp/exceptions.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <expected>
#include <filesystem>
#include <optional>
#include <vector>

#include "cli/check.h"
#include "cli/policy_runner.h"
#include "config/yaml_document.h"

namespace ciap {
namespace json = boost::json;
namespace yaml = config::yaml;

namespace {

struct Expectation {
  std::optional<std::string> decision;
  std::optional<int> status;
  std::optional<std::string> reason;
};

struct Case {
  std::string name;
  int line = 0;
  PolicyCase input;
  Expectation expect;
};

// Problems with the cases file itself, "file:line:col: message".
struct Errors {
  std::string file;
  std::vector<std::string> list;

  void Add(const yaml::Node& node, const std::string& message) {
    YAML::Mark mark = node.Mark();
    list.push_back(file + ":" + std::to_string(mark.line + 1) + ":" +
                   std::to_string(mark.column + 1) + ": " + message);
  }
};

// A YAML value as the JSON a token would carry: quoted scalars stay strings; plain ones that
// read as true/false/null or a number become those (as in a JSON claims file).
json::value ToJson(const yaml::Node& node) {
  if (node.IsMap()) {
    json::object out;
    for (std::size_t i = 0; i < node.size(); ++i) {
      out[node.Key(i).Scalar()] = ToJson(node.Value(i));
    }
    return out;
  }
  if (node.IsSequence()) {
    json::array out;
    for (std::size_t i = 0; i < node.size(); ++i) out.push_back(ToJson(node.Item(i)));
    return out;
  }
  if (node.IsNull()) return nullptr;
  const std::string& text = node.Scalar();
  if (node.Tag() == "?") {
    if (text == "true") return true;
    if (text == "false") return false;
    if (text == "null" || text == "~") return nullptr;
    int64_t integer = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), integer);
    if (ec == std::errc() && end == text.data() + text.size()) return integer;
    double real = 0;
    auto [rend, rec] = std::from_chars(text.data(), text.data() + text.size(), real);
    if (rec == std::errc() && rend == text.data() + text.size() && !text.empty()) return real;
  }
  return json::string(text);
}

std::optional<std::string> ScalarOf(const yaml::Node& node, std::string_view key, Errors& errors) {
  if (node.IsScalar()) return node.Scalar();
  errors.Add(node, std::string(key) + ": expected a string");
  return std::nullopt;
}

Expectation ReadExpectation(const yaml::Node& node, Errors& errors) {
  Expectation expect;
  if (!node.IsMap() || node.size() == 0) {
    errors.Add(node, "expect: a map with decision, status and/or reason");
    return expect;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string& key = node.Key(i).Scalar();
    yaml::Node value = node.Value(i);
    if (key == "decision") {
      expect.decision = ScalarOf(value, "expect.decision", errors);
      static constexpr std::string_view kDecisions[] = {"allow", "deny", "shadow_allow",
                                                        "shadow_deny"};
      if (expect.decision &&
          std::ranges::find(kDecisions, *expect.decision) == std::end(kDecisions)) {
        errors.Add(value, "expect.decision: one of allow, deny, shadow_allow, shadow_deny");
      }
    } else if (key == "status") {
      int status = 0;
      const std::string& text = value.Scalar();
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), status);
      if (ec != std::errc() || end != text.data() + text.size() || status < 100 || status > 599) {
        errors.Add(value, "expect.status: an HTTP status code such as 200 or 403");
      }
      expect.status = status;
    } else if (key == "reason") {
      expect.reason = ScalarOf(value, "expect.reason", errors);
    } else {
      errors.Add(node.Key(i), "expect." + key + ": unknown key (decision, status, reason)");
    }
  }
  return expect;
}

std::optional<Case> ReadCase(const yaml::Node& node, const std::filesystem::path& base,
                             Errors& errors) {
  if (!node.IsMap()) {
    errors.Add(node, "a case is a map (request, claims or token_file, expect, ...)");
    return std::nullopt;
  }
  Case c;
  c.line = static_cast<int>(node.Mark().line) + 1;
  bool has_expect = false;
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string& key = node.Key(i).Scalar();
    yaml::Node value = node.Value(i);
    if (key == "name") {
      c.name = ScalarOf(value, key, errors).value_or("");
    } else if (key == "request") {
      c.input.request = ScalarOf(value, key, errors).value_or("");
    } else if (key == "claims") {
      c.input.source = PolicyCase::Source::kClaims;
      if (!value.IsMap()) {
        errors.Add(value, "claims: a map of claim names to values");
        continue;
      }
      c.input.claims = ToJson(value).as_object();
      c.input.claims_origin = "the case";
    } else if (key == "token_file") {
      auto file = ScalarOf(value, key, errors);
      if (!file) continue;
      std::filesystem::path path = base / *file;
      auto token = ReadInputFile(path.string());
      if (!token) errors.Add(value, "token_file: cannot read " + path.string());
      c.input.source = PolicyCase::Source::kToken;
      c.input.token = token.value_or("");
      if (c.input.token.starts_with("Bearer ")) c.input.token.erase(0, 7);
    } else if (key == "provider") {
      c.input.provider = ScalarOf(value, key, errors).value_or("");
    } else if (key == "listener") {
      c.input.listener = ScalarOf(value, key, errors).value_or("");
    } else if (key == "expect") {
      has_expect = true;
      c.expect = ReadExpectation(value, errors);
    } else {
      errors.Add(node.Key(i), key +
                                  ": unknown key (name, request, claims, token_file, provider, "
                                  "listener, expect)");
    }
  }
  if (node.HasKey("claims") && node.HasKey("token_file")) {
    errors.Add(node, "a case has claims or token_file, not both");
  }
  if (c.input.request.empty()) errors.Add(node, "request: required (\"METHOD URL\")");
  if (!has_expect) errors.Add(node, "expect: required (decision, status and/or reason)");
  if (c.name.empty()) c.name = c.input.request;
  return c;
}

std::expected<std::vector<Case>, std::vector<std::string>> ReadCases(const std::string& path) {
  Errors errors{path, {}};
  auto text = ReadInputFile(path);
  if (!text) return std::unexpected(std::vector<std::string>{"cannot read " + path});
  std::unique_ptr<yaml::Document> document;
  std::vector<YAML::Mark> starts;
  try {
    document = yaml::Document::Parse(*text, &starts);
  } catch (const YAML::Exception& e) {
    return std::unexpected(std::vector<std::string>{path + ":" + std::to_string(e.mark.line + 1) +
                                                    ":" + std::to_string(e.mark.column + 1) +
                                                    ": not valid YAML: " + e.msg});
  }
  if (starts.size() > 1) {
    return std::unexpected(std::vector<std::string>{
        path + ":" + std::to_string(starts[1].line + 1) + ": one YAML document per cases file"});
  }
  yaml::Node root = document->root();
  yaml::Node list;
  for (std::size_t i = 0; root.IsMap() && i < root.size(); ++i) {
    if (root.Key(i).Scalar() == "cases") {
      list = root.Value(i);
    } else {
      errors.Add(root.Key(i), root.Key(i).Scalar() + ": unknown key (the file has `cases:`)");
    }
  }
  if (!list.IsSequence() || list.size() == 0) {
    errors.Add(root, "cases: required, a list of cases");
    return std::unexpected(errors.list);
  }
  std::filesystem::path base = std::filesystem::path(path).parent_path();
  std::vector<Case> cases;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (auto c = ReadCase(list.Item(i), base, errors)) cases.push_back(std::move(*c));
  }
  if (!errors.list.empty()) return std::unexpected(errors.list);
  return cases;
}

// What differs from the expectation; empty when the case holds.
std::string Mismatch(const Expectation& expect, const Verdict& got) {
  std::string out;
  auto add = [&out](std::string_view what, std::string_view want, std::string_view have) {
    out += std::string(out.empty() ? "" : ", ") + "expected " + std::string(what) + " " +
           std::string(want) + ", got " + std::string(have);
  };
  if (expect.decision && *expect.decision != got.decision) {
    add("decision", *expect.decision, got.decision);
  }
  if (expect.status && *expect.status != got.status) {
    add("status", std::to_string(*expect.status), std::to_string(got.status));
  }
  if (expect.reason && *expect.reason != got.reason) add("reason", *expect.reason, got.reason);
  return out;
}

json::object ExpectationJson(const Expectation& expect) {
  json::object out;
  if (expect.decision) out["decision"] = *expect.decision;
  if (expect.status) out["status"] = *expect.status;
  if (expect.reason) out["reason"] = *expect.reason;
  return out;
}

int FailUsage(const std::vector<std::string>& errors, bool as_json) {
  return FailWith("test", errors, as_json);
}

}  // namespace

int RunCaseTable(const CaseTableOptions& options) {
  auto loaded = LoadForDecisions(options.config_path, options.offline);
  if (!loaded) return FailUsage(loaded.error(), options.json);
  auto cases = ReadCases(options.cases_path);
  if (!cases) return FailUsage(cases.error(), options.json);
  PolicyRunner runner(*loaded, options.offline);

  json::array results;
  int failed = 0;
  for (const Case& c : *cases) {
    auto verdict = runner.Decide(c.input);
    std::string where = options.cases_path + ":" + std::to_string(c.line);
    std::string problem = verdict ? Mismatch(c.expect, *verdict) : verdict.error();
    failed += problem.empty() ? 0 : 1;
    if (options.json) {
      json::object result{{"name", c.name},
                          {"line", c.line},
                          {"passed", problem.empty()},
                          {"expect", ExpectationJson(c.expect)}};
      if (verdict) result["got"] = VerdictJson(*verdict);
      if (!problem.empty()) result["problem"] = problem;
      results.push_back(std::move(result));
    } else if (problem.empty()) {
      std::printf("ok    %s\n", c.name.c_str());
    } else {
      std::printf("FAIL  %s (%s): %s\n", c.name.c_str(), where.c_str(), problem.c_str());
      if (verdict) {
        for (const std::string& line : verdict->explanation)
          std::printf("        %s\n", line.c_str());
      }
    }
  }
  const int total = static_cast<int>(cases->size());
  if (options.json) {
    json::object out{{"cases", std::move(results)},
                     {"passed", total - failed},
                     {"failed", failed},
                     {"config_hash", (*loaded)->hash}};
    std::printf("%s\n", json::serialize(out).c_str());
  } else {
    std::printf("%d cases: %d passed, %d failed\n", total, total - failed, failed);
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace ciap
