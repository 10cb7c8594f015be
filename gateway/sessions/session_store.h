// Take-identity sessions and the secrets that open them: the single-use
// link token and the session token, both kept only as SHA-256 hashes.
//
// Kept in an SQLite file. Thread-safe (one connection behind a mutex).
#ifndef CUSTOS_GATEWAY_SESSIONS_SESSION_STORE_H_
#define CUSTOS_GATEWAY_SESSIONS_SESSION_STORE_H_

#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/page_token.h"
#include "common/sqlite_file.h"
#include "common/sqlite_statements.h"
#include "proto/custos/v1/identity.pb.h"

namespace custos::gateway {

class SessionStore {
 public:
  static absl::StatusOr<std::unique_ptr<SessionStore>> Open(
      const std::string& path);
  ~SessionStore();

  // Stores a new session whose link token hashes to `link_hash` and may be
  // exchanged until `link_expires`.
  absl::Status Create(const custos::v1::TakeIdentitySession& session,
                      absl::string_view link_hash, absl::Time link_expires);

  // The session a link would open now, changing nothing: so that an
  // exchange is checked before its entry is written and only then claimed
  // (ExchangeLink). The link must be made for `staff_id` (empty: whoever
  // holds it; custos-web presents it on the engineer's behalf).
  // PERMISSION_DENIED for an unknown, used or expired link or another staff
  // member's; FAILED_PRECONDITION for a session revoked, ended or expired
  // before its link was used, or marked ending (MarkEnding).
  absl::StatusOr<custos::v1::TakeIdentitySession> FindLink(
      absl::string_view link_hash, absl::string_view staff_id,
      absl::Time now) const;

  // Exchanges a link once: as FindLink, and in one step with that check
  // the link is spent, the session is LIVE and its token hashes to
  // `token_hash`. Of two exchanges, one wins; the other, like every
  // refusal, leaves the link as it was.
  absl::StatusOr<custos::v1::TakeIdentitySession> ExchangeLink(
      absl::string_view link_hash, absl::string_view staff_id,
      absl::string_view token_hash, absl::Time now);

  // The session for a token hash or an id, as of `now` (LIVE or
  // LINK_ISSUED past expiry reads EXPIRED). NOT_FOUND otherwise.
  absl::StatusOr<custos::v1::TakeIdentitySession> ByToken(
      absl::string_view token_hash, absl::Time now) const;
  absl::StatusOr<custos::v1::TakeIdentitySession> ById(
      absl::string_view session_id, absl::Time now) const;

  // Adds to a session's page views and actions if it is LIVE at `now`, in
  // one step with any other change to it: a view or action counted here
  // came before any end or revocation, and none is counted after one.
  // FAILED_PRECONDITION, saying the session's state, when it is not live;
  // ABORTED while it is being ended (MarkEnding); NOT_FOUND naming
  // session_id.
  absl::Status Count(absl::string_view session_id, int64_t page_views,
                     int64_t actions, absl::Time now);

  // OK while the session, as stored, is LIVE at `now` (an end only marked,
  // MarkEnding, does not count): a view's or action's last check once its
  // entry is in the log, since MarkEnding does not wait for those counted
  // before it, so that one logged after an end applied serves nothing.
  // FAILED_PRECONDITION saying its state otherwise; NOT_FOUND.
  absl::Status StillLive(absl::string_view session_id, absl::Time now) const;

  // Refuses every use of the session while the returned mark is held:
  // Count, and ExchangeLink (without spending the link), answer ABORTED
  // saying it is ending: not FAILED_PRECONDITION, which says a session is
  // over for good, since the end may yet fail to be recorded and the
  // session serve again (custos-web keeps its token on ABORTED, and drops
  // it on FAILED_PRECONDITION). For an end that is stored
  // only once its log entry is durable: nothing may be served in between,
  // or the log would show pages after the revocation. Kept in memory only,
  // and it only takes access away; End makes the end lasting. Dropping the
  // mark (the end is stored, or its entry or the end could not be written)
  // lifts it. One end at a time: ABORTED while another holds a
  // mark, so that of two ends racing the second is refused before its
  // entry, not after it with part of it applied (a grant revoked beside a
  // session that could no longer be ended). The store must outlive the
  // mark.
  absl::StatusOr<std::shared_ptr<const void>> MarkEnding(
      absl::string_view session_id);

  // Ends an open session (LIVE or LINK_ISSUED, not past its expiry) as
  // `state` (ENDED or REVOKED) by `by` at `now`, in one step: of two ends,
  // one wins and the other gets FAILED_PRECONDITION.
  absl::StatusOr<custos::v1::TakeIdentitySession> End(
      absl::string_view session_id, custos::v1::SessionState state,
      absl::string_view by, absl::Time now);

  // The connection's PRAGMA synchronous (2 is FULL; -1 if it cannot be
  // read), for tests.
  int synchronous() const;

  // Sessions matching the filters (empty matches all), newest first, as
  // GrantStore::List; `live_only` reads the sessions live at `now` alone.
  absl::StatusOr<Page<custos::v1::TakeIdentitySession>> List(
      absl::string_view staff_id, absl::string_view customer_id, bool live_only,
      absl::Time now, int limit, absl::string_view page_token) const;

  // SQLite's virtual-machine steps in the last List, for tests: how much of
  // the file it walked under the store's lock.
  int last_list_steps() const;

 private:
  explicit SessionStore(sqlite3* db)
      : db_(db), statements_(std::make_unique<SqliteStatements>(db)) {}
  absl::StatusOr<custos::v1::TakeIdentitySession> LoadOne(
      sqlite3_stmt* stmt, absl::Time now, absl::string_view what) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<custos::v1::TakeIdentitySession> Claimable(
      absl::string_view link_hash, absl::string_view staff_id,
      absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<custos::v1::TakeIdentitySession> LoadById(
      absl::string_view session_id, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ABORTED when the session is marked ending (MarkEnding), saying `what`
  // is refused.
  absl::Status NotEnding(absl::string_view session_id,
                         absl::string_view what) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropEndingMark(const std::string& session_id);
  // Replaces the stored session.
  absl::Status Store(const custos::v1::TakeIdentitySession& session,
                     absl::string_view context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<SqliteStatements> statements_ ABSL_GUARDED_BY(mu_);
  // Sessions marked ending, with how many marks each holds.
  absl::flat_hash_set<std::string> ending_ ABSL_GUARDED_BY(mu_);
  mutable int last_list_steps_ ABSL_GUARDED_BY(mu_) = 0;
};

namespace internal {
// SessionStore::List's SQL, by staff_id (first) and customer_id (second),
// of every session and of those live at ?4; here for the test that checks
// each has SQLite walk an index.
extern const FilteredListSql kSessionListSql;
extern const FilteredListSql kLiveSessionListSql;
}  // namespace internal

// The session's state at `now`: LIVE or LINK_ISSUED past expiry is EXPIRED.
custos::v1::SessionState SessionStateAt(
    const custos::v1::TakeIdentitySession& session, absl::Time now);

// OK when the session is LIVE; FAILED_PRECONDITION saying its state (and
// who ended it) otherwise.
absl::Status SessionLive(const custos::v1::TakeIdentitySession& session);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_SESSIONS_SESSION_STORE_H_
