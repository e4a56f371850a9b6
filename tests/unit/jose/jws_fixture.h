// Shared set-up for the JWS tests: one JWKS with a key per supported algorithm family, and
// helpers to build tokens from raw header and payload JSON.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include "jose/base64url.h"
#include "jose/jws.h"
#include "tests/unit/jose/test_keys.h"

namespace ciap::jose::testing {

inline constexpr std::string_view kPayload =
    R"({"iss":"https://agent.buildkite.com","sub":"organization:acme-inc:pipeline:deploy","aud":"https://ci-proxy.acme.internal","iat":1767225600,"exp":1767225900})";

class JwsTest : public ::testing::Test {
 public:
  // kids: "rsa" (no alg), "rsa-ps256" (alg PS256) and "rsa-rs256" (alg RS256) share one RSA
  // key; "ec256", "ec384", "ed" are the other types.
  static const KeySet& Keys() {
    static const std::shared_ptr<const KeySet> keys = [] {
      auto set = KeySet::Parse(JwksOf({Rsa2048().Jwk("rsa"), Rsa2048().Jwk("rsa-ps256", "PS256"),
                                       Rsa2048().Jwk("rsa-rs256", "RS256"), P256().Jwk("ec256"),
                                       P384().Jwk("ec384"), Ed25519().Jwk("ed")}));
      return set ? *set : nullptr;
    }();
    return *keys;
  }

  static std::string Header(std::string_view alg, std::string_view kid) {
    return std::string(R"({"alg":")") + std::string(alg) + R"(","kid":")" + std::string(kid) +
           R"(","typ":"JWT"})";
  }

  // The verification result: "ok" or the error's name, for compact assertions.
  static std::string Check(std::string_view token, AlgorithmSet allowed = AlgorithmSet::All()) {
    auto result = Verify(token, Keys(), allowed);
    return result ? "ok" : std::string(TokenErrorName(result.error()));
  }

  static std::string Check(std::string_view token, const KeySet& keys,
                           AlgorithmSet allowed = AlgorithmSet::All()) {
    auto result = Verify(token, keys, allowed);
    return result ? "ok" : std::string(TokenErrorName(result.error()));
  }

  // A token signed by `key` with `alg` and header {"alg":alg,"kid":kid,"typ":"JWT"}.
  static std::string Token(const TestKey& key, std::string_view alg, std::string_view kid,
                           std::string_view payload = kPayload) {
    return SignedToken(Header(alg, kid), payload, key, alg);
  }

  // "header.payload." + base64url(signature bytes).
  static std::string WithSignature(std::string_view header_json, std::string_view payload_json,
                                   std::string_view signature) {
    return SigningInput(header_json, payload_json) + "." + Base64UrlEncode(signature);
  }
};

}  // namespace ciap::jose::testing
