// The JWS signature algorithms ciap verifies (RFC 7518 §3) and sets of them (a provider's
// allow-list). HMAC algorithms are deliberately absent: ciap never holds shared secrets, and
// leaving them out of the type makes "HS256 with the RSA public key as secret" unrepresentable.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace ciap::jose {

enum class Algorithm : uint8_t {
  kRs256,  // RSASSA-PKCS1-v1_5
  kRs384,
  kRs512,
  kPs256,  // RSASSA-PSS, MGF1 with the same digest, salt length = digest length
  kPs384,
  kPs512,
  kEs256,  // ECDSA P-256, raw R||S
  kEs384,  // ECDSA P-384, raw R||S
  kEdDsa,  // Ed25519 only
};

inline constexpr int kAlgorithmCount = 9;

// RSASSA-PSS (PS256, PS384, PS512).
inline bool IsPss(Algorithm alg) { return alg >= Algorithm::kPs256 && alg <= Algorithm::kPs512; }

// "RS256", "PS384", "EdDSA", ...
std::string_view AlgorithmName(Algorithm alg);

// Exact, case-sensitive JOSE name; nullopt for anything else ("none", "HS256", "rs256", "ES512").
std::optional<Algorithm> ParseAlgorithm(std::string_view name);

// A small set of algorithms, cheap to copy and to test on the request path.
class AlgorithmSet {
 public:
  constexpr AlgorithmSet() = default;
  constexpr AlgorithmSet(std::initializer_list<Algorithm> algs) {
    for (Algorithm alg : algs) Add(alg);
  }
  static constexpr AlgorithmSet All() {
    AlgorithmSet set;
    set.bits_ = (1u << kAlgorithmCount) - 1;
    return set;
  }

  constexpr void Add(Algorithm alg) { bits_ |= Bit(alg); }
  constexpr bool Contains(Algorithm alg) const { return (bits_ & Bit(alg)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }

 private:
  static constexpr uint16_t Bit(Algorithm alg) {
    return static_cast<uint16_t>(1u << static_cast<unsigned>(alg));
  }
  uint16_t bits_ = 0;
};

}  // namespace ciap::jose
