// JWKS parsing into OpenSSL keys; see jwk.h.
//
// Keys are built from their raw members with EVP_PKEY_fromdata (no PEM/DER round trip, which is
// slow in OpenSSL 3.0) exactly once per JWKS document; verification then only reads them.
#include "jose/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <atomic>
#include <cstring>

#include "jose/base64url.h"
#include "jose/roca.h"
#include "jose/strict_json.h"

namespace ciap::jose {
namespace {

namespace json = boost::json;

struct BnDeleter {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamsDeleter {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

using KeyResult = std::expected<EvpPkeyPtr, std::string>;

std::atomic<uint64_t> next_key_serial{1};

// Builds an error message from pieces. (Not `"..." + std::string(x)`: GCC 12 warns falsely
// about that pattern with -Wrestrict.)
// A value from the document quoted in a reason, cut short: reasons are for people, and a JWKS
// may hold megabyte-long strings.
std::string_view Clip(std::string_view value) { return value.substr(0, 64); }

std::unexpected<std::string> Fail(std::initializer_list<std::string_view> parts) {
  std::string message;
  for (std::string_view part : parts) message += part;
  return std::unexpected(std::move(message));
}

bool TypeFits(KeyType type, Curve curve, Algorithm alg) {
  switch (alg) {
    case Algorithm::kRs256:
    case Algorithm::kRs384:
    case Algorithm::kRs512:
    case Algorithm::kPs256:
    case Algorithm::kPs384:
    case Algorithm::kPs512:
      return type == KeyType::kRsa;
    case Algorithm::kEs256:
      return type == KeyType::kEc && curve == Curve::kP256;
    case Algorithm::kEs384:
      return type == KeyType::kEc && curve == Curve::kP384;
    case Algorithm::kEdDsa:
      return type == KeyType::kOkp && curve == Curve::kEd25519;
  }
  return false;
}

// A JWK member that must be a base64url string: the decoded bytes, or why not.
std::expected<std::string, std::string> DecodeMember(const json::object& jwk,
                                                     std::string_view name) {
  const json::value* value = jwk.if_contains(name);
  if (value == nullptr) return Fail({"missing \"", name, "\""});
  const json::string* text = value->if_string();
  if (text == nullptr) return Fail({"\"", name, "\" is not a string"});
  std::optional<std::string> bytes = Base64UrlDecode(*text);
  if (!bytes || bytes->empty()) {
    return Fail({"\"", name, "\" is not non-empty strict base64url"});
  }
  return std::move(*bytes);
}

// Runs EVP_PKEY_fromdata for a public key of `type_name`; OpenSSL's error queue is cleared on
// failure because the caller reports its own reason.
KeyResult PublicKeyFromParams(const char* type_name, OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type_name, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    ERR_clear_error();
    return Fail({"OpenSSL rejected the key material"});
  }
  return EvpPkeyPtr(pkey);
}

KeyResult RsaKey(const json::object& jwk, int& bits) {
  auto n_bytes = DecodeMember(jwk, "n");
  if (!n_bytes) return std::unexpected(n_bytes.error());
  auto e_bytes = DecodeMember(jwk, "e");
  if (!e_bytes) return std::unexpected(e_bytes.error());
  // Leading zero octets are tolerated (RFC 7518 forbids them, but they change nothing).
  BnPtr n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n_bytes->data()),
                    static_cast<int>(n_bytes->size()), nullptr));
  BnPtr e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e_bytes->data()),
                    static_cast<int>(e_bytes->size()), nullptr));
  if (!n || !e) return Fail({"out of memory"});
  bits = BN_num_bits(n.get());
  if (bits < kMinRsaBits) {
    return Fail({"RSA modulus has ", std::to_string(bits), " bits, fewer than ",
                 std::to_string(kMinRsaBits)});
  }
  if (bits > kMaxRsaBits) {
    return Fail({"RSA modulus has ", std::to_string(bits), " bits, more than ",
                 std::to_string(kMaxRsaBits)});
  }
  if (!BN_is_odd(n.get())) return Fail({"RSA modulus is even"});
  // A key from Infineon's RSALib can be factored from n alone (a 2048-bit one in ~140 CPU-years,
  // within a funded attacker's reach); longer ones are refused as well, as CAs refuse them: the
  // generator is known to be weak, and the IdP can only fix it by making a new key.
  if (HasRocaFingerprint(n.get())) {
    return Fail(
        {"RSA modulus has the ROCA fingerprint (CVE-2017-15361): the key was made by a "
         "weak generator and its private key can be computed; the IdP must replace it"});
  }
  // An even or tiny exponent is no RSA key; OpenSSL also refuses exponents over 64 bits for
  // large moduli, so refuse them for all.
  if (!BN_is_odd(e.get()) || BN_num_bits(e.get()) < 2 || BN_num_bits(e.get()) > 64) {
    return Fail({"RSA exponent is not an odd number from 3 to 2^64"});
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    ERR_clear_error();
    return Fail({"out of memory"});
  }
  std::unique_ptr<OSSL_PARAM, ParamsDeleter> params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) {
    ERR_clear_error();
    return Fail({"out of memory"});
  }
  return PublicKeyFromParams("RSA", params.get());
}

