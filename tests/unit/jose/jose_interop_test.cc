// Cross-implementation check: tokens minted by `jose` (tests/idp/mint-tokens.mjs) verify, and
// jose-made tampered variants are refused for the expected reason. Runs when CIAP_JOSE_FIXTURE
// names the fixture file (the identity_jose_interop ctest test sets it); skipped otherwise.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "jose/claims.h"
#include "jose/jwk.h"
#include "jose/jws.h"

namespace ciap::jose {
namespace {

namespace json = boost::json;

class JoseInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* path = std::getenv("CIAP_JOSE_FIXTURE");
    if (path == nullptr) GTEST_SKIP() << "CIAP_JOSE_FIXTURE not set";
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::stringstream text;
    text << in.rdbuf();
    fixture_ = json::parse(text.str()).as_object();
    auto keys = KeySet::Parse(json::serialize(fixture_.at("jwks")));
    ASSERT_TRUE(keys) << keys.error();
    keys_ = *keys;
  }

  json::object fixture_;
  std::shared_ptr<const KeySet> keys_;
};

TEST_F(JoseInterop, EveryJoseKeyIsUsable) {
  // jose's exported JWKs (with kid, alg and use added) all parse into usable keys.
  for (const IgnoredKey& ignored : keys_->ignored()) {
    ADD_FAILURE() << "ignored key " << ignored.kid << ": " << ignored.reason;
  }
  EXPECT_EQ(keys_->keys().size(), fixture_.at("jwks").at("keys").as_array().size());
  EXPECT_EQ(keys_->keys().size(), 9u);
}

TEST_F(JoseInterop, ValidTokensVerifyAndTamperedOnesFail) {
  // Each case gets exactly its expected outcome; valid tokens also pass the claim checks.
  const std::vector<std::string> audiences{std::string(fixture_.at("audience").as_string())};
  ClaimsPolicy policy;
  policy.issuer = fixture_.at("issuer").as_string();
  policy.audiences = audiences;
  policy.clock_skew = std::chrono::seconds(60);
  policy.max_token_lifetime = std::chrono::seconds(3600);
  policy.now = std::chrono::system_clock::time_point(
      std::chrono::seconds(fixture_.at("now").to_number<int64_t>()));

  std::set<std::string> valid_algs;
  int tampered = 0;
  for (const json::value& entry : fixture_.at("cases").as_array()) {
    const json::object& c = entry.as_object();
    const std::string name(c.at("name").as_string());
    const std::string_view expect = c.at("expect").as_string();
    SCOPED_TRACE(name);
    auto result = Verify(c.at("token").as_string(), *keys_, AlgorithmSet::All());
    if (expect == "ok") {
      ASSERT_TRUE(result) << TokenErrorName(result.error());
      EXPECT_EQ(AlgorithmName(result->alg), c.at("alg").as_string());
      EXPECT_EQ(result->kid, c.at("kid").as_string());
      auto claims = ValidateClaims(result->payload(), policy);
      EXPECT_TRUE(claims) << ClaimErrorName(claims.error());
      valid_algs.insert(std::string(AlgorithmName(result->alg)));
    } else {
      ASSERT_FALSE(result);
      EXPECT_EQ(TokenErrorName(result.error()), expect);
      ++tampered;
    }
  }
  EXPECT_EQ(valid_algs.size(), 9u);
  EXPECT_GE(tampered, 9 * 4);
}

}  // namespace
}  // namespace ciap::jose
