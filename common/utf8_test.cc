#include "common/utf8.h"

#include "gtest/gtest.h"

namespace custos {
namespace {

TEST(Utf8Test, TellsValidFromInvalid) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("Émile \xF0\x9F\x93\xA7"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // Cut short.
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // Overlong '/'.
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // A surrogate.
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // Past U+10FFFF.
  EXPECT_FALSE(IsValidUtf8("a\x80z"));            // A lone continuation.
}

TEST(Utf8Test, ReplacesEachBadByteAndKeepsTheRest) {
  EXPECT_EQ(ToValidUtf8("Émile"), "Émile");
  EXPECT_EQ(ToValidUtf8("a\xC3"), "a\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xC0\xAFx"), "\xEF\xBF\xBD\xEF\xBF\xBDx");
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("\xFF\xFE\xED\xA0\x80 ok")));
}

TEST(Utf8Test, CutsOnlyBetweenCharacters) {
  const std::string text = "ab\xC3\xA9\xE2\x82\xAC\xF0\x9F\x93\xA7";  // abé€📧
  EXPECT_EQ(Utf8Prefix(text, 100), text);
  EXPECT_EQ(Utf8Prefix(text, 2), "ab");
  EXPECT_EQ(Utf8Prefix(text, 3), "ab");
  EXPECT_EQ(Utf8Prefix(text, 4), "ab\xC3\xA9");
  EXPECT_EQ(Utf8Prefix(text, 6), "ab\xC3\xA9");
  EXPECT_EQ(Utf8Prefix(text, 7), "ab\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(Utf8Prefix(text, 10), "ab\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(Utf8Prefix(text, 0), "");
  for (size_t n = 0; n <= text.size(); ++n) {
    EXPECT_TRUE(IsValidUtf8(Utf8Prefix(text, n))) << n;
  }
}

}  // namespace
}  // namespace custos
