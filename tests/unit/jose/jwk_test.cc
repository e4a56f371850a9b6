// JWKS parsing: which keys become usable, which are ignored and why, and exact kid lookup.
#include "jose/jwk.h"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "jose/base64url.h"
#include "tests/unit/jose/test_keys.h"

namespace ciap::jose {
namespace {

namespace json = boost::json;
using testing::JwksOf;

std::shared_ptr<const KeySet> ParseOk(std::string_view jwks) {
  auto set = KeySet::Parse(jwks);
  EXPECT_TRUE(set) << (set ? "" : set.error());
  return set ? *set : std::make_shared<const KeySet>();
}

// Parses a one-key JWKS that must be ignored, and returns the recorded reason.
std::string IgnoredReason(const json::object& jwk) {
  auto set = ParseOk(JwksOf({jwk}));
  EXPECT_TRUE(set->keys().empty()) << json::serialize(jwk);
  if (set->ignored().size() != 1) return "<not ignored>";
  return set->ignored()[0].reason;
}

TEST(Jwk, ParsesEverySupportedKeyType) {
  // RSA, P-256, P-384 and Ed25519 keys are usable, with kid, type, curve, alg and size kept.
  auto set = ParseOk(JwksOf({testing::Rsa2048().Jwk("r", "RS256"), testing::P256().Jwk("e1"),
                             testing::P384().Jwk("e2", "ES384"), testing::Ed25519().Jwk("o")}));
  ASSERT_EQ(set->keys().size(), 4u);
  EXPECT_TRUE(set->ignored().empty());
  const Key* rsa = set->Find("r");
  ASSERT_NE(rsa, nullptr);
  EXPECT_EQ(rsa->type(), KeyType::kRsa);
  EXPECT_EQ(rsa->bits(), 2048);
  EXPECT_EQ(rsa->algorithm(), Algorithm::kRs256);
  EXPECT_EQ(set->Find("e1")->curve(), Curve::kP256);
  EXPECT_EQ(set->Find("e1")->algorithm(), std::nullopt);
  EXPECT_EQ(set->Find("e2")->curve(), Curve::kP384);
  EXPECT_EQ(set->Find("o")->curve(), Curve::kEd25519);
  EXPECT_EQ(KeyTypeName(set->Find("o")->type()), "OKP");
  EXPECT_EQ(CurveName(set->Find("e2")->curve()), "P-384");
}

TEST(Jwk, KeysWithoutKidAreKeptButNotIndexed) {
  // A key without kid (or with an empty one) is usable, but no kid lookup returns it.
  auto set = ParseOk(JwksOf({testing::Rsa2048().Jwk(""), [] {
                               json::object jwk = testing::P256().Jwk("");
                               jwk["kid"] = "";
                               return jwk;
                             }()}));
  ASSERT_EQ(set->keys().size(), 2u);
  EXPECT_EQ(set->keys()[0].kid(), "");
  EXPECT_EQ(set->Find(""), nullptr);
}

TEST(Jwk, FitsBindsAlgorithmsToKeyTypes) {
  // RS*/PS* need RSA, ES256 P-256, ES384 P-384, EdDSA Ed25519; a JWK alg pins one algorithm.
  auto set = ParseOk(JwksOf({testing::Rsa2048().Jwk("r"), testing::Rsa2048().Jwk("ps", "PS256"),
                             testing::P256().Jwk("e256"), testing::P384().Jwk("e384"),
                             testing::Ed25519().Jwk("ed")}));
  const Key& r = *set->Find("r");
  EXPECT_TRUE(r.Fits(Algorithm::kRs256));
  EXPECT_TRUE(r.Fits(Algorithm::kPs512));
  EXPECT_FALSE(r.Fits(Algorithm::kEs256));
  EXPECT_FALSE(r.Fits(Algorithm::kEdDsa));
  EXPECT_TRUE(set->Find("ps")->Fits(Algorithm::kPs256));
  EXPECT_FALSE(set->Find("ps")->Fits(Algorithm::kRs256));
  EXPECT_FALSE(set->Find("ps")->Fits(Algorithm::kPs384));
  EXPECT_TRUE(set->Find("e256")->Fits(Algorithm::kEs256));
  EXPECT_FALSE(set->Find("e256")->Fits(Algorithm::kEs384));
  EXPECT_FALSE(set->Find("e384")->Fits(Algorithm::kEs256));
  EXPECT_TRUE(set->Find("ed")->Fits(Algorithm::kEdDsa));
  EXPECT_FALSE(set->Find("ed")->Fits(Algorithm::kEs256));
}

TEST(Jwk, IgnoresEncryptionKeys) {
  // use "enc" (and any use other than "sig") keeps a key out; use "sig" is fine.
  json::object enc = testing::Rsa2048().Jwk("k");
  enc["use"] = "enc";
  EXPECT_NE(IgnoredReason(enc).find("enc"), std::string::npos);
  json::object ec_enc = testing::P256().Jwk("k");
  ec_enc["use"] = "enc";
  EXPECT_NE(IgnoredReason(ec_enc).find("enc"), std::string::npos);
  json::object odd = testing::P256().Jwk("k");
  odd["use"] = "SIG";
  EXPECT_NE(IgnoredReason(odd).find("SIG"), std::string::npos);
  json::object sig = testing::P256().Jwk("k");
  sig["use"] = "sig";
  EXPECT_EQ(ParseOk(JwksOf({sig}))->keys().size(), 1u);
}

TEST(Jwk, IgnoresKeyOpsWithoutVerify) {
  // key_ops, when present, must be an array of strings that includes "verify".
  json::object sign_only = testing::Rsa2048().Jwk("k");
  sign_only["key_ops"] = json::array{"sign"};
  EXPECT_NE(IgnoredReason(sign_only).find("verify"), std::string::npos);
  json::object encrypt = testing::P256().Jwk("k");
  encrypt["key_ops"] = json::array{"encrypt", "wrapKey"};
  EXPECT_NE(IgnoredReason(encrypt).find("verify"), std::string::npos);
  json::object not_array = testing::P256().Jwk("k");
  not_array["key_ops"] = "verify";
  EXPECT_NE(IgnoredReason(not_array).find("not an array"), std::string::npos);
  json::object verify = testing::P256().Jwk("k");
  verify["key_ops"] = json::array{"verify"};
  EXPECT_EQ(ParseOk(JwksOf({verify}))->keys().size(), 1u);
}

TEST(Jwk, IgnoresShortRsaModuli) {
  // RSA-1024 and shorter moduli are below the 2048-bit floor.
  EXPECT_NE(IgnoredReason(testing::Rsa1024().Jwk("k")).find("1024 bits"), std::string::npos);
  EXPECT_NE(IgnoredReason(testing::Rsa1024().Jwk("k", "RS256")).find("fewer than 2048"),
            std::string::npos);
  json::object tiny = testing::Rsa2048().Jwk("k");
  tiny["n"] = Base64UrlEncode(std::string(128, '\xff'));
  EXPECT_NE(IgnoredReason(tiny).find("1024 bits"), std::string::npos);
  json::object huge = testing::Rsa2048().Jwk("k");
  huge["n"] = Base64UrlEncode(std::string(1100, '\xff'));
  EXPECT_NE(IgnoredReason(huge).find("more than 8192"), std::string::npos);
}

TEST(Jwk, IgnoresUnknownKeyTypesAndCurves) {
  // oct (HMAC secrets), unknown kty, and curves other than P-256, P-384 and Ed25519.
  EXPECT_NE(IgnoredReason({{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "h"}}).find("\"oct\""),
            std::string::npos);
  EXPECT_NE(IgnoredReason({{"kty", "DSA"}, {"kid", "d"}}).find("\"DSA\""), std::string::npos);
  EXPECT_NE(IgnoredReason({{"kid", "none"}}).find("missing \"kty\""), std::string::npos);
  json::object p521 = testing::P256().Jwk("k");
  p521["crv"] = "P-521";
  EXPECT_NE(IgnoredReason(p521).find("P-521"), std::string::npos);
  json::object secp256k1 = testing::P256().Jwk("k");
  secp256k1["crv"] = "secp256k1";
  EXPECT_NE(IgnoredReason(secp256k1).find("secp256k1"), std::string::npos);
  json::object x25519 = testing::Ed25519().Jwk("k");
  x25519["crv"] = "X25519";
  EXPECT_NE(IgnoredReason(x25519).find("X25519"), std::string::npos);
  json::object ed448 = testing::Ed25519().Jwk("k");
  ed448["crv"] = "Ed448";
  EXPECT_NE(IgnoredReason(ed448).find("Ed448"), std::string::npos);
  json::object ec_as_okp = testing::P256().Jwk("k");
  ec_as_okp["kty"] = "OKP";  // P-256 is not an OKP curve
  EXPECT_NE(IgnoredReason(ec_as_okp).find("P-256"), std::string::npos);
}

TEST(Jwk, RejectsPointsNotOnTheCurve) {
  // A flipped bit in y, x = y = 0, coordinates >= p, and wrong coordinate lengths.
  json::object flipped = testing::P256().Jwk("k");
  std::string y = *Base64UrlDecode(flipped["y"].as_string());
  y[31] ^= 1;
  flipped["y"] = Base64UrlEncode(y);
  EXPECT_NE(IgnoredReason(flipped).find("not on the curve"), std::string::npos);

  json::object zero = testing::P256().Jwk("k");
  zero["x"] = Base64UrlEncode(std::string(32, '\0'));
  zero["y"] = Base64UrlEncode(std::string(32, '\0'));
  EXPECT_NE(IgnoredReason(zero).find("not on the curve"), std::string::npos);

  json::object too_big = testing::P384().Jwk("k");
  too_big["x"] = Base64UrlEncode(std::string(48, '\xff'));
  EXPECT_NE(IgnoredReason(too_big).find("not on the curve"), std::string::npos);

  json::object short_x = testing::P256().Jwk("k");
  short_x["x"] = Base64UrlEncode(Base64UrlDecode(short_x["x"].as_string())->substr(1));
  EXPECT_NE(IgnoredReason(short_x).find("32 bytes"), std::string::npos);

  json::object p384_as_p256 = testing::P384().Jwk("k");
  p384_as_p256["crv"] = "P-256";
  EXPECT_NE(IgnoredReason(p384_as_p256).find("32 bytes"), std::string::npos);
}

TEST(Jwk, IgnoresMalformedMembers) {
  // Missing or non-string members, padded or non-base64url values, bad exponents, bad kids.
  json::object no_e = testing::Rsa2048().Jwk("k");
  no_e.erase("e");
  EXPECT_NE(IgnoredReason(no_e).find("missing \"e\""), std::string::npos);
  json::object n_number = testing::Rsa2048().Jwk("k");
  n_number["n"] = 12345;
  EXPECT_NE(IgnoredReason(n_number).find("not a string"), std::string::npos);
  json::object padded = testing::Rsa2048().Jwk("k");
  padded["e"] = "AQAB==";  // canonical is "AQAB"; padding is not base64url
  padded["n"] = std::string(padded["n"].as_string()) + "=";
  EXPECT_NE(IgnoredReason(padded).find("base64url"), std::string::npos);
  json::object std_alphabet = testing::P256().Jwk("k");
  std::string x(std_alphabet["x"].as_string());
  x[0] = '+';
  std_alphabet["x"] = x;
  EXPECT_NE(IgnoredReason(std_alphabet).find("base64url"), std::string::npos);
  json::object even_e = testing::Rsa2048().Jwk("k");
  even_e["e"] = Base64UrlEncode(std::string("\x01\x00\x00", 3));  // 65536
  EXPECT_NE(IgnoredReason(even_e).find("exponent"), std::string::npos);
  json::object kid_number = testing::P256().Jwk("");
  kid_number["kid"] = 7;
  EXPECT_NE(IgnoredReason(kid_number).find("kid"), std::string::npos);
  json::object ed_short = testing::Ed25519().Jwk("k");
  ed_short["x"] = Base64UrlEncode(std::string(31, 'a'));
  EXPECT_NE(IgnoredReason(ed_short).find("32 bytes"), std::string::npos);
  EXPECT_EQ(ParseOk(R"({"keys":[42,"x",null]})")->ignored().size(), 3u);
}

TEST(Jwk, IgnoresAlgorithmsThatDoNotFitOrAreUnsupported) {
  // A JWK alg must be a supported signature algorithm for the key's type.
  EXPECT_NE(IgnoredReason(testing::Rsa2048().Jwk("k", "RSA-OAEP")).find("RSA-OAEP"),
            std::string::npos);
  EXPECT_NE(IgnoredReason(testing::Rsa2048().Jwk("k", "HS256")).find("HS256"), std::string::npos);
  EXPECT_NE(IgnoredReason(testing::Rsa2048().Jwk("k", "ES256")).find("does not fit"),
            std::string::npos);
  EXPECT_NE(IgnoredReason(testing::P256().Jwk("k", "ES384")).find("does not fit"),
            std::string::npos);
  EXPECT_NE(IgnoredReason(testing::Ed25519().Jwk("k", "Ed25519")).find("Ed25519"),
            std::string::npos);
}

TEST(Jwk, IgnoresKeysWithPrivateMaterial) {
  // A published private key is compromised: "d" (or RSA CRT members) keeps the key out.
  json::object with_d = testing::P256().Jwk("k");
  with_d["d"] = Base64UrlEncode(std::string(32, '\x01'));
  EXPECT_NE(IgnoredReason(with_d).find("private"), std::string::npos);
  json::object with_p = testing::Rsa2048().Jwk("k");
  with_p["p"] = "AQAB";
  EXPECT_NE(IgnoredReason(with_p).find("private"), std::string::npos);
  json::object ed_d = testing::Ed25519().Jwk("k");
  ed_d["d"] = Base64UrlEncode(std::string(32, '\x02'));
  EXPECT_NE(IgnoredReason(ed_d).find("private"), std::string::npos);
}

TEST(Jwk, DuplicateKidsKeepTheFirstUsableKey) {
  // The first usable key with a kid wins; later ones are listed as ignored.
  json::object enc = testing::P384().Jwk("dup");
  enc["use"] = "enc";
  auto set = ParseOk(JwksOf({enc, testing::Rsa2048().Jwk("dup"), testing::P256().Jwk("dup"),
                             testing::Ed25519().Jwk("dup")}));
  ASSERT_EQ(set->keys().size(), 1u);
  EXPECT_EQ(set->Find("dup")->type(), KeyType::kRsa);
  ASSERT_EQ(set->ignored().size(), 3u);
  EXPECT_EQ(set->ignored()[0].index, 0u);
  EXPECT_EQ(set->ignored()[1].index, 2u);
  EXPECT_EQ(set->ignored()[1].kid, "dup");
  EXPECT_NE(set->ignored()[1].reason.find("duplicate"), std::string::npos);
}

TEST(Jwk, KidLookupIsExact) {
  // Path-like, SQL-like, huge, case-changed, prefixed and NUL-suffixed kids are just unknown.
  auto set = ParseOk(JwksOf({testing::P256().Jwk("key-1")}));
  EXPECT_NE(set->Find("key-1"), nullptr);
  EXPECT_EQ(set->Find("../../dev/null"), nullptr);
  EXPECT_EQ(set->Find("key-1' OR '1'='1"), nullptr);
  EXPECT_EQ(set->Find(std::string(10 * 1024, 'k')), nullptr);
  EXPECT_EQ(set->Find("KEY-1"), nullptr);
  EXPECT_EQ(set->Find("key-"), nullptr);
  EXPECT_EQ(set->Find("key-1 "), nullptr);
  EXPECT_EQ(set->Find(std::string_view("key-1\0", 6)), nullptr);
  EXPECT_EQ(set->Find(""), nullptr);
}

TEST(Jwk, RejectsUnusableDocuments) {
  // Not JSON, not an object, no keys array, duplicate members, too many keys, too large.
  EXPECT_FALSE(KeySet::Parse("not json"));
  EXPECT_FALSE(KeySet::Parse(R"([{"kty":"RSA"}])"));
  EXPECT_FALSE(KeySet::Parse(R"({"keyz":[]})"));
  EXPECT_FALSE(KeySet::Parse(R"({"keys":{}})"));
  EXPECT_FALSE(KeySet::Parse(R"({"keys":[],"keys":[]})"));
  EXPECT_FALSE(KeySet::Parse(R"({"keys":[{"kty":"EC","kty":"RSA"}]})"));
  std::string many = R"({"keys":[)";
  for (std::size_t i = 0; i <= kMaxJwksKeys; ++i) many += i ? ",{}" : "{}";
  many += "]}";
  auto too_many = KeySet::Parse(many);
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().find("keys"), std::string::npos);
  std::string large = R"({"keys":[],"pad":")" + std::string(kMaxJwksBytes, 'x') + "\"}";
  auto too_large = KeySet::Parse(large);
  ASSERT_FALSE(too_large);
  EXPECT_NE(too_large.error().find("bytes"), std::string::npos);
  EXPECT_TRUE(KeySet::Parse(R"({"keys":[]})"));
}

TEST(Jwk, UnknownMembersAreIgnored) {
  // x5c, x5t and other extra members do not stop a key from being usable.
  json::object jwk = testing::Rsa2048().Jwk("k", "RS256");
  jwk["x5c"] = json::array{"MIIB"};
  jwk["x5t"] = "abc";
  jwk["ext"] = true;
  EXPECT_EQ(ParseOk(JwksOf({jwk}))->keys().size(), 1u);
}

}  // namespace
}  // namespace ciap::jose
