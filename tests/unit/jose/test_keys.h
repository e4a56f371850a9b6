// Test keys and token forging for the identity tests: keys generated with OpenSSL when first
// used, exported as public JWKs, and a signer that signs any header and payload bytes, so tests
// can build tokens that are wrong in exactly one way.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "jose/jwk.h"

namespace ciap::jose::testing {

enum class TestKeyKind { kRsa2048, kRsa1024, kP256, kP384, kEd25519 };

class TestKey {
 public:
  explicit TestKey(TestKeyKind kind);

  TestKeyKind kind() const { return kind_; }
  EVP_PKEY* pkey() const { return pkey_.get(); }

  // The public JWK: kty, crv, n/e or x/y; plus kid and alg when non-empty.
  boost::json::object Jwk(std::string_view kid, std::string_view alg = "") const;

  // A JWS signature (the raw bytes, before base64url) with JOSE algorithm `alg` over `input`:
  // RS*/PS* (RSA keys), ES256/ES384 as raw R||S (EC keys), EdDSA. Works for any `alg` the key
  // type can do, whatever a JWK says, which is the point of the confusion tests.
  std::string Sign(std::string_view alg, std::string_view input) const;

  // RSA-PSS with an explicit salt length (JWS requires the digest length).
  std::string SignPss(std::string_view alg, std::string_view input, int salt_length) const;

  // RSA only: a PKCS#1 v1.5 type 1 signature over exactly `encoded`, with no DigestInfo added
  // (what `openssl speed` verifies, and how a forger probes the encoded-message comparison).
  std::string SignRawPkcs1(std::string_view encoded) const;

  // ECDSA only: the DER signature OpenSSL produces, which JWS must not accept.
  std::string SignDer(std::string_view alg, std::string_view input) const;

  std::string PublicPem() const;  // SubjectPublicKeyInfo PEM
  std::string PublicDer() const;  // SubjectPublicKeyInfo DER

 private:
  std::string SignWith(std::string_view alg, std::string_view input, int pss_salt_length) const;

  TestKeyKind kind_;
  EvpPkeyPtr pkey_;
};

// Process-wide keys, generated once (RSA generation takes a while).
const TestKey& Rsa2048();
const TestKey& Rsa2048Second();  // another RSA key, e.g. the attacker's
const TestKey& Rsa1024();
const TestKey& P256();
const TestKey& P256Second();
const TestKey& P384();
const TestKey& Ed25519();
const TestKey& Ed25519Second();

// {"keys":[...]} of the given JWKs.
std::string JwksOf(std::initializer_list<boost::json::object> jwks);

// base64url(header) "." base64url(payload) "." base64url(key.Sign(alg, first two segments)).
std::string SignedToken(std::string_view header_json, std::string_view payload_json,
                        const TestKey& key, std::string_view alg);

// The first two segments, for tests that attach their own signature.
std::string SigningInput(std::string_view header_json, std::string_view payload_json);

// HMAC-SHA256 of `input` with `secret` (to forge HS256 tokens).
std::string HmacSha256(std::string_view secret, std::string_view input);

// The curve order n of P-256 / P-384, big-endian, written out here independently of the code
// under test.
std::string P256Order();
std::string P384Order();

}  // namespace ciap::jose::testing
