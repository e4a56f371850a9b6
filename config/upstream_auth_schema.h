// Reading what ciap presents to upstreams on a caller's behalf: the top-level `assertion` (ciap's
// signing keys), a route's `request_headers.assertion` (the signed statement of who called) and a
// route's `credentials` (a short-lived credential minted for the upstream). Errors go to the
// Diagnostics behind the Values, like everywhere in the loader.
#pragma once

#include "config/config.h"
#include "config/yaml_reader.h"

namespace ciap::config {

// The top-level `shared_state` and `assertion` blocks, where present.
void ReadStateAndAssertion(const yaml::Map& top, Config& config);

// Top-level `shared_state:` (redis: address, password, tls, timeout; on_failure).
void ReadSharedState(const yaml::Value& v, SharedStateConfig& shared);

// Top-level `assertion:` (issuer, signing_keys, lifetime).
void ReadAssertion(const yaml::Value& v, AssertionConfig& assertion);

// `request_headers.assertion:` (header, audience, claims).
void ReadAssertionHeader(const yaml::Value& v, AssertionHeaderConfig& assertion);

// A route's `credentials:`, by type (oauth2_client_credentials, github_app).
void ReadCredentials(const yaml::Value& v, CredentialsConfig& credentials);

// What a route's assertion and credentials need from the rest of the route and the file: an
// authenticated caller, the `assertion` block, and headers nothing else on the route sets.
// `route` is the route's mapping as read.
void CheckUpstreamAuth(const yaml::Map& route, const RouteConfig& r, bool has_assertion_block);

}  // namespace ciap::config
