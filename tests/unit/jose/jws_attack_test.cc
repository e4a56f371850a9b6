// The known token-validation attacks against Verify(): alg none, algorithm
// confusion, key injection through the header, hostile kids, and ECDSA signature forgery.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <boost/json/serialize.hpp>

#include "jose/jws.h"
#include "jose/signature.h"
#include "tests/unit/jose/jws_fixture.h"

namespace ciap::jose::testing {
namespace {

namespace json = boost::json;

// --- alg none ---------------------------------------------------------------------------------

TEST_F(JwsTest, AlgNoneInAnySpellingWithoutSignature) {
  // "none" in four spellings with the empty signature RFC 7519 §6.1 prescribes.
  for (std::string_view alg : {"none", "None", "NONE", "nOnE"}) {
    SCOPED_TRACE(alg);
    EXPECT_EQ(Check(SigningInput(Header(alg, "rsa"), kPayload) + "."), "alg_none");
    EXPECT_EQ(Check(SigningInput(R"({"alg":")" + std::string(alg) + "\"}", kPayload) + "."),
              "alg_none");
  }
}

TEST_F(JwsTest, AlgNoneInAnySpellingWithSignature) {
  // "none" with a real RSA signature over the same input, and with garbage signature bytes.
  for (std::string_view alg : {"none", "None", "NONE", "nOnE"}) {
    SCOPED_TRACE(alg);
    const std::string header = Header(alg, "rsa");
    const std::string input = SigningInput(header, kPayload);
    EXPECT_EQ(Check(WithSignature(header, kPayload, Rsa2048().Sign("RS256", input))), "alg_none");
    EXPECT_EQ(Check(WithSignature(header, kPayload, "garbage")), "alg_none");
  }
}

TEST_F(JwsTest, AlgNoneEvenWhenEverythingIsAllowed) {
  // No allow-list can admit none, and near-spellings are unsupported rather than none.
  EXPECT_EQ(Check(SigningInput(Header("none", "rsa"), kPayload) + ".", AlgorithmSet::All()),
            "alg_none");
  EXPECT_EQ(Check(SigningInput(Header("none ", "rsa"), kPayload) + "."), "alg_unsupported");
  EXPECT_EQ(Check(SigningInput(Header("", "rsa"), kPayload) + "."), "alg_unsupported");
}

// --- algorithm confusion ----------------------------------------------------------------------

// An HS256 token "signed" with `secret` as the HMAC key.
std::string Hs256Token(std::string_view alg, std::string_view kid, std::string_view secret) {
  const std::string header =
      R"({"alg":")" + std::string(alg) + R"(","kid":")" + std::string(kid) + R"(","typ":"JWT"})";
  const std::string input = SigningInput(header, kPayload);
  return input + "." + Base64UrlEncode(HmacSha256(secret, input));
}

TEST_F(JwsTest, Hs256WithRsaPublicKeyBytes) {
  // The RSA public key as PEM, DER, JWK JSON or raw modulus used as an HMAC secret.
  const std::string jwk = json::serialize(Rsa2048().Jwk("rsa"));
  const std::string modulus = *Base64UrlDecode(Rsa2048().Jwk("rsa")["n"].as_string());
  for (const std::string& secret : {Rsa2048().PublicPem(), Rsa2048().PublicDer(), jwk, modulus}) {
    EXPECT_EQ(Check(Hs256Token("HS256", "rsa", secret)), "alg_unsupported");
    EXPECT_EQ(Check(Hs256Token("HS256", "rsa-rs256", secret)), "alg_unsupported");
  }
}

TEST_F(JwsTest, HmacWithEcAndEdPublicKeyBytes) {
  // The same with EC and Ed25519 public keys, and with HS384/HS512.
  EXPECT_EQ(Check(Hs256Token("HS256", "ec256", P256().PublicPem())), "alg_unsupported");
  EXPECT_EQ(Check(Hs256Token("HS256", "ec384", P384().PublicDer())), "alg_unsupported");
  EXPECT_EQ(Check(Hs256Token("HS256", "ed", json::serialize(Ed25519().Jwk("ed")))),
            "alg_unsupported");
  EXPECT_EQ(Check(Hs256Token("HS384", "rsa", Rsa2048().PublicPem())), "alg_unsupported");
  EXPECT_EQ(Check(Hs256Token("HS512", "rsa", Rsa2048().PublicDer())), "alg_unsupported");
  EXPECT_EQ(Check(Hs256Token("HS256", "", Rsa2048().PublicPem())), "alg_unsupported");
}

TEST_F(JwsTest, RsaAlgorithmSwappedAgainstJwkAlg) {
  // RS256 against a key whose JWK says PS256, PS256 against RS256, and other family members.
  EXPECT_EQ(Check(Token(Rsa2048(), "RS256", "rsa-ps256")), "alg_key_mismatch");
  EXPECT_EQ(Check(Token(Rsa2048(), "PS256", "rsa-rs256")), "alg_key_mismatch");
  EXPECT_EQ(Check(Token(Rsa2048(), "RS512", "rsa-rs256")), "alg_key_mismatch");
  EXPECT_EQ(Check(Token(Rsa2048(), "PS384", "rsa-ps256")), "alg_key_mismatch");
  EXPECT_EQ(Check(Token(Rsa2048(), "PS256", "rsa-ps256")), "ok");
  EXPECT_EQ(Check(Token(Rsa2048(), "RS256", "rsa-rs256")), "ok");
}

TEST_F(JwsTest, AlgorithmMustFitTheKeyType) {
  // ES* against RSA and the wrong curve, RS* against EC, EdDSA against EC, ES256 against Ed25519.
  const std::string input = SigningInput(Header("ES256", "rsa"), kPayload);
  EXPECT_EQ(Check(WithSignature(Header("ES256", "rsa"), kPayload, P256().Sign("ES256", input))),
            "alg_key_mismatch");
  EXPECT_EQ(Check(Token(P384(), "ES384", "ec256")), "alg_key_mismatch");
  EXPECT_EQ(Check(Token(P256(), "ES256", "ec384")), "alg_key_mismatch");
  EXPECT_EQ(Check(Token(Rsa2048(), "RS256", "ec256")), "alg_key_mismatch");
  EXPECT_EQ(Check(Token(Ed25519(), "EdDSA", "ec256")), "alg_key_mismatch");
  EXPECT_EQ(Check(Token(P256(), "ES256", "ed")), "alg_key_mismatch");
  EXPECT_EQ(Check(Token(Rsa2048(), "PS256", "ed")), "alg_key_mismatch");
}

TEST_F(JwsTest, UnsupportedAlgorithms) {
  // ES512, lower-case names, Ed25519 (fully-specified), and JWE algorithms are unsupported.
  for (std::string_view alg : {"ES512", "rs256", "Rs256", "RS256 ", R"(EdDSA\n)", "Ed25519",
                               "RSA-OAEP", "dir", "ES256K"}) {
    SCOPED_TRACE(alg);
    EXPECT_EQ(Check(SigningInput(Header(alg, "rsa"), kPayload) + ".AAAA"), "alg_unsupported");
  }
}

// --- key injection through the header ---------------------------------------------------------

TEST_F(JwsTest, EmbeddedJwkIsNeverUsed) {
  // CVE-2018-0114: an attacker signs with their own key and embeds it as "jwk".
  for (std::string_view kid : {"", "rsa", "attacker"}) {
    SCOPED_TRACE(kid);
    json::object header{{"alg", "RS256"}, {"jwk", Rsa2048Second().Jwk("attacker")}};
    if (!kid.empty()) header["kid"] = kid;
    const std::string token =
        SignedToken(json::serialize(header), kPayload, Rsa2048Second(), "RS256");
    EXPECT_EQ(Check(token), kid == "attacker" ? "unknown_kid" : "bad_signature");
  }
  json::object ec_header{{"alg", "ES256"}, {"jwk", P256Second().Jwk("")}};
  EXPECT_EQ(Check(SignedToken(json::serialize(ec_header), kPayload, P256Second(), "ES256")),
            "bad_signature");
  json::object ed_header{{"alg", "EdDSA"}, {"kid", "ed"}, {"jwk", Ed25519Second().Jwk("ed")}};
  EXPECT_EQ(Check(SignedToken(json::serialize(ed_header), kPayload, Ed25519Second(), "EdDSA")),
            "bad_signature");
}

TEST_F(JwsTest, JkuX5uAndX5cAreNeverUsed) {
  // Key URLs and certificate chains in the header point at attacker keys; none is fetched or
  // parsed, so the attacker's signature fails against the provider's keys.
  const std::string attacker_der = Base64UrlEncode(Rsa2048Second().PublicDer());
  for (const std::string& extra :
       {std::string(R"("jku":"https://attacker.example/jwks.json")"),
        std::string(R"("x5u":"https://attacker.example/cert.pem")"),
        R"("x5c":[")" + attacker_der + R"("])",
        std::string(R"("jku":"file:///etc/passwd","x5u":"http://169.254.169.254/")")}) {
    SCOPED_TRACE(extra);
    EXPECT_EQ(Check(SignedToken(R"({"alg":"RS256","kid":"rsa",)" + extra + "}", kPayload,
                                Rsa2048Second(), "RS256")),
              "bad_signature");
    EXPECT_EQ(
        Check(SignedToken(R"({"alg":"RS256",)" + extra + "}", kPayload, Rsa2048Second(), "RS256")),
        "bad_signature");
  }
}

TEST_F(JwsTest, InjectedKeyMembersDoNotDisturbValidTokens) {
  // A token signed by the real key still verifies whatever jwk/jku/x5u/x5c it carries.
  json::object header{{"alg", "RS256"},
                      {"kid", "rsa"},
                      {"jwk", Rsa2048Second().Jwk("x")},
                      {"jku", "https://attacker.example/"},
                      {"x5u", "https://attacker.example/"},
                      {"x5c", json::array{"AAAA"}}};
  EXPECT_EQ(Check(SignedToken(json::serialize(header), kPayload, Rsa2048(), "RS256")), "ok");
  header["jwk"] = "not even an object";
  EXPECT_EQ(Check(SignedToken(json::serialize(header), kPayload, Rsa2048(), "RS256")), "ok");
  header.erase("kid");
  EXPECT_EQ(Check(SignedToken(json::serialize(header), kPayload, Rsa2048(), "RS256")), "ok");
}

// --- hostile kids -----------------------------------------------------------------------------

TEST_F(JwsTest, HostileKidsAreUnknownKids) {
  // Path traversal, SQL, shell, header injection, NUL, case and whitespace variants, 3 KB.
  for (const std::string& kid :
       {std::string("../../dev/null"), std::string("/dev/null"), std::string("rsa' OR '1'='1"),
        std::string("rsa; rm -rf /"), std::string("rsa\r\nX-Injected: 1"),
        std::string("rsa\\u0000"), std::string("RSA"), std::string(" rsa"), std::string("rs"),
        std::string("rsa-"), std::string(3000, 'k')}) {
    SCOPED_TRACE(kid.substr(0, 40));
    json::object header{{"alg", "RS256"}, {"kid", kid}};
    EXPECT_EQ(Check(SignedToken(json::serialize(header), kPayload, Rsa2048(), "RS256")),
              "unknown_kid");
  }
}

TEST_F(JwsTest, EmptyAndEscapedKids) {
  // An empty kid is not "no kid"; an escaped kid matches only after unescaping, exactly.
  EXPECT_EQ(Check(Token(Rsa2048(), "RS256", "")), "unknown_kid");
  EXPECT_EQ(Check(SignedToken(R"({"alg":"RS256","kid":"\u0072sa"})", kPayload, Rsa2048(), "RS256")),
            "ok");
  EXPECT_EQ(
      Check(SignedToken(R"({"alg":"RS256","kid":"rsa\u0000"})", kPayload, Rsa2048(), "RS256")),
      "unknown_kid");
}

// --- ECDSA ------------------------------------------------------------------------------------

// An ES256/ES384 token whose signature is `r || s` exactly as given.
std::string EcToken(std::string_view alg, std::string_view kid, std::string_view r,
                    std::string_view s) {
  return SigningInput(JwsTest::Header(alg, kid), kPayload) + "." +
         Base64UrlEncode(std::string(r) + std::string(s));
}

struct EcCase {
  std::string_view alg;
  std::string_view kid;
  const TestKey& (*key)();
  std::string (*order)();
  std::size_t size;
};
const EcCase kEcCases[] = {{"ES256", "ec256", P256, P256Order, 32},
                           {"ES384", "ec384", P384, P384Order, 48}};

TEST_F(JwsTest, EcdsaZeroValues) {
  // CVE-2022-21449 "psychic signatures": r = 0 and/or s = 0 never verify.
  for (const EcCase& c : kEcCases) {
    SCOPED_TRACE(c.alg);
    const std::string zero(c.size, '\0');
    const std::string good = *Base64UrlDecode(
        Token(c.key(), c.alg, c.kid).substr(Token(c.key(), c.alg, c.kid).rfind('.') + 1));
    const std::string r = good.substr(0, c.size), s = good.substr(c.size);
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, zero, zero)), "bad_signature");
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, zero, s)), "bad_signature");
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, r, zero)), "bad_signature");
  }
}

