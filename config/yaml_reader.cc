// A small typed reader over yaml-cpp nodes for the config loader; see yaml_reader.h.
#include "config/yaml_reader.h"

#include <yaml-cpp/exceptions.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

#include "config/syntax.h"
#include "config/yaml_merge.h"

namespace ciap::config::yaml {
namespace {

std::string Describe(const Node& node) { return node.Describe(); }

bool IsEnvNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsEnvNameChar(char c) { return IsEnvNameStart(c) || (c >= '0' && c <= '9'); }

std::string JoinKeys(const std::vector<std::string_view>& keys) {
  std::string out;
  for (std::string_view k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

// The length of the well-formed UTF-8 sequence at `text[i]` (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 when there is none; `*code_point` gets its value.
size_t Utf8SequenceLength(std::string_view text, size_t i, uint32_t* code_point) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  *code_point = lead;
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    *code_point = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    *code_point = lead & 0x0F;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    *code_point = lead & 0x07;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = i + 1; k < i + length; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) return 0;
    *code_point = (*code_point << 6) | (byte(k) & 0x3F);
  }
  return length;
}

// The offset of the first byte that does not start a well-formed UTF-8 sequence, if any.
std::optional<size_t> FirstInvalidUtf8(std::string_view text) {
  uint32_t code_point = 0;
  for (size_t i = 0; i < text.size();) {
    size_t length = Utf8SequenceLength(text, i, &code_point);
    if (length == 0) return i;
    i += length;
  }
  return std::nullopt;
}

// YAML 1.2's c-printable: the characters a YAML stream may contain (no C0 or C1 controls but
// tab, line breaks and NEL; no DEL, no U+FFFE/U+FFFF).
bool IsYamlPrintable(uint32_t c) {
  return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
         (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0x10FFFF);
}

// Why `text` is not a YAML stream ciap reads, and the offset of the first offending byte.
// yaml-cpp does not check this itself: it passes stray bytes through, and it mangles a NUL
// inside a scalar into bytes that are not UTF-8.
std::optional<std::pair<size_t, std::string>> FirstUnreadableCharacter(std::string_view text) {
  uint32_t code_point = 0;
  for (size_t i = 0; i < text.size();) {
    size_t length = Utf8SequenceLength(text, i, &code_point);
    char what[64];
    if (length == 0) {
      std::snprintf(what, sizeof what, "invalid UTF-8 (byte 0x%02X)",
                    static_cast<unsigned char>(text[i]));
      return std::pair{i, std::string(what) + ": a config file must be UTF-8 text"};
    }
    if (!IsYamlPrintable(code_point)) {
      std::snprintf(what, sizeof what, "control character U+%04X", code_point);
      return std::pair{i, std::string(what) + " is not allowed in YAML"};
    }
    i += length;
  }
  return std::nullopt;
}

// The first tab in the indentation of a line up to `last_line` (0-based), if any: where a
// syntax error most likely comes from, which yaml-cpp reports in its own words ("end of map not
// found", "illegal map value"). Indentation is the run of spaces, tabs and "- " sequence
// indicators that starts a line.
std::optional<YAML::Mark> TabInIndentation(std::string_view text, int last_line) {
  int line = 0;
  for (size_t start = 0; start < text.size() && line <= last_line; ++line) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    for (size_t i = start; i < end; ++i) {
      const char c = text[i];
      const bool indicator =
          c == '-' && (i + 1 == end || text[i + 1] == ' ' || text[i + 1] == '\t');
      if (c == '\t') {
        YAML::Mark mark;
        mark.pos = static_cast<int>(i);
        mark.line = line;
        mark.column = static_cast<int>(i - start);
        return mark;
      }
      if (c != ' ' && !indicator) break;
    }
    start = end + 1;
  }
  return std::nullopt;
}

}  // namespace

