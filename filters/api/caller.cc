// See caller.h.
#include "filters/api/caller.h"

#include <openssl/evp.h>

#include <boost/json.hpp>

namespace ciap {

std::string ClaimText(const boost::json::object& claims,
                      std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    const boost::json::value* v = claims.if_contains(name);
    if (v == nullptr) continue;
    if (v->is_string()) return std::string(v->as_string());
    if (v->is_int64()) return std::to_string(v->as_int64());
    if (v->is_uint64()) return std::to_string(v->as_uint64());
  }
  return {};
}

CredentialDigest DigestOf(std::string_view credential) {
  CredentialDigest digest{};
  unsigned int size = 0;
  EVP_Digest(credential.data(), credential.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

std::shared_ptr<Caller> CallerFromClaims(const std::string& provider,
                                         const boost::json::object& claims, int64_t expires_at) {
  return std::make_shared<Caller>(Caller{
      .provider = provider,
      .subject = ClaimText(claims, {"sub"}),
      .claims_document = jose::JsonDocument(claims),
      .jti = ClaimText(claims, {"jti"}),
      .job_id = ClaimText(claims, {"job_id"}),
      .pipeline = ClaimText(claims, {"project_path", "arn", "spiffe_id"}),
      .expires_at = expires_at,
  });
}

}  // namespace ciap
