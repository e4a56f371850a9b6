// The distinct claims that a config's conditions look at, each given a slot number, so that a
// token's claims are looked up once per token instead of once per condition: groups evaluate
// hundreds of conditions over a few dozen distinct claims, and a JSON object lookup (hash the
// name, probe) costs more than most matchers.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ciap::claims {

// The value at `path` in `claims` (each element one object key, taken literally: dots and
// slashes in a claim name are part of it); nullptr when absent or when a step is not an object.
const boost::json::value* FindClaim(const boost::json::object& claims,
                                    std::span<const std::string> path);

class ClaimSlots {
 public:
  // The slot of `path`, added if new. Built once with the config; not thread-safe.
  uint32_t Intern(std::span<const std::string> path);

  size_t size() const { return paths_.size(); }
  const std::vector<std::string>& path(uint32_t slot) const { return paths_[slot]; }

  // Fills `out`, which must have size() entries, with the value of each slot's claim in
  // `claims` (nullptr when absent). No allocation; the pointers live as long as `claims`.
  void Resolve(const boost::json::object& claims, std::span<const boost::json::value*> out) const;

 private:
  std::vector<std::vector<std::string>> paths_;
};

}  // namespace ciap::claims
