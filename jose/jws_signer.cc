// See jws_signer.h.
#include "jose/jws_signer.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>
#include <vector>

#include "jose/base64url.h"

namespace ciap::jose {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

const EVP_MD* Digest(Algorithm alg) {
  switch (alg) {
    case Algorithm::kRs256:
    case Algorithm::kPs256:
    case Algorithm::kEs256:
      return EVP_sha256();
    case Algorithm::kRs384:
    case Algorithm::kPs384:
    case Algorithm::kEs384:
      return EVP_sha384();
    case Algorithm::kRs512:
    case Algorithm::kPs512:
      return EVP_sha512();
    case Algorithm::kEdDsa:
      return nullptr;  // Ed25519 hashes internally
  }
  return nullptr;
}

bool IsRsa(Algorithm alg) { return alg <= Algorithm::kPs512; }

std::string BigNumParam(const EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return {};
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return Base64UrlEncode(bytes);
}

// JWS wants ECDSA signatures as R||S, each padded to the curve size; OpenSSL gives DER.
std::optional<std::string> EcdsaDerToRaw(const unsigned char* der, std::size_t size,
                                         std::size_t half) {
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(size));
  if (sig == nullptr) return std::nullopt;
  std::string raw(2 * half, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, static_cast<int>(half)) > 0 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + half, static_cast<int>(half)) > 0;
  ECDSA_SIG_free(sig);
  if (!ok) return std::nullopt;
  return raw;
}

}  // namespace

std::expected<JwsSigner, std::string> JwsSigner::Generate(Algorithm alg, std::string kid) {
  EVP_PKEY* key = nullptr;
  if (IsRsa(alg)) {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  } else if (alg == Algorithm::kEs256) {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  } else if (alg == Algorithm::kEs384) {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
  } else {
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  }
  if (key == nullptr) {
    return std::unexpected("cannot generate a key for " + std::string(AlgorithmName(alg)));
  }
  return JwsSigner(alg, std::move(kid), EvpPkeyPtr(key));
}

std::expected<std::string, std::string> JwsSigner::Sign(std::string_view payload) const {
  boost::json::object header{{"alg", AlgorithmName(alg_)}, {"typ", "JWT"}, {"kid", kid_}};
  std::string input = Base64UrlEncode(boost::json::serialize(header));
  input.push_back('.');
  input += Base64UrlEncode(payload);

  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, Digest(alg_), nullptr, key_.get()) != 1) {
    return std::unexpected("cannot start signing");
  }
  if (IsPss(alg_) && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) {
    return std::unexpected("cannot set RSA-PSS padding");
  }
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t size = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &size, data, input.size()) != 1) {
    return std::unexpected("cannot size the signature");
  }
  std::vector<unsigned char> signature(size);
  if (EVP_DigestSign(ctx.get(), signature.data(), &size, data, input.size()) != 1) {
    return std::unexpected("signing failed");
  }
  std::string encoded;
  if (alg_ == Algorithm::kEs256 || alg_ == Algorithm::kEs384) {
    auto raw = EcdsaDerToRaw(signature.data(), size, alg_ == Algorithm::kEs256 ? 32 : 48);
    if (!raw) return std::unexpected("cannot convert the ECDSA signature");
    encoded = Base64UrlEncode(*raw);
  } else {
    encoded =
        Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(signature.data()), size));
  }
  input.push_back('.');
  input += encoded;
  return input;
}

std::string JwsSigner::PublicJwks() const {
  return boost::json::serialize(boost::json::object{{"keys", boost::json::array{PublicJwk()}}});
}

