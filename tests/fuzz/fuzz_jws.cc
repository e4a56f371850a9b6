// JWS parsing and verification (jose/jws.h, strict_json.h, base64url.h), then the
// registered-claim checks (claims.h) and a provider's bound_claims (filters/claims) on what
// verified, against one fixed key set: RSA (with and without a pinned alg), P-256, P-384 and
// Ed25519 keys, with and without kids.
//
// Input: one flags byte, then a compact token. Flags & 7 picks a signer: 0 and 7 keep the
// token's own signature; the others re-sign its first two segments with a known key and alg
// (RS256, PS384, ES256, ES384, EdDSA, or ES256 in DER form), so mutated headers and payloads
// still reach the payload parser and the claim checks. (flags >> 3) & 3 picks the provider's
// algorithm allow-list.
//
// Invariants beyond "never crashes": a verified token's alg is allowed and fits the key its kid
// names (or, without a kid, some key); every base64url segment that decodes re-encodes
// to itself (one spelling per token); strict JSON that parses re-serializes to an equal object.
#include <boost/json.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "filters/claims/claim_conditions.h"
#include "jose/base64url.h"
#include "jose/claims.h"
#include "jose/jws.h"
#include "tests/fuzz/claim_yaml.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/unit/jose/test_keys.h"

namespace {

using namespace ciap::jose;  // NOLINT
using ciap::jose::testing::TestKey;

struct Fixture {
  std::shared_ptr<const KeySet> keys;
  ciap::claims::ClaimConditions bound_claims;
  std::vector<std::string> audiences{"fuzz-audience", "https://ci-proxy.fuzz.test"};
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    using namespace ciap::jose::testing;  // NOLINT
    auto* f = new Fixture();
    auto keys = KeySet::Parse(
        JwksOf({Rsa2048().Jwk("rsa"), Rsa2048().Jwk("rsa-ps384", "PS384"),
                Rsa2048().Jwk("rsa-rs256", "RS256"), P256().Jwk("ec256"), P384().Jwk("ec384"),
                Ed25519().Jwk("ed"), P256Second().Jwk(""), Rsa2048Second().Jwk("")}));
    FUZZ_CHECK(keys.has_value(), "fixture JWKS: %s", keys.error().c_str());
    f->keys = *keys;
    auto conditions = ciap::fuzz::ReadConditionsYaml(R"(
organization_slug: acme-inc
pipeline_slug: [deploy-api, "release-*"]
build_branch: { not: "dev/**" }
ref_protected: true
run_attempt: 1
groups: { contains: { regex: 'admins-[a-z]+' } }
[realm_access, roles]: { contains: deployer }
)");
    FUZZ_CHECK(conditions.has_value(), "fixture bound_claims do not load");
    auto compiled = ciap::claims::ClaimConditions::Compile(*conditions);
    FUZZ_CHECK(compiled.has_value(), "fixture bound_claims do not compile");
    f->bound_claims = std::move(*compiled);
    return f;
  }();
  return *fixture;
}

// Re-signs "header.payload[.anything]" with a known key; other shapes stay as they are.
std::string Resign(std::string_view token, unsigned signer) {
  using namespace ciap::jose::testing;  // NOLINT
  std::size_t first = token.find('.');
  if (first == std::string_view::npos) return std::string(token);
  std::size_t second = token.find('.', first + 1);
  std::string_view input = token.substr(0, second);
  std::string signature;
  switch (signer) {
    case 1:
      signature = Rsa2048().Sign("RS256", input);
      break;
    case 2:
      signature = Rsa2048().Sign("PS384", input);
      break;
    case 3:
      signature = P256().Sign("ES256", input);
      break;
    case 4:
      signature = P384().Sign("ES384", input);
      break;
    case 5:
      signature = Ed25519().Sign("EdDSA", input);
      break;
    default:
      signature = P256().SignDer("ES256", input);
      break;
  }
  return std::string(input) + "." + Base64UrlEncode(signature);
}

