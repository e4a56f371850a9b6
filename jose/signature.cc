// JWS signature verification with OpenSSL 3; see signature.h.
//
// What it costs (measured on the project machine, RSA-2048, ~1 KB signing input): a fresh
// EVP_DigestVerifyInit per call adds 3-5 µs to a 14 µs verification, because OpenSSL 3.0
// fetches the signature and digest implementations (taking locks) and allocates a context each
// time. Here digests are fetched once per process, the signing input is hashed with a reused
// per-thread EVP_MD_CTX, and the hash is checked with EVP_PKEY_verify on a per-thread
// EVP_PKEY_CTX that was initialized (padding, digest, salt length) when the key was first used
// on that thread. Ed25519 has no EVP_PKEY_verify in OpenSSL 3.0, so its per-thread context is an
// EVP_MD_CTX re-armed with the cheap all-NULL EVP_DigestVerifyInit.
#include "jose/signature.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace ciap::jose {
namespace {

// Process-wide digest implementations, fetched once. Never freed: they live as long as libcrypto.
struct Digests {
  EVP_MD* sha256;
  EVP_MD* sha384;
  EVP_MD* sha512;
};

const Digests& GetDigests() {
  static const Digests digests = [] {
    Digests d{EVP_MD_fetch(nullptr, "SHA256", nullptr), EVP_MD_fetch(nullptr, "SHA384", nullptr),
              EVP_MD_fetch(nullptr, "SHA512", nullptr)};
    if (!d.sha256 || !d.sha384 || !d.sha512) std::abort();  // libcrypto without SHA-2: unusable
    return d;
  }();
  return digests;
}

const EVP_MD* DigestFor(Algorithm alg) {
  const Digests& d = GetDigests();
  switch (alg) {
    case Algorithm::kRs256:
    case Algorithm::kPs256:
    case Algorithm::kEs256:
      return d.sha256;
    case Algorithm::kRs384:
    case Algorithm::kPs384:
    case Algorithm::kEs384:
      return d.sha384;
    case Algorithm::kRs512:
    case Algorithm::kPs512:
      return d.sha512;
    case Algorithm::kEdDsa:
      return nullptr;  // Ed25519 hashes internally
  }
  return nullptr;
}

// RFC 8017 §9.2 note 1: the DER DigestInfo header that precedes the hash in an EMSA-PKCS1-v1_5
// encoded message, for RS256/384/512; empty for the other algorithms.
constexpr std::size_t kDigestInfoPrefixSize = 19;

std::string_view DigestInfoPrefix(Algorithm alg) {
  switch (alg) {
    case Algorithm::kRs256:
      return {"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20",
              kDigestInfoPrefixSize};
    case Algorithm::kRs384:
      return {"\x30\x41\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02\x05\x00\x04\x30",
              kDigestInfoPrefixSize};
    case Algorithm::kRs512:
      return {"\x30\x51\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03\x05\x00\x04\x40",
              kDigestInfoPrefixSize};
    default:
      return {};
  }
}

// The group order n of a curve, big-endian and padded to the field size (equal sizes for P-256
// and P-384), read from OpenSSL once rather than transcribed.
struct CurveOrder {
  std::array<unsigned char, 48> bytes{};
  std::size_t size = 0;
};

CurveOrder ReadOrder(int nid, std::size_t size) {
  CurveOrder order;
  order.size = size;
  EC_GROUP* group = EC_GROUP_new_by_curve_name(nid);
  if (group == nullptr || BN_bn2binpad(EC_GROUP_get0_order(group), order.bytes.data(),
                                       static_cast<int>(size)) != static_cast<int>(size)) {
    std::abort();  // libcrypto without the NIST curves: unusable
  }
  EC_GROUP_free(group);
  return order;
}

const CurveOrder& OrderFor(Curve curve) {
  static const CurveOrder p256 = ReadOrder(NID_X9_62_prime256v1, 32);
  static const CurveOrder p384 = ReadOrder(NID_secp384r1, 48);
  return curve == Curve::kP256 ? p256 : p384;
}

// 0 < value < order, for big-endian byte strings of equal length.
bool InOpenRange(const unsigned char* value, const CurveOrder& order) {
  bool zero = true;
  for (std::size_t i = 0; i < order.size; ++i) zero = zero && value[i] == 0;
  return !zero && std::memcmp(value, order.bytes.data(), order.size) < 0;
}

// Appends a DER INTEGER holding the unsigned big-endian `value`; returns the new end.
unsigned char* AppendDerInteger(unsigned char* out, const unsigned char* value, std::size_t size) {
  while (size > 1 && value[0] == 0) {  // minimal encoding
    ++value;
    --size;
  }
  const bool pad = (value[0] & 0x80) != 0;  // keep it positive
  *out++ = 0x02;
  *out++ = static_cast<unsigned char>(size + pad);
  if (pad) *out++ = 0x00;
  std::memcpy(out, value, size);
  return out + size;
}

// ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }. For P-384 the content is at most
// 2 * (2 + 49) = 102 bytes, so both lengths fit the one-byte short form.
std::size_t RawToDer(std::string_view raw, std::size_t half, unsigned char* der) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  unsigned char* end = AppendDerInteger(der + 2, bytes, half);
  end = AppendDerInteger(end, bytes + half, half);
  der[0] = 0x30;
  der[1] = static_cast<unsigned char>(end - der - 2);
  return static_cast<std::size_t>(end - der);
}

