// The registration table: every filter ciap knows, in one explicit table (registry.cc). No
// static self-registration: static libraries drop objects nothing references.
#pragma once

#include <span>

#include "filters/api/chain.h"

namespace ciap {

std::span<const FilterRegistration> FilterRegistry();

}  // namespace ciap
