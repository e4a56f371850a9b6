// Tests of the single-use table (filters/rate_limit/replay_table.h): first use, replay until the
// token expires, forgetting expired tokens, and refusing (not forgetting) when full.
#include "filters/rate_limit/replay_table.h"

#include <gtest/gtest.h>

#include <string>

namespace ciap::rate_limit {
namespace {

using Result = ReplayTable::Result;

TEST(ReplayTableTest, AKeyIsUsedOnceUntilItExpires) {
  ReplayTable table;
  EXPECT_EQ(table.Use("idp\njti-1", 1000, 100), Result::kFirstUse);
  EXPECT_EQ(table.Use("idp\njti-1", 1000, 101), Result::kReplayed);
  EXPECT_EQ(table.Use("idp\njti-1", 1000, 999), Result::kReplayed);
  EXPECT_EQ(table.Use("other\njti-1", 1000, 101), Result::kFirstUse) << "per provider";
  // Past its expiry the token is refused by the identity filter anyway: the entry may go.
  EXPECT_EQ(table.Use("idp\njti-1", 2000, 1000), Result::kFirstUse);
}

TEST(ReplayTableTest, AFullTableDropsExpiredEntriesAndOtherwiseRefuses) {
  ReplayTable table(ReplayTable::kShards * 2);  // two entries per shard
  int first_uses = 0;
  int full = 0;
  for (int i = 0; i < 200; ++i) {
    Result r = table.Use("idp\n" + std::to_string(i), 500, 100);
    first_uses += r == Result::kFirstUse;
    full += r == Result::kFull;
  }
  EXPECT_EQ(first_uses + full, 200);
  EXPECT_LE(table.size(), ReplayTable::kShards * 2);
  EXPECT_GT(full, 0) << "fail closed rather than forget used tokens";
  // Once those have expired, new tokens fit again, and old ones are not replays any more.
  EXPECT_EQ(table.Use("idp\nfresh", 900, 600), Result::kFirstUse);
}

TEST(ReplayStoreTest, ARouteKeepsItsTableAcrossLookups) {
  ReplayStore store;
  auto a = store.Table("agents", "mint");
  EXPECT_EQ(a->Use("k", 10, 1), Result::kFirstUse);
  EXPECT_EQ(store.Table("agents", "mint"), a) << "a reload finds the same table";
  EXPECT_NE(store.Table("agents", "other"), a);
  EXPECT_EQ(store.Table("agents", "mint")->Use("k", 10, 2), Result::kReplayed);
}

}  // namespace
}  // namespace ciap::rate_limit
