// The signature check of a JWS: one OpenSSL verification with the digest, padding and encoding
// RFC 7518 prescribes for the algorithm. No JSON, no token structure: just bytes and a key.
#pragma once

#include <string_view>

#include "jose/algorithm.h"
#include "jose/jwk.h"

namespace ciap::jose {

// Whether `signature` is a valid `alg` signature by `key` over `signing_input` (the ASCII
// "header.payload" of the token). False whenever `key.Fits(alg)` is false.
//
// Encodings are checked exactly: RSA signatures are as long as the modulus; ECDSA signatures
// are raw R||S of exactly twice the curve size with r and s in [1, n-1] (so DER signatures and
// CVE-2022-21449-style zero values fail before OpenSSL sees them); Ed25519 signatures are 64
// bytes. PS* use MGF1 with the same digest and a salt as long as the digest.
//
// Thread-safe. Each thread keeps a few initialized OpenSSL contexts keyed on Key::serial(), so
// the steady state does no algorithm fetches and creates no contexts. A failed check leaves
// nothing on the thread's OpenSSL error queue.
bool VerifySignature(const Key& key, Algorithm alg, std::string_view signing_input,
                     std::string_view signature);

}  // namespace ciap::jose
