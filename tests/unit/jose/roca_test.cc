// The ROCA fingerprint (CVE-2017-15361): moduli built the way Infineon's RSALib built them are
// refused at JWKS import with a reason naming ROCA, and ordinary RSA keys are not.
//
// The weak moduli are made here, not stored: primes p = k*M + (65537^a mod M), M the product of
// the first 39 primes, as in the paper (Nemec et al., CCS 2017) for RSALib's 512-bit primes; a
// longer M (RSALib used 126 primes for 1024-bit primes) would change nothing for the test, which
// looks only at the primes up to 167. Finding two such 1024-bit primes takes about 0.1 s.
#include "jose/roca.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "jose/base64url.h"
#include "jose/jwk.h"
#include "tests/unit/jose/test_keys.h"

namespace ciap::jose {
namespace {

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;
struct BnCtxFree {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};

Bn NewBn(BN_ULONG value = 0) {
  Bn bn(BN_new());
  if (!bn || BN_set_word(bn.get(), value) != 1) std::abort();
  return bn;
}

bool IsSmallPrime(unsigned r) {
  if (r < 2) return false;
  for (unsigned d = 2; d * d <= r; ++d) {
    if (r % d == 0) return false;
  }
  return true;
}

// The product of the primes 2..167 (the first 39), worked out here rather than taken from
// roca.cc, optionally without one of them.
Bn Primorial167(unsigned without = 0) {
  Bn m = NewBn(1);
  for (unsigned r = 2; r <= 167; ++r) {
    if (IsSmallPrime(r) && r != without) BN_mul_word(m.get(), r);
  }
  return m;
}

// A 1024-bit prime of RSALib's form k*M + (65537^a mod M) for random a and k, with its top two
// bits set so that two of them multiply to exactly 2048 bits.
Bn RsalibPrime(const BIGNUM* m, BN_CTX* ctx) {
  Bn generator = NewBn(65537), a = NewBn(), offset = NewBn(), k = NewBn(), p = NewBn();
  for (;;) {
    if (BN_rand(a.get(), 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_mod_exp(offset.get(), generator.get(), a.get(), m, ctx) != 1 ||
        BN_rand(k.get(), 1024 - BN_num_bits(m) + 1, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_mul(p.get(), k.get(), m, ctx) != 1 || BN_add(p.get(), p.get(), offset.get()) != 1) {
      std::abort();
    }
    if (BN_num_bits(p.get()) != 1024 || !BN_is_bit_set(p.get(), 1022)) continue;
    if (BN_check_prime(p.get(), ctx, nullptr) == 1) return p;
  }
}

// A 2048-bit modulus with the ROCA structure, made once per process.
const BIGNUM* RocaModulus() {
  static const Bn n = [] {
    std::unique_ptr<BN_CTX, BnCtxFree> ctx(BN_CTX_new());
    Bn m = Primorial167();
    Bn p = RsalibPrime(m.get(), ctx.get()), q = RsalibPrime(m.get(), ctx.get()), n = NewBn();
    if (BN_mul(n.get(), p.get(), q.get(), ctx.get()) != 1) std::abort();
    return n;
  }();
  return n.get();
}

std::string Hex(const BIGNUM* n) {
  char* hex = BN_bn2hex(n);
  std::string out = hex != nullptr ? hex : "?";
  OPENSSL_free(hex);
  return out;
}

boost::json::object RsaJwk(std::string_view kid, const BIGNUM* n) {
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(n)), '\0');
  BN_bn2bin(n, reinterpret_cast<unsigned char*>(bytes.data()));
  return {{"kty", "RSA"}, {"kid", kid}, {"n", Base64UrlEncode(bytes)}, {"e", "AQAB"}};
}

std::shared_ptr<const KeySet> Parse(std::string_view jwks) {
  auto set = KeySet::Parse(jwks);
  EXPECT_TRUE(set) << (set ? "" : set.error());
  return set ? *set : std::make_shared<const KeySet>();
}

bool MentionsRoca(std::string_view reason) {
  return reason.find("ROCA") != std::string_view::npos &&
         reason.find("CVE-2017-15361") != std::string_view::npos;
}

// Whether n mod r is a power of 65537 modulo r, by walking the powers.
bool ResidueIsPowerOf65537(const BIGNUM* n, unsigned r) {
  const unsigned residue = static_cast<unsigned>(BN_mod_word(n, r));
  unsigned power = 1;
  do {
    if (power == residue) return true;
    power = power * (65537 % r) % r;
  } while (power != 1);
  return false;
}

Bn ModulusOf(EVP_PKEY* pkey) {
  BIGNUM* n = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1) std::abort();
  return Bn(n);
}

TEST(Roca, RsalibStyleModulusHasTheFingerprint) {
  const BIGNUM* n = RocaModulus();
  EXPECT_EQ(BN_num_bits(n), 2048);
  EXPECT_TRUE(HasRocaFingerprint(n)) << Hex(n);
}

TEST(Roca, KeyWithTheFingerprintIsIgnoredWithTheReason) {
  // Not for its size (2048 bits is allowed) but for its structure, and /jwks-status says so.
  auto set = Parse(testing::JwksOf({RsaJwk("infineon", RocaModulus())}));
  EXPECT_TRUE(set->keys().empty());
  ASSERT_EQ(set->ignored().size(), 1u);
  EXPECT_EQ(set->ignored()[0].kid, "infineon");
  EXPECT_TRUE(MentionsRoca(set->ignored()[0].reason)) << set->ignored()[0].reason;
  EXPECT_EQ(set->ignored()[0].reason.find("bits"), std::string::npos);
}

TEST(Roca, OrdinaryRsaKeysAreNotFlagged) {
  // The shared test keys (the 1024-bit one is refused for its size instead) and three fresh
  // ones: each a 2^-155 chance of a false positive. (Key generation takes ~0.2 s per key here,
  // hence not more.)
  std::vector<Bn> moduli;
  for (const auto* key : {&testing::Rsa2048(), &testing::Rsa2048Second(), &testing::Rsa1024()}) {
    moduli.push_back(ModulusOf(key->pkey()));
  }
  boost::json::array fresh;
  for (int i = 0; i < 3; ++i) {
    EVP_PKEY* pkey = EVP_RSA_gen(2048);
    ASSERT_NE(pkey, nullptr);
    moduli.push_back(ModulusOf(pkey));
    EVP_PKEY_free(pkey);
    fresh.push_back(RsaJwk("k" + std::to_string(i), moduli.back().get()));
  }
  for (const Bn& n : moduli) EXPECT_FALSE(HasRocaFingerprint(n.get())) << Hex(n.get());
  auto set = Parse(boost::json::serialize(boost::json::object{{"keys", fresh}}));
  EXPECT_EQ(set->keys().size(), 3u);
  EXPECT_TRUE(set->ignored().empty());
}

TEST(Roca, RandomOddModuliAreNotFlagged) {
  // An RSA modulus pq is, modulo each small prime r, as good as a random unit (p and q are), so
  // random odd numbers stand in for many more keys than could be generated here.
  Bn n = NewBn();
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(BN_rand(n.get(), 2048, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD), 1);
    ASSERT_FALSE(HasRocaFingerprint(n.get())) << Hex(n.get());
  }
}

