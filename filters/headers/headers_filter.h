// The `headers` filter: makes the upstream see only headers ciap vouches for.
//
// Applies the route's request_headers: `remove` first, then `set` (which also drops any
// caller-supplied header of the same name, so a caller can never pre-seed an injected one).
// Caller-sent x-ciap-* headers never get this far: the core drops them whatever the chain.
// With `request_headers.identity`, the authenticated caller is named in x-ciap-provider and
// x-ciap-subject. A `set` value may contain `${secret:/path}` (the content of a file, re-read
// when it changes; a missing secret answers 503 rather than forward without the credential)
// and `${claim:name}` (a claim of the verified token); `$${` is a literal `${`.
// With `request_headers.assertion`, the route's header carries ciap's signed assertion of the
// caller (assertion.h); a caller-sent header of any route's assertion name is dropped on every
// route. With `credentials`, the route's minted credential (credential_source.h) is injected
// last; a request waits for the first mint, and without a credential it is answered 503
// credentials_unavailable, never forwarded.
#pragma once

#include <expected>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "filters/api/chain.h"
#include "filters/api/filter.h"
#include "filters/headers/assertion.h"
#include "filters/headers/credential_source.h"
#include "filters/headers/secret_file.h"

namespace ciap::headers {

class HeadersFilter : public Filter {
 public:
  static std::expected<std::unique_ptr<Filter>, std::string> Create(
      const config::ListenerConfig& listener, const FilterEnv& env);

  Decision OnRequest(Request& request, RequestContext& context) const override;
  boost::asio::awaitable<Decision> OnRequestAsync(Request& request,
                                                  RequestContext& context) const override;
  std::string_view name() const override { return "headers"; }

 private:
  // A `set` value: literal text, secret file contents and claim values, in order.
  struct Part {
    enum class Kind { kLiteral, kSecret, kClaim };
    Kind kind = Kind::kLiteral;
    std::string text;  // the literal, or the claim name
    std::shared_ptr<SecretFile> secret;
  };
  struct SetHeader {
    std::string name;
    std::vector<Part> parts;
  };
  struct RouteOps {
    std::vector<std::string> remove;  // lower-case names
    std::vector<SetHeader> set;
    bool identity = false;  // inject x-ciap-provider / x-ciap-subject
    std::unique_ptr<AssertionIssuer> assertion;
    std::shared_ptr<CredentialSource> credentials;
  };

  static std::expected<std::vector<Part>, std::string> ParseValue(
      const std::string& value, std::map<std::string, std::shared_ptr<SecretFile>>& secrets);
  std::vector<RouteOps> routes_;  // indexed by route index within the listener
  // Every route's assertion header name (lower-case): what a caller sent under one is dropped.
  std::vector<std::string> assertion_headers_;
};

}  // namespace ciap::headers
