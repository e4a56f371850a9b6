// StatusCounters: one series per status code, whatever the order and number of codes, and
// from several threads at once.
#include "proxy/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <thread>
#include <vector>

namespace ciap {
namespace {

double Value(prometheus::Family<prometheus::Counter>& family, const std::string& code) {
  return family.Add({{"route", "r"}, {"code", code}}).Value();
}

TEST(StatusCounters, OneSeriesPerCodeBeyondTheCachedSlots) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("t_requests_total").Register(registry);
  StatusCounters counters(family, {{"route", "r"}});
  // More distinct codes than the counters cache, several times each, interleaved.
  const std::vector<int> codes = {200, 404, 200, 503, 401, 403, 429, 502, 504,
                                  500, 201, 418, 200, 99,  700, 404, 418, 200};
  for (int code : codes) counters.Increment(code);
  EXPECT_EQ(Value(family, "200"), 4);
  EXPECT_EQ(Value(family, "404"), 2);
  EXPECT_EQ(Value(family, "418"), 2);  // past the cached slots
  EXPECT_EQ(Value(family, "201"), 1);
  EXPECT_EQ(Value(family, "599"), 2);                    // out of range: counted as 599
  EXPECT_EQ(family.Collect().at(0).metric.size(), 12u);  // 11 codes and 599
}

TEST(StatusCounters, ConcurrentFirstSightings) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("t_requests_total").Register(registry);
  StatusCounters counters(family, {{"route", "r"}});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counters] {
      for (int i = 0; i < 10000; ++i) counters.Increment(200 + i % 12);
    });
  }
  for (std::thread& thread : threads) thread.join();
  double total = 0;
  for (int code = 200; code < 212; ++code) total += Value(family, std::to_string(code));
  EXPECT_EQ(total, 40000);
  EXPECT_EQ(family.Collect().at(0).metric.size(), 12u);
}

}  // namespace
}  // namespace ciap
