// JwsSigner::FromPem: the key types it takes (EC P-256 → ES256, Ed25519 → EdDSA, RSA ≥ 2048 →
// RS256) and the ones it refuses without quoting the key; the RFC 7638 thumbprint that becomes
// the kid (the RFC's own example key, and an independent recomputation for every type); and
// signatures that the project's own verifier accepts against PublicJwks().
#include "jose/jws_signer.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "jose/base64url.h"
#include "jose/jws.h"
#include "tests/unit/jose/test_keys.h"

namespace ciap::jose::testing {
namespace {

// The private key as PEM: PKCS#8 ("BEGIN PRIVATE KEY"), or the traditional form of its type
// ("BEGIN EC PRIVATE KEY", "BEGIN RSA PRIVATE KEY").
std::string PrivatePem(EVP_PKEY* key, bool traditional = false) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  const int ok =
      traditional ? PEM_write_bio_PrivateKey_traditional(bio.get(), key, nullptr, nullptr, 0,
                                                         nullptr, nullptr)
                  : PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  EXPECT_EQ(ok, 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// RFC 7638 computed here, apart from the code under test: the required members of `jwk` in
// lexicographic order, no whitespace, SHA-256, base64url.
std::string IndependentThumbprint(const boost::json::object& jwk) {
  std::vector<std::string> members;
  const std::string kty(jwk.at("kty").as_string());
  if (kty == "RSA") {
    members = {"e", "kty", "n"};
  } else if (kty == "EC") {
    members = {"crv", "kty", "x", "y"};
  } else {
    members = {"crv", "kty", "x"};
  }
  std::string canonical = "{";
  for (const std::string& name : members) {
    if (canonical.size() > 1) canonical += ",";
    canonical += "\"" + name + "\":\"" + std::string(jwk.at(name).as_string()) + "\"";
  }
  canonical += "}";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(canonical.data(), canonical.size(), digest, &size, EVP_sha256(), nullptr),
            1);
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), size));
}

// The RFC 7517 appendix A.2 RSA private key, whose public part is the RFC 7638 section 3.1
// example (thumbprint NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs).
constexpr const char* kRfcRsa[][2] = {
    {OSSL_PKEY_PARAM_RSA_N,
     "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
     "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
     "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
     "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"},
    {OSSL_PKEY_PARAM_RSA_E, "AQAB"},
    {OSSL_PKEY_PARAM_RSA_D,
     "X4cTteJY_gn4FYPsXB8rdXix5vwsg1FLN5E3EaG6RJoVH-HLLKD9M7dx5oo7GURknchnrRweUkC7hT5fJLM0WbFAKNLW"
     "Y2vv7B6NqXSzUvxT0_YSfqijwp3RTzlBaCxWp4doFk5N2o8Gy_nHNKroADIkJ46pRUohsXywbReAdYaMwFs9tv8d_cPV"
     "Y3i07a3t8MN6TNwm0dSawm9v47UiCl3Sk5ZiG7xojPLu4sbg1U2jx4IBTNBznbJSzFHK66jT8bgkuqsk0GjskDJk19Z4"
     "qwjwbsnn4j2WBii3RL-Us2lGVkY8fkFzme1z0HbIkfz0Y6mqnOYtqc0X4jfcKoAC8Q"},
    {OSSL_PKEY_PARAM_RSA_FACTOR1,
     "83i-7IvMGXoMXCskv73TKr8637FiO7Z27zv8oj6pbWUQyLPQBQxtPVnwD20R-60eTDmD2ujnMt5PoqMrm8RfmNhVWDtj"
     "jMmCMjOpSXicFHj7XOuVIYQyqVWlWEh6dN36GVZYk93N8Bc9vY41xy8B9RzzOGVQzXvNEvn7O0nVbfs"},
    {OSSL_PKEY_PARAM_RSA_FACTOR2,
     "3dfOR9cuYq-0S-mkFLzgItgMEfFzB2q3hWehMuG0oCuqnb3vobLyumqjVZQO1dIrdwgTnCdpYzBcOfW5r370AFXjiWft"
     "_NGEiovonizhKpo9VVS78TzFgxkIdrecRezsZ-1kYd_s1qDbxtkDEgfAITAG9LUnADun4vIcb6yelxk"},
    {OSSL_PKEY_PARAM_RSA_EXPONENT1,
     "G4sPXkc6Ya9y8oJW9_ILj4xuppu0lzi_H7VTkS8xj5SdX3coE0oimYwxIi2emTAue0UOa5dpgFGyBJ4c8tQ2VF402XRu"
     "gKDTP8akYhFo5tAA77Qe_NmtuYZc3C3m3I24G2GvR5sSDxUyAN2zq8Lfn9EUms6rY3Ob8YeiKkTiBj0"},
    {OSSL_PKEY_PARAM_RSA_EXPONENT2,
     "s9lAH9fggBsoFR8Oac2R_E2gw282rT2kGOAhvIllETE1efrA6huUUvMfBcMpn8lqeW6vzznYY5SSQF7pMdC_agI3nG8I"
     "bp1BUb0JUiraRNqUfLhcQb_d9GF4Dh7e74WbRsobRonujTYN1xCaP6TO61jvWrX-L18txXw494Q_cgk"},
    {OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
     "GyM_p6JrXySiz1toFgKbWV-JdI3jQ4ypu9rbMWx3rQJBfmt0FoYzgUIZEVFEcOqwemRN81zoDAaa-Bk0KWNGDjJHZDdD"
     "mFhW3AN7lI-puxk_mHZGJ11rxyR8O55XLSe3SPmRfKwZI6yU24ZxvQKFYItdldUKGzO6Ia6zTKhAVRU"},
};