TEST(Roca, MixedJwksKeepsTheGoodKey) {
  auto set = Parse(testing::JwksOf(
      {RsaJwk("infineon", RocaModulus()), testing::Rsa2048().Jwk("good", "RS256")}));
  ASSERT_EQ(set->keys().size(), 1u);
  EXPECT_NE(set->Find("good"), nullptr);
  EXPECT_EQ(set->Find("infineon"), nullptr);
  ASSERT_EQ(set->ignored().size(), 1u);
  EXPECT_EQ(set->ignored()[0].index, 0u);
  EXPECT_TRUE(MentionsRoca(set->ignored()[0].reason)) << set->ignored()[0].reason;
}

TEST(Roca, PowersOf65537WithoutACommonExponentAreNotFlagged) {
  // n' agrees with the ROCA modulus modulo every prime up to 167 but 11, where it is multiplied
  // by 65537 (= -1 mod 11): each n' mod r is still a power of 65537, the test of the first
  // public detector (2^-28 false positives), but the exponents mod 3 and mod 11 (65537 has
  // order 2 for both) now disagree, so no single power of 65537 is n' modulo M.
  const BIGNUM* n = RocaModulus();
  std::unique_ptr<BN_CTX, BnCtxFree> ctx(BN_CTX_new());
  // Adding 2*3*5*7*13*...*167 keeps n' odd and its residues modulo every prime but 11.
  Bn step = Primorial167(11), shifted = NewBn();
  const BN_ULONG target = BN_mod_word(n, 11) * 10 % 11;
  BN_copy(shifted.get(), n);
  while (BN_mod_word(shifted.get(), 11) != target) BN_add(shifted.get(), shifted.get(), step.get());
  ASSERT_EQ(BN_num_bits(shifted.get()), 2048);
  ASSERT_TRUE(BN_is_odd(shifted.get()));
  for (unsigned r = 3; r <= 167; ++r) {
    if (IsSmallPrime(r)) {
      EXPECT_TRUE(ResidueIsPowerOf65537(shifted.get(), r)) << r;
    }
  }
  EXPECT_FALSE(HasRocaFingerprint(shifted.get())) << Hex(shifted.get());
  auto set = Parse(testing::JwksOf({RsaJwk("k", shifted.get())}));
  EXPECT_EQ(set->keys().size(), 1u);
}

}  // namespace
}  // namespace ciap::jose