std::expected<JwsSigner, std::string> JwsSigner::FromPem(std::string_view pem, std::string kid) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  // A callback that gives no passphrase: without one, OpenSSL would ask on the terminal and wait.
  auto no_passphrase = [](char*, int, int, void*) { return 0; };
  EVP_PKEY* raw =
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr;
  ERR_clear_error();
  if (raw == nullptr) return std::unexpected("not a PEM private key (or it is encrypted)");
  EvpPkeyPtr key(raw);
  std::optional<Algorithm> alg;
  if (EVP_PKEY_is_a(raw, "ED25519")) {
    alg = Algorithm::kEdDsa;
  } else if (EVP_PKEY_is_a(raw, "EC")) {
    char group[64] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(raw, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &length) == 1 &&
        std::string_view(group) == "prime256v1") {
      alg = Algorithm::kEs256;
    } else {
      return std::unexpected("an EC key must be on P-256 (ES256), this one is on " +
                             std::string(group));
    }
  } else if (EVP_PKEY_is_a(raw, "RSA")) {
    if (EVP_PKEY_get_bits(raw) < kMinRsaBits) {
      return std::unexpected("an RSA key needs at least 2048 bits, this one has " +
                             std::to_string(EVP_PKEY_get_bits(raw)));
    }
    alg = Algorithm::kRs256;
  } else {
    return std::unexpected("unsupported key type (EC P-256, Ed25519 or RSA)");
  }
  JwsSigner signer(*alg, std::move(kid), std::move(key));
  if (signer.kid_.empty()) signer.kid_ = signer.Thumbprint();
  return signer;
}

std::string JwsSigner::Thumbprint() const {
  boost::json::object jwk = PublicJwk();
  // RFC 7638 3.2: the required members only, in lexicographic order, no whitespace.
  std::vector<std::string_view> members;
  if (alg_ == Algorithm::kEdDsa) {
    members = {"crv", "kty", "x"};
  } else if (IsRsa(alg_)) {
    members = {"e", "kty", "n"};
  } else {
    members = {"crv", "kty", "x", "y"};
  }
  std::string canonical = "{";
  for (std::string_view name : members) {
    if (canonical.size() > 1) canonical.push_back(',');
    canonical += "\"" + std::string(name) + "\":" + boost::json::serialize(jwk.at(name));
  }
  canonical.push_back('}');
  unsigned char digest[32];
  unsigned int size = 0;
  EVP_Digest(canonical.data(), canonical.size(), digest, &size, EVP_sha256(), nullptr);
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), size));
}

boost::json::object JwsSigner::PublicJwk() const {
  boost::json::object jwk{{"kid", kid_}, {"alg", AlgorithmName(alg_)}, {"use", "sig"}};
  if (IsRsa(alg_)) {
    jwk["kty"] = "RSA";
    jwk["n"] = BigNumParam(key_.get(), OSSL_PKEY_PARAM_RSA_N);
    jwk["e"] = BigNumParam(key_.get(), OSSL_PKEY_PARAM_RSA_E);
  } else if (alg_ == Algorithm::kEdDsa) {
    unsigned char raw[32];
    std::size_t size = sizeof raw;
    EVP_PKEY_get_raw_public_key(key_.get(), raw, &size);
    jwk["kty"] = "OKP";
    jwk["crv"] = "Ed25519";
    jwk["x"] = Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(raw), size));
  } else {
    // Coordinates padded to the curve size, as RFC 7518 6.2.1.2 requires.
    const std::size_t half = alg_ == Algorithm::kEs256 ? 32 : 48;
    auto coordinate = [&](const char* name) {
      BIGNUM* bn = nullptr;
      EVP_PKEY_get_bn_param(key_.get(), name, &bn);
      std::string bytes(half, '\0');
      BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(half));
      BN_free(bn);
      return Base64UrlEncode(bytes);
    };
    jwk["kty"] = "EC";
    jwk["crv"] = alg_ == Algorithm::kEs256 ? "P-256" : "P-384";
    jwk["x"] = coordinate(OSSL_PKEY_PARAM_EC_PUB_X);
    jwk["y"] = coordinate(OSSL_PKEY_PARAM_EC_PUB_Y);
  }
  return jwk;
}

}  // namespace ciap::jose