// One initialized verification context for one (key, algorithm) on one thread.
struct CachedContext {
  uint64_t serial = 0;  // Key::serial(); 0 = empty slot
  Algorithm alg = Algorithm::kRs256;
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // RSA and ECDSA
  EVP_MD_CTX* md_ctx = nullptr;      // Ed25519

  void Clear() {
    EVP_PKEY_CTX_free(pkey_ctx);
    EVP_MD_CTX_free(md_ctx);
    *this = CachedContext();
  }
};

// A handful of slots, replaced round-robin. A context holds a reference to its EVP_PKEY, so a
// key from a replaced KeySet stays alive until its slot is reused; with serials never reused a
// stale slot can never be mistaken for a new key.
class ContextCache {
 public:
  ContextCache() = default;
  ContextCache(const ContextCache&) = delete;
  ContextCache& operator=(const ContextCache&) = delete;
  ~ContextCache() {
    for (CachedContext& entry : entries_) entry.Clear();
    EVP_MD_CTX_free(digest_ctx_);
  }

  CachedContext* Find(uint64_t serial, Algorithm alg) {
    for (CachedContext& entry : entries_) {
      if (entry.serial == serial && entry.alg == alg) return &entry;
    }
    return nullptr;
  }

  CachedContext& Replace() {
    CachedContext& entry = entries_[next_];
    next_ = (next_ + 1) % entries_.size();
    entry.Clear();
    return entry;
  }

  EVP_MD_CTX* digest_ctx() {
    if (digest_ctx_ == nullptr) digest_ctx_ = EVP_MD_CTX_new();
    return digest_ctx_;
  }

 private:
  // Enough for every key of several providers in steady state.
  std::array<CachedContext, 16> entries_;
  std::size_t next_ = 0;
  EVP_MD_CTX* digest_ctx_ = nullptr;
};

ContextCache& ThreadCache() {
  thread_local ContextCache cache;
  return cache;
}

// Sets up an EVP_PKEY_verify context for RSA or ECDSA with `alg`'s parameters.
EVP_PKEY_CTX* NewPkeyContext(const Key& key, Algorithm alg) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key.pkey(), nullptr);
  if (ctx == nullptr) return nullptr;
  const EVP_MD* md = DigestFor(alg);
  bool ok = EVP_PKEY_verify_init(ctx) == 1;
  if (ok && key.type() == KeyType::kRsa) {
    if (IsPss(alg)) {
      ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1 &&
           // RFC 7518 §3.5: the salt is as long as the digest; the verify default would accept
           // any salt length.
           EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    } else {
      ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    }
  }
  // RS256/384/512 contexts get no digest: VerifyDigest hands them the whole DigestInfo.
  if (DigestInfoPrefix(alg).empty()) ok = ok && EVP_PKEY_CTX_set_signature_md(ctx, md) == 1;
  if (!ok) {
    EVP_PKEY_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

EVP_MD_CTX* NewEd25519Context(const Key& key) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key.pkey()) != 1) {
    EVP_MD_CTX_free(ctx);
    return nullptr;
  }
  return ctx;
}