// The RFC's RSA key as an EVP_PKEY built from its JWK members.
EvpPkeyPtr RfcRsaKey() {
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> build(OSSL_PARAM_BLD_new(),
                                                                        &OSSL_PARAM_BLD_free);
  std::vector<std::unique_ptr<BIGNUM, decltype(&BN_free)>> numbers;
  for (const auto& [name, value] : kRfcRsa) {
    std::optional<std::string> bytes = Base64UrlDecode(value);
    EXPECT_TRUE(bytes.has_value()) << name;
    numbers.emplace_back(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes->data()),
                                   static_cast<int>(bytes->size()), nullptr),
                         &BN_free);
    EXPECT_EQ(OSSL_PARAM_BLD_push_BN(build.get(), name, numbers.back().get()), 1);
  }
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build.get());
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), &EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  EXPECT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
  EXPECT_EQ(EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEYPAIR, params), 1);
  OSSL_PARAM_free(params);
  return EvpPkeyPtr(key);
}

// Signs a payload with `signer` and verifies it with the project's verifier against the
// signer's own published JWKS; "ok" or why not.
std::string SignAndVerify(const JwsSigner& signer) {
  const std::string payload = R"({"iss":"https://ciap.test","sub":"pipeline:a","n":1})";
  auto token = signer.Sign(payload);
  if (!token) return "sign: " + token.error();
  auto keys = KeySet::Parse(signer.PublicJwks());
  if (!keys) return "jwks: " + keys.error();
  if ((*keys)->keys().size() != 1) return "jwks holds " + std::to_string((*keys)->keys().size());
  auto verified = Verify(*token, **keys, AlgorithmSet{signer.algorithm()});
  if (!verified) return std::string(TokenErrorName(verified.error()));
  if (verified->kid != signer.kid()) return "kid " + verified->kid;
  if (verified->typ != "JWT") return "typ " + verified->typ;
  if (verified->alg != signer.algorithm()) return "alg";
  if (boost::json::serialize(verified->payload()) != payload) return "payload changed";
  return "ok";
}

struct KeyCase {
  const TestKey& (*key)();
  Algorithm alg;
  std::string_view kty;
};

