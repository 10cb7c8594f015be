#include "clients/web/portal_accounts.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace custos::web {
namespace {

std::string TempPath(absl::string_view name) {
  return absl::StrCat(::testing::TempDir(), "/", name);
}

TEST(PasswordTest, Argon2idHashChecksOnlyTheRightPassword) {
  auto hash = HashPassword("correct horse");
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_TRUE(absl::StartsWith(*hash, "$argon2id$v=19$m=19456,t=2,p=1$"))
      << *hash;
  EXPECT_TRUE(CheckPassword(*hash, "correct horse"));
  EXPECT_FALSE(CheckPassword(*hash, "correct horsE"));
  EXPECT_FALSE(CheckPassword(*hash, ""));
}

TEST(PasswordTest, SaltsEveryHash) {
  auto a = HashPassword("same");
  auto b = HashPassword("same");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(PasswordTest, RefusesOtherHashKinds) {
  auto hash = HashPassword("pw");
  ASSERT_TRUE(hash.ok());
  // The same bytes claimed as Argon2i, or garbage, never match.
  std::string argon2i = *hash;
  argon2i.replace(0, 10, "$argon2i$");
  EXPECT_FALSE(CheckPassword(argon2i, "pw"));
  EXPECT_FALSE(CheckPassword("plain-text-pw", "plain-text-pw"));
  EXPECT_FALSE(CheckPassword("$argon2id$garbage", "pw"));
}

TEST(PortalAccountsTest, DemoAccountsAreWrittenPrivatelyAndSignIn) {
  const std::string accounts = TempPath("accounts");
  const std::string passwords = TempPath("passwords");
  ASSERT_TRUE(EnsureDemoAccounts(accounts, passwords,
                                 {"customer:acme", "staff:dirk.dpo"})
                  .ok());
  struct stat st;
  ASSERT_EQ(stat(accounts.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  ASSERT_EQ(stat(passwords.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  std::ifstream in(passwords);
  std::string line, login, password;
  std::getline(in, line);  // comment
  in >> login >> password;
  EXPECT_EQ(login, "acme");

  auto loaded = PortalAccounts::Load(accounts);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const PortalAccount* acme = loaded->Find("acme");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme->acts_as, "customer:acme");
  EXPECT_TRUE(CheckPassword(acme->password_hash, password));
  EXPECT_EQ(loaded->Find("dirk.dpo")->acts_as, "staff:dirk.dpo");
  EXPECT_EQ(loaded->Find("nobody"), nullptr);

  // The accounts file holds no password.
  std::ifstream stored(accounts);
  std::string text((std::istreambuf_iterator<char>(stored)), {});
  EXPECT_FALSE(absl::StrContains(text, password));

  // A second run keeps the first run's accounts.
  ASSERT_TRUE(EnsureDemoAccounts(accounts, passwords, {"customer:acme"}).ok());
  auto again = PortalAccounts::Load(accounts);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Find("acme")->password_hash, acme->password_hash);
}

TEST(PortalAccountsTest, MalformedLineIsNamed) {
  const std::string path = TempPath("bad_accounts");
  std::ofstream(path) << "# comment\nacme customer:acme plaintext\n";
  auto loaded = PortalAccounts::Load(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(loaded.status().message(), ":2:"))
      << loaded.status();
  EXPECT_EQ(PortalAccounts::Load(TempPath("missing")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(LoginLimiterTest, RefusesAfterFiveFailuresUntilTheWindowPasses) {
  LoginLimiter limiter(5, absl::Minutes(15));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(limiter.Allowed("login:acme", t0)) << i;
    limiter.RecordFailure("login:acme", t0 + absl::Seconds(i));
  }
  EXPECT_FALSE(limiter.Allowed("login:acme", t0 + absl::Minutes(14)));
  EXPECT_TRUE(limiter.Allowed("login:nordwind", t0 + absl::Minutes(14)));
  EXPECT_TRUE(limiter.Allowed("login:acme", t0 + absl::Minutes(15)));
}

TEST(LoginLimiterTest, SuccessClearsFailures) {
  LoginLimiter limiter(2, absl::Minutes(15));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  limiter.RecordFailure("k", t0);
  limiter.RecordSuccess("k");
  EXPECT_EQ(limiter.size(), 0u);
  limiter.RecordFailure("k", t0);
  EXPECT_TRUE(limiter.Allowed("k", t0));
}

// A failed sign-in's address is personal data: it is forgotten once its
// window has passed, whichever key is checked or fails next.
TEST(LoginLimiterTest, ForgetsAKeyOnceItsWindowHasPassed) {
  LoginLimiter limiter(5, absl::Minutes(15));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  limiter.RecordFailure("address:192.0.2.7", t0);
  limiter.RecordFailure("login:acme", t0 + absl::Minutes(10));
  EXPECT_EQ(limiter.size(), 2u);
  EXPECT_TRUE(limiter.Allowed("login:nordwind", t0 + absl::Minutes(15)));
  EXPECT_EQ(limiter.size(), 1u);
  limiter.RecordFailure("login:nordwind", t0 + absl::Minutes(25));
  EXPECT_EQ(limiter.size(), 1u);
  EXPECT_TRUE(limiter.Allowed("login:nordwind", t0 + absl::Minutes(40)));
  EXPECT_EQ(limiter.size(), 0u);
}

}  // namespace
}  // namespace custos::web
