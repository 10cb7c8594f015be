#include "clients/web/portal_accounts.h"

#include <argon2.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "clients/web/web_security.h"
#include "common/files.h"

namespace custos::web {
namespace {

// OWASP's minimum for Argon2id: 19 MiB, two passes, one lane.
constexpr uint32_t kTimeCost = 2;
constexpr uint32_t kMemoryKiB = 19 * 1024;
constexpr uint32_t kLanes = 1;
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;

}  // namespace

absl::StatusOr<std::string> HashPassword(absl::string_view password) {
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1) {
    return absl::InternalError("password: no random salt");
  }
  const size_t length = argon2_encodedlen(kTimeCost, kMemoryKiB, kLanes,
                                          kSaltBytes, kHashBytes, Argon2_id);
  std::string encoded(length, '\0');
  const int rc = argon2id_hash_encoded(
      kTimeCost, kMemoryKiB, kLanes, password.data(), password.size(), salt,
      sizeof salt, kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return absl::InternalError(
        absl::StrCat("password: Argon2id failed: ", argon2_error_message(rc)));
  }
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool CheckPassword(absl::string_view encoded, absl::string_view password) {
  // Only Argon2id: a stored hash of another kind is a configuration error,
  // not a password to accept.
  if (!absl::StartsWith(encoded, "$argon2id$") || encoded.size() > 512) {
    return false;
  }
  static ConcurrencyLimit* const checks = new ConcurrencyLimit(
      std::max(2, static_cast<int>(std::thread::hardware_concurrency())));
  const std::string hash(encoded);
  return checks->Run([&] {
    return argon2id_verify(hash.c_str(), password.data(), password.size()) ==
           ARGON2_OK;
  });
}

absl::StatusOr<PortalAccounts> PortalAccounts::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  PortalAccounts accounts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> parts =
        absl::StrSplit(text, ' ', absl::SkipEmpty());
    if (parts.size() != 3 ||
        !(absl::StartsWith(parts[1], "customer:") ||
          absl::StartsWith(parts[1], "staff:")) ||
        !absl::StartsWith(parts[2], "$argon2id$")) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", number,
          ": expected \"<login> customer:<id>|staff:<id> $argon2id$...\""));
    }
    PortalAccount account{parts[0], parts[1], parts[2]};
    if (!accounts.accounts_.emplace(parts[0], std::move(account)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", number, ": login ", parts[0], " repeated"));
    }
  }
  return accounts;
}

const PortalAccount* PortalAccounts::Find(absl::string_view login) const {
  auto it = accounts_.find(login);
  return it == accounts_.end() ? nullptr : &it->second;
}

absl::Status EnsureDemoAccounts(const std::string& accounts_path,
                                const std::string& passwords_path,
                                const std::vector<std::string>& acts_as) {
  if (access(accounts_path.c_str(), F_OK) == 0) return absl::OkStatus();
  std::string accounts =
      "# custos-web portal accounts: login, whom it acts as, Argon2id hash.\n";
  std::string passwords = "# Demo logins of custos-web: login password\n";
  for (const std::string& who : acts_as) {
    std::pair<std::string, std::string> kind_id =
        absl::StrSplit(who, absl::MaxSplits(':', 1));
    auto token = RandomToken();
    if (!token.ok()) return token.status();
    const std::string password = token->substr(0, 20);
    auto hash = HashPassword(password);
    if (!hash.ok()) return hash.status();
    absl::StrAppend(&accounts, kind_id.second, " ", who, " ", *hash, "\n");
    absl::StrAppend(&passwords, kind_id.second, " ", password, "\n");
  }
  // Passwords first: an accounts file without them would lock everyone out.
  if (auto s = WriteFileAtomically(passwords_path, passwords, 0600); !s.ok())
    return s;
  return WriteFileAtomically(accounts_path, accounts, 0600);
}

bool LoginLimiter::TryAttempt(std::initializer_list<absl::string_view> keys,
                              absl::Time now) {
  MutexLock lock(&mu_);
  // A key whose window has passed is gone now, so a key found is counting.
  ForgetPassedLocked(now);
  for (absl::string_view key : keys) {
    auto it = failures_.find(key);
    if (it != failures_.end() && it->second.count >= max_failures_) {
      return false;
    }
  }
  for (absl::string_view key : keys) {
    auto [it, inserted] = failures_.try_emplace(std::string(key));
    if (inserted) {
      it->second.first = now;
      by_first_.emplace(now, it->first);
    }
    ++it->second.count;
  }
  return true;
}

void LoginLimiter::Forget(absl::string_view key) {
  MutexLock lock(&mu_);
  EraseLocked(failures_.find(key));
}

void LoginLimiter::Uncount(absl::string_view key) {
  MutexLock lock(&mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return;
  if (--it->second.count == 0) EraseLocked(it);
}

void LoginLimiter::ForgetPassedLocked(absl::Time now) {
  // Each key is erased once, after the attempt that added it: the work is
  // bounded by the attempts counted.
  while (!by_first_.empty() && now - by_first_.begin()->first >= window_) {
    EraseLocked(failures_.find(by_first_.begin()->second));
  }
}

void LoginLimiter::EraseLocked(FailuresByKey::iterator it) {
  if (it == failures_.end()) return;
  by_first_.erase({it->second.first, it->first});
  failures_.erase(it);
}

}  // namespace custos::web