TEST_F(JwsTest, EcdsaValuesAtOrAboveTheOrder) {
  // r or s equal to n, n + 1, or all ones (> n) are out of range.
  for (const EcCase& c : kEcCases) {
    SCOPED_TRACE(c.alg);
    const std::string n = c.order();
    ASSERT_EQ(n.size(), c.size);
    std::string n_plus_1 = n;
    n_plus_1.back() = static_cast<char>(n_plus_1.back() + 1);  // n is odd: no carry
    const std::string ones(c.size, '\xff');
    const std::string token = Token(c.key(), c.alg, c.kid);
    const std::string good = *Base64UrlDecode(token.substr(token.rfind('.') + 1));
    const std::string r = good.substr(0, c.size), s = good.substr(c.size);
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, n, s)), "bad_signature");
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, r, n)), "bad_signature");
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, n, n)), "bad_signature");
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, n_plus_1, s)), "bad_signature");
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, ones, s)), "bad_signature");
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, r, ones)), "bad_signature");
    EXPECT_EQ(Check(EcToken(c.alg, c.kid, r, s)), "ok");
  }
}

TEST_F(JwsTest, EcdsaOrderConstantsMatchOpenSsl) {
  // The hand-written orders used above are the curves' real orders, and n - 1 is in range
  // (it reaches OpenSSL and is merely a wrong signature).
  for (const EcCase& c : kEcCases) {
    SCOPED_TRACE(c.alg);
    EC_GROUP* group =
        EC_GROUP_new_by_curve_name(c.size == 32 ? NID_X9_62_prime256v1 : NID_secp384r1);
    ASSERT_NE(group, nullptr);
    std::string order(c.size, '\0');
    BN_bn2binpad(EC_GROUP_get0_order(group), reinterpret_cast<unsigned char*>(order.data()),
                 static_cast<int>(c.size));
    EC_GROUP_free(group);
    EXPECT_EQ(order, c.order());
    std::string n_minus_1 = c.order();
    n_minus_1.back() = static_cast<char>(n_minus_1.back() - 1);
    const Key& key = *Keys().Find(c.kid);
    EXPECT_FALSE(VerifySignature(key, *ParseAlgorithm(c.alg), "x", n_minus_1 + n_minus_1));
  }
}

