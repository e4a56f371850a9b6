// Claim slots; see claim_slots.h.
#include "filters/claims/claim_slots.h"

#include <algorithm>
#include <cstdlib>

namespace ciap::claims {

const boost::json::value* FindClaim(const boost::json::object& claims,
                                    std::span<const std::string> path) {
  if (path.empty()) return nullptr;
  const boost::json::object* object = &claims;
  const boost::json::value* value = nullptr;
  for (const std::string& key : path) {
    if (object == nullptr) return nullptr;
    value = object->if_contains(key);
    if (value == nullptr) return nullptr;
    object = value->if_object();
  }
  return value;
}

uint32_t ClaimSlots::Intern(std::span<const std::string> path) {
  auto same = [&](const std::vector<std::string>& p) {
    return std::equal(p.begin(), p.end(), path.begin(), path.end());
  };
  auto it = std::find_if(paths_.begin(), paths_.end(), same);
  if (it != paths_.end()) return static_cast<uint32_t>(it - paths_.begin());
  paths_.emplace_back(path.begin(), path.end());
  return static_cast<uint32_t>(paths_.size() - 1);
}

void ClaimSlots::Resolve(const boost::json::object& claims,
                         std::span<const boost::json::value*> out) const {
  if (out.size() != paths_.size()) std::abort();  // a caller bug: the span comes from size()
  for (size_t i = 0; i < paths_.size(); ++i) out[i] = FindClaim(claims, paths_[i]);
}

}  // namespace ciap::claims
