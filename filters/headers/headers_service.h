// The headers filter's service: what it keeps across requests and reloads. The assertion
// signing keys (re-read when their files change; their JWKS is the listeners' public document
// at /.well-known/ciap/jwks.json and the admin port's /assertion/jwks.json), and each route's
// credential source (a reload that leaves a route's credentials unchanged keeps the credential
// minted before it).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "filters/api/service.h"
#include "filters/headers/credential_source.h"
#include "filters/headers/signing_keys.h"

namespace ciap::headers {

inline constexpr std::string_view kPublicJwksPath = "/.well-known/ciap/jwks.json";

// What the headers filters of one snapshot read.
struct HeadersState : PreparedState {
  std::shared_ptr<SigningKeys> keys;  // null without the `assertion` block, and offline
  // By listener name, then route index: the route's credential source (null without
  // `credentials`, and offline).
  std::map<std::string, std::vector<std::shared_ptr<CredentialSource>>, std::less<>> credentials;

  std::string_view public_path() const override { return keys ? kPublicJwksPath : ""; }
  std::string PublicDocument() const override;
};

class HeadersService : public FilterService {
 public:
  static std::unique_ptr<FilterService> Make(const ServiceEnv& env);

  std::expected<std::shared_ptr<const PreparedState>, std::string> Prepare(
      const config::Config& config) override;
  void Commit(const std::shared_ptr<const PreparedState>& prepared) override;
  std::string_view admin_path() const override { return "/assertion/jwks.json"; }
  std::string AdminDocument() const override;

 private:
  explicit HeadersService(const ServiceEnv& env);

  asio::io_context* io_ = nullptr;  // null offline: nothing is minted or read
  std::unique_ptr<CredentialMetrics> metrics_;
  std::shared_ptr<const HeadersState> running_;  // the committed config's
};

}  // namespace ciap::headers
