// custos-web's browser sessions, in memory: who is signed in (or which
// take-identity session the browser holds), with the form token that every
// POST must carry. A restart signs everyone out, which is the safe outcome.
//
// Thread-safe.
#ifndef CUSTOS_CLIENTS_WEB_WEB_SESSIONS_H_
#define CUSTOS_CLIENTS_WEB_WEB_SESSIONS_H_

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace custos::web {

struct WebSession {
  enum class Kind { kAnonymous, kIdentity, kCustomer, kDpo };
  Kind kind = Kind::kAnonymous;
  // The cookie value; only its holder has it.
  std::string id;
  // The CSRF token every form of this session carries.
  std::string csrf;
  // kCustomer, kDpo: whom custos-web calls custosd for ("customer:acme").
  std::string acts_as;
  // kIdentity: the gateway's session token (never sent to the browser) and
  // what the banner shows.
  std::string session_token;
  std::string session_id;
  std::string staff_name;
  std::string user_name;
  std::string customer_id;
  std::string category;
  std::string reference;
  absl::Time session_expires;
  // When custos-web forgets this session.
  absl::Time expires;
};

class WebSessions {
 public:
  // Sessions live `lifetime`; anonymous ones (a visitor who has not signed
  // in yet, holding only a form token) `anonymous_lifetime`, and at most
  // `max_anonymous` of them are kept, the oldest forgotten first: anyone
  // can make one with a GET, so they must not grow without bound.
  explicit WebSessions(absl::Duration lifetime,
                       absl::Duration anonymous_lifetime = absl::Minutes(30),
                       size_t max_anonymous = 10000)
      : lifetime_(lifetime),
        anonymous_lifetime_(std::min(lifetime, anonymous_lifetime)),
        max_anonymous_(max_anonymous) {}

  // A new session of `session`'s kind and details under fresh id and CSRF
  // token (a sign-in never keeps the id a browser had before it).
  absl::StatusOr<WebSession> Create(WebSession session, absl::Time now);
  // The live session with cookie value `id`, or nullopt.
  std::optional<WebSession> Find(const std::string& id, absl::Time now);
  void Erase(const std::string& id);
  absl::Duration lifetime() const { return lifetime_; }
  // Sessions kept, for tests.
  size_t size() const {
    MutexLock lock(&mu_);
    return sessions_.size();
  }

 private:
  using ByExpiry = std::set<std::pair<absl::Time, std::string>>;
  void EraseLocked(std::map<std::string, WebSession>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration lifetime_;
  const absl::Duration anonymous_lifetime_;
  const size_t max_anonymous_;
  mutable Mutex mu_;
  std::map<std::string, WebSession> sessions_ ABSL_GUARDED_BY(mu_);
  // Every session by expiry, so that expired ones are forgotten without a
  // walk over all; the anonymous ones again, to forget the oldest first.
  ByExpiry by_expiry_ ABSL_GUARDED_BY(mu_);
  ByExpiry anonymous_by_expiry_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custos::web

#endif  // CUSTOS_CLIENTS_WEB_WEB_SESSIONS_H_
