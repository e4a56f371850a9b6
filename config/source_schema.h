// Reading the identity sources of `identity_providers` (the provider types that are not a JWT
// issuer): GitLab job and access tokens, RFC 7662 introspection, client certificates and AWS
// IAM. Each type takes its own keys; the GitLab and AWS sources must bind what they let in,
// since their source vouches for everyone it knows.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/yaml_reader.h"

namespace ciap::config {

// The `type` as written in the config, for every provider type.
std::string_view ProviderTypeName(ProviderType type);

// "gitlab_job_token" for kGitLabJobToken, …; only for source types.
std::string_view SourceTypeName(ProviderType type);
std::optional<ProviderType> SourceTypeByName(std::string_view name);

// The keys of a provider whose `type` (already in `provider`) is a source type.
void ReadIdentitySource(const yaml::Map& m, IdentityProviderConfig& provider);

// Across all providers: two lookup sources that could both claim one credential (the same
// header, overlapping prefixes), more than one client_certificate provider, or a
// client_certificate provider with no listener asking for certificates. Reported at the later
// provider of `items` (index-aligned with `providers`).
void CheckCredentialOwners(const std::vector<yaml::Value>& items,
                           const std::vector<IdentityProviderConfig>& providers,
                           const std::vector<ListenerConfig>& listeners);

// What an aws_iam token starts with, then the presigned URL in unpadded base64url (the form
// aws-iam-authenticator made common).
inline constexpr std::string_view kAwsTokenPrefix = "k8s-aws-v1.";

// The prefixes a provider claims credentials by (an aws_iam token always starts with
// "k8s-aws-v1."); empty: every credential in its headers.
std::vector<std::string> ClaimedPrefixes(const IdentityProviderConfig& provider);

}  // namespace ciap::config
