// Compact JWS verification for JWT bearer tokens (RFC 7515, RFC 7519, RFC 8725).
//
// Verify() is the whole cryptographic gate: structure, header rules, key selection and the
// signature. It decides nothing about claims (see claims.h) and never fetches keys: an unknown
// kid is reported as such, and the caller decides whether to refresh the JWKS.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <expected>
#include <string>
#include <string_view>

#include "jose/algorithm.h"
#include "jose/jwk.h"
#include "jose/strict_json.h"

namespace ciap::jose {

// Checked before anything is decoded. Vendor tokens are 1-2 KB with ~100-byte headers.
inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;
inline constexpr std::size_t kMaxHeaderBytes = 4 * 1024;  // encoded
// A token without a kid is tried against at most this many keys that fit its alg, so a JWKS
// with many keys cannot multiply the cost of a forged token.
inline constexpr std::size_t kMaxKidlessCandidates = 3;

// Why a token was refused. The names are metric labels and log fields: a fixed set.
enum class TokenError {
  kTooLarge,         // token or header over its size cap
  kMalformed,        // not three segments, empty header or payload, JWS JSON serialization
  kBadBase64,        // a segment that is not strict unpadded base64url
  kBadJson,          // header or payload not a strict JSON object
  kDuplicateMember,  // a member name repeated in header or payload
  kBadHeader,        // alg missing, or kid/typ/cty/crit of the wrong type, or an empty crit
  kAlgNone,          // alg "none" in any spelling
  kAlgUnsupported,   // an alg ciap does not implement (HS256, ES512, "rs256", ...)
  kAlgNotAllowed,    // a supported alg outside the provider's allow-list
  kAlgKeyMismatch,   // the kid's key has another type, curve or JWK "alg"
  kUnknownKid,       // no key has this kid
  kNoMatchingKey,    // no kid, and no key fits the alg
  kCritUnsupported,  // crit names an extension (any: ciap understands none)
  kNestedJwt,        // cty JWT
  kBadSignature,     // signature wrong, wrongly encoded or of the wrong length
};

// "too_large", "malformed", "bad_base64", ...: stable snake_case names.
std::string_view TokenErrorName(TokenError error);

struct VerifiedToken {
  Algorithm alg;
  std::string kid;  // empty when the header has none
  std::string typ;  // empty when the header has none; its meaning is left to callers
  JsonDocument payload_document;

  // The claims set (a JSON object, duplicate-free, numbers finite).
  const boost::json::object& payload() const { return payload_document.object(); }
};

// Verifies a compact JWS `token` (without "Bearer ") against `keys`, accepting only algorithms in
// `allowed` that also fit the selected key. The header's jwk, jku, x5u and x5c are ignored; the
// payload is parsed only after the signature has been verified. Thread-safe; never throws.
std::expected<VerifiedToken, TokenError> Verify(std::string_view token, const KeySet& keys,
                                                AlgorithmSet allowed);

}  // namespace ciap::jose