TEST_F(JwsTest, EcdsaDerAndWrongLengths) {
  // DER-encoded signatures, and raw signatures one byte short or long, or of the other curve.
  for (const EcCase& c : kEcCases) {
    SCOPED_TRACE(c.alg);
    const std::string header = Header(c.alg, c.kid);
    const std::string input = SigningInput(header, kPayload);
    const std::string der = c.key().SignDer(c.alg, input);
    ASSERT_EQ(der[0], '\x30');
    EXPECT_EQ(Check(WithSignature(header, kPayload, der)), "bad_signature");
    const std::string raw = c.key().Sign(c.alg, input);
    EXPECT_EQ(Check(WithSignature(header, kPayload, raw)), "ok");
    EXPECT_EQ(Check(WithSignature(header, kPayload, raw.substr(1))), "bad_signature");
    EXPECT_EQ(Check(WithSignature(header, kPayload, raw + '\0')), "bad_signature");
    EXPECT_EQ(Check(WithSignature(header, kPayload, '\0' + raw)), "bad_signature");
    EXPECT_EQ(Check(WithSignature(header, kPayload, raw + raw)), "bad_signature");
    EXPECT_EQ(Check(WithSignature(header, kPayload, "")), "bad_signature");
  }
}

// --- RSASSA-PKCS1-v1_5 encoding --------------------------------------------------------------