KeyResult EcKey(const json::object& jwk, Curve curve) {
  const std::size_t field_bytes = curve == Curve::kP256 ? 32 : 48;
  auto x = DecodeMember(jwk, "x");
  if (!x) return std::unexpected(x.error());
  auto y = DecodeMember(jwk, "y");
  if (!y) return std::unexpected(y.error());
  // RFC 7518 §6.2.1.2: coordinates are exactly the field size, leading zeros included.
  if (x->size() != field_bytes || y->size() != field_bytes) {
    return Fail({"\"x\" and \"y\" must be ", std::to_string(field_bytes), " bytes"});
  }
  std::string point;  // SEC 1 uncompressed encoding
  point.reserve(1 + 2 * field_bytes);
  point += '\x04';
  point += *x;
  point += *y;
  char group[] = "prime256v1";
  char group384[] = "secp384r1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                       curve == Curve::kP256 ? group : group384, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end(),
  };
  KeyResult pkey = PublicKeyFromParams("EC", params);
  if (!pkey) return Fail({"EC point is not on the curve"});
  // fromdata already refuses most off-curve points; the explicit check also covers coordinates
  // not reduced modulo p and the point at infinity.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey->get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return Fail({"EC point is not on the curve"});
  }
  return pkey;
}

KeyResult Ed25519Key(const json::object& jwk) {
  auto x = DecodeMember(jwk, "x");
  if (!x) return std::unexpected(x.error());
  if (x->size() != 32) return Fail({"Ed25519 \"x\" must be 32 bytes"});
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, x->data(), x->size()),
      OSSL_PARAM_construct_end(),
  };
  return PublicKeyFromParams("ED25519", params);
}

// An optional string member: nullopt when absent, the error when present but not a string.
std::expected<std::optional<std::string_view>, std::string> OptionalString(const json::object& jwk,
                                                                           std::string_view name) {
  const json::value* value = jwk.if_contains(name);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) return Fail({"\"", name, "\" is not a string"});
  return std::string_view(value->get_string());
}

std::expected<Key, std::string> ParseKey(const json::object& jwk, std::string kid) {
  auto kty = OptionalString(jwk, "kty");
  if (!kty) return std::unexpected(kty.error());
  if (!*kty) return Fail({"missing \"kty\""});
  KeyType type;
  if (**kty == "RSA") {
    type = KeyType::kRsa;
  } else if (**kty == "EC") {
    type = KeyType::kEc;
  } else if (**kty == "OKP") {
    type = KeyType::kOkp;
  } else {
    return Fail({"kty \"", Clip(**kty), "\" is not supported"});
  }

  auto use = OptionalString(jwk, "use");
  if (!use) return std::unexpected(use.error());
  if (*use && **use != "sig") {
    return Fail({"use is \"", Clip(**use), "\", not \"sig\""});
  }

  if (const json::value* ops = jwk.if_contains("key_ops")) {
    const json::array* list = ops->if_array();
    if (list == nullptr) return Fail({"\"key_ops\" is not an array"});
    bool verify = false;
    for (const json::value& op : *list) {
      if (!op.is_string()) return Fail({"\"key_ops\" holds a non-string"});
      verify = verify || op.get_string() == "verify";
    }
    if (!verify) return Fail({"\"key_ops\" does not include \"verify\""});
  }

  // A published private key is a compromised key: anyone could mint tokens with it.
  for (const char* secret : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}) {
    if (jwk.contains(secret)) {
      return Fail({"holds private key material (\"", secret, "\")"});
    }
  }

  Curve curve = Curve::kNone;
  if (type != KeyType::kRsa) {
    auto crv = OptionalString(jwk, "crv");
    if (!crv) return std::unexpected(crv.error());
    if (!*crv) return Fail({"missing \"crv\""});
    if (type == KeyType::kEc && **crv == "P-256") {
      curve = Curve::kP256;
    } else if (type == KeyType::kEc && **crv == "P-384") {
      curve = Curve::kP384;
    } else if (type == KeyType::kOkp && **crv == "Ed25519") {
      curve = Curve::kEd25519;
    } else {
      return Fail({"crv \"", Clip(**crv), "\" is not supported for kty ", **kty});
    }
  }

  std::optional<Algorithm> algorithm;
  auto alg = OptionalString(jwk, "alg");
  if (!alg) return std::unexpected(alg.error());
  if (*alg) {
    algorithm = ParseAlgorithm(**alg);
    if (!algorithm) {
      return Fail({"alg \"", Clip(**alg), "\" is not a supported signature algorithm"});
    }
    if (!TypeFits(type, curve, *algorithm)) {
      return Fail({"alg \"", **alg, "\" does not fit this key type"});
    }
  }

  int bits = curve == Curve::kP384 ? 384 : 256;
  KeyResult pkey = type == KeyType::kRsa  ? RsaKey(jwk, bits)
                   : type == KeyType::kEc ? EcKey(jwk, curve)
                                          : Ed25519Key(jwk);
  if (!pkey) return std::unexpected(pkey.error());

  return Key(std::move(kid), type, curve, algorithm, bits, std::move(*pkey));
}

}  // namespace

