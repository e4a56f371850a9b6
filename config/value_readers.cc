// See value_readers.h.
#include "config/value_readers.h"

#include <re2/re2.h>

#include "config/syntax.h"

namespace ciap::config {

std::optional<std::string> ReadFile(const yaml::Value& v) { return v.File(); }

std::optional<std::string> ReadRegex(const yaml::Value& v) {
  std::optional<std::string> pattern = v.String();
  if (!pattern) return std::nullopt;
  RE2 re(*pattern, RE2::Quiet);
  if (!re.ok()) {
    v.Error("invalid RE2 regular expression: " + re.error());
    return std::nullopt;
  }
  return pattern;
}

void ReadSecretReference(const yaml::Value& v, std::string& literal_out, std::string& file_out) {
  std::optional<std::string> text = v.String(yaml::Refs::kKeepSecretAndClaim);
  if (!text) return;
  constexpr std::string_view kSecret = "${secret:";
  if (text->starts_with(kSecret) && text->ends_with('}') && text->find('}') == text->size() - 1) {
    std::string path = text->substr(kSecret.size(), text->size() - kSecret.size() - 1);
    if (!path.empty() && v.NamesFile(path)) file_out = path;
    if (path.empty()) v.Error("${secret:} needs a file path");
  } else {
    // `$${` is a literal `${`, as everywhere in the file; any other reference is an error.
    std::string literal;
    for (std::size_t i = 0; i < text->size(); ++i) {
      if (text->compare(i, 3, "$${") == 0) {
        literal += "${";
        i += 2;
      } else if (text->compare(i, 2, "${") == 0) {
        v.Error(
            "must be the secret itself or one ${secret:FILE} reference, nothing around it "
            "(write $${ for a literal ${)");
        return;
      } else {
        literal.push_back((*text)[i]);
      }
    }
    if (literal.empty()) {
      v.Error("must not be empty");
    } else {
      literal_out = std::move(literal);
    }
  }
}

}  // namespace ciap::config