std::unique_ptr<Document> LoadSingleDocument(std::string_view text, Diagnostics& diagnostics) {
  // YAML is Unicode text, and every value ends up in JSON (/config, logs, audit events), which
  // must be UTF-8.
  if (auto bad = FirstUnreadableCharacter(text)) {
    const size_t at = bad->first;
    YAML::Mark mark;
    mark.pos = static_cast<int>(at);
    const size_t line_start = text.rfind('\n', at) + 1;  // npos + 1 == 0 on the first line
    mark.line = static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
    mark.column = static_cast<int>(at - line_start);
    diagnostics.Add(mark, "", bad->second);
    return nullptr;
  }
  try {
    std::vector<YAML::Mark> starts;
    std::unique_ptr<Document> document = Document::Parse(text, &starts);
    if (starts.size() == 2) {
      const YAML::Mark& first = starts[0];
      const YAML::Mark& second = starts[1];
      if (first.pos == second.pos) {
        // yaml-cpp reports an endless run of empty documents where it cannot go on.
        const bool comma = second.pos >= 0 && static_cast<size_t>(second.pos) < text.size() &&
                           text[second.pos] == ',';
        diagnostics.Add(second, "",
                        comma ? "invalid YAML: unexpected ',' outside of [...] or {...}"
                              : "invalid YAML: unexpected character");
      } else {
        diagnostics.Add(second, "", "expected one YAML document, found more (remove `---`)");
      }
      return nullptr;
    }
    return document;
  } catch (const YAML::Exception& e) {
    if (auto tab = TabInIndentation(text, e.mark.is_null() ? INT32_MAX : e.mark.line)) {
      diagnostics.Add(*tab, "",
                      "invalid YAML: a tab in the indentation (YAML indents with spaces only; "
                      "replace the tab with spaces)");
    } else {
      diagnostics.Add(e.mark, "", "invalid YAML: " + e.msg);
    }
    return nullptr;
  }
}

void Diagnostics::Add(const YAML::Mark& mark, std::string key_path, std::string message) {
  ConfigError error;
  error.file = file_;
  error.line = mark.is_null() ? 1 : mark.line + 1;
  error.column = mark.is_null() ? 1 : mark.column + 1;
  error.key_path = std::move(key_path);
  error.message = std::move(message);
  errors_.push_back(std::move(error));
}

void Diagnostics::AddFile(std::string path, const YAML::Mark& mark, std::string key_path) {
  FileReference file;
  file.path = std::move(path);
  file.key_path = std::move(key_path);
  file.line = mark.is_null() ? 1 : mark.line + 1;
  file.column = mark.is_null() ? 1 : mark.column + 1;
  files_.push_back(std::move(file));
}

ConfigErrors Diagnostics::Take() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const ConfigError& a, const ConfigError& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return std::move(errors_);
}

namespace {

// The text that replaces `${inner}`: the variable's value, or the default of ${NAME:-default}
// when the variable is unset or empty. An empty value without a default is an error: a
// variable that CI or a template left empty is as wrong as one left unset (bound_claims:
// { organization_id: "${BK_ORG}" } would pin nothing); ${NAME:-} says empty is meant.
std::expected<std::string, std::string> ResolveVariable(std::string_view inner,
                                                        const EnvLookup& env) {
  std::string_view name = inner;
  std::optional<std::string_view> fallback;
  if (size_t dash = inner.find(":-"); dash != std::string_view::npos) {
    name = inner.substr(0, dash);
    fallback = inner.substr(dash + 2);
  }
  if (name.empty() || !IsEnvNameStart(name[0]) ||
      !std::all_of(name.begin(), name.end(), IsEnvNameChar)) {
    return std::unexpected("'${" + std::string(inner) +
                           "}' is not a valid environment variable reference (${NAME} or "
                           "${NAME:-default}, NAME made of letters, digits and _; write $${ for "
                           "a literal ${)");
  }
  const std::string variable(name);
  std::optional<std::string> value = env ? env(variable) : std::nullopt;
  if (value && FirstInvalidUtf8(*value)) {
    return std::unexpected("environment variable " + variable + " is not valid UTF-8");
  }
  if (value && !value->empty()) return std::move(*value);
  if (fallback) return std::string(*fallback);
  if (!value) return std::unexpected("environment variable " + variable + " is not set");
  return std::unexpected("environment variable " + variable + " is empty (set it, or write ${" +
                         variable +
                         ":-default} for a default, "
                         "${" +
                         variable + ":-} if empty is meant)");
}

// The ${secret:PATH} reference at text[at], kept for the proxy with ${NAME} references in PATH
// substituted (${secret:${SECRETS_DIR}/token}), and the offset after it.
std::expected<std::pair<std::string, size_t>, std::string> SecretReference(
    std::string_view text, size_t at, const EnvLookup& env,
    std::map<std::string, std::string>* used) {
  std::string path;
  size_t i = at + 9;  // after "${secret:"
  while (i < text.size() && text[i] != '}') {
    if (!text.substr(i).starts_with("${")) {
      path.push_back(text[i++]);
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) break;
    std::expected<std::string, std::string> value =
        ResolveVariable(text.substr(i + 2, close - i - 2), env);
    if (!value) return std::unexpected(value.error());
    if (value->find('}') != std::string::npos) {
      return std::unexpected("the ${secret:} path would contain '}' from " +
                             std::string(text.substr(i, close + 1 - i)));
    }
    if (used != nullptr) (*used)[std::string(text.substr(i, close + 1 - i))] = *value;
    path += *value;
    i = close + 1;
  }
  if (i == text.size()) return std::unexpected("unterminated ${ (write $${ for a literal ${)");
  return std::pair{"${secret:" + path + "}", i + 1};
}

}  // namespace

