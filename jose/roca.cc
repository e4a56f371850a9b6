// The ROCA fingerprint test; see roca.h.
//
// n lies in the subgroup <65537> modulo M = r_1*...*r_38 exactly when a single exponent x has
// 65537^x = n modulo every prime r. Per prime, n mod r must be some power 65537^d_r, with d_r
// fixed modulo the order o_r of 65537 mod r; a common x then exists iff the congruences
// x = d_r (mod o_r) have a common solution, which (Chinese remainder theorem for non-coprime
// moduli) holds iff every pair agrees modulo gcd(o_r, o_s). Checking only that each n mod r is
// some power of 65537 (the first public detector, roca-detect's "moduli" test) is much weaker:
// 65537 generates all of Z_r* for 21 of these primes, and unrelated moduli pass with probability
// about 2^-28, one key in 240 million; with the pairwise agreement it is about 2^-155 (the
// order of 65537 modulo M, ~2^61, over phi(M), ~2^216).
//
// All the work is on the 38 small residues n mod r: 38 BN_mod_word calls and ~700 comparisons
// of table entries, once per key import.
#include "jose/roca.h"

#include <openssl/bn.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <numeric>

namespace ciap::jose {
namespace {

constexpr unsigned kRocaGenerator = 65537;
// The odd primes of RSALib's smallest primorial M (the first 39 primes, used for 512-bit primes;
// larger primes use longer primorials, which these divide, so the test fits every key size).
// 2 is left out: an odd n is 1 = 65537^0 modulo 2, which tells nothing.
constexpr std::array<unsigned, 38> kRocaPrimes = {
    3,  5,  7,  11, 13, 17,  19,  23,  29,  31,  37,  41,  43,  47,  53,  59,  61,  67,  71,
    73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167};
constexpr unsigned kRocaLargestPrime = 167;
constexpr uint8_t kRocaNoLog = 0xff;  // orders are at most 166

struct RocaTables {
  // order[i]: the multiplicative order of 65537 modulo kRocaPrimes[i].
  std::array<uint8_t, kRocaPrimes.size()> order{};
  // log[i][x]: the d < order[i] with 65537^d = x modulo kRocaPrimes[i], or kRocaNoLog when x is
  // no power of 65537 (0 among them).
  std::array<std::array<uint8_t, kRocaLargestPrime>, kRocaPrimes.size()> log{};
};

constexpr RocaTables MakeRocaTables() {
  RocaTables tables;
  for (std::size_t i = 0; i < kRocaPrimes.size(); ++i) {
    const unsigned r = kRocaPrimes[i];
    tables.log[i].fill(kRocaNoLog);
    unsigned power = 1;  // 65537^d mod r
    uint8_t d = 0;
    do {
      tables.log[i][power] = d++;
      power = power * (kRocaGenerator % r) % r;
    } while (power != 1);
    tables.order[i] = d;
  }
  return tables;
}

constexpr RocaTables kRocaTables = MakeRocaTables();

// Spot checks worked out by hand: 65537 = 2^16 + 1 is 2 (a generator) mod 3, -1 mod 11, and
// 2^16 = 1 mod 17 makes it 2, of order 8, mod 17.
static_assert(kRocaTables.order[0] == 2 && kRocaTables.log[0][2] == 1);
static_assert(kRocaTables.order[3] == 2 && kRocaTables.log[3][10] == 1);
static_assert(kRocaTables.order[5] == 8 && kRocaTables.log[5][3] == kRocaNoLog);

}  // namespace

bool HasRocaFingerprint(const BIGNUM* n) {
  std::array<uint8_t, kRocaPrimes.size()> logs{};
  for (std::size_t i = 0; i < kRocaPrimes.size(); ++i) {
    // BN_mod_word returns (BN_ULONG)-1 on failure, which fails the range check.
    const BN_ULONG residue = BN_mod_word(n, kRocaPrimes[i]);
    if (residue >= kRocaPrimes[i]) return false;
    logs[i] = kRocaTables.log[i][residue];
    // Almost every ordinary modulus stops here within the first few primes.
    if (logs[i] == kRocaNoLog) return false;
  }
  for (std::size_t i = 0; i < kRocaPrimes.size(); ++i) {
    for (std::size_t j = i + 1; j < kRocaPrimes.size(); ++j) {
      const unsigned common = std::gcd(unsigned{kRocaTables.order[i]}, kRocaTables.order[j]);
      if (logs[i] % common != logs[j] % common) return false;
    }
  }
  return true;
}

}  // namespace ciap::jose
