// The example token payloads of the four CI vendors (from the reference notes on CI tokens), as
// parsed JSON, plus variants that the pitfalls need (GitLab "false" flags, a Buildkite job without
// a step key).
#pragma once

#include <boost/json/object.hpp>
#include <string_view>

namespace ciap::claims::testing {

const boost::json::object& BuildkitePayload();
const boost::json::object& BuildkiteNoStepKeyPayload();  // "step_key": null, no build_tag
const boost::json::object& CircleCiPayload();
const boost::json::object& GitLabPayload();
const boost::json::object& GitLabUnprotectedPayload();  // "ref_protected": "false", no groups
const boost::json::object& GitHubPayload();

// Parses a JSON object literal; aborts the test program on a typo in the test itself.
boost::json::object ParseObject(std::string_view json);

}  // namespace ciap::claims::testing