std::expected<std::string, std::string> SubstituteEnv(std::string_view text, const EnvLookup& env,
                                                      Refs refs,
                                                      std::map<std::string, std::string>* used) {
  const bool keep_refs = refs == Refs::kKeepSecretAndClaim;
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i).starts_with("$${")) {
      out += keep_refs ? "$${" : "${";
      i += 3;
      continue;
    }
    if (!text.substr(i).starts_with("${")) {
      out.push_back(text[i++]);
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return std::unexpected("unterminated ${ (write $${ for a literal ${)");
    }
    std::string_view inner = text.substr(i + 2, close - i - 2);
    // ${secret:...} and ${claim:...} are resolved per request by the proxy, not here.
    if (inner.starts_with("secret:") || inner.starts_with("claim:")) {
      if (!keep_refs) {
        std::string_view kind = inner.substr(0, inner.find(':'));
        return std::unexpected("${" + std::string(kind) + ":} is only allowed in " +
                               (kind == "secret" ? "request_headers.set values and client_secret"
                                                 : "request_headers.set values"));
      }
      if (inner.starts_with("secret:")) {
        auto reference = SecretReference(text, i, env, used);
        if (!reference) return std::unexpected(reference.error());
        out += reference->first;
        i = reference->second;
        continue;
      }
      out += text.substr(i, close + 1 - i);
      i = close + 1;
      continue;
    }
    std::expected<std::string, std::string> value = ResolveVariable(inner, env);
    if (!value) return std::unexpected(value.error());
    if (used != nullptr) (*used)[std::string(text.substr(i, close + 1 - i))] = *value;
    out += *value;
    i = close + 1;
  }
  return out;
}

Value::Value(Diagnostics* diagnostics, const EnvLookup* env, Node node, std::string path,
             YAML::Mark fallback_mark)
    : diagnostics_(diagnostics),
      env_(env),
      node_(std::move(node)),
      path_(std::move(path)),
      fallback_mark_(fallback_mark) {}

YAML::Mark Value::mark() const {
  // yaml-cpp gives an implicit null (`key:` and a line break) the position of the next token.
  if (node_.IsNull() || node_.Mark().is_null()) return fallback_mark_;
  return node_.Mark();
}

void Value::Error(std::string message) const {
  diagnostics_->Add(mark(), path_, std::move(message));
}

bool Value::ExpectScalar(std::string_view what) const {
  if (node_.IsScalar()) return true;
  std::string message = "expected " + std::string(what) + ", got " + Describe(node_);
  // An unquoted [::1]:443 parses as a list, or in a flow list as a mapping {[::1]: 443}.
  const bool list_key = node_.IsMap() && node_.size() == 1 && node_.Key(0).IsSequence();
  if (node_.IsSequence() || list_key)
    message += " (quote values that start with '[', e.g. \"[::1]:8080\")";
  Error(std::move(message));
  return false;
}

