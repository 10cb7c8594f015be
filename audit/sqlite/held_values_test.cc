#include "audit/sqlite/held_values.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace custos::audit::sqlite {
namespace {

TEST(RowValuesTest, RoundTripsValuesOfEveryLength) {
  const std::vector<RowValue> values = {
      {"note", "anna", std::string(16, '\0'), std::string(300, 'n')},
      {"source_ip", "anna", "", "203.0.0.0"},
      {"", "", "", ""},
  };
  const std::string bytes = EncodeRowValues(values);
  auto decoded = DecodeRowValues(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, values);
  EXPECT_TRUE(DecodeRowValues("")->empty());
}

TEST(RowValuesTest, RefusesEveryTruncationAndALengthPastTheEnd) {
  const std::string bytes =
      EncodeRowValues({{"note", "anna", "salt-salt-salt-s", "a note"}});
  for (size_t n = 1; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeRowValues(bytes.substr(0, n)).status().code(),
              absl::StatusCode::kDataLoss)
        << n;
  }
  EXPECT_FALSE(DecodeRowValues("\xff\xff\xff\xff\xff\x01").ok());
  EXPECT_FALSE(DecodeRowValues(std::string("\x7f", 1)).ok());
  // A length written with a needless extra byte.
  EXPECT_FALSE(DecodeRowValues(std::string("\x80\x00\x00\x00\x00", 5)).ok());
}

}  // namespace
}  // namespace custos::audit::sqlite
