// See caller.h.
#include "filters/api/caller.h"

#include <boost/json.hpp>

namespace ciap {
namespace {

// A member as text: strings as they are, integers in decimal.
std::string Text(const boost::json::object& o, std::string_view name) {
  const boost::json::value* v = o.if_contains(name);
  if (v == nullptr) return {};
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  if (v->is_uint64()) return std::to_string(v->as_uint64());
  return {};
}

}  // namespace

std::shared_ptr<const Caller> CallerFromClaims(const std::string& provider,
                                               const boost::json::object& claims,
                                               int64_t expires_at) {
  auto first = [&](std::initializer_list<std::string_view> names) {
    for (std::string_view name : names) {
      if (std::string text = Text(claims, name); !text.empty()) return text;
    }
    return std::string();
  };
  return std::make_shared<Caller>(Caller{
      .provider = provider,
      .subject = first({"sub"}),
      .claims_document = jose::JsonDocument(claims),
      .jti = first({"jti"}),
      .job_id = first({"job_id"}),
      .pipeline = first({"project_path", "arn", "spiffe_id"}),
      .expires_at = expires_at,
  });
}

}  // namespace ciap