std::optional<std::string> Value::String(Refs refs) const {
  if (!ExpectScalar("a string")) return std::nullopt;
  std::expected<std::string, std::string> text =
      SubstituteEnv(node_.Scalar(), *env_, refs, &diagnostics_->substitutions());
  if (!text) {
    Error(text.error());
    return std::nullopt;
  }
  return std::move(*text);
}

std::optional<std::string> Value::NonEmptyString() const {
  std::optional<std::string> text = String();
  if (text && text->empty()) {
    Error("must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> Value::File() const {
  std::optional<std::string> path = NonEmptyString();
  if (!path || !NamesFile(*path)) return std::nullopt;
  return path;
}

bool Value::NamesFile(const std::string& path) const {
  diagnostics_->AddFile(path, mark(), path_);
  if (diagnostics_->options().offline) return true;
  if (std::optional<std::string> problem = CheckReadableFile(path)) {
    Error(*problem);
    return false;
  }
  return true;
}

std::optional<bool> Value::Bool() const {
  if (!ExpectScalar("true or false")) return std::nullopt;
  std::optional<std::string> text = String();
  if (!text) return std::nullopt;
  if (*text == "true") return true;
  if (*text == "false") return false;
  Error("expected true or false, got '" + *text + "'");
  return std::nullopt;
}

std::optional<uint64_t> Value::UInt(uint64_t min, uint64_t max) const {
  if (!ExpectScalar("a number")) return std::nullopt;
  std::optional<std::string> text = String();
  if (!text) return std::nullopt;
  const std::string range = "from " + std::to_string(min) + " to " + std::to_string(max);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (text->empty() || (*text)[0] == '+' || end != text->data() + text->size() ||
      ec == std::errc::invalid_argument) {
    Error("expected a whole number " + range + ", got '" + *text + "'");
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    Error(*text + " is out of range (expected " + range + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<double> Value::Number(double min, double max) const {
  if (!ExpectScalar("a number")) return std::nullopt;
  std::optional<std::string> text = String();
  if (!text) return std::nullopt;
  auto range = [&] {
    std::ostringstream out;
    out << "from " << min << " to " << max;
    return out.str();
  };
  double value = 0;
  auto [end, ec] =
      std::from_chars(text->data(), text->data() + text->size(), value, std::chars_format::fixed);
  if (text->empty() || end != text->data() + text->size() || ec == std::errc::invalid_argument) {
    Error("expected a number " + range() + ", got '" + *text + "'");
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || !(value >= min && value <= max)) {
    Error(*text + " is out of range (expected " + range() + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<Duration> Value::Dur(bool allow_zero) const {
  if (!ExpectScalar("a duration like 30s, 500ms, 5m, 1h or 1h30m")) return std::nullopt;
  std::optional<Duration> d = Parse<Duration>(ParseDuration);
  if (d && d->count() == 0 && !allow_zero) {
    Error("must be greater than 0");
    return std::nullopt;
  }
  return d;
}

std::optional<std::vector<Value>> Value::List() const {
  if (node_.IsNull()) return std::vector<Value>{};
  if (!node_.IsSequence()) {
    Error("expected a list, got " + Describe(node_));
    return std::nullopt;
  }
  std::vector<Value> items;
  items.reserve(node_.size());
  for (size_t index = 0; index < node_.size(); ++index) {
    items.emplace_back(diagnostics_, env_, node_.Item(index),
                       path_ + "[" + std::to_string(index) + "]", node_.Mark());
  }
  return items;
}

std::optional<Map> Value::AsMap(std::initializer_list<std::string_view> known_keys) const {
  std::vector<std::string_view> known(known_keys);
  return ReadMap(&known);
}

std::optional<Map> Value::AsMapWithExtensions(
    std::initializer_list<std::string_view> known_keys) const {
  std::vector<std::string_view> known(known_keys);
  return ReadMap(&known, /*path_keys=*/false, /*extensions=*/true);
}

std::optional<Map> Value::AsOpenMap() const { return ReadMap(nullptr); }

std::optional<Map> Value::AsPathKeyedMap() const { return ReadMap(nullptr, /*path_keys=*/true); }

std::optional<Map> Value::ReadMap(const std::vector<std::string_view>* known_keys, bool path_keys,
                                  bool extensions) const {
  Map map(*this);
  if (node_.IsNull()) return map;
  if (!node_.IsMap()) {
    std::string message = "expected a mapping, got " + Describe(node_);
    if (known_keys) message += " (keys: " + JoinKeys(*known_keys) + ")";
    Error(std::move(message));
    return std::nullopt;
  }
  std::map<std::string, int, std::less<>> first_line;
  // Merged pairs never repeat a key (merge keys leave those out): duplicates are written ones.
  for (const KeyValue& pair : ResolveMergeKeys(node_, *diagnostics_, path_)) {
    const Node& key = pair.key;
    const Node& value = pair.value;
    std::vector<std::string> key_path;
    if (path_keys && key.IsSequence()) {
      std::string shown = "[";
      bool ok = key.size() > 0;
      for (size_t i = 0; i < key.size(); ++i) {
        const Node element = key.Item(i);
        if (!element.IsScalar() || element.Scalar().empty()) ok = false;
        if (!ok) break;
        key_path.push_back(element.Scalar());
        shown += (key_path.size() > 1 ? ", " : "") + element.Scalar();
      }
      if (!ok) {
        diagnostics_->Add(key.Mark(), path_,
                          "a claim path must be a non-empty list of non-empty names");
        continue;
      }
      shown += "]";
      auto [seen, inserted] = first_line.emplace(shown, key.Mark().line + 1);
      if (!inserted) {
        diagnostics_->Add(key.Mark(), ChildPath(path_, shown),
                          "duplicate key (first set on line " + std::to_string(seen->second) + ")");
        continue;
      }
      const std::string path = ChildPath(path_, shown);
      map.Add({shown, key.Mark(), Value(diagnostics_, env_, value, path, key.Mark()),
               std::move(key_path)});
      continue;
    }
    if (!key.IsScalar()) {
      diagnostics_->Add(key.Mark(), path_, "keys must be plain strings, got " + Describe(key));
      continue;
    }
    const std::string& name = key.Scalar();
    if (extensions && name.starts_with("x-")) continue;
    const std::string path = ChildPath(path_, name);
    if (known_keys &&
        std::find(known_keys->begin(), known_keys->end(), name) == known_keys->end()) {
      std::string message = "unknown key '" + name + "'";
      if (std::optional<std::string_view> guess = SuggestSpelling(name, *known_keys)) {
        message += " (did you mean '" + std::string(*guess) + "'?)";
      }
      message += "; expected one of: " + JoinKeys(*known_keys);
      diagnostics_->Add(key.Mark(), path, std::move(message));
      continue;
    }
    auto [seen, inserted] = first_line.emplace(name, key.Mark().line + 1);
    if (!inserted) {
      diagnostics_->Add(key.Mark(), path,
                        "duplicate key (first set on line " + std::to_string(seen->second) + ")");
      continue;
    }
    map.Add({name, key.Mark(), Value(diagnostics_, env_, value, path, key.Mark()), {}});
  }
  return map;
}

const Map::Entry* Map::Find(std::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

std::optional<Value> Map::Get(std::string_view key) const {
  if (const Entry* entry = Find(key)) return entry->value;
  return std::nullopt;
}

std::optional<Value> Map::Require(std::string_view key, std::string_view why) const {
  if (const Entry* entry = Find(key)) return entry->value;
  ErrorMissing(key, why.empty() ? "required" : "required " + std::string(why));
  return std::nullopt;
}

void Map::ErrorMissing(std::string_view key, std::string message) const {
  self_.diagnostics_->Add(self_.mark(), ChildPath(self_.path(), key), std::move(message));
}

void Map::ErrorAtKey(const Entry& entry, std::string message) const {
  self_.diagnostics_->Add(entry.key_mark, entry.value.path(), std::move(message));
}

void Map::RejectKeys(std::initializer_list<std::string_view> keys, std::string_view message) const {
  for (std::string_view key : keys) {
    if (const Entry* entry = Find(key)) ErrorAtKey(*entry, std::string(message));
  }
}

std::string ChildPath(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

}  // namespace ciap::config::yaml