TEST(JwsSignerFromPemTest, TakesP256Ed25519AndRsa2048) {
  const KeyCase cases[] = {{P256, Algorithm::kEs256, "EC"},
                           {Ed25519, Algorithm::kEdDsa, "OKP"},
                           {Rsa2048, Algorithm::kRs256, "RSA"}};
  for (const KeyCase& c : cases) {
    SCOPED_TRACE(std::string(c.kty));
    for (bool traditional : {false, true}) {
      if (traditional && c.alg == Algorithm::kEdDsa) continue;  // Ed25519 has only PKCS#8
      auto signer = JwsSigner::FromPem(PrivatePem(c.key().pkey(), traditional));
      ASSERT_TRUE(signer) << signer.error();
      EXPECT_EQ(signer->algorithm(), c.alg);
      boost::json::object jwk = signer->PublicJwk();
      EXPECT_EQ(jwk.at("kty").as_string(), c.kty);
      EXPECT_EQ(jwk.at("alg").as_string(), AlgorithmName(c.alg));
      EXPECT_EQ(jwk.at("use").as_string(), "sig");
      EXPECT_EQ(jwk.at("kid").as_string(), signer->kid());
      // The same public key the test key exports itself.
      boost::json::object expected = c.key().Jwk("");
      for (const char* member : {"n", "e", "x", "y", "crv"}) {
        if (expected.contains(member)) {
          EXPECT_EQ(jwk.at(member), expected.at(member)) << member;
        }
      }
      EXPECT_EQ(SignAndVerify(*signer), "ok");
    }
  }
}

TEST(JwsSignerFromPemTest, GivenKidIsKept) {
  auto signer = JwsSigner::FromPem(PrivatePem(P256().pkey()), "assertions-2025");
  ASSERT_TRUE(signer) << signer.error();
  EXPECT_EQ(signer->kid(), "assertions-2025");
  EXPECT_EQ(signer->PublicJwk().at("kid").as_string(), "assertions-2025");
  EXPECT_NE(signer->Thumbprint(), "assertions-2025");
  EXPECT_EQ(SignAndVerify(*signer), "ok");
}

TEST(JwsSignerFromPemTest, RefusesOtherKeysWithoutQuotingThem) {
  const std::string p384 = PrivatePem(P384().pkey());
  const std::string rsa1024 = PrivatePem(Rsa1024().pkey());
  struct Refused {
    std::string pem;
    std::string message;
  };
  const Refused cases[] = {
      {p384, "an EC key must be on P-256 (ES256), this one is on secp384r1"},
      {rsa1024, "an RSA key needs at least 2048 bits, this one has 1024"},
      {"garbage", "not a PEM private key (or it is encrypted)"},
      {"", "not a PEM private key (or it is encrypted)"},
      {P256().PublicPem(), "not a PEM private key (or it is encrypted)"},
      // A PEM block whose body is cut short.
      {p384.substr(0, p384.size() / 2), "not a PEM private key (or it is encrypted)"},
  };
  for (const Refused& c : cases) {
    auto signer = JwsSigner::FromPem(c.pem);
    ASSERT_FALSE(signer) << c.message;
    EXPECT_EQ(signer.error(), c.message);
    EXPECT_EQ(signer.error().find("BEGIN"), std::string::npos);
    EXPECT_EQ(signer.error().find("MII"), std::string::npos) << "no base64 of the key";
  }
}

// `pem` encrypted with a passphrase (PKCS#8, AES-128-CBC).
std::string EncryptedPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  char passphrase[] = "secret";
  EXPECT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_128_cbc(), passphrase, 6, nullptr,
                                          nullptr),
            1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// Runs FromPem(pem) in a child process whose controlling terminal is a pseudo-terminal, as
// when ciap is started from a shell: what the child wrote to the terminal, then "refused",
// "loaded", or "blocked" when it had not finished after two seconds (it is killed then).
std::string FromPemOnATerminal(const std::string& pem) {
  int terminal = -1;
  const pid_t pid = forkpty(&terminal, nullptr, nullptr, nullptr);
  if (pid < 0) return "forkpty failed";
  if (pid == 0) _exit(JwsSigner::FromPem(pem) ? 1 : 0);
  std::string output;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      close(terminal);
      return output + "blocked";
    }
    pollfd fd{terminal, POLLIN, 0};
    char buffer[256];
    if (poll(&fd, 1, 50) > 0) {
      const ssize_t n = read(terminal, buffer, sizeof buffer);
      if (n > 0) output.append(buffer, static_cast<std::size_t>(n));
    }
  }
  close(terminal);
  if (!WIFEXITED(status)) return output + "crashed";
  return output + (WEXITSTATUS(status) == 0 ? "refused" : "loaded");
}

