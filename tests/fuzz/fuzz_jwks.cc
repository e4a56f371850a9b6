// JWKS parsing (jose/jwk.h) of arbitrary documents, then verification of a few
// fixed tokens against whatever key set came out, so that fuzzed keys reach OpenSSL.
//
// The harness's own public key material can be spliced in: the placeholders $RSA_N$, $P256_X$,
// $P256_Y$, $P384_X$, $P384_Y$ and $ED_X$ in the input are replaced by the base64url values of
// its keys (generated per process), so seeds with real keys verify the fixed tokens and the
// fuzzer mutates around keys that work.
//
// Invariants beyond "never crashes": at most kMaxJwksKeys keys; RSA keys within the modulus
// limits; Find(kid) finds every kid that was kept; a token verifies only with an alg its key
// fits.
#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "jose/jwk.h"
#include "jose/jws.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/unit/jose/test_keys.h"

namespace {

using namespace ciap::jose;  // NOLINT

struct Fixture {
  std::vector<std::pair<std::string, std::string>> placeholders;
  std::vector<std::string> tokens;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    using namespace ciap::jose::testing;  // NOLINT
    auto* f = new Fixture();
    auto member = [](const boost::json::object& jwk, const char* name) {
      return std::string(jwk.at(name).as_string());
    };
    boost::json::object rsa = Rsa2048().Jwk("rsa");
    boost::json::object p256 = P256().Jwk("ec256");
    boost::json::object p384 = P384().Jwk("ec384");
    boost::json::object ed = Ed25519().Jwk("ed");
    f->placeholders = {{"$RSA_N$", member(rsa, "n")},   {"$P256_X$", member(p256, "x")},
                       {"$P256_Y$", member(p256, "y")}, {"$P384_X$", member(p384, "x")},
                       {"$P384_Y$", member(p384, "y")}, {"$ED_X$", member(ed, "x")}};
    const std::string payload = R"({"iss":"https://fuzz.test","aud":"fuzz","exp":1767225900})";
    auto header = [](std::string_view alg, std::string_view kid) {
      std::string h = R"({"alg":")" + std::string(alg) + "\"";
      if (!kid.empty()) h += R"(,"kid":")" + std::string(kid) + "\"";
      return h + "}";
    };
    f->tokens = {
        SignedToken(header("RS256", "rsa"), payload, Rsa2048(), "RS256"),
        SignedToken(header("PS256", "rsa"), payload, Rsa2048(), "PS256"),
        SignedToken(header("RS256", ""), payload, Rsa2048(), "RS256"),
        SignedToken(header("ES256", "ec256"), payload, P256(), "ES256"),
        SignedToken(header("ES256", ""), payload, P256(), "ES256"),
        SignedToken(header("ES384", "ec384"), payload, P384(), "ES384"),
        SignedToken(header("EdDSA", "ed"), payload, Ed25519(), "EdDSA"),
        SignedToken(header("EdDSA", ""), payload, Ed25519(), "EdDSA"),
    };
    return f;
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxJwksBytes + 1) return 0;
  const Fixture& fixture = GetFixture();
  std::string document(ciap::fuzz::AsText(data, size));
  for (const auto& [placeholder, value] : fixture.placeholders) {
    for (std::size_t at = document.find(placeholder); at != std::string::npos;
         at = document.find(placeholder, at + value.size())) {
      document.replace(at, placeholder.size(), value);
    }
  }

  auto parsed = KeySet::Parse(document);
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().empty(), "a refused JWKS needs a reason");
    return 0;
  }
  const KeySet& keys = **parsed;
  FUZZ_CHECK(keys.keys().size() <= kMaxJwksKeys, "%zu keys kept", keys.keys().size());
  for (const Key& key : keys.keys()) {
    FUZZ_CHECK(key.pkey() != nullptr, "a key without an EVP_PKEY");
    if (key.type() == KeyType::kRsa) {
      FUZZ_CHECK(key.bits() >= kMinRsaBits && key.bits() <= kMaxRsaBits, "RSA key of %d bits",
                 key.bits());
    }
    if (!key.kid().empty()) {
      const Key* found = keys.Find(key.kid());
      FUZZ_CHECK(found != nullptr && found->kid() == key.kid(), "kid %s not found",
                 key.kid().c_str());
    }
  }
  for (const IgnoredKey& ignored : keys.ignored()) {
    FUZZ_CHECK(!ignored.reason.empty(), "key %zu ignored without a reason", ignored.index);
  }
  for (const std::string& token : fixture.tokens) {
    auto verified = Verify(token, keys, AlgorithmSet::All());
    if (!verified) continue;
    if (!verified->kid.empty()) {
      const Key* key = keys.Find(verified->kid);
      FUZZ_CHECK(key != nullptr && key->Fits(verified->alg),
                 "verified with a key that does not fit");
    }
  }
  return 0;
}
