// Reading a secret that is a file's whole content (a client secret, a Redis password, typically
// a Kubernetes Secret mount): read when it is needed, so a rotated Secret is used at once.
#pragma once

#include <optional>
#include <string>

namespace ciap {

// The file's content without trailing line breaks; nullopt when it cannot be read or is empty.
// Errors name the file only (the caller's), never the content.
std::optional<std::string> ReadSecretText(const std::string& path);

}  // namespace ciap
