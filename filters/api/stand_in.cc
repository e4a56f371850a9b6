// See stand_in.h.
#include "filters/api/stand_in.h"

#include <boost/json.hpp>

#include "config/source_schema.h"
#include "jose/base64url.h"

namespace ciap {
namespace {
constexpr std::string_view kMarker = "ciap-check-claims.";
}  // namespace

std::string StandInCredential(const config::IdentityProviderConfig& provider,
                              const boost::json::object& claims) {
  std::vector<std::string> prefixes = config::ClaimedPrefixes(provider);
  return (prefixes.empty() ? std::string() : prefixes.front()) + std::string(kMarker) +
         jose::Base64UrlEncode(boost::json::serialize(claims));
}

std::optional<boost::json::object> StandInClaims(const config::IdentityProviderConfig& provider,
                                                 std::string_view credential) {
  for (const std::string& prefix : config::ClaimedPrefixes(provider)) {
    if (credential.starts_with(prefix)) {
      credential.remove_prefix(prefix.size());
      break;
    }
  }
  if (!credential.starts_with(kMarker)) return std::nullopt;
  auto text = jose::Base64UrlDecode(credential.substr(kMarker.size()));
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(*text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

}  // namespace ciap
