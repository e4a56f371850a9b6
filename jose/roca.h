// The ROCA fingerprint (CVE-2017-15361, Nemec et al., "Return of Coppersmith's Attack", CCS
// 2017): RSA keys made by Infineon's RSALib (TPMs, smart cards, YubiKey 4, 2012-2017) have
// primes of the form k*M + (65537^a mod M), M a primorial, from which the private key can be
// computed given only the modulus. Such moduli are recognisable from the modulus alone.
#pragma once

#include <openssl/types.h>

namespace ciap::jose {

// Whether the RSA modulus `n` (positive, a real key size) has the ROCA fingerprint: n mod M
// lies in the subgroup that 65537 generates modulo M = 3*5*7*...*167. That is always so for
// RSALib keys of any size, and for other moduli with probability about 2^-155.
bool HasRocaFingerprint(const BIGNUM* n);

}  // namespace ciap::jose
