// The aws_iam provider's presigned sts:GetCallerIdentity requests (CheckPresignedRequest in
// filters/identity/source_claims.h), on arbitrary tokens: the input is tried as the token, then
// as the URL inside a token ("k8s-aws-v1." + base64url). Whatever it accepts, ciap will call:
// so an accepted token must name one of the provider's sts_endpoints followed by "/?" (never
// another host, port, scheme, path or fragment), its presign must not have ended yet nor run
// longer than the bounds allow, and the URL must come back the same when checked again.
// Refusals carry a reason of the fixed set and a sentence.
#include <boost/url/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "filters/identity/source_claims.h"
#include "jose/base64url.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using ciap::identity::CheckPresignedRequest;

constexpr int64_t kNow = 1717243200;     // 2024-06-01T12:00:00Z; the seeds are dated around it
constexpr int64_t kLongest = 300 + 900;  // dated 5 minutes ahead, valid for 15 minutes
constexpr std::size_t kMaxToken = 4096;

const ciap::config::IdentityProviderConfig& Provider() {
  static const ciap::config::IdentityProviderConfig provider = [] {
    ciap::config::IdentityProviderConfig p;
    p.name = "aws";
    p.type = ciap::config::ProviderType::kAwsIam;
    p.sts_endpoints = {"https://sts.eu-west-1.amazonaws.com",
                       "https://sts.us-east-2.amazonaws.com:8443", "http://127.0.0.1:5000"};
    p.audience = "ciap.example.com";
    return p;
  }();
  return provider;
}

std::string Wrap(std::string_view url) { return "k8s-aws-v1." + ciap::jose::Base64UrlEncode(url); }

void Check(std::string_view token) {
  auto result = CheckPresignedRequest(Provider(), token, kNow);
  const int n = static_cast<int>(token.size());
  if (!result) {
    const std::string_view reason = result.error().reason;
    FUZZ_CHECK(reason == "invalid_token" || reason == "expired", "[%.*s] refused as %.*s", n,
               token.data(), static_cast<int>(reason.size()), reason.data());
    FUZZ_CHECK(!result.error().detail.empty(), "[%.*s] refused without a sentence", n,
               token.data());
    return;
  }
  const std::string& url = result->url;
  bool named = false;
  for (const std::string& endpoint : Provider().sts_endpoints) {
    named = named || (url.starts_with(endpoint + "/?") && result->endpoint == endpoint);
  }
  FUZZ_CHECK(named, "[%.*s] accepted for %s (endpoint %s)", n, token.data(), url.c_str(),
             result->endpoint.c_str());
  FUZZ_CHECK(result->expires_at > kNow, "[%.*s] accepted, expired at %lld", n, token.data(),
             static_cast<long long>(result->expires_at));
  FUZZ_CHECK(result->expires_at <= kNow + kLongest, "[%.*s] accepted until %lld", n, token.data(),
             static_cast<long long>(result->expires_at));
  // What is called is one well-formed URL: no fragment, userinfo or path was smuggled through
  // the query.
  auto parsed = boost::urls::parse_absolute_uri(url);
  FUZZ_CHECK(
      parsed && !parsed->has_userinfo() && !parsed->has_fragment() && parsed->encoded_path() == "/",
      "[%.*s] accepted for the malformed %s", n, token.data(), url.c_str());
  // The replayed URL is a presign of its own: checking it again changes nothing.
  if (const std::string wrapped = Wrap(url); wrapped.size() <= kMaxToken) {
    auto second = CheckPresignedRequest(Provider(), wrapped, kNow);
    FUZZ_CHECK(second && second->url == url && second->expires_at == result->expires_at,
               "[%.*s] accepted for %s, which is then %s", n, token.data(), url.c_str(),
               second ? second->url.c_str() : second.error().detail.c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = ciap::fuzz::AsText(data, size);
  Check(input);
  if (size <= kMaxToken) Check(Wrap(input));
  return 0;
}
