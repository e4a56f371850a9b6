// See secret_text.h.
#include "net/secret_text.h"

#include <fstream>
#include <sstream>

namespace ciap {

std::optional<std::string> ReadSecretText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (!in || secret.empty()) return std::nullopt;
  return secret;
}

}  // namespace ciap
