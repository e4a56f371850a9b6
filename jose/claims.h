// Validation of the registered JWT claims (RFC 7519 §4.1) of a verified token: who issued it,
// for whom, and when it is valid. Claims with another JSON type than the RFC's are errors, never
// coerced ("exp": "1767225900" is not a time).
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <expected>
#include <span>
#include <string>
#include <string_view>

namespace ciap::jose {

// What a provider accepts, plus the current time. Views only, so that a policy can be put
// together per request from a long-lived config without copying; the config must outlive it.
struct ClaimsPolicy {
  std::string_view issuer;                 // exact, byte-for-byte match of "iss"
  std::span<const std::string> audiences;  // "aud" must name one of these; empty accepts none
  std::chrono::seconds clock_skew{60};     // tolerance for exp, nbf and iat
  std::chrono::seconds max_token_lifetime{std::chrono::hours(24)};
  std::chrono::system_clock::time_point now;
};

// Why the claims were refused. Names are metric labels: a fixed set.
enum class ClaimError {
  kMissingExp,       // no "exp"
  kBadClaimType,     // exp/nbf/iat not a number, iss not a string, aud not string or strings
  kBadClaimValue,    // a time that is negative or beyond year 9999 (e.g. 1e300)
  kExpired,          // now >= exp + skew
  kNotYetValid,      // now < nbf - skew
  kIssuedInFuture,   // iat > now + skew
  kLifetimeTooLong,  // exp - (iat, else nbf, else now) > max_token_lifetime
  kMissingIssuer,    // no "iss"
  kWrongIssuer,      // "iss" is not the policy's issuer
  kMissingAudience,  // no "aud"
  kWrongAudience,    // no "aud" value is in the policy's audiences
};

// "missing_exp", "bad_claim_type", ...: stable snake_case names.
std::string_view ClaimErrorName(ClaimError error);

// Checks exp (required), nbf and iat (optional), the lifetime cap, iss and aud, in that order.
std::expected<void, ClaimError> ValidateClaims(const boost::json::object& payload,
                                               const ClaimsPolicy& policy);

}  // namespace ciap::jose
