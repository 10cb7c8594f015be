// custos-web's browser sessions, in memory: who is signed in (or which
// take-identity session the browser holds), with the form token that every
// POST must carry. A restart signs everyone out, which is the safe outcome.
// A visitor who has not signed in has no session kept here, only a form
// token of their own (AnonymousFormTokens).
//
// Thread-safe.
#ifndef CUSTOS_CLIENTS_WEB_WEB_SESSIONS_H_
#define CUSTOS_CLIENTS_WEB_WEB_SESSIONS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace custos::web {

struct WebSession {
  enum class Kind { kAnonymous, kIdentity, kCustomer, kDpo };
  Kind kind = Kind::kAnonymous;
  // The cookie value; only its holder has it. Empty for kAnonymous.
  std::string id;
  // The CSRF token every form of this session carries (for kAnonymous, the
  // one in the browser's form cookie).
  std::string csrf;
  // kCustomer, kDpo: whom custos-web calls custosd for ("customer:acme"),
  // and the login that signed in as them (several logins may act for one
  // customer; each has a cap of sessions of its own).
  std::string acts_as;
  std::string login;
  // kIdentity: the gateway's session token (never sent to the browser) and
  // what the banner shows.
  std::string session_token;
  std::string session_id;
  std::string staff_name;
  std::string user_name;
  std::string customer_id;
  std::string category;
  std::string reference;
  // kIdentity: when the take-identity session expires at custosd (its
  // expires_at), which WebSessions::Create keeps it until.
  absl::Time session_expires;
  // When custos-web forgets this session (kAnonymous: when its form token
  // lapses); set by WebSessions::Create.
  absl::Time expires;
};

class WebSessions {
 public:
  // A signed-in customer's or DPO's session lives `lifetime`. One holding a
  // take-identity session's token lives as long as that session does at
  // custosd (session_expires, up to the policy's longest duration, whatever
  // `lifetime`) and kTakeIdentityKeptPastExpiry more: forgotten earlier, it
  // would leave the session live with no one able to view or end it. An
  // account (WebSessions::AccountOf) holds at most `max_per_account`
  // sessions, and all together at most `max_total`: so that no one who can
  // sign in, however often, makes custos-web hold more (each sign-in makes a
  // session, and the browser that posts it need not keep the cookie).
  //
  // So WebSessions itself never drops the token of a live take-identity
  // session: not at expiry (above), not for the caps (a take-identity
  // session is an account of its own, which its single-use link opens once,
  // and a full server refuses the new session rather than drop one). Only
  // Erase does, whose callers first end the session at custosd or learn
  // that it is over.
  WebSessions(absl::Duration lifetime, size_t max_per_account, size_t max_total)
      : lifetime_(lifetime),
        max_per_account_(max_per_account),
        max_total_(max_total) {}

  // A new session of `session`'s kind and details under fresh id and CSRF
  // token (a sign-in never keeps the id a browser had before it). When its
  // account holds max_per_account sessions already, the oldest of them is
  // dropped: a sign-in always succeeds, and signs out no other account.
  // Otherwise, with max_total sessions held, RESOURCE_EXHAUSTED and nothing
  // is dropped: a browser signed in, or holding the token of a live
  // take-identity session, stays so until its session expires or ends.
  // FAILED_PRECONDITION for a take-identity session that would be forgotten
  // at once (its session_expires more than kTakeIdentityKeptPastExpiry before
  // `now`). INTERNAL if the random source fails.
  absl::StatusOr<WebSession> Create(WebSession session, absl::Time now);
  // The live session with cookie value `id`, or nullopt.
  std::optional<WebSession> Find(const std::string& id, absl::Time now);
  void Erase(const std::string& id);
  absl::Duration lifetime() const { return lifetime_; }
  // How long a take-identity session's browser session outlives it: the
  // next click after its expiry then shows custosd's word that it expired,
  // as the banner's countdown promises, and a custos-web clock ahead of
  // custosd's does not drop a session custosd still serves. An expired
  // session's token opens nothing.
  static constexpr absl::Duration kTakeIdentityKeptPastExpiry = absl::Hours(1);
  // Sessions kept, for tests.
  size_t size() const {
    MutexLock lock(&mu_);
    return sessions_.size();
  }

