#include "clients/web/portal_accounts.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

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

TEST(ConcurrencyLimitTest, RunsAtMostItsLimitAtOnce) {
  ConcurrencyLimit limit(3);
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 12; ++i) {
    callers.emplace_back([&] {
      const int value = limit.Run([&] {
        const int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        --running;
        return 7;
      });
      EXPECT_EQ(value, 7);
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_LE(most.load(), 3);
  EXPECT_GE(most.load(), 1);
  EXPECT_EQ(running.load(), 0);
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

TEST(LoginLimiterTest, RefusesAfterFiveAttemptsUntilTheWindowPasses) {
  LoginLimiter limiter(5, absl::Minutes(15));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(limiter.TryAttempt({"login:acme"}, t0 + absl::Seconds(i))) << i;
  }
  EXPECT_FALSE(limiter.TryAttempt({"login:acme"}, t0 + absl::Minutes(14)));
  EXPECT_TRUE(limiter.TryAttempt({"login:nordwind"}, t0 + absl::Minutes(14)));
  EXPECT_TRUE(limiter.TryAttempt({"login:acme"}, t0 + absl::Minutes(15)));
}

// A refused attempt counts against none of its keys: an address that is
// refused does not use up the attempts of the login it tried.
TEST(LoginLimiterTest, CountsAgainstEveryKeyOrNone) {
  LoginLimiter limiter(2, absl::Minutes(15));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  EXPECT_TRUE(limiter.TryAttempt({"login:acme", "address:192.0.2.7"}, t0));
  EXPECT_TRUE(limiter.TryAttempt({"login:nordwind", "address:192.0.2.7"}, t0));
  EXPECT_FALSE(limiter.TryAttempt({"login:globex", "address:192.0.2.7"}, t0));
  EXPECT_EQ(limiter.size(), 3u);
  EXPECT_TRUE(limiter.TryAttempt({"login:acme", "address:192.0.2.8"}, t0));
  EXPECT_FALSE(limiter.TryAttempt({"login:acme", "address:192.0.2.9"}, t0));
}

TEST(LoginLimiterTest, ForgetAndUncountTakeAttemptsBack) {
  LoginLimiter limiter(2, absl::Minutes(15));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  ASSERT_TRUE(limiter.TryAttempt({"k"}, t0));
  ASSERT_TRUE(limiter.TryAttempt({"k"}, t0));
  limiter.Forget("k");
  EXPECT_EQ(limiter.size(), 0u);
  ASSERT_TRUE(limiter.TryAttempt({"k"}, t0));
  ASSERT_TRUE(limiter.TryAttempt({"k"}, t0));
  limiter.Uncount("k");
  EXPECT_TRUE(limiter.TryAttempt({"k"}, t0));
  EXPECT_FALSE(limiter.TryAttempt({"k"}, t0));
  // The last attempt taken back forgets the key.
  limiter.Forget("k");
  ASSERT_TRUE(limiter.TryAttempt({"k"}, t0));
  limiter.Uncount("k");
  EXPECT_EQ(limiter.size(), 0u);
}

// As many threads as custos-web has workers try at once: no more than the
// limit get through to a password check.
TEST(LoginLimiterTest, ParallelAttemptsCannotPassTheLimitTogether) {
  LoginLimiter limiter(5, absl::Minutes(15));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&] {
      if (limiter.TryAttempt({"login:acme", "address:192.0.2.7"}, t0)) {
        ++allowed;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 5);
}

// A failed sign-in's address is personal data: it is forgotten once its
// window has passed, whichever key tries next.
TEST(LoginLimiterTest, ForgetsAKeyOnceItsWindowHasPassed) {
  LoginLimiter limiter(5, absl::Minutes(15));
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  ASSERT_TRUE(limiter.TryAttempt({"address:192.0.2.7"}, t0));
  ASSERT_TRUE(limiter.TryAttempt({"login:acme"}, t0 + absl::Minutes(10)));
  EXPECT_EQ(limiter.size(), 2u);
  EXPECT_TRUE(limiter.TryAttempt({"login:nordwind"}, t0 + absl::Minutes(15)));
  EXPECT_EQ(limiter.size(), 2u);
  ASSERT_TRUE(limiter.TryAttempt({"login:nordwind"}, t0 + absl::Minutes(25)));
  EXPECT_EQ(limiter.size(), 1u);
  EXPECT_TRUE(limiter.TryAttempt({"login:globex"}, t0 + absl::Minutes(40)));
  EXPECT_EQ(limiter.size(), 1u);
}

}  // namespace
}  // namespace custos::web
