// Reading `identity_providers` from the config file: the keys of one provider, the presets of
// the CI vendors (issuer, algorithms) and the checks that keep a provider from trusting more
// than its owner meant (audiences required, tenant binding on shared issuers, algorithm
// allow-list, https key sources).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/name_set.h"
#include "config/yaml_reader.h"

namespace ciap::config {

// Shared with source_schema.cc.
enum class UrlUse { kIssuer, kJwks, kEndpoint };
// An https URL (http only on a loopback host: a local test IdP), checked for `use`.
std::optional<std::string> ReadHttpsUrl(const yaml::Value& v, UrlUse use);
// A list of header names a provider reads credentials from (replaces `out`).
void ReadTokenHeaders(const yaml::Value& v, std::vector<std::string>& out);

// One item of `identity_providers`; the provider's name is added to `names`.
void ReadIdentityProvider(const yaml::Value& v, IdentityProviderConfig& provider, NameSet& names);

}  // namespace ciap::config
