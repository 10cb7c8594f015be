#include "clients/cli/connection.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace custos::cli {
namespace {

using Source = SettingsLayer::Source;

SettingsLayer Layer(Source source) {
  SettingsLayer layer;
  layer.source = source;
  layer.file = source == Source::kConfigFile ? "/home/u/cli.conf" : "";
  return layer;
}

// The command line, the environment and a config file, strongest first.
class ResolveSettingsTest : public ::testing::Test {
 protected:
  absl::StatusOr<ConnectionSettings> Resolve() const {
    return ResolveSettings({flags_, environment_, config_});
  }

  SettingsLayer flags_ = Layer(Source::kCommandLine);
  SettingsLayer environment_ = Layer(Source::kEnvironment);
  SettingsLayer config_ = Layer(Source::kConfigFile);
};

TEST_F(ResolveSettingsTest, DefaultsWhenNothingIsGiven) {
  auto settings = Resolve();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->server, "localhost:7443");
  EXPECT_EQ(settings->ca_file, ".custos/pki/ca.crt");
  EXPECT_EQ(settings->cert_file, "");
  EXPECT_EQ(settings->key_file, "");
  EXPECT_FALSE(settings->without_certificate);
}

// `export CUSTOS_CERT=dpo.crt CUSTOS_KEY=dpo.key; custos --as alice` runs
// as alice.
TEST_F(ResolveSettingsTest, AsOnTheCommandLineBeatsCertificateInEnvironment) {
  environment_.pki_dir = "/pki";
  environment_.cert = "/pki/clients/dirk.dpo.crt";
  environment_.key = "/pki/clients/dirk.dpo.key";
  flags_.as = "alice";
  auto settings = Resolve();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->cert_file, "/pki/clients/alice.crt");
  EXPECT_EQ(settings->key_file, "/pki/clients/alice.key");
}

TEST_F(ResolveSettingsTest, EnvironmentBeatsTheConfigFile) {
  config_.server = "config:1";
  config_.cert = "/c/dirk.dpo.crt";
  config_.key = "/c/dirk.dpo.key";
  environment_.server = "env:2";
  environment_.as = "alice";
  auto settings = Resolve();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->server, "env:2");
  EXPECT_EQ(settings->cert_file, ".custos/pki/clients/alice.crt");
  flags_.server = "flag:3";
  EXPECT_EQ(Resolve()->server, "flag:3");
}

TEST_F(ResolveSettingsTest, AFileBeatsTheOneDerivedInTheSameLayer) {
  flags_.as = "alice";
  flags_.cert = "/elsewhere/alice.crt";
  auto settings = Resolve();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->cert_file, "/elsewhere/alice.crt");
  EXPECT_EQ(settings->key_file, ".custos/pki/clients/alice.key");
}

TEST_F(ResolveSettingsTest, PkiDirOnTheCommandLineBeatsCaInEnvironment) {
  environment_.ca = "/env/ca.crt";
  flags_.pki_dir = "/flag";
  EXPECT_EQ(Resolve()->ca_file, "/flag/ca.crt");
  // And a CA file given on the command line beats CUSTOS_PKI_DIR.
  flags_.pki_dir.clear();
  environment_.pki_dir = "/env";
  flags_.ca = "/flag/ca.crt";
  EXPECT_EQ(Resolve()->ca_file, "/flag/ca.crt");
}

TEST_F(ResolveSettingsTest, TokenAloneCallsWithoutCertificate) {
  environment_.token = "ct_secret";
  auto settings = Resolve();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_TRUE(settings->without_certificate);
  EXPECT_EQ(settings->bearer_token, "ct_secret");
}

// `CUSTOS_AS=dirk.dpo` and a leftover CUSTOS_TOKEN: neither may decide.
TEST_F(ResolveSettingsTest, RefusesATokenAndAStaffIdentity) {
  environment_.as = "dirk.dpo";
  environment_.token = "ct_secret";
  EXPECT_EQ(Resolve().status(),
            absl::InvalidArgumentError(
                "a customer's token (CUSTOS_TOKEN) and a staff identity "
                "(CUSTOS_AS) are both given, and a call is made as one or the "
                "other: drop one"));
  environment_ = Layer(Source::kEnvironment);
  config_.cert = "/c/dirk.dpo.crt";
  config_.key = "/c/dirk.dpo.key";
  flags_.token = "ct_secret";
  EXPECT_EQ(Resolve().status(),
            absl::InvalidArgumentError(
                "a customer's token (--token) and a staff identity (cert in "
                "/home/u/cli.conf) are both given, and a call is made as one "
                "or the other: drop one"));
}

TEST_F(ResolveSettingsTest, RefusesACertificateWithoutItsKey) {
  environment_.cert = "/c/alice.crt";
  EXPECT_EQ(Resolve().status(),
            absl::InvalidArgumentError("CUSTOS_CERT gives a certificate "
                                       "without its key: give key too"));
}

// A certificate named outright, with the key derived from an identity
// given elsewhere, would pair two people's files.
TEST_F(ResolveSettingsTest, RefusesACertificateAndAKeyFromDifferentPlaces) {
  flags_.cert = "/c/mine.crt";
  environment_.as = "anna.support";
  EXPECT_EQ(Resolve().status(),
            absl::InvalidArgumentError(
                "--cert names a certificate but its key would come from "
                "CUSTOS_AS: give cert and key together, or neither"));
}

}  // namespace
}  // namespace custos::cli
