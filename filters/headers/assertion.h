// The assertion a route sends its upstream (request_headers.assertion): a JWS signed with ciap's
// first signing key (ES256 or EdDSA, `kid`, `typ: JWT`) that says who called:
//   iss, aud, iat, exp, jti   ciap, the route's audience, the assertion's own times and id
//   sub, provider             the caller
//   groups                    the route's groups the caller is in
//   route                     the route's name
//   + the route's listed caller claims, where the caller has them
// Signing costs more than proxying a request, so one assertion serves the same caller (the
// same verified credential) on the same route while more than half its lifetime remains: its
// `jti` names the assertion, not the request. A key rotation signs anew at once.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "filters/api/caller.h"
#include "filters/headers/signing_keys.h"

namespace ciap::headers {

class AssertionIssuer {
 public:
  static constexpr std::size_t kCacheCapacity = 10000;

  AssertionIssuer(const config::AssertionConfig& assertion,
                  const config::AssertionHeaderConfig& route_assertion, std::string route,
                  std::shared_ptr<SigningKeys> keys);

  // The assertion for `caller` in `groups`: a fresh enough one made before, or a new one.
  // Null only if signing failed. Any thread.
  std::shared_ptr<const std::string> For(const std::shared_ptr<const Caller>& caller,
                                         const std::vector<std::string_view>& groups);

  const std::string& header() const { return header_; }

 private:
  using Clock = std::chrono::system_clock;
  struct Entry {
    std::shared_ptr<const std::string> jws;
    Clock::time_point reuse_until;
    uint64_t generation = 0;
  };

  std::shared_ptr<const std::string> Sign(const SigningKeys::Ring& ring, const Caller& caller,
                                          const std::vector<std::string_view>& groups,
                                          Clock::time_point now) const;

  const std::string issuer_;
  const std::chrono::seconds lifetime_;
  const std::string header_;
  const std::string audience_;
  const std::vector<std::string> claims_;
  const std::string route_;
  const std::shared_ptr<SigningKeys> keys_;

  std::mutex mutex_;
  struct DigestHash {
    std::size_t operator()(const CredentialDigest& digest) const;
  };
  std::unordered_map<CredentialDigest, Entry, DigestHash> cache_;  // by the caller's credential
};

}  // namespace ciap::headers
