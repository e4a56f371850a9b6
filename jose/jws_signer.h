// Signing compact JWS (RFC 7515) with a key ciap holds itself: the stand-in tokens of `ciap
// check` (which re-signs a claims set with a key of its own so that the proxy's unchanged
// verification path can decide on it), the assertions ciap sends upstreams, and a GitHub App's
// JWT. The private key never leaves the process.
#pragma once

#include <boost/json/object.hpp>
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

  // A private key in PEM (PKCS#8 or the traditional forms): EC P-256 signs ES256, Ed25519
  // EdDSA, RSA of at least 2048 bits RS256. An empty `kid` becomes the key's RFC 7638
  // thumbprint, which stays the same however often the file is re-read. Errors never quote
  // the key.
  static std::expected<JwsSigner, std::string> FromPem(std::string_view pem, std::string kid = {});

  // header.payload.signature, the header {"alg":...,"typ":"JWT","kid":...}. `payload` is the
  // claims set's JSON text, signed as given.
  std::expected<std::string, std::string> Sign(std::string_view payload) const;

  // The public key as a JWKS document ({"keys":[{...}]}) with kid, alg and use "sig".
  std::string PublicJwks() const;
  // The public key as one JWK with kid, alg and use "sig".
  boost::json::object PublicJwk() const;
  // RFC 7638: base64url(SHA-256) of the key's required members.
  std::string Thumbprint() const;

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
