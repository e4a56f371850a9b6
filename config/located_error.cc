// See located_error.h.
#include "config/located_error.h"

#include <regex>
#include <string>
#include <tuple>

namespace ciap::config {
namespace {

// Whether `path` occurs in `message` as a whole word; the offset of its first such occurrence.
std::optional<std::size_t> Mention(std::string_view message, const std::string& path) {
  static constexpr std::string_view kBefore = " (\"'`";
  static constexpr std::string_view kAfter = ":,;) \"'`";
  for (std::size_t at = message.find(path); at != std::string_view::npos;
       at = message.find(path, at + 1)) {
    const std::size_t end = at + path.size();
    const bool starts = at == 0 || kBefore.find(message[at - 1]) != std::string_view::npos;
    const bool ends = end == message.size() || kAfter.find(message[end]) != std::string_view::npos;
    if (starts && ends) return at;
  }
  return std::nullopt;
}

// How an error names the objects a key path goes through: "listener agents", "route deploy".
std::vector<std::string> Owners(const Config& config, const std::string& key_path) {
  std::vector<std::string> owners;
  std::smatch m;
  static const std::regex kListener(R"(^listeners\[(\d+)\](?:\.routes\[(\d+)\])?)");
  static const std::regex kUpstream(R"(^upstreams\[(\d+)\])");
  static const std::regex kProvider(R"(^identity_providers\[(\d+)\])");
  if (std::regex_search(key_path, m, kListener)) {
    const std::size_t l = std::stoul(m[1]);
    if (l < config.listeners.size()) {
      owners.push_back("listener " + config.listeners[l].name);
      if (m[2].matched && std::stoul(m[2]) < config.listeners[l].routes.size()) {
        owners.push_back("route " + config.listeners[l].routes[std::stoul(m[2])].name);
      }
    }
  } else if (std::regex_search(key_path, m, kUpstream)) {
    if (std::stoul(m[1]) < config.upstreams.size()) {
      owners.push_back("upstream " + config.upstreams[std::stoul(m[1])].name);
    }
  } else if (std::regex_search(key_path, m, kProvider)) {
    if (std::stoul(m[1]) < config.identity_providers.size()) {
      owners.push_back("provider " + config.identity_providers[std::stoul(m[1])].name);
    }
  }
  return owners;
}

// The message without the filter and the objects it starts with ("identity: provider corp, ",
// "listener agents: ", "listener agents, route r, header Authorization: "): the key path says
// where.
std::string WithoutOwners(std::string_view message) {
  static const std::regex kOwners(
      R"(^(?:(?:identity|access|rate_limit|headers): )?(?:(?:listener|upstream|provider|route|header) [^,: ]+(?:, |: ))+)");
  const std::string text(message);
  std::smatch m;
  if (std::regex_search(text, m, kOwners)) return text.substr(m.length(0));
  return text;
}

// Whether the words just before the mention at `at` name the kind of file `key_path` holds
// ("private key PATH" for a key_file): tells apart two keys that name the same file.
bool RoleMatches(std::string_view message, std::size_t at, const std::string& key_path) {
  const std::string_view before = message.substr(0, at);
  if (key_path.ends_with("key_file")) return before.ends_with("key ");
  if (key_path.ends_with("cert_file")) return before.ends_with("certificate ");
  if (key_path.ends_with("ca_file")) return before.ends_with("CA ");
  return false;
}

}  // namespace

ConfigError LocateError(const Config& config, std::string_view message) {
  // The best reference: the most owners named, then the first mentioned, then the one whose
  // kind the message says (a file named twice, as certificate and as key).
  const FileReference* best = nullptr;
  std::tuple<std::size_t, std::ptrdiff_t, bool> best_rank;
  for (const FileReference& file : config.files) {
    std::optional<std::size_t> at = Mention(message, file.path);
    if (!at) continue;
    std::size_t owners = 0;
    for (const std::string& owner : Owners(config, file.key_path)) {
      if (Mention(message, owner)) ++owners;
    }
    const std::tuple<std::size_t, std::ptrdiff_t, bool> rank{
        owners, -static_cast<std::ptrdiff_t>(*at), RoleMatches(message, *at, file.key_path)};
    if (best == nullptr || rank > best_rank) {
      best = &file;
      best_rank = rank;
    }
  }
  ConfigError error;
  error.file = config.source_path;
  if (best == nullptr) {
    error.message = std::string(message);
    return error;
  }
  error.line = best->line;
  error.column = best->column;
  error.key_path = best->key_path;
  error.message = WithoutOwners(message);
  return error;
}

}  // namespace ciap::config
