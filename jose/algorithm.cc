// Names of the JWS algorithms; see algorithm.h.
#include "jose/algorithm.h"

#include <array>

namespace ciap::jose {
namespace {

constexpr std::array<std::string_view, kAlgorithmCount> kNames = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
};

}  // namespace

std::string_view AlgorithmName(Algorithm alg) { return kNames[static_cast<std::size_t>(alg)]; }

std::optional<Algorithm> ParseAlgorithm(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Algorithm>(i);
  }
  return std::nullopt;
}

}  // namespace ciap::jose
