// Tests of config/duration: Go-style compound durations, and errors that say what is wrong.
#include "config/duration.h"

#include <gtest/gtest.h>

namespace ciap::config {
namespace {

using std::chrono::milliseconds;

std::string ErrorOf(std::string_view text) {
  auto parsed = ParseDuration(text);
  EXPECT_FALSE(parsed.has_value()) << text << " parsed as " << parsed->count() << "ms";
  return parsed ? std::string() : parsed.error();
}

TEST(DurationTest, SingleUnits) {
  EXPECT_EQ(ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(ParseDuration("30s"), milliseconds(30000));
  EXPECT_EQ(ParseDuration("5m"), milliseconds(300000));
  EXPECT_EQ(ParseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(ParseDuration("1d"), milliseconds(86400000)) << "a day is 24h";
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0)) << "zero is the caller's decision";
  EXPECT_EQ(ParseDuration("0ms"), milliseconds(0));
  EXPECT_EQ(ParseDuration("007s"), milliseconds(7000));
  EXPECT_EQ(ParseDuration("8760h"), milliseconds(int64_t{8760} * 3600000));
  EXPECT_EQ(ParseDuration("365d"), milliseconds(int64_t{8760} * 3600000));
}

TEST(DurationTest, CompoundAndDecimal) {
  EXPECT_EQ(ParseDuration("1h30m"), milliseconds(5400000));
  EXPECT_EQ(ParseDuration("1m30s"), milliseconds(90000));
  EXPECT_EQ(ParseDuration("1.5m"), milliseconds(90000));
  EXPECT_EQ(ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(ParseDuration("0.25s"), milliseconds(250));
  EXPECT_EQ(ParseDuration("2.5h"), milliseconds(9000000));
  EXPECT_EQ(ParseDuration("1.500000000000s"), milliseconds(1500)) << "trailing zeros are free";
  EXPECT_EQ(ParseDuration("1d12h"), milliseconds(int64_t{36} * 3600000));
  EXPECT_EQ(ParseDuration("1d2h3m4s5ms"),
            milliseconds(86400000 + 2 * 3600000 + 3 * 60000 + 4 * 1000 + 5));
  EXPECT_EQ(ParseDuration("1m0.5s"), milliseconds(60500));
  EXPECT_EQ(ParseDuration("0.001s"), milliseconds(1));
}

TEST(DurationTest, Garbage) {
  EXPECT_EQ(ErrorOf("30"), "durations need a unit: 30s, 500ms, 5m");
  EXPECT_NE(ErrorOf("").find("expected a duration like 30s, 500ms, 5m, 1h or 1h30m, got ''"),
            std::string::npos);
  EXPECT_NE(ErrorOf("abc").find("got 'abc'"), std::string::npos);
  EXPECT_NE(ErrorOf("1w").find("unknown duration unit 'w' (use ms, s, m, h or d"),
            std::string::npos);
  EXPECT_NE(ErrorOf("1H").find("unknown duration unit 'H'"), std::string::npos);
  EXPECT_NE(ErrorOf("1sec").find("unknown duration unit 'sec'"), std::string::npos);
  EXPECT_NE(ErrorOf("1 s").find("no space between the number and the unit"), std::string::npos);
  EXPECT_NE(ErrorOf("1m 30s").find("no spaces: write 1m30s"), std::string::npos);
  EXPECT_NE(ErrorOf("1m30").find("the last number has no unit"), std::string::npos);
  EXPECT_NE(ErrorOf(".5s").find("digits on both sides"), std::string::npos);
  EXPECT_NE(ErrorOf("5.s").find("digits on both sides"), std::string::npos);
  EXPECT_NE(ErrorOf("1.2.3s").find("expected a duration"), std::string::npos);
  EXPECT_NE(ErrorOf("10us").find("the smallest unit is ms"), std::string::npos);
  EXPECT_NE(ErrorOf("10ns").find("the smallest unit is ms"), std::string::npos);
}

TEST(DurationTest, Order) {
  EXPECT_NE(ErrorOf("30s1m").find("from the largest to the smallest (write 1m30s, not 30s1m), "
                                  "got 'm' after 's'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("1m1m").find("unit 'm' appears twice in '1m1m'"), std::string::npos);
  EXPECT_NE(ErrorOf("500ms1s").find("largest to the smallest"), std::string::npos);
}

TEST(DurationTest, SignsAndFractionsOfAMillisecond) {
  EXPECT_EQ(ErrorOf("-1s"), "a duration cannot be negative, got '-1s'");
  EXPECT_EQ(ErrorOf("+1s"), "no sign in a duration: write '1s'");
  EXPECT_EQ(ErrorOf("1.5ms"), "'1.5ms' is not a whole number of milliseconds");
  EXPECT_EQ(ErrorOf("0.0001s"), "'0.0001s' is not a whole number of milliseconds");
  EXPECT_EQ(ErrorOf("1.0000000001h"), "'1.0000000001h' is not a whole number of milliseconds");
}

TEST(DurationTest, Overflow) {
  const std::string too_long = "duration too long (at most 8760h, one year)";
  EXPECT_EQ(ErrorOf("8761h"), too_long);
  EXPECT_EQ(ErrorOf("366d"), too_long);
  EXPECT_EQ(ErrorOf("365d1ms"), too_long);
  EXPECT_EQ(ErrorOf("8759h120m"), too_long);
  EXPECT_EQ(ErrorOf("99999999999999999999999s"), too_long);
  EXPECT_EQ(ErrorOf("99999999999999999999999999999999999999ms"), too_long);
  EXPECT_EQ(ErrorOf("364.5d12h1ms"), too_long);
  EXPECT_EQ(ParseDuration("364.5d12h"), milliseconds(int64_t{8760} * 3600000));
}

}  // namespace
}  // namespace ciap::config
