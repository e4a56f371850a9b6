// The registration table and the config's filter rules name the same filters in the same
// order (the default chain), and only the filters that decide run in `ciap check`.
#include "config/filter_schema.h"
#include "tests/unit/filters/filter_fixture.h"

namespace ciap::testing {
namespace {

TEST(RegistryTest, TheConfigAndTheCodeKnowTheSameFilters) {
  auto rules = config::FilterRules();
  auto registry = FilterRegistry();
  ASSERT_EQ(rules.size(), registry.size());
  for (std::size_t i = 0; i < rules.size(); ++i) {
    EXPECT_EQ(rules[i].name, registry[i].name) << i;
    EXPECT_NE(registry[i].build, nullptr) << registry[i].name;
  }
  std::vector<std::string> expected(config::DefaultFilters());
  ASSERT_EQ(expected.size(), registry.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(expected[i], registry[i].name);
}

TEST(RegistryTest, OnlyIdentityAndAccessDecide) {
  for (const FilterRegistration& r : FilterRegistry()) {
    EXPECT_EQ(r.decides, r.name == "identity" || r.name == "access") << r.name;
  }
}

}  // namespace
}  // namespace ciap::testing