AlgorithmSet Allowed(unsigned choice) {
  switch (choice) {
    case 1:
      return {Algorithm::kRs256, Algorithm::kEs256};
    case 2:
      return {Algorithm::kPs256, Algorithm::kPs384, Algorithm::kPs512, Algorithm::kEdDsa};
    case 3:
      return {Algorithm::kEs384};
    default:
      return AlgorithmSet::All();
  }
}

void CheckJsonRoundTrip(std::string_view text) {
  auto parsed = ParseStrictJsonObject(text);
  if (!parsed) return;
  std::string again = boost::json::serialize(*parsed);
  auto reparsed = ParseStrictJsonObject(again);
  FUZZ_CHECK(reparsed.has_value(), "serialized strict JSON does not parse: %s", again.c_str());
  FUZZ_CHECK(*reparsed == *parsed, "strict JSON changed in a round trip: %s", again.c_str());
  auto document = ParseStrictJsonDocument(text);
  FUZZ_CHECK(document.has_value() && document->object() == *parsed,
             "ParseStrictJsonDocument disagrees with ParseStrictJsonObject");
}

void CheckSegments(std::string_view token) {
  std::string decoded;
  for (std::size_t start = 0, index = 0; index < 4; ++index) {
    std::size_t dot = token.find('.', start);
    std::string_view segment =
        token.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (Base64UrlDecode(segment, decoded)) {
      std::string encoded = Base64UrlEncode(decoded);
      FUZZ_CHECK(encoded == segment, "base64url has two spellings: %.*s and %s",
                 (int)segment.size(), segment.data(), encoded.c_str());
      auto size = Base64UrlDecodedSize(segment.size());
      FUZZ_CHECK(size && *size == decoded.size(), "decoded size mismatch");
      if (index < 2 && decoded.size() <= kMaxTokenBytes) CheckJsonRoundTrip(decoded);
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 2 * kMaxTokenBytes) return 0;
  const Fixture& fixture = GetFixture();
  const unsigned flags = data[0];
  std::string_view given = ciap::fuzz::AsText(data + 1, size - 1);
  const unsigned signer = flags & 7;
  std::string token = signer == 0 || signer == 7 ? std::string(given) : Resign(given, signer);
  CheckSegments(token);

  const AlgorithmSet allowed = Allowed((flags >> 3) & 3);
  auto verified = Verify(token, *fixture.keys, allowed);
  if (!verified) {
    FUZZ_CHECK(!TokenErrorName(verified.error()).empty(), "unnamed token error");
    return 0;
  }
  FUZZ_CHECK(allowed.Contains(verified->alg), "verified with %s outside the allow-list",
             std::string(AlgorithmName(verified->alg)).c_str());
  if (!verified->kid.empty()) {
    const Key* key = fixture.keys->Find(verified->kid);
    FUZZ_CHECK(key != nullptr && key->Fits(verified->alg), "kid %s does not fit %s",
               verified->kid.c_str(), std::string(AlgorithmName(verified->alg)).c_str());
  } else {
    // Without a kid, the first few keys that fit the alg are tried, with a kid or not.
    bool some_key_fits = false;
    for (const Key& key : fixture.keys->keys()) some_key_fits |= key.Fits(verified->alg);
    FUZZ_CHECK(some_key_fits, "verified without a kid, but no key fits");
  }

  ClaimsPolicy policy;
  policy.issuer = "https://fuzz.test";
  policy.audiences = fixture.audiences;
  policy.clock_skew = std::chrono::seconds(60);
  policy.max_token_lifetime = std::chrono::hours(1);
  policy.now = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
  auto claims = ValidateClaims(verified->payload(), policy);
  if (!claims) {
    FUZZ_CHECK(!ClaimErrorName(claims.error()).empty(), "unnamed claim error");
  }
  bool holds = fixture.bound_claims.Matches(verified->payload());
  FUZZ_CHECK(holds == !fixture.bound_claims.Explain(verified->payload()).has_value(),
             "Explain disagrees with Matches");
  return 0;
}
