// Durations as the config file and the command line write them: Go-style compound durations
// ("1h30m", "1m30s", "1.5m", "250ms", "1d"). Pure; knows nothing about YAML.
#pragma once

#include <chrono>
#include <expected>
#include <string>
#include <string_view>

namespace ciap::config {

using Duration = std::chrono::milliseconds;

// One or more <number><unit> terms, largest unit first, no spaces: "500ms", "30s", "5m", "1h",
// "1h30m", "1m30s", "1.5m", "1d" (a day is 24h). Units: ms, s, m, h, d; each at most once. A
// decimal fraction is allowed as long as the total is a whole number of milliseconds. A bare
// number is an error because its unit would be a guess (and so is a sign). At most 8760h (one
// year). Zero is returned as zero; callers decide whether it is allowed. The error says what
// is wrong and what was expected.
std::expected<Duration, std::string> ParseDuration(std::string_view text);

}  // namespace ciap::config
