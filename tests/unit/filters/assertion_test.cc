// AssertionIssuer (filters/headers/assertion.h) with SigningKeys read from PEM files: the claims
// and header of the JWS it signs, checked with the project's own verifier against the keys'
// JWKS; one assertion per caller credential while half its lifetime remains; and a key file
// rewritten with a new key, which changes the ring's generation, the kid and the assertion.
#include "filters/headers/assertion.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jose/base64url.h"
#include "jose/jws.h"

namespace ciap::headers {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// A fresh private key of `type` ("EC" P-256, "ED25519", "EC-384", "RSA") as PKCS#8 PEM.
std::string NewKeyPem(std::string_view type) {
  EVP_PKEY* key = nullptr;
  if (type == "EC") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  } else if (type == "EC-384") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  } else if (type == "RSA") {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  } else {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  }
  EXPECT_NE(key, nullptr);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  EVP_PKEY_free(key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// The JWS's header, decoded, and its claims as the verifier returns them; or the error.
struct Checked {
  std::string error;  // empty when the signature verified
  json::object header;
  json::object claims;
  std::string kid;
};

Checked Failed(std::string error) {
  Checked out;
  out.error = std::move(error);
  return out;
}

Checked Check(const std::string& jws, const std::string& jwks) {
  Checked out;
  auto keys = jose::KeySet::Parse(jwks);
  if (!keys) return Failed("jwks: " + keys.error());
  auto verified = jose::Verify(
      jws, **keys, jose::AlgorithmSet{jose::Algorithm::kEs256, jose::Algorithm::kEdDsa});
  if (!verified) return Failed(std::string(jose::TokenErrorName(verified.error())));
  std::optional<std::string> header = jose::Base64UrlDecode(jws.substr(0, jws.find('.')));
  if (!header) return Failed("header is not base64url");
  out.header = json::parse(*header).as_object();
  out.claims = verified->payload();
  out.kid = verified->kid;
  return out;
}

class AssertionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ciap-assertion-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::trunc) << contents;
    return path;
  }

  // Keys from files holding a P-256 key (signs) and an Ed25519 key.
  std::shared_ptr<SigningKeys> LoadKeys() {
    paths_ = {Write("first.pem", NewKeyPem("EC")), Write("second.pem", NewKeyPem("ED25519"))};
    auto keys = SigningKeys::Load(paths_);
    EXPECT_TRUE(keys) << keys.error();
    return keys ? *keys : nullptr;
  }

  std::unique_ptr<AssertionIssuer> Issuer(std::shared_ptr<SigningKeys> keys,
                                          std::chrono::milliseconds lifetime = 60s) {
    config::AssertionConfig assertion;
    assertion.issuer = "https://ciap.example.com";
    assertion.signing_keys = paths_;
    assertion.lifetime = lifetime;
    config::AssertionHeaderConfig route;
    route.audience = "https://deployer.example.com";
    route.claims = {"pipeline_slug", "build_number", "absent_claim", "agent"};
    return std::make_unique<AssertionIssuer>(assertion, route, "deploy", std::move(keys));
  }

  static std::shared_ptr<const Caller> MakeCaller(
      std::string_view credential, std::string subject = "org:acme:pipeline:deploy") {
    json::object claims{{"sub", subject},
                        {"pipeline_slug", "deploy"},
                        {"build_number", 42},
                        {"agent", json::object{{"queue", "prod"}}},
                        {"not_listed", "kept out"}};
    std::shared_ptr<Caller> caller = CallerFromClaims("buildkite", claims, 2000000000);
    caller->credential_digest = DigestOf(credential);
    return caller;
  }

  std::string dir_;
  std::vector<std::string> paths_;
  const std::vector<std::string_view> groups_{"deployers", "buildkite:acme"};
};

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_F(AssertionTest, ClaimsAndHeaderVerifyAgainstTheKeys) {
  auto keys = LoadKeys();
  ASSERT_NE(keys, nullptr);
  auto issuer = Issuer(keys);
  EXPECT_EQ(issuer->header(), "x-ciap-assertion");
  const int64_t before = Now();
  std::shared_ptr<const std::string> jws = issuer->For(MakeCaller("token-a"), groups_);
  const int64_t after = Now();
  ASSERT_NE(jws, nullptr);
  std::shared_ptr<const SigningKeys::Ring> ring = keys->Current();
  ASSERT_EQ(ring->signers.size(), 2u);
  Checked c = Check(*jws, ring->jwks);
  ASSERT_EQ(c.error, "");

  EXPECT_EQ(c.header.at("alg").as_string(), "ES256") << "the first key signs";
  EXPECT_EQ(c.header.at("typ").as_string(), "JWT");
  EXPECT_EQ(c.kid, ring->signers[0].kid());
  EXPECT_EQ(c.kid, ring->signers[0].Thumbprint());

  std::set<std::string> names;
  for (const auto& member : c.claims) names.insert(std::string(member.key()));
  EXPECT_EQ(names,
            (std::set<std::string>{"iss", "aud", "iat", "exp", "jti", "sub", "provider", "groups",
                                   "route", "pipeline_slug", "build_number", "agent"}))
      << "listed claims the caller has; absent_claim and not_listed left out";
  EXPECT_EQ(c.claims.at("iss").as_string(), "https://ciap.example.com");
  EXPECT_EQ(c.claims.at("aud").as_string(), "https://deployer.example.com");
  const int64_t iat = c.claims.at("iat").as_int64();
  EXPECT_GE(iat, before);
  EXPECT_LE(iat, after);
  EXPECT_EQ(c.claims.at("exp").as_int64(), iat + 60);
  const std::string jti(c.claims.at("jti").as_string());
  EXPECT_EQ(jti.size(), 22u) << "base64url of 16 random bytes";
  EXPECT_EQ(c.claims.at("sub").as_string(), "org:acme:pipeline:deploy");
  EXPECT_EQ(c.claims.at("provider").as_string(), "buildkite");
  EXPECT_EQ(c.claims.at("groups"), (json::array{"deployers", "buildkite:acme"}));
  EXPECT_EQ(c.claims.at("route").as_string(), "deploy");
  EXPECT_EQ(c.claims.at("pipeline_slug").as_string(), "deploy");
  EXPECT_EQ(c.claims.at("build_number").as_int64(), 42) << "copied with its JSON type";
  EXPECT_EQ(c.claims.at("agent"), (json::object{{"queue", "prod"}}));

  // Only the published keys verify it: another ring's JWKS does not.
  auto stranger = SigningKeys::Load({Write("stranger.pem", NewKeyPem("EC"))});
  ASSERT_TRUE(stranger) << stranger.error();
  EXPECT_EQ(Check(*jws, (*stranger)->Current()->jwks).error, "unknown_kid");
}

