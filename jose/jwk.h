// A provider's signing keys: a JWKS document (RFC 7517) parsed once into OpenSSL keys.
//
// A KeySet is immutable after parsing and shared read-only by all workers
// (`std::shared_ptr<const KeySet>`); a JWKS refresh builds a new one. Keys the document offers
// but ciap must not use are left out and listed with the reason, for diagnostics.
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "jose/algorithm.h"

namespace ciap::jose {

// Limits on what a JWKS endpoint may hand us; real providers publish 1-5 keys in a few KB.
inline constexpr std::size_t kMaxJwksBytes = 1 << 20;
inline constexpr std::size_t kMaxJwksKeys = 100;
// RSA moduli outside this range are ignored: short ones are breakable, huge ones make every
// verification slow (a JWKS-controlled CPU cost).
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 8192;

enum class KeyType { kRsa, kEc, kOkp };
enum class Curve { kNone, kP256, kP384, kEd25519 };  // kNone for RSA

std::string_view KeyTypeName(KeyType type);  // the JWK "kty" value: "RSA", "EC", "OKP"
std::string_view CurveName(Curve curve);     // the JWK "crv" value, "" for kNone

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* pkey) const;
};
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// One usable public key with the JWK members that decide what it may verify.
class Key {
 public:
  Key(std::string kid, KeyType type, Curve curve, std::optional<Algorithm> algorithm, int bits,
      EvpPkeyPtr pkey);

  // Empty when the JWK has no "kid" (or an empty one); such keys are only tried for tokens
  // without a kid.
  const std::string& kid() const { return kid_; }
  KeyType type() const { return type_; }
  Curve curve() const { return curve_; }
  // The JWK's "alg", when it pins one.
  std::optional<Algorithm> algorithm() const { return algorithm_; }
  int bits() const { return bits_; }  // RSA modulus or curve size
  EVP_PKEY* pkey() const { return pkey_.get(); }
  // Unique for the life of the process (never reused, unlike the EVP_PKEY address), so
  // per-thread caches can key verification contexts on it.
  uint64_t serial() const { return serial_; }

  // Whether a token signed with `alg` may be verified with this key: RS*/PS* need RSA, ES256
  // P-256, ES384 P-384, EdDSA Ed25519; and the JWK's own "alg", if any, must be `alg`.
  bool Fits(Algorithm alg) const;

 private:
  std::string kid_;
  KeyType type_;
  Curve curve_;
  std::optional<Algorithm> algorithm_;
  int bits_;
  EvpPkeyPtr pkey_;
  uint64_t serial_;
};

// A JWK from the document that is not used, and why ("use is enc", "RSA modulus has 1024 bits").
struct IgnoredKey {
  std::size_t index = 0;  // position in the document's "keys" array
  std::string kid;
  std::string reason;
};

class KeySet {
 public:
  // Parses a JWKS document. Fails (with a message for logs and diagnostics) only when the
  // document as a whole is unusable: too large, not strict JSON, no "keys" array, too many keys.
  // Individual bad keys are ignored instead, so one exotic key cannot take a provider down.
  static std::expected<std::shared_ptr<const KeySet>, std::string> Parse(std::string_view jwks);

  KeySet() = default;
  KeySet(KeySet&&) = default;
  KeySet& operator=(KeySet&&) = default;

  // The key whose kid is exactly `kid`, or nullptr. Never matches keys without a kid.
  const Key* Find(std::string_view kid) const;

  std::span<const Key> keys() const { return keys_; }
  std::span<const IgnoredKey> ignored() const { return ignored_; }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::vector<Key> keys_;
  std::vector<IgnoredKey> ignored_;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> by_kid_;
};

}  // namespace ciap::jose