  // Whose sessions count together toward max_per_account: a signed-in
  // customer's or DPO's by whom custos-web calls for, a take-identity
  // session's by that session alone (its link opens it once).
  static std::string AccountOf(const WebSession& session);

 private:
  struct Held {
    WebSession session;
    std::string account;
    // Counts up with each Create: the account's oldest has the lowest.
    uint64_t serial = 0;
  };
  void EraseLocked(std::map<std::string, Held>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration lifetime_;
  const size_t max_per_account_;
  const size_t max_total_;
  mutable Mutex mu_;
  std::map<std::string, Held> sessions_ ABSL_GUARDED_BY(mu_);
  // Every session by expiry, so that expired ones are forgotten without a
  // walk over all.
  std::set<std::pair<absl::Time, std::string>> by_expiry_ ABSL_GUARDED_BY(mu_);
  // Each account's session ids by serial, oldest first.
  std::map<std::string, std::map<uint64_t, std::string>> by_account_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_serial_ ABSL_GUARDED_BY(mu_) = 0;
};

// Whether custosd's refusal of a call made with a take-identity session's
// token says the session is over for good, so that custos-web may drop the
// token: NOT_FOUND, or FAILED_PRECONDITION (ended, expired, revoked). Not
// ABORTED, custosd's answer while the session's end is being recorded: that
// end may still fail, after which the session serves again.
bool TakeIdentitySessionOver(const absl::Status& status);

// The cookie that holds the form token of a visitor who has not signed in.
// "__Host-" makes browsers accept it only when Secure, host-only and Path=/.
inline constexpr char kFormCookie[] = "__Host-custos-form";

// Form tokens of visitors who have not signed in (the sign-in form, the page
// a take-identity link opens), kept by nobody but the visitor: a token is
// "<expiry in Unix seconds>.<random nonce>.<HMAC-SHA256 of both>" under a
// secret made at start, the browser holds it in kFormCookie, and a form is
// good when it carries that same token and the token is one of these and
// unexpired. So page loads by anyone cost custos-web no memory, cannot push
// out a visitor's pending sign-in, and never set the session cookie. A
// restart invalidates the tokens, as it signs everyone out.
//
// Immutable after Create; thread-safe.
class AnonymousFormTokens {
 public:
  // Tokens that live `lifetime`, under a fresh secret. UNAVAILABLE if the
  // random source fails.
  static absl::StatusOr<AnonymousFormTokens> Create(absl::Duration lifetime);

  // A new token, good until `now` + lifetime. UNAVAILABLE if the random
  // source fails.
  absl::StatusOr<std::string> Issue(absl::Time now) const;
  // When `token` lapses, if it is one of these and has not lapsed at `now`;
  // nullopt otherwise (forged, altered, malformed, from another secret).
  std::optional<absl::Time> Expiry(absl::string_view token,
                                   absl::Time now) const;
  // A Set-Cookie value for kFormCookie holding `token`: HttpOnly, Secure,
  // SameSite=Lax, Path=/, with a Max-Age that ends when the token lapses.
  std::string Cookie(absl::string_view token, absl::Time now) const;
  absl::Duration lifetime() const { return lifetime_; }

 private:
  AnonymousFormTokens(std::string secret, absl::Duration lifetime)
      : secret_(std::move(secret)), lifetime_(lifetime) {}
  std::string Mac(absl::string_view expiry_and_nonce) const;

  std::string secret_;
  absl::Duration lifetime_;
};

}  // namespace custos::web

#endif  // CUSTOS_CLIENTS_WEB_WEB_SESSIONS_H_
