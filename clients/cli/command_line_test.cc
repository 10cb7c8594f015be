#include "clients/cli/command_line.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Defined under clients/cli/, so the CLI's parser knows them.
ABSL_FLAG(std::string, colour, "", "A string flag.");
ABSL_FLAG(bool, loud, false, "A bool flag.");
ABSL_FLAG(int, count, 0, "An int flag.");

namespace custos::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ParseCommandLineTest, SetsFlagsAndReturnsTheWords) {
  absl::FlagSaver saver;
  auto line = ParseCommandLine(
      {"--colour=red", "access", "-count", "3", "list", "--loud"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(line->words, ElementsAre("access", "list"));
  EXPECT_THAT(line->flags_given, ElementsAre("colour", "count", "loud"));
  EXPECT_FALSE(line->help);
  EXPECT_EQ(absl::GetFlag(FLAGS_colour), "red");
  EXPECT_EQ(absl::GetFlag(FLAGS_count), 3);
  EXPECT_TRUE(absl::GetFlag(FLAGS_loud));
}

TEST(ParseCommandLineTest, NoBeforeABoolFlagSetsItFalse) {
  absl::FlagSaver saver;
  absl::SetFlag(&FLAGS_loud, true);
  auto line = ParseCommandLine({"--noloud"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_FALSE(absl::GetFlag(FLAGS_loud));
  // Not for another type.
  EXPECT_EQ(ParseCommandLine({"--nocount"}).status(),
            absl::InvalidArgumentError("unknown flag --nocount"));
}

TEST(ParseCommandLineTest, RefusesAnUnknownFlagAndSetsTheOthers) {
  absl::FlagSaver saver;
  auto line = ParseCommandLine({"--bogus", "x", "--colour", "red"});
  EXPECT_EQ(line.status(), absl::InvalidArgumentError("unknown flag --bogus"));
  // Set, so that --output json still tells the error as JSON.
  EXPECT_EQ(absl::GetFlag(FLAGS_colour), "red");
}

TEST(ParseCommandLineTest, RefusesAValueOfAnotherType) {
  absl::FlagSaver saver;
  auto line = ParseCommandLine({"--count", "many"});
  EXPECT_EQ(line.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(line.status().message()), StartsWith("--count: "));
  EXPECT_EQ(absl::GetFlag(FLAGS_count), 0);
}

TEST(ParseCommandLineTest, RefusesAFlagWithoutItsValue) {
  absl::FlagSaver saver;
  EXPECT_EQ(ParseCommandLine({"access", "list", "--colour"}).status(),
            absl::InvalidArgumentError("--colour needs a value"));
}

TEST(ParseCommandLineTest, HelpIsNoError) {
  auto line = ParseCommandLine({"access", "list", "--help"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(line->help);
  EXPECT_THAT(line->words, ElementsAre("access", "list"));
  EXPECT_TRUE(ParseCommandLine({"-h"})->help);
}

TEST(ParseCommandLineTest, DoubleDashEndsTheFlags) {
  absl::FlagSaver saver;
  auto line = ParseCommandLine({"--loud", "--", "--colour", "-"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(line->words, ElementsAre("--colour", "-"));
  EXPECT_EQ(absl::GetFlag(FLAGS_colour), "");
}

TEST(FlagsHelpTest, ListsTheCliFlagsByName) {
  EXPECT_THAT(FlagsHelp(), HasSubstr("  --colour  A string flag.\n"
                                     "  --count  An int flag.\n"
                                     "  --loud  A bool flag.\n"));
}

}  // namespace
}  // namespace custos::cli
