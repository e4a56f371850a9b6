// See assertion.h.
#include "filters/headers/assertion.h"

#include <openssl/rand.h>

#include <boost/json.hpp>
#include <cstring>

#include "filters/api/caller.h"
#include "jose/base64url.h"

namespace ciap::headers {
namespace json = boost::json;

AssertionIssuer::AssertionIssuer(const config::AssertionConfig& assertion,
                                 const config::AssertionHeaderConfig& route_assertion,
                                 std::string route, std::shared_ptr<SigningKeys> keys)
    : issuer_(assertion.issuer),
      lifetime_(std::chrono::duration_cast<std::chrono::seconds>(assertion.lifetime)),
      header_(route_assertion.header),
      audience_(route_assertion.audience),
      claims_(route_assertion.claims),
      route_(std::move(route)),
      keys_(std::move(keys)) {}

std::size_t AssertionIssuer::DigestHash::operator()(const CredentialDigest& digest) const {
  std::size_t h;
  std::memcpy(&h, digest.data(), sizeof h);  // a SHA-256 is uniform already
  return h;
}

std::shared_ptr<const std::string> AssertionIssuer::For(
    const std::shared_ptr<const Caller>& caller, const std::vector<std::string_view>& groups) {
  std::shared_ptr<const SigningKeys::Ring> ring = keys_->Current();
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(caller->credential_digest);
    if (it != cache_.end() && now < it->second.reuse_until &&
        it->second.generation == ring->generation) {
      return it->second.jws;
    }
  }
  std::shared_ptr<const std::string> jws = Sign(*ring, *caller, groups, now);
  if (!jws) return nullptr;
  std::lock_guard lock(mutex_);
  if (cache_.size() >= kCacheCapacity) {
    std::erase_if(cache_, [&](const auto& item) { return item.second.reuse_until <= now; });
    if (cache_.size() >= kCacheCapacity) cache_.clear();
  }
  cache_[caller->credential_digest] = Entry{jws, now + lifetime_ / 2, ring->generation};
  return jws;
}

std::shared_ptr<const std::string> AssertionIssuer::Sign(
    const SigningKeys::Ring& ring, const Caller& caller,
    const std::vector<std::string_view>& groups, Clock::time_point now) const {
  unsigned char id[16];
  if (RAND_bytes(id, sizeof id) != 1) return nullptr;
  const int64_t iat =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  json::array group_names;
  for (std::string_view group : groups) group_names.emplace_back(group);
  json::object claims{
      {"iss", issuer_},
      {"aud", audience_},
      {"iat", iat},
      {"exp", iat + lifetime_.count()},
      {"jti",
       jose::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(id), sizeof id))},
      {"sub", caller.subject},
      {"provider", caller.provider},
      {"groups", std::move(group_names)},
      {"route", route_},
  };
  for (const std::string& name : claims_) {
    if (const json::value* value = caller.claims().if_contains(name)) claims[name] = *value;
  }
  auto signed_jws = ring.signers.front().Sign(json::serialize(claims));
  if (!signed_jws) return nullptr;
  return std::make_shared<const std::string>(std::move(*signed_jws));
}

}  // namespace ciap::headers
