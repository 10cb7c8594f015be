#include "gateway/access_decision.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::gateway {
namespace {

TEST(NewTimeOrderedIdTest, HasTheShapeOfAnIdAndSortsByTime) {
  const absl::Time t = absl::FromUnixMillis(1790000000123);
  auto first = NewTimeOrderedId("g_", t);
  auto same_millisecond = NewTimeOrderedId("g_", t);
  auto later = NewTimeOrderedId("g_", t + absl::Milliseconds(1));
  ASSERT_TRUE(first.ok() && same_millisecond.ok() && later.ok());
  EXPECT_THAT(*first, ::testing::MatchesRegex("g_[0-9a-f]{32}"));
  // The time, 1790000000123 ms, is the first 12 hex digits.
  EXPECT_EQ(first->substr(2, 12), "01a0c4506c7b");
  EXPECT_NE(*first, *same_millisecond);  // 80 random bits tell them apart
  EXPECT_LT(*first, *later);
  EXPECT_LT(*same_millisecond, *later);
}

}  // namespace
}  // namespace custos::gateway
