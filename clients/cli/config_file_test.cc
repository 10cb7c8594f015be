#include "clients/cli/config_file.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace custos::cli {
namespace {

TEST(ParseConfigFileTest, ReadsKeysSkipsCommentsAndPlacesRelativePaths) {
  auto config = ParseConfigFile(
      "# Anna's defaults\n"
      "\n"
      "server = custos.example.com:7443\n"
      "  as=anna.support  \n"
      "pki_dir = pki\n"
      "ca = /etc/custos/ca.crt\n"
      "output = json\r\n",
      "/home/anna/.config/custos/cli.conf");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->settings.source, SettingsLayer::Source::kConfigFile);
  EXPECT_EQ(config->settings.file, "/home/anna/.config/custos/cli.conf");
  EXPECT_EQ(config->settings.server, "custos.example.com:7443");
  EXPECT_EQ(config->settings.as, "anna.support");
  EXPECT_EQ(config->settings.pki_dir, "/home/anna/.config/custos/pki");
  EXPECT_EQ(config->settings.ca, "/etc/custos/ca.crt");
  EXPECT_EQ(config->settings.cert, "");
  EXPECT_EQ(config->output, "json");
}

TEST(ParseConfigFileTest, RefusesAnUnknownKeyNamingFileLineAndKey) {
  EXPECT_EQ(ParseConfigFile("as = anna\nsever = x:1\n", "/c/cli.conf").status(),
            absl::InvalidArgumentError(
                "/c/cli.conf:2: unknown key \"sever\" (expected server, as, "
                "pki_dir, ca, cert, key or output)"));
  // A token is a secret, and no setting of the file.
  EXPECT_EQ(ParseConfigFile("token = ct_1\n", "/c/cli.conf").status().message(),
            "/c/cli.conf:1: unknown key \"token\" (expected server, as, "
            "pki_dir, ca, cert, key or output)");
}

TEST(ParseConfigFileTest, RefusesMalformedLines) {
  EXPECT_EQ(ParseConfigFile("# ok\nas anna\n", "/c/cli.conf").status(),
            absl::InvalidArgumentError(
                "/c/cli.conf:2: expected key = value, not \"as anna\""));
  EXPECT_EQ(ParseConfigFile("as =\n", "/c/cli.conf").status(),
            absl::InvalidArgumentError("/c/cli.conf:1: as: no value"));
  EXPECT_EQ(
      ParseConfigFile("as = a\n\nas = b\n", "/c/cli.conf").status(),
      absl::InvalidArgumentError("/c/cli.conf:3: as: given before, on line 1"));
  EXPECT_EQ(ParseConfigFile("output = xml\n", "/c/cli.conf").status(),
            absl::InvalidArgumentError(
                "/c/cli.conf:1: output: expected table or json, not \"xml\""));
}

TEST(LocateConfigFileTest, FlagThenEnvironmentThenXdgThenHome) {
  setenv("CUSTOS_CONFIG", "/env/cli.conf", 1);
  setenv("XDG_CONFIG_HOME", "/xdg", 1);
  setenv("HOME", "/home/u", 1);
  EXPECT_EQ(LocateConfigFile("/flag/cli.conf").path, "/flag/cli.conf");
  EXPECT_TRUE(LocateConfigFile("/flag/cli.conf").named);
  EXPECT_EQ(LocateConfigFile("").path, "/env/cli.conf");
  EXPECT_TRUE(LocateConfigFile("").named);
  unsetenv("CUSTOS_CONFIG");
  EXPECT_EQ(LocateConfigFile("").path, "/xdg/custos/cli.conf");
  EXPECT_FALSE(LocateConfigFile("").named);
  unsetenv("XDG_CONFIG_HOME");
  EXPECT_EQ(LocateConfigFile("").path, "/home/u/.config/custos/cli.conf");
}

TEST(ReadConfigFileTest, OnlyANamedFileMustExist) {
  const std::string missing = ::testing::TempDir() + "/no-such/cli.conf";
  auto config = ReadConfigFile({missing, /*named=*/false});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->settings.as, "");
  EXPECT_EQ(ReadConfigFile({missing, /*named=*/true}).status().code(),
            absl::StatusCode::kNotFound);

  const std::string path = ::testing::TempDir() + "/cli.conf";
  std::ofstream(path) << "as = anna.support\n";
  config = ReadConfigFile({path, /*named=*/false});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->settings.as, "anna.support");
}

}  // namespace
}  // namespace custos::cli
