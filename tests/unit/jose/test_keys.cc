// Test key generation, JWK export and signing; see test_keys.h.
#include "tests/unit/jose/test_keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <stdexcept>

#include "jose/base64url.h"

namespace ciap::jose::testing {
namespace {

namespace json = boost::json;

void Check(bool ok, const char* what) {
  if (!ok) {
    ERR_print_errors_fp(stderr);
    throw std::runtime_error(what);
  }
}

std::string BnBytes(EVP_PKEY* pkey, const char* name, int pad_to = 0) {
  BIGNUM* bn = nullptr;
  Check(EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, name);
  std::string out(pad_to ? pad_to : BN_num_bytes(bn), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

std::string B64(std::string_view bytes) { return Base64UrlEncode(bytes); }

const EVP_MD* DigestOf(std::string_view alg) {
  std::string_view bits = alg.substr(2);
  if (bits == "256") return EVP_sha256();
  if (bits == "384") return EVP_sha384();
  if (bits == "512") return EVP_sha512();
  throw std::runtime_error("no digest for alg");
}

std::string Hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

}  // namespace

TestKey::TestKey(TestKeyKind kind) : kind_(kind) {
  EVP_PKEY* pkey = nullptr;
  switch (kind) {
    case TestKeyKind::kRsa2048:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
      break;
    case TestKeyKind::kRsa1024:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
      break;
    case TestKeyKind::kP256:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case TestKeyKind::kP384:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case TestKeyKind::kEd25519:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  Check(pkey != nullptr, "keygen");
  pkey_.reset(pkey);
}

json::object TestKey::Jwk(std::string_view kid, std::string_view alg) const {
  json::object jwk;
  switch (kind_) {
    case TestKeyKind::kRsa2048:
    case TestKeyKind::kRsa1024:
      jwk["kty"] = "RSA";
      jwk["n"] = B64(BnBytes(pkey(), OSSL_PKEY_PARAM_RSA_N));
      jwk["e"] = B64(BnBytes(pkey(), OSSL_PKEY_PARAM_RSA_E));
      break;
    case TestKeyKind::kP256:
    case TestKeyKind::kP384: {
      const int size = kind_ == TestKeyKind::kP256 ? 32 : 48;
      jwk["kty"] = "EC";
      jwk["crv"] = kind_ == TestKeyKind::kP256 ? "P-256" : "P-384";
      jwk["x"] = B64(BnBytes(pkey(), OSSL_PKEY_PARAM_EC_PUB_X, size));
      jwk["y"] = B64(BnBytes(pkey(), OSSL_PKEY_PARAM_EC_PUB_Y, size));
      break;
    }
    case TestKeyKind::kEd25519: {
      unsigned char pub[32];
      size_t len = 0;
      Check(EVP_PKEY_get_octet_string_param(pkey(), OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub),
                                            &len) == 1,
            "ed25519 pub");
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = B64(std::string_view(reinterpret_cast<char*>(pub), len));
      break;
    }
  }
  if (!kid.empty()) jwk["kid"] = kid;
  if (!alg.empty()) jwk["alg"] = alg;
  return jwk;
}

std::string TestKey::SignPss(std::string_view alg, std::string_view input, int salt_length) const {
  return SignWith(alg, input, salt_length);
}

std::string TestKey::SignDer(std::string_view alg, std::string_view input) const {
  return SignWith(alg, input, RSA_PSS_SALTLEN_DIGEST);
}

std::string TestKey::SignWith(std::string_view alg, std::string_view input,
                              int pss_salt_length) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  const EVP_MD* md = alg == "EdDSA" ? nullptr : DigestOf(alg);
  Check(EVP_DigestSignInit(ctx, &pctx, md, nullptr, pkey()) == 1, "sign init");
  if (alg.starts_with("PS")) {
    Check(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_salt_length) == 1 &&
              EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1,
          "pss");
  } else if (alg.starts_with("RS")) {
    Check(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1, "pkcs1");
  }
  size_t len = 0;
  Check(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1,
        "sign size");
  std::string sig(len, '\0');
  Check(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1,
        "sign");
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

std::string TestKey::SignRawPkcs1(std::string_view encoded) const {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey(), nullptr);
  Check(ctx != nullptr && EVP_PKEY_sign_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1,
        "raw pkcs1 init");
  std::string sig(static_cast<std::size_t>(EVP_PKEY_get_size(pkey())), '\0');
  std::size_t len = sig.size();
  Check(EVP_PKEY_sign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                      reinterpret_cast<const unsigned char*>(encoded.data()), encoded.size()) == 1,
        "raw pkcs1 sign");
  sig.resize(len);
  EVP_PKEY_CTX_free(ctx);
  return sig;
}

std::string TestKey::Sign(std::string_view alg, std::string_view input) const {
  std::string sig = SignDer(alg, input);
  if (kind_ != TestKeyKind::kP256 && kind_ != TestKeyKind::kP384) return sig;
  const int size = kind_ == TestKeyKind::kP256 ? 32 : 48;
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size()));
  Check(ecdsa != nullptr, "d2i_ECDSA_SIG");
  std::string raw(2 * size, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), out, size);
  BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), out + size, size);
  ECDSA_SIG_free(ecdsa);
  return raw;
}

std::string TestKey::PublicDer() const {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey(), &der);
  Check(len > 0, "i2d_PUBKEY");
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

std::string TestKey::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_PUBKEY(bio, pkey()) == 1, "PEM_write_bio_PUBKEY");
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, len);
  BIO_free(bio);
  return out;
}

#define CIAP_TEST_KEY(Name, kind)   \
  const TestKey& Name() {           \
    static const TestKey key(kind); \
    return key;                     \
  }
CIAP_TEST_KEY(Rsa2048, TestKeyKind::kRsa2048)
CIAP_TEST_KEY(Rsa2048Second, TestKeyKind::kRsa2048)
CIAP_TEST_KEY(Rsa1024, TestKeyKind::kRsa1024)
CIAP_TEST_KEY(P256, TestKeyKind::kP256)
CIAP_TEST_KEY(P256Second, TestKeyKind::kP256)
CIAP_TEST_KEY(P384, TestKeyKind::kP384)
CIAP_TEST_KEY(Ed25519, TestKeyKind::kEd25519)
CIAP_TEST_KEY(Ed25519Second, TestKeyKind::kEd25519)
#undef CIAP_TEST_KEY

std::string JwksOf(std::initializer_list<json::object> jwks) {
  json::array keys;
  for (const json::object& jwk : jwks) keys.push_back(jwk);
  return json::serialize(json::object{{"keys", std::move(keys)}});
}

std::string SigningInput(std::string_view header_json, std::string_view payload_json) {
  return B64(header_json) + "." + B64(payload_json);
}

std::string SignedToken(std::string_view header_json, std::string_view payload_json,
                        const TestKey& key, std::string_view alg) {
  const std::string input = SigningInput(header_json, payload_json);
  return input + "." + B64(key.Sign(alg, input));
}

std::string HmacSha256(std::string_view secret, std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Check(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
             &len) != nullptr,
        "HMAC");
  return std::string(reinterpret_cast<char*>(mac), len);
}

std::string P256Order() {
  return Hex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
}

std::string P384Order() {
  return Hex(
      "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC5"
      "2973");
}

}  // namespace ciap::jose::testing
