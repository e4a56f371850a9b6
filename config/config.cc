// Small helpers of the config structs (config.h).
#include "config/config.h"

namespace ciap::config {

std::string HostPort::ToString() const {
  // An IPv6 literal needs brackets, or its last group would read as the port.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

const UpstreamConfig* Config::FindUpstream(const std::string& name) const {
  for (const UpstreamConfig& upstream : upstreams) {
    if (upstream.name == name) return &upstream;
  }
  return nullptr;
}

}  // namespace ciap::config
