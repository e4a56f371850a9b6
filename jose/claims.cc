// Registered claim validation; see claims.h.
#include "jose/claims.h"

#include <cmath>
#include <optional>

namespace ciap::jose {
namespace {

namespace json = boost::json;

// 9999-12-31T23:59:59Z. Beyond it a NumericDate is an overflow attempt or a unit mistake
// (milliseconds), not a time; below 0 it predates every token.
constexpr double kMaxNumericDate = 253402300799.0;

// An optional NumericDate (RFC 7519 §2): seconds since the epoch, integer or fraction.
// nullopt when absent.
std::expected<std::optional<double>, ClaimError> NumericDate(const json::object& payload,
                                                             std::string_view name) {
  const json::value* value = payload.if_contains(name);
  if (value == nullptr) return std::nullopt;
  double seconds;
  switch (value->kind()) {
    case json::kind::int64:
      seconds = static_cast<double>(value->get_int64());
      break;
    case json::kind::uint64:  // only integers over 2^63 land here: far out of range
      return std::unexpected(ClaimError::kBadClaimValue);
    case json::kind::double_:
      seconds = value->get_double();
      if (!std::isfinite(seconds)) return std::unexpected(ClaimError::kBadClaimValue);
      break;
    default:
      return std::unexpected(ClaimError::kBadClaimType);  // string, bool, null, array, object
  }
  if (seconds < 0 || seconds > kMaxNumericDate) return std::unexpected(ClaimError::kBadClaimValue);
  return seconds;
}

std::expected<void, ClaimError> CheckAudience(const json::object& payload,
                                              std::span<const std::string> audiences) {
  const json::value* aud = payload.if_contains("aud");
  if (aud == nullptr) return std::unexpected(ClaimError::kMissingAudience);
  auto accepted = [&](std::string_view value) {
    for (const std::string& audience : audiences) {
      if (audience == value) return true;
    }
    return false;
  };
  if (const json::string* single = aud->if_string()) {
    if (accepted(*single)) return {};
    return std::unexpected(ClaimError::kWrongAudience);
  }
  const json::array* list = aud->if_array();
  if (list == nullptr) return std::unexpected(ClaimError::kBadClaimType);
  // Every element must be a string, even after a match: a malformed aud is malformed.
  bool matched = false;
  for (const json::value& element : *list) {
    const json::string* value = element.if_string();
    if (value == nullptr) return std::unexpected(ClaimError::kBadClaimType);
    matched = matched || accepted(*value);
  }
  if (!matched) return std::unexpected(ClaimError::kWrongAudience);
  return {};
}

}  // namespace

std::string_view ClaimErrorName(ClaimError error) {
  switch (error) {
    case ClaimError::kMissingExp:
      return "missing_exp";
    case ClaimError::kBadClaimType:
      return "bad_claim_type";
    case ClaimError::kBadClaimValue:
      return "bad_claim_value";
    case ClaimError::kExpired:
      return "expired";
    case ClaimError::kNotYetValid:
      return "not_yet_valid";
    case ClaimError::kIssuedInFuture:
      return "issued_in_future";
    case ClaimError::kLifetimeTooLong:
      return "lifetime_too_long";
    case ClaimError::kMissingIssuer:
      return "missing_iss";
    case ClaimError::kWrongIssuer:
      return "wrong_issuer";
    case ClaimError::kMissingAudience:
      return "missing_aud";
    case ClaimError::kWrongAudience:
      return "wrong_audience";
  }
  return "unknown";
}

std::expected<void, ClaimError> ValidateClaims(const json::object& payload,
                                               const ClaimsPolicy& policy) {
  auto exp = NumericDate(payload, "exp");
  if (!exp) return std::unexpected(exp.error());
  if (!*exp) return std::unexpected(ClaimError::kMissingExp);
  auto nbf = NumericDate(payload, "nbf");
  if (!nbf) return std::unexpected(nbf.error());
  auto iat = NumericDate(payload, "iat");
  if (!iat) return std::unexpected(iat.error());

  // Doubles hold every second up to year 9999 exactly, and keep fractional NumericDates.
  const double now = std::chrono::duration<double>(policy.now.time_since_epoch()).count();
  const double skew = static_cast<double>(policy.clock_skew.count());
  if (now >= **exp + skew) return std::unexpected(ClaimError::kExpired);
  if (*nbf && now < **nbf - skew) return std::unexpected(ClaimError::kNotYetValid);
  if (*iat && **iat > now + skew) return std::unexpected(ClaimError::kIssuedInFuture);
  // Without iat or nbf the token's age is unknown; what is left of it still must not exceed the
  // cap, or a far-future exp would make a token that never expires.
  const double start = iat->value_or(nbf->value_or(now));
  if (**exp - start > static_cast<double>(policy.max_token_lifetime.count())) {
    return std::unexpected(ClaimError::kLifetimeTooLong);
  }

  const json::value* iss = payload.if_contains("iss");
  if (iss == nullptr) return std::unexpected(ClaimError::kMissingIssuer);
  if (!iss->is_string()) return std::unexpected(ClaimError::kBadClaimType);
  if (iss->get_string() != policy.issuer) return std::unexpected(ClaimError::kWrongIssuer);

  return CheckAudience(payload, policy.audiences);
}

}  // namespace ciap::jose