void EvpPkeyDeleter::operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kRsa:
      return "RSA";
    case KeyType::kEc:
      return "EC";
    case KeyType::kOkp:
      return "OKP";
  }
  return "";
}

std::string_view CurveName(Curve curve) {
  switch (curve) {
    case Curve::kNone:
      return "";
    case Curve::kP256:
      return "P-256";
    case Curve::kP384:
      return "P-384";
    case Curve::kEd25519:
      return "Ed25519";
  }
  return "";
}

Key::Key(std::string kid, KeyType type, Curve curve, std::optional<Algorithm> algorithm, int bits,
         EvpPkeyPtr pkey)
    : kid_(std::move(kid)),
      type_(type),
      curve_(curve),
      algorithm_(algorithm),
      bits_(bits),
      pkey_(std::move(pkey)),
      serial_(next_key_serial.fetch_add(1, std::memory_order_relaxed)) {}

bool Key::Fits(Algorithm alg) const {
  return (!algorithm_ || *algorithm_ == alg) && TypeFits(type_, curve_, alg);
}

std::expected<std::shared_ptr<const KeySet>, std::string> KeySet::Parse(std::string_view jwks) {
  if (jwks.size() > kMaxJwksBytes) {
    return Fail({"JWKS is ", std::to_string(jwks.size()), " bytes, more than ",
                 std::to_string(kMaxJwksBytes)});
  }
  auto document = ParseStrictJsonObject(jwks);
  if (!document) {
    switch (document.error()) {
      case JsonError::kDuplicateMember:
        return Fail({"JWKS names a member twice in one object"});
      case JsonError::kNotObject:
        return Fail({"JWKS is not a JSON object"});
      default:
        return Fail({"JWKS is not valid JSON"});
    }
  }
  const json::value* keys = document->if_contains("keys");
  if (keys == nullptr || !keys->is_array()) {
    return Fail({"JWKS has no \"keys\" array"});
  }
  const json::array& list = keys->get_array();
  if (list.size() > kMaxJwksKeys) {
    return Fail({"JWKS has ", std::to_string(list.size()), " keys, more than ",
                 std::to_string(kMaxJwksKeys)});
  }

  auto set = std::make_shared<KeySet>();
  set->keys_.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json::object* jwk = list[i].if_object();
    if (jwk == nullptr) {
      set->ignored_.push_back({i, "", "not a JSON object"});
      continue;
    }
    std::string kid;
    if (const json::value* kid_value = jwk->if_contains("kid")) {
      if (!kid_value->is_string()) {
        set->ignored_.push_back({i, "", "\"kid\" is not a string"});
        continue;
      }
      kid = kid_value->get_string();
    }
    if (!kid.empty() && set->by_kid_.contains(kid)) {
      set->ignored_.push_back({i, kid, "duplicate kid; the first usable key with it is used"});
      continue;
    }
    auto key = ParseKey(*jwk, kid);
    if (!key) {
      set->ignored_.push_back({i, std::move(kid), std::move(key.error())});
      continue;
    }
    if (!kid.empty()) set->by_kid_.emplace(kid, set->keys_.size());
    set->keys_.push_back(std::move(*key));
  }
  return set;
}

const Key* KeySet::Find(std::string_view kid) const {
  if (kid.empty()) return nullptr;
  auto it = by_kid_.find(kid);
  return it == by_kid_.end() ? nullptr : &keys_[it->second];
}

}  // namespace ciap::jose