std::string Digest(const char* name, std::string_view input) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), out, &len, EVP_get_digestbyname(name), nullptr);
  return std::string(reinterpret_cast<const char*>(out), len);
}

TEST_F(JwsTest, Pkcs1EncodedMessageMustBeExactlyTheDigestInfo) {
  // The encoded message under the padding must be the SHA-2 DigestInfo of the token's alg
  // followed by the hash, byte for byte: not the bare hash, not the DigestInfo spelling without
  // NULL parameters, not with trailing bytes, not another digest's.
  const std::string sha256_info(
      "\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01"
      "\x05\x00\x04\x20",
      19);
  const std::string sha256_info_no_null(
      "\x30\x2f\x30\x0b\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x04\x20", 17);
  const std::string sha384_info(
      "\x30\x41\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02"
      "\x05\x00\x04\x30",
      19);
  const std::string header = Header("RS256", "rsa");
  const std::string input = SigningInput(header, kPayload);
  const std::string hash = Digest("SHA256", input);
  // The control: the exact encoding, signed raw, is a valid RS256 signature.
  EXPECT_EQ(Check(WithSignature(header, kPayload, Rsa2048().SignRawPkcs1(sha256_info + hash))),
            "ok");
  for (const std::string& encoded :
       {hash, sha256_info_no_null + hash, sha256_info + hash + '\0', '\0' + sha256_info + hash,
        sha256_info + hash.substr(1), sha384_info + Digest("SHA384", input),
        sha256_info + Digest("SHA256", input + "x")}) {
    EXPECT_EQ(Check(WithSignature(header, kPayload, Rsa2048().SignRawPkcs1(encoded))),
              "bad_signature");
  }
  // And the same SHA-384 encoding is accepted where it belongs, under RS384.
  const std::string header384 = Header("RS384", "rsa");
  const std::string input384 = SigningInput(header384, kPayload);
  EXPECT_EQ(Check(WithSignature(header384, kPayload,
                                Rsa2048().SignRawPkcs1(sha384_info + Digest("SHA384", input384)))),
            "ok");
}

}  // namespace
}  // namespace ciap::jose::testing
