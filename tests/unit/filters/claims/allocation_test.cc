// Verifies that evaluating compiled claim conditions never allocates: global operator new is
// replaced in this test program with one that counts while a scope is open. Also prints the
// cost of the documented budget (50 groups x 10 matchers) for a rough check.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "filters/claims/claim_conditions.h"
#include "tests/unit/filters/claims/matcher_builders.h"
#include "tests/unit/filters/claims/vendor_payloads.h"

namespace {

thread_local bool counting = false;
thread_local size_t allocations = 0;

}  // namespace

// GCC cannot tell that these replace the global pair and warns that free() gets new's pointer.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace ciap::claims {
namespace {

using namespace testing;  // NOLINT: the builders and payloads of this test folder

// Counts the allocations made by `f` on this thread.
template <typename F>
size_t AllocationsOf(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations;
}

std::vector<config::ClaimCondition> EveryKind() {
  return {
      {{"organization_slug"}, Exact("acme-inc")},
      {{"pipeline_slug"}, OneOf({Exact("release"), GlobOf("deploy-*")})},
      {{"sub"}, GlobOf("organization:acme-inc:pipeline:*:ref:refs/heads/main:**")},
      {{"build_number"}, Number(1423)},
      {{"build_source"}, Not(OneOf({Exact("trigger_job")}))},
      {{"organization_id"}, Regex("[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")},
      {{"build_tag"}, Not(Exact("v1"))},  // missing: fails, after all the others ran
  };
}

TEST(ClaimAllocationTest, MatchingDoesNotAllocate) {
  auto compiled = ClaimConditions::Compile(EveryKind());
  ASSERT_TRUE(compiled.has_value());
  const boost::json::object& payload = BuildkitePayload();
  compiled->FirstFailure(payload);  // RE2 builds its DFA cache on first use
  std::optional<size_t> failure;
  EXPECT_EQ(AllocationsOf([&] { failure = compiled->FirstFailure(payload); }), 0u);
  EXPECT_EQ(failure, 6u);

  // Number coercion from strings, arrays, booleans: still nothing.
  auto gitlab = ClaimConditions::Compile(
      std::vector<config::ClaimCondition>{{{"project_id"}, Number(20)},
                                          {{"ref_protected"}, Bool(true)},
                                          {{"groups_direct"}, Contains(GlobOf("acme/*"))},
                                          {{"project_path"}, GlobOf("acme/**")}});
  ASSERT_TRUE(gitlab.has_value());
  bool matched = false;
  const boost::json::object& gitlab_payload = GitLabPayload();  // parsed on first use
  EXPECT_EQ(AllocationsOf([&] { matched = gitlab->Matches(gitlab_payload); }), 0u);
  EXPECT_TRUE(matched);

  // A long glob uses the multi-word NFA, still on the stack.
  std::string long_pattern;
  for (int i = 0; i < 100; ++i) long_pattern += "a*";
  auto long_glob = CompiledMatcher::Compile(GlobOf(long_pattern));
  boost::json::value text = boost::json::string(300, 'a');
  EXPECT_EQ(AllocationsOf([&] { matched = long_glob->Matches(&text); }), 0u);
  EXPECT_TRUE(matched);
}

// 50 groups of 10 conditions against one payload: the documented budget is 5 µs per request.
// Printed, not asserted: timing in a shared CI box is not a test.
TEST(ClaimAllocationTest, BudgetOfFiftyGroupsOfTen) {
  ClaimSlots slots;
  std::vector<ClaimConditions> groups;
  for (int g = 0; g < 50; ++g) {
    std::vector<config::ClaimCondition> conditions = {
        {{"organization_slug"}, Exact("acme-inc")},
        {{"pipeline_slug"}, OneOf({Exact("release"), GlobOf("deploy-*")})},
        {{"build_branch"}, OneOf({Exact("main"), GlobOf("release/*")})},
        {{"build_number"}, Number(1423)},
        {{"build_source"}, Not(OneOf({Exact("trigger_job")}))},
        {{"runner_environment"}, Exact("self-hosted")},
        {{"step_key"}, GlobOf("deploy*")},
        {{"organization_id"}, Exact("f892efa9-103e-4d28-97a1-3b8616a0994d")},
        {{"sub"}, GlobOf("organization:acme-inc:pipeline:*:ref:refs/heads/main:**")},
        {{"pipeline_id"}, Exact(g == 49 ? "0191f956-4782-42b5-afc1-16715b10b1a0" : "other")},
    };
    groups.push_back(*ClaimConditions::Compile(conditions, &slots));
  }
  EXPECT_EQ(slots.size(), 10u) << "conditions on the same claim share a slot";
  const boost::json::object& payload = BuildkitePayload();
  std::vector<const boost::json::value*> resolved(slots.size());
  constexpr int kRounds = 2000;
  auto run = [&](bool resolve_per_request) {
    int matched = 0;
    if (!resolve_per_request) slots.Resolve(payload, resolved);
    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < kRounds; ++round) {
      if (resolve_per_request) slots.Resolve(payload, resolved);
      for (const ClaimConditions& group : groups) matched += group.Matches(resolved);
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(matched, kRounds);  // only the last group matches
    return std::chrono::duration<double, std::micro>(elapsed).count() / kRounds;
  };
  const double cached = run(false);
  const double resolving = run(true);
  double by_object = 0;
  {
    int matched = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < kRounds; ++round) {
      for (const ClaimConditions& group : groups) matched += group.Matches(payload);
    }
    EXPECT_EQ(matched, kRounds);
    by_object = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                    .count() /
                kRounds;
  }
  std::printf(
      "[          ] 50x10 conditions: %.2f us with claims resolved per token, %.2f us resolving "
      "per request, %.2f us looking up per condition\n",
      cached, resolving, by_object);
  size_t allocated = AllocationsOf([&] {
    slots.Resolve(payload, resolved);
    for (const ClaimConditions& group : groups) group.Matches(resolved);
  });
  EXPECT_EQ(allocated, 0u);
}

}  // namespace
}  // namespace ciap::claims