TEST_F(AssertionTest, OneAssertionPerCredential) {
  auto keys = LoadKeys();
  ASSERT_NE(keys, nullptr);
  auto issuer = Issuer(keys);
  std::shared_ptr<const std::string> a = issuer->For(MakeCaller("token-a"), groups_);
  // Another Caller object (another worker's cache entry) for the same credential.
  std::shared_ptr<const std::string> again = issuer->For(MakeCaller("token-a"), groups_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(*again, *a);
  std::shared_ptr<const std::string> b = issuer->For(MakeCaller("token-b"), groups_);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(*b, *a);
  const std::string jwks = keys->Current()->jwks;
  Checked ca = Check(*a, jwks);
  Checked cb = Check(*b, jwks);
  ASSERT_EQ(ca.error, "");
  ASSERT_EQ(cb.error, "");
  EXPECT_NE(ca.claims.at("jti"), cb.claims.at("jti"));
  EXPECT_EQ(*issuer->For(MakeCaller("token-a"), groups_), *a) << "b did not displace a";
}

TEST_F(AssertionTest, ReusedForHalfTheLifetimeOnly) {
  auto keys = LoadKeys();
  ASSERT_NE(keys, nullptr);
  auto issuer = Issuer(keys, 2s);
  std::shared_ptr<const std::string> first = issuer->For(MakeCaller("token-a"), groups_);
  ASSERT_NE(first, nullptr);
  Checked c = Check(*first, keys->Current()->jwks);
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.claims.at("exp").as_int64(), c.claims.at("iat").as_int64() + 2);
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(*issuer->For(MakeCaller("token-a"), groups_), *first);
  std::this_thread::sleep_for(500ms);  // past 1s: half of 2s
  std::shared_ptr<const std::string> second = issuer->For(MakeCaller("token-a"), groups_);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(*second, *first);
  Checked c2 = Check(*second, keys->Current()->jwks);
  ASSERT_EQ(c2.error, "");
  EXPECT_NE(c2.claims.at("jti"), c.claims.at("jti"));
}

