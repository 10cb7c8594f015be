// Sign-in for custos-web's portal: customers and the DPO, with passwords
// stored only as Argon2id hashes (PHC strings from libargon2), and a limit
// on failed attempts.
//
// An account names whom custos-web may then call custosd for
// ("customer:<id>" or "staff:<DPO's id>"); custosd itself decides what that
// caller may see. PortalAccounts is immutable after Load and thread-safe;
// LoginLimiter is thread-safe.
#ifndef CUSTOS_CLIENTS_WEB_PORTAL_ACCOUNTS_H_
#define CUSTOS_CLIENTS_WEB_PORTAL_ACCOUNTS_H_

#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace custos::web {

// An Argon2id hash of `password` with a fresh random salt (t=2, 19 MiB, one
// lane), as a PHC string "$argon2id$v=19$m=19456,t=2,p=1$...". INTERNAL if
// hashing fails.
absl::StatusOr<std::string> HashPassword(absl::string_view password);

// Whether `password` matches `encoded`, which must be an Argon2id PHC string;
// false for any other kind of hash or a malformed one. At most one check
// per core (and two at least) runs at once, the rest wait their turn: each
// holds 19 MiB and a core, and custos-web's 32 workers could otherwise
// hold 600 MiB at once for sign-ins posted together.
bool CheckPassword(absl::string_view encoded, absl::string_view password);

// Lets at most `limit` callers run their work at once; the others wait in
// Run until one of those returns.
class ConcurrencyLimit {
 public:
  explicit ConcurrencyLimit(int limit) : limit_(limit) {}

  template <typename Work>
  auto Run(Work work) -> decltype(work()) {
    {
      MutexLock lock(&mu_);
      mu_.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return running_ < limit_;
      });
      ++running_;
    }
    struct Leave {
      ConcurrencyLimit* limit;
      ~Leave() {
        MutexLock lock(&limit->mu_);
        --limit->running_;
      }
    } leave{this};
    return work();
  }

 private:
  const int limit_;
  Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
};

struct PortalAccount {
  std::string login;
  // "customer:<customer id>" or "staff:<staff id>".
  std::string acts_as;
  std::string password_hash;
};

class PortalAccounts {
 public:
  // Reads a file of lines "<login> <acts_as> <argon2id PHC string>"; '#'
  // starts a comment. INVALID_ARGUMENT naming the line for a malformed one,
  // NOT_FOUND when the file cannot be read.
  static absl::StatusOr<PortalAccounts> Load(const std::string& path);

  // The account for `login`, or null.
  const PortalAccount* Find(absl::string_view login) const;

 private:
  std::map<std::string, PortalAccount, std::less<>> accounts_;
};

// Makes the demo's accounts file and the file of their passwords on first
// run: one login per entry of `acts_as` (its login is the id after the
// colon), each with a fresh random password. Both files are written with mode
// 0600; the accounts file holds only hashes. Leaves existing files alone.
absl::Status EnsureDemoAccounts(const std::string& accounts_path,
                                const std::string& passwords_path,
                                const std::vector<std::string>& acts_as);

// Refuses sign-in for a key (a login, or a client address) after
// `max_failures` attempts within `window` that did not sign in, until the
// window has passed since the first of them.
//
// A key is forgotten once its window has passed, at the next attempt of any
// key (each forgets every key whose window has passed, in time order,
// without a walk over the others), so a client's address is not kept longer
// than that; and at once on Forget.
class LoginLimiter {
 public:
  LoginLimiter(int max_failures, absl::Duration window)
      : max_failures_(max_failures), window_(window) {}

  // When every key in `keys` may still try at `now`, counts one attempt
  // against each and returns true; otherwise counts nothing and returns
  // false. The check and the count are one step under one lock, and an
  // attempt counts before its password is checked, so parallel attempts
  // cannot pass the limit together. A good password then takes its attempt
  // back (Forget or Uncount).
  bool TryAttempt(std::initializer_list<absl::string_view> keys,
                  absl::Time now);
  // Forgets `key`'s attempts.
  void Forget(absl::string_view key);
  // Takes back one attempt counted for `key`, keeping the others.
  void Uncount(absl::string_view key);
  // Keys kept, for tests.
  size_t size() const {
    MutexLock lock(&mu_);
    return failures_.size();
  }

 private:
  struct Failures {
    absl::Time first;
    int count = 0;
  };
  using FailuresByKey = std::map<std::string, Failures, std::less<>>;
  void ForgetPassedLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(FailuresByKey::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_failures_;
  const absl::Duration window_;
  mutable Mutex mu_;
  FailuresByKey failures_ ABSL_GUARDED_BY(mu_);
  // Every key by its first failure, to forget keys in the order their
  // windows pass.
  std::set<std::pair<absl::Time, std::string>> by_first_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custos::web

#endif  // CUSTOS_CLIENTS_WEB_PORTAL_ACCOUNTS_H_
