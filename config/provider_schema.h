// Reading `identity_providers` from the config file: the keys of one provider, the presets of
// the CI vendors (issuer, algorithms) and the checks that keep a provider from trusting more
// than its owner meant (audiences required, tenant binding on shared issuers, algorithm
// allow-list, https key sources).
#pragma once

#include "config/config.h"
#include "config/name_set.h"
#include "config/yaml_reader.h"

namespace ciap::config {

// One item of `identity_providers`; the provider's name is added to `names`.
void ReadIdentityProvider(const yaml::Value& v, IdentityProviderConfig& provider, NameSet& names);

}  // namespace ciap::config