TEST_F(AssertionTest, RewrittenKeyFileSignsAnew) {
  auto keys = LoadKeys();
  ASSERT_NE(keys, nullptr);
  auto issuer = Issuer(keys);
  std::shared_ptr<const SigningKeys::Ring> ring = keys->Current();
  const uint64_t generation = ring->generation;
  const std::string old_kid = ring->signers[0].kid();
  const std::string ed_kid = ring->signers[1].kid();
  std::shared_ptr<const std::string> before = issuer->For(MakeCaller("token-a"), groups_);
  ASSERT_NE(before, nullptr);

  Write("first.pem", NewKeyPem("EC"));
  // Files are looked at once a second at most: nothing changes right away.
  EXPECT_EQ(keys->Current()->generation, generation);
  EXPECT_EQ(*issuer->For(MakeCaller("token-a"), groups_), *before);
  std::this_thread::sleep_for(1100ms);

  std::shared_ptr<const std::string> after = issuer->For(MakeCaller("token-a"), groups_);
  ASSERT_NE(after, nullptr);
  EXPECT_NE(*after, *before) << "the cached assertion was signed with the old key";
  ring = keys->Current();
  EXPECT_NE(ring->generation, generation);
  ASSERT_EQ(ring->signers.size(), 2u);
  EXPECT_NE(ring->signers[0].kid(), old_kid);
  EXPECT_EQ(ring->signers[1].kid(), ed_kid) << "the other file did not change";
  Checked c = Check(*after, ring->jwks);
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.kid, ring->signers[0].kid());
  EXPECT_EQ(Check(*before, ring->jwks).error, "unknown_kid") << "the old key is no longer listed";
  EXPECT_EQ(*issuer->For(MakeCaller("token-a"), groups_), *after) << "cached again";
}

TEST_F(AssertionTest, UnusableReplacementKeepsTheKeys) {
  auto keys = LoadKeys();
  ASSERT_NE(keys, nullptr);
  std::shared_ptr<const SigningKeys::Ring> ring = keys->Current();
  Write("first.pem", NewKeyPem("RSA"));  // a valid PEM, but not an assertion key
  std::this_thread::sleep_for(1100ms);
  std::shared_ptr<const SigningKeys::Ring> now = keys->Current();
  EXPECT_EQ(now->generation, ring->generation);
  EXPECT_EQ(now->signers[0].kid(), ring->signers[0].kid());
  EXPECT_EQ(now->jwks, ring->jwks);
}

TEST_F(AssertionTest, LoadRefusesKeysThatCannotSignAssertions) {
  const std::string p384 = Write("p384.pem", NewKeyPem("EC-384"));
  auto keys = SigningKeys::Load({p384});
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error(), "assertion signing key " + p384 +
                              ": an EC key must be on P-256 (ES256), this one is on secp384r1");
  const std::string rsa = Write("rsa.pem", NewKeyPem("RSA"));
  keys = SigningKeys::Load({Write("ok.pem", NewKeyPem("EC")), rsa});
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error(), "assertion signing key " + rsa +
                              ": an assertion key must be EC P-256 (ES256) or Ed25519 (EdDSA)");
  keys = SigningKeys::Load({dir_ + "/missing.pem"});
  ASSERT_FALSE(keys);
  EXPECT_EQ(keys.error(), "assertion signing key: cannot read secret " + dir_ +
                              "/missing.pem: No such file or directory");
}

}  // namespace
}  // namespace ciap::headers