CachedContext* GetContext(ContextCache& cache, const Key& key, Algorithm alg) {
  if (CachedContext* hit = cache.Find(key.serial(), alg)) return hit;
  CachedContext& entry = cache.Replace();
  if (alg == Algorithm::kEdDsa) {
    entry.md_ctx = NewEd25519Context(key);
    if (entry.md_ctx == nullptr) return nullptr;
  } else {
    entry.pkey_ctx = NewPkeyContext(key, alg);
    if (entry.pkey_ctx == nullptr) return nullptr;
  }
  entry.serial = key.serial();
  entry.alg = alg;
  return &entry;
}

// Hashes, then checks `der_or_raw` (PKCS#1/PSS bytes, or a DER ECDSA signature) on the cached
// EVP_PKEY_verify context.
//
// For RS256/384/512 what is checked is the DigestInfo header followed by the hash, against the
// message the signature's padding carries, byte for byte (as `openssl speed` does): with a
// digest set on the context, OpenSSL's RSA_verify would build the same bytes itself, but in
// two heap buffers per call.
bool VerifyDigest(ContextCache& cache, const Key& key, Algorithm alg,
                  std::string_view signing_input, const unsigned char* sig, std::size_t sig_len) {
  const std::string_view prefix = DigestInfoPrefix(alg);
  unsigned char message[kDigestInfoPrefixSize + EVP_MAX_MD_SIZE];
  std::copy(prefix.begin(), prefix.end(), message);  // (memcpy would be handed null when empty)
  unsigned int digest_len = 0;
  EVP_MD_CTX* md_ctx = cache.digest_ctx();
  if (md_ctx == nullptr || EVP_DigestInit_ex2(md_ctx, DigestFor(alg), nullptr) != 1 ||
      EVP_DigestUpdate(md_ctx, signing_input.data(), signing_input.size()) != 1 ||
      EVP_DigestFinal_ex(md_ctx, message + prefix.size(), &digest_len) != 1) {
    return false;
  }
  CachedContext* ctx = GetContext(cache, key, alg);
  return ctx != nullptr &&
         EVP_PKEY_verify(ctx->pkey_ctx, sig, sig_len, message, prefix.size() + digest_len) == 1;
}

bool VerifyUnchecked(const Key& key, Algorithm alg, std::string_view signing_input,
                     std::string_view signature) {
  ContextCache& cache = ThreadCache();
  const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
  switch (key.type()) {
    case KeyType::kRsa:
      // RFC 8017 §8.2.2: the signature is exactly as long as the modulus. OpenSSL would also
      // take shorter ones (leading zeros dropped): a second spelling of one signature.
      if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key.pkey()))) {
        return false;
      }
      return VerifyDigest(cache, key, alg, signing_input, sig, signature.size());
    case KeyType::kEc: {
      const CurveOrder& order = OrderFor(key.curve());
      if (signature.size() != 2 * order.size) return false;
      if (!InOpenRange(sig, order) || !InOpenRange(sig + order.size, order)) return false;
      unsigned char der[2 + 2 * (2 + 49)];
      const std::size_t der_len = RawToDer(signature, order.size, der);
      return VerifyDigest(cache, key, alg, signing_input, der, der_len);
    }
    case KeyType::kOkp: {
      if (signature.size() != 64) return false;
      CachedContext* ctx = GetContext(cache, key, alg);
      return ctx != nullptr &&
             EVP_DigestVerifyInit(ctx->md_ctx, nullptr, nullptr, nullptr, nullptr) == 1 &&
             EVP_DigestVerify(ctx->md_ctx, sig, signature.size(),
                              reinterpret_cast<const unsigned char*>(signing_input.data()),
                              signing_input.size()) == 1;
    }
  }
  return false;
}

}  // namespace

bool VerifySignature(const Key& key, Algorithm alg, std::string_view signing_input,
                     std::string_view signature) {
  if (!key.Fits(alg)) return false;  // cheap; keeps a caller's slip from reaching OpenSSL
  const bool ok = VerifyUnchecked(key, alg, signing_input, signature);
  // A failed verification leaves entries on this thread's error queue; nobody reads them, and
  // left alone they pile up (and cost) on every later failure.
  if (!ok) ERR_clear_error();
  return ok;
}

}  // namespace ciap::jose
