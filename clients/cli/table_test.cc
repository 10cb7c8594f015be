#include "clients/cli/table.h"

#include <sstream>

#include "gtest/gtest.h"

namespace custos::cli {
namespace {

TEST(TableTest, AlignsColumnsByCodePoints) {
  Table table({"ID", "NAME"});
  table.AddRow({"1", "Koß"});
  table.AddRow({"22", "x"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(), "ID  NAME\n1   Koß\n22  x\n");
  EXPECT_EQ(table.size(), 2u);
}

TEST(TableTest, PadsShortRows) {
  Table table({"A", "B", "C"});
  table.AddRow({"a"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(), "A  B  C\na\n");
}

}  // namespace
}  // namespace custos::cli
