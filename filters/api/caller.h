// Who made a request, as established by the identity filter; shared read-only by the later
// filters, the headers the upstream receives and the audit log.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "jose/strict_json.h"

namespace ciap {

// SHA-256 of what the caller presented (a token, a client certificate's DER): the same
// credential, the same digest, whichever worker or cache entry made the Caller.
using CredentialDigest = std::array<unsigned char, 32>;
CredentialDigest DigestOf(std::string_view credential);

struct Caller {
  std::string provider;  // the identity provider's configured name
  std::string subject;   // "sub"
  // The verified payload, in the block it was parsed into: the identity filter moves the
  // verified token's document here rather than copying the values.
  jose::JsonDocument claims_document;
  // What audit events name instead of the token: the CI job that held it.
  std::string jti;
  std::string
      job_id;  // Buildkite job_id, GitLab job_id, CircleCI oidc.circleci.com/job-id, GitHub run_id
  std::string pipeline;    // Buildkite pipeline_slug, GitLab project_path, CircleCI project-id,
                           // GitHub repository
  int64_t expires_at = 0;  // "exp", seconds since the epoch
  // Names the credential without holding it (an upstream assertion is reused for it).
  CredentialDigest credential_digest{};

  const boost::json::object& claims() const { return claims_document.object(); }
};

// The first of `names` the claims hold as a string or an integer, as text ("" when none does):
// GitLab sends ids as numbers in some places and strings in others.
std::string ClaimText(const boost::json::object& claims,
                      std::initializer_list<std::string_view> names);

// A caller from claims that were not a verified JWT (an identity source's answer, a client
// certificate): `sub`, and the audit fields (job_id; pipeline from project_path, arn or
// spiffe_id) read from the claims, which are copied.
std::shared_ptr<Caller> CallerFromClaims(const std::string& provider,
                                         const boost::json::object& claims, int64_t expires_at);

}  // namespace ciap