// Without a passphrase callback of its own, OpenSSL's default one asks for a passphrase on the
// controlling terminal ("Enter PEM pass phrase:") and waits: ciap started from a shell with an
// encrypted assertion key or GitHub App key would block the thread that reads it (a worker
// re-reading a rotated signing key, the main loop minting a GitHub App token). It must refuse
// the key at once instead.
TEST(JwsSignerFromPemTest, EncryptedKeyIsRefusedWithoutAskingForAPassphrase) {
  EXPECT_EQ(FromPemOnATerminal(PrivatePem(P256().pkey())), "loaded");
  EXPECT_EQ(FromPemOnATerminal(EncryptedPem(P256().pkey())), "refused");
}

TEST(JwsSignerThumbprintTest, RfcExampleKeyGetsTheRfcThumbprint) {
  EvpPkeyPtr key = RfcRsaKey();
  ASSERT_NE(key, nullptr);
  const std::string pem = PrivatePem(key.get());
  auto signer = JwsSigner::FromPem(pem);
  ASSERT_TRUE(signer) << signer.error();
  EXPECT_EQ(signer->algorithm(), Algorithm::kRs256);
  EXPECT_EQ(signer->Thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_EQ(signer->kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_EQ(signer->PublicJwk().at("n").as_string(), kRfcRsa[0][1]);
  EXPECT_EQ(signer->PublicJwk().at("e").as_string(), "AQAB");
  // The recomputation the other key types are checked with gets the RFC's answer too.
  EXPECT_EQ(IndependentThumbprint(signer->PublicJwk()),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_EQ(SignAndVerify(*signer), "ok");
}

TEST(JwsSignerThumbprintTest, KidIsTheThumbprintAndStableAcrossLoads) {
  const TestKey& (*keys[])() = {P256, P256Second, Ed25519, Ed25519Second, Rsa2048};
  std::vector<std::string> kids;
  for (auto key : keys) {
    const std::string pem = PrivatePem(key().pkey());
    auto first = JwsSigner::FromPem(pem);
    auto second = JwsSigner::FromPem(pem);
    ASSERT_TRUE(first) << first.error();
    ASSERT_TRUE(second) << second.error();
    SCOPED_TRACE(std::string(AlgorithmName(first->algorithm())));
    EXPECT_EQ(first->kid(), IndependentThumbprint(first->PublicJwk()));
    EXPECT_EQ(first->Thumbprint(), first->kid());
    EXPECT_EQ(first->kid().size(), 43u) << "base64url of 32 bytes";
    EXPECT_EQ(second->kid(), first->kid()) << "the same file, the same kid";
    // The traditional encoding of the same key is the same key.
    if (first->algorithm() != Algorithm::kEdDsa) {
      auto traditional = JwsSigner::FromPem(PrivatePem(key().pkey(), true));
      ASSERT_TRUE(traditional) << traditional.error();
      EXPECT_EQ(traditional->kid(), first->kid());
    }
    kids.push_back(first->kid());
  }
  for (std::size_t i = 0; i < kids.size(); ++i) {
    for (std::size_t j = i + 1; j < kids.size(); ++j) EXPECT_NE(kids[i], kids[j]) << i << j;
  }
}

TEST(JwsSignerThumbprintTest, SignaturesOfAnotherKeyDoNotVerify) {
  auto signer = JwsSigner::FromPem(PrivatePem(P256().pkey()));
  auto other = JwsSigner::FromPem(PrivatePem(P256Second().pkey()), signer->kid());
  ASSERT_TRUE(signer && other);
  auto token = other->Sign(R"({"sub":"x"})");
  ASSERT_TRUE(token) << token.error();
  auto keys = KeySet::Parse(signer->PublicJwks());
  ASSERT_TRUE(keys) << keys.error();
  auto verified = Verify(*token, **keys, AlgorithmSet::All());
  ASSERT_FALSE(verified);
  EXPECT_EQ(verified.error(), TokenError::kBadSignature);
}

}  // namespace
}  // namespace ciap::jose::testing
