// Signing compact JWS (RFC 7515) with a key ciap holds itself. Today: the stand-in tokens of
// `ciap check`, which re-signs a claims set with a key of its own so that the proxy's unchanged
// verification path can decide on it; the key never leaves the process.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "jose/algorithm.h"
#include "jose/jwk.h"

namespace ciap::jose {

class JwsSigner {
 public:
  // A fresh private key for `alg`: RSA 2048 for RS*/PS*, P-256 or P-384 for ES*, Ed25519.
  static std::expected<JwsSigner, std::string> Generate(Algorithm alg, std::string kid);

  // header.payload.signature, the header {"alg":...,"typ":"JWT","kid":...}. `payload` is the
  // claims set's JSON text, signed as given.
  std::expected<std::string, std::string> Sign(std::string_view payload) const;

  // The public key as a JWKS document ({"keys":[{...}]}) with kid, alg and use "sig".
  std::string PublicJwks() const;

  Algorithm algorithm() const { return alg_; }
  const std::string& kid() const { return kid_; }

 private:
  JwsSigner(Algorithm alg, std::string kid, EvpPkeyPtr key)
      : alg_(alg), kid_(std::move(kid)), key_(std::move(key)) {}

  Algorithm alg_;
  std::string kid_;
  EvpPkeyPtr key_;
};

}  // namespace ciap::jose
