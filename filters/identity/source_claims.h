// What each identity source's answer becomes: the claims of a Caller, named like the CI
// vendors' JWT claims where the meaning is the same, so that bound_claims, groups, audit and
// `ciap check` treat every source alike. Pure functions of the answer (and the clock), so they
// are unit-tested and fuzzed apart from the calls that fetch the answers.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "config/config.h"
#include "filters/api/caller.h"

namespace ciap::identity {

// Why a credential is no good: a reason from the fixed set (invalid_token, inactive_token,
// expired, wrong_audience, …, a string literal) and a sentence for the log (no credential).
struct SourceRefusal {
  std::string_view reason;
  std::string detail;
};

// A caller's claims before they become a Caller.
struct CallerClaims {
  boost::json::object claims;
  int64_t expires_at = 0;  // the credential's end, seconds since the epoch; 0: unknown

  // `sub` and the audit fields (job_id, pipeline) come from the claims.
  std::shared_ptr<Caller> ToCaller(const std::string& provider) const;
};

template <typename T>
using SourceResult = std::expected<T, SourceRefusal>;

// GitLab's job object (GET /api/v4/job). The job must be running.
SourceResult<CallerClaims> GitLabJobClaims(const boost::json::object& job);

// GitLab's personal_access_tokens/self answer and, when the token's scopes let /api/v4/user
// answer, the user. Inactive, revoked or expired tokens are refused.
SourceResult<CallerClaims> GitLabAccessTokenClaims(const boost::json::object& token,
                                                   const boost::json::object* user, int64_t now);

// An RFC 7662 introspection response: `active` must be true, `exp` (when present) in the
// future, and `aud` (when present and the provider lists audiences) one of them.
SourceResult<CallerClaims> IntrospectionClaims(const config::IdentityProviderConfig& provider,
                                               boost::json::object members, int64_t now);

// A presigned sts:GetCallerIdentity request, checked before anything is called: the URL it
// will be sent to (an allowed endpoint + "/?" + the signed query, byte for byte) and when the
// presign expires.
struct PresignedRequest {
  std::string url;
  std::string endpoint;  // which of sts_endpoints
  int64_t expires_at = 0;
};
SourceResult<PresignedRequest> CheckPresignedRequest(const config::IdentityProviderConfig& provider,
                                                     std::string_view token, int64_t now);

// STS's JSON answer to GetCallerIdentity: the ARN, account and user id, and for an assumed
// role its role and session names.
SourceResult<CallerClaims> AwsCallerClaims(const boost::json::object& body, int64_t expires_at);

}  // namespace ciap::identity
