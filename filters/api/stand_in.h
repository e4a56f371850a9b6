// What `ciap check` sends in place of a credential it cannot have offline, so that a case
// described by its claims goes through the decision path unchanged: for a lookup provider (GitLab,
// introspection, AWS IAM), a stand-in credential its offline source answers from; for a client
// certificate, the caller itself (ConnectionInfo::stand_in_certificate).
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace ciap {

// The provider's first prefix, if any, then "ciap-check-claims." and the claims as base64url
// JSON.
std::string StandInCredential(const config::IdentityProviderConfig& provider,
                              const boost::json::object& claims);

// The claims of a stand-in credential, or nullopt when `credential` is not one.
std::optional<boost::json::object> StandInClaims(const config::IdentityProviderConfig& provider,
                                                 std::string_view credential);

}  // namespace ciap
