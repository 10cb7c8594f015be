#include "common/page_token.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos {
namespace {

TEST(PageTokenTest, AnEmptyTokenStartsAtTheNewestRow) {
  EXPECT_EQ(*PageStart('g', ""), std::numeric_limits<int64_t>::max());
}

TEST(PageTokenTest, ATokenStartsBelowItsRow) {
  EXPECT_EQ(PageToken('s', 42), "s42");
  EXPECT_EQ(*PageStart('s', PageToken('s', 42)), 42);
}

TEST(PageTokenTest, RefusesAnotherListsTokenAndAnythingElse) {
  for (const char* token : {"t42", "s", "s-1", "s0", "s042", "s+42", "s42x",
                            "s99999999999999999999", "42", " s42"}) {
    auto start = PageStart('s', token);
    EXPECT_EQ(start.status().code(), absl::StatusCode::kInvalidArgument)
        << token;
    EXPECT_THAT(std::string(start.status().message()),
                ::testing::StartsWith("page_token:"))
        << token;
  }
}

}  // namespace
}  // namespace custos
