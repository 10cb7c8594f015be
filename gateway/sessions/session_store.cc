#include "gateway/sessions/session_store.h"

#include "absl/strings/str_cat.h"
#include "common/sqlite_file.h"
#include "common/status_macros.h"
#include "gateway/stored_notes.h"
#include "google/protobuf/util/time_util.h"

namespace custos::gateway {
namespace {

using google::protobuf::util::TimeUtil;

absl::Status SqlError(sqlite3* db, absl::string_view context) {
  return SqliteUnavailable(db, "sessions", context);
}

void BindText(sqlite3_stmt* stmt, int i, absl::string_view value) {
  sqlite3_bind_text(stmt, i, value.data(), value.size(), SQLITE_TRANSIENT);
}

void BindBlob(sqlite3_stmt* stmt, int i, absl::string_view value) {
  sqlite3_bind_blob(stmt, i, value.data(), value.size(), SQLITE_TRANSIENT);
}

custos::v1::TakeIdentitySession WithStateAt(
    custos::v1::TakeIdentitySession session, absl::Time now) {
  session.set_state(SessionStateAt(session, now));
  return session;
}

// Until when a session as stored is live, for the lists of live sessions:
// its expiry while LIVE, 0 before its link is used and once it ended.
int64_t LiveUntilUs(const custos::v1::TakeIdentitySession& session) {
  return session.state() == custos::v1::SESSION_LIVE
             ? TimeUtil::TimestampToMicroseconds(session.expires_at())
             : 0;
}

}  // namespace

namespace internal {
const FilteredListSql kSessionListSql = {
    "SELECT rowid, session FROM sessions WHERE rowid < ?3 ORDER BY rowid "
    "DESC",
    "SELECT rowid, session FROM sessions WHERE staff_id = ?1 AND rowid < ?3 "
    "ORDER BY rowid DESC",
    "SELECT rowid, session FROM sessions WHERE customer_id = ?2 AND rowid < "
    "?3 ORDER BY rowid DESC",
    "SELECT rowid, session FROM sessions WHERE staff_id = ?1 AND customer_id "
    "= ?2 AND rowid < ?3 ORDER BY rowid DESC"};

// INDEXED BY, as GrantStore's active lists: SQLite would rather walk a
// staff member's or customer's sessions in rowid order than sort the live
// ones.
const FilteredListSql kLiveSessionListSql = {
    "SELECT rowid, session FROM sessions INDEXED BY sessions_live "
    "WHERE live_until_us > ?4 AND rowid < ?3 ORDER BY rowid DESC",
    "SELECT rowid, session FROM sessions INDEXED BY sessions_live_by_staff_id "
    "WHERE staff_id = ?1 AND live_until_us > ?4 AND rowid < ?3 "
    "ORDER BY rowid DESC",
    "SELECT rowid, session FROM sessions INDEXED BY "
    "sessions_live_by_customer_id WHERE customer_id = ?2 AND live_until_us > "
    "?4 AND rowid < ?3 ORDER BY rowid DESC",
    "SELECT rowid, session FROM sessions INDEXED BY sessions_live_by_staff_id "
    "WHERE staff_id = ?1 AND customer_id = ?2 AND live_until_us > ?4 "
    "AND rowid < ?3 ORDER BY rowid DESC"};
}  // namespace internal

custos::v1::SessionState SessionStateAt(
    const custos::v1::TakeIdentitySession& session, absl::Time now) {
  const bool open = session.state() == custos::v1::SESSION_LIVE ||
                    session.state() == custos::v1::SESSION_LINK_ISSUED;
  if (open && TimeUtil::TimestampToMicroseconds(session.expires_at()) <=
                  absl::ToUnixMicros(now)) {
    return custos::v1::SESSION_EXPIRED;
  }
  return session.state();
}

absl::StatusOr<std::unique_ptr<SessionStore>> SessionStore::Open(
    const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite3 * db,
      OpenSqliteFile(
          path,
          // FULL, not NORMAL: under NORMAL a commit in WAL mode can roll
          // back on a power cut or OS crash, bringing back as LIVE a session
          // whose end or revocation was answered (and logged).
          "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
          "CREATE TABLE IF NOT EXISTS sessions(session_id TEXT PRIMARY KEY, "
          "staff_id "
          "TEXT NOT NULL, customer_id TEXT NOT NULL, created_us INTEGER NOT "
          "NULL, "
          "link_hash BLOB NOT NULL, link_expires_us INTEGER NOT NULL, "
          "link_used "
          "INTEGER NOT NULL DEFAULT 0, token_hash BLOB, session BLOB NOT NULL);"
          "CREATE UNIQUE INDEX IF NOT EXISTS sessions_by_link ON "
          "sessions(link_hash);"
          "CREATE INDEX IF NOT EXISTS sessions_by_token ON "
          "sessions(token_hash);"
          // For List: newest first within a staff member or a customer.
          "CREATE INDEX IF NOT EXISTS sessions_by_staff_id ON "
          "sessions(staff_id);"
          "CREATE INDEX IF NOT EXISTS sessions_by_customer_id ON "
          "sessions(customer_id);",
          "sessions"));
  // Sessions keep no free-text note since file version 1, as grants.
  if (absl::Status cleared = RewriteRowsOnce(
          db, 1, "sessions", "session",
          ClearJustificationNote<custos::v1::TakeIdentitySession>, "sessions");
      !cleared.ok()) {
    sqlite3_close_v2(db);
    return cleared;
  }
  // A list of live sessions reads only those, not every session ever held.
  absl::Status indexed = AddIntegerColumnOnce(
      db, "sessions", "live_until_us", "session",
      [](absl::string_view blob) {
        custos::v1::TakeIdentitySession session;
        session.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
        return LiveUntilUs(session);
      },
      "sessions");
  if (indexed.ok() &&
      sqlite3_exec(db,
                   "CREATE INDEX IF NOT EXISTS sessions_live ON "
                   "sessions(live_until_us);"
                   "CREATE INDEX IF NOT EXISTS sessions_live_by_staff_id ON "
                   "sessions(staff_id, live_until_us);"
                   "CREATE INDEX IF NOT EXISTS sessions_live_by_customer_id ON "
                   "sessions(customer_id, live_until_us);",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    indexed = SqlError(db, "indexing the live sessions");
  }
  if (!indexed.ok()) {
    sqlite3_close_v2(db);
    return indexed;
  }
  std::unique_ptr<SessionStore> store(new SessionStore(db));
  return store;
}

SessionStore::~SessionStore() {
  MutexLock lock(&mu_);
  statements_.reset();
  sqlite3_close_v2(db_);
}

absl::Status SessionStore::Create(
    const custos::v1::TakeIdentitySession& session, absl::string_view link_hash,
    absl::Time link_expires) {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "INSERT INTO sessions(session_id, staff_id, customer_id, created_us, "
      "link_hash, link_expires_us, session, live_until_us) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  BindText(stmt, 1, session.session_id());
  BindText(stmt, 2, session.staff_id());
  BindText(stmt, 3, session.customer_id());
  sqlite3_bind_int64(stmt, 4,
                     TimeUtil::TimestampToMicroseconds(session.started_at()));
  BindBlob(stmt, 5, link_hash);
  sqlite3_bind_int64(stmt, 6, absl::ToUnixMicros(link_expires));
  BindBlob(stmt, 7, session.SerializeAsString());
  sqlite3_bind_int64(stmt, 8, LiveUntilUs(session));
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE ? absl::OkStatus()
                           : SqlError(db_, "storing a session");
}

absl::StatusOr<custos::v1::TakeIdentitySession> SessionStore::LoadOne(
    sqlite3_stmt* stmt, absl::Time now, absl::string_view what) const {
  const int rc = sqlite3_step(stmt);
  custos::v1::TakeIdentitySession session;
  if (rc == SQLITE_ROW) {
    session.ParseFromArray(sqlite3_column_blob(stmt, 0),
                           sqlite3_column_bytes(stmt, 0));
  }
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE)
    return absl::NotFoundError(absl::StrCat(what, ": no such session"));
  if (rc != SQLITE_ROW) return SqlError(db_, "reading a session");
  return WithStateAt(std::move(session), now);
}

absl::StatusOr<custos::v1::TakeIdentitySession> SessionStore::Claimable(
    absl::string_view link_hash, absl::string_view staff_id,
    absl::Time now) const {
  sqlite3_stmt* stmt = statements_->Get(
      "SELECT session FROM sessions WHERE link_hash = ?1 AND link_used = 0 "
      "AND link_expires_us > ?2 AND (?3 = '' OR staff_id = ?3)");
  BindBlob(stmt, 1, link_hash);
  sqlite3_bind_int64(stmt, 2, absl::ToUnixMicros(now));
  BindText(stmt, 3, staff_id);
  auto session = LoadOne(stmt, now, "link_token");
  if (absl::IsNotFound(session.status())) {
    return absl::PermissionDeniedError(
        "link_token: this link is unknown, already used, expired or not yours; "
        "start a new session");
  }
  if (!session.ok()) return session.status();
  if (session->state() != custos::v1::SESSION_LINK_ISSUED) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", session->session_id(), " is ",
                     custos::v1::SessionState_Name(session->state()),
                     session->ended_by().empty()
                         ? ""
                         : absl::StrCat(" (by ", session->ended_by(), ")"),
                     "; its link opens nothing"));
  }
  if (auto s = NotEnding(session->session_id(), "its link opens nothing");
      !s.ok()) {
    return s;
  }
  return session;
}

absl::StatusOr<custos::v1::TakeIdentitySession> SessionStore::FindLink(
    absl::string_view link_hash, absl::string_view staff_id,
    absl::Time now) const {
  MutexLock lock(&mu_);
  return Claimable(link_hash, staff_id, now);
}

absl::StatusOr<custos::v1::TakeIdentitySession> SessionStore::ExchangeLink(
    absl::string_view link_hash, absl::string_view staff_id,
    absl::string_view token_hash, absl::Time now) {
  MutexLock lock(&mu_);
  auto session = Claimable(link_hash, staff_id, now);
  if (!session.ok()) return session.status();
  // The check above and the claim are one step under the lock; the claim
  // also checks the link unused, for a writer outside this store.
  sqlite3_stmt* claim = statements_->Get(
      "UPDATE sessions SET link_used = 1, token_hash = ?2, session = ?3, "
      "live_until_us = ?4 WHERE link_hash = ?1 AND link_used = 0");
  session->set_state(custos::v1::SESSION_LIVE);
  BindBlob(claim, 1, link_hash);
  BindBlob(claim, 2, token_hash);
  BindBlob(claim, 3, session->SerializeAsString());
  sqlite3_bind_int64(claim, 4, LiveUntilUs(*session));
  const int rc = sqlite3_step(claim);
  sqlite3_reset(claim);
  if (rc != SQLITE_DONE) return SqlError(db_, "exchanging a link");
  if (sqlite3_changes(db_) != 1) {
    return absl::PermissionDeniedError(
        "link_token: this link is already used; start a new session");
  }
  return session;
}

absl::Status SessionStore::Store(const custos::v1::TakeIdentitySession& session,
                                 absl::string_view context) {
  sqlite3_stmt* update = statements_->Get(
      "UPDATE sessions SET session = ?2, live_until_us = ?3 WHERE "
      "session_id = ?1");
  BindText(update, 1, session.session_id());
  BindBlob(update, 2, session.SerializeAsString());
  sqlite3_bind_int64(update, 3, LiveUntilUs(session));
  const int rc = sqlite3_step(update);
  sqlite3_reset(update);
  return rc == SQLITE_DONE ? absl::OkStatus() : SqlError(db_, context);
}

absl::StatusOr<custos::v1::TakeIdentitySession> SessionStore::LoadById(
    absl::string_view session_id, absl::Time now) const {
  sqlite3_stmt* stmt =
      statements_->Get("SELECT session FROM sessions WHERE session_id = ?1");
  BindText(stmt, 1, session_id);
  return LoadOne(stmt, now, "session_id");
}

absl::StatusOr<custos::v1::TakeIdentitySession> SessionStore::ByToken(
    absl::string_view token_hash, absl::Time now) const {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt =
      statements_->Get("SELECT session FROM sessions WHERE token_hash = ?1");
  BindBlob(stmt, 1, token_hash);
  return LoadOne(stmt, now, "session_token");
}

absl::StatusOr<custos::v1::TakeIdentitySession> SessionStore::ById(
    absl::string_view session_id, absl::Time now) const {
  MutexLock lock(&mu_);
  return LoadById(session_id, now);
}

absl::Status SessionLive(const custos::v1::TakeIdentitySession& session) {
  if (session.state() == custos::v1::SESSION_LIVE) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("session ", session.session_id(), " is ",
                   custos::v1::SessionState_Name(session.state()),
                   session.ended_by().empty()
                       ? ""
                       : absl::StrCat(" (by ", session.ended_by(), ")"),
                   "; nothing more is shown"));
}

absl::Status SessionStore::StillLive(absl::string_view session_id,
                                     absl::Time now) const {
  MutexLock lock(&mu_);
  auto session = LoadById(session_id, now);
  if (!session.ok()) return session.status();
  return SessionLive(*session);
}

absl::Status SessionStore::Count(absl::string_view session_id,
                                 int64_t page_views, int64_t actions,
                                 absl::Time now) {
  MutexLock lock(&mu_);
  auto session = LoadById(session_id, now);
  if (!session.ok()) return session.status();
  // Only a live session is written back, so the state stored is the one
  // read: only the counters change.
  if (auto s = SessionLive(*session); !s.ok()) return s;
  if (auto s = NotEnding(session_id, "nothing more is shown"); !s.ok()) {
    return s;
  }
  session->set_page_views(session->page_views() + page_views);
  session->set_actions(session->actions() + actions);
  return Store(*session, "counting a session's views");
}

absl::StatusOr<std::shared_ptr<const void>> SessionStore::MarkEnding(
    absl::string_view session_id) {
  std::string id(session_id);
  {
    MutexLock lock(&mu_);
    if (!ending_.insert(id).second) {
      // ABORTED: a conflict that passes, unlike an end already applied.
      return absl::AbortedError(
          absl::StrCat("session ", session_id,
                       " is being ended already; try again in a moment"));
    }
  }
  // Nothing is pointed to: the mark is its deleter.
  return std::shared_ptr<const void>(
      nullptr, [this, id = std::move(id)](const void*) { DropEndingMark(id); });
}

void SessionStore::DropEndingMark(const std::string& session_id) {
  MutexLock lock(&mu_);
  ending_.erase(session_id);
}

absl::Status SessionStore::NotEnding(absl::string_view session_id,
                                     absl::string_view what) const {
  if (!ending_.contains(session_id)) return absl::OkStatus();
  return absl::AbortedError(
      absl::StrCat("session ", session_id,
                   " is ending (its end is being recorded); ", what));
}

absl::StatusOr<custos::v1::TakeIdentitySession> SessionStore::End(
    absl::string_view session_id, custos::v1::SessionState state,
    absl::string_view by, absl::Time now) {
  MutexLock lock(&mu_);
  auto session = LoadById(session_id, now);
  if (!session.ok()) return session.status();
  if (session->state() != custos::v1::SESSION_LIVE &&
      session->state() != custos::v1::SESSION_LINK_ISSUED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session ", session->session_id(), " is ",
        custos::v1::SessionState_Name(session->state()), " already"));
  }
  session->set_state(state);
  session->set_ended_by(std::string(by));
  *session->mutable_ended_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  if (auto s = Store(*session, "ending a session"); !s.ok()) return s;
  return session;
}

int SessionStore::synchronous() const {
  MutexLock lock(&mu_);
  return SynchronousLevel(db_);
}

absl::StatusOr<Page<custos::v1::TakeIdentitySession>> SessionStore::List(
    absl::string_view staff_id, absl::string_view customer_id, bool live_only,
    absl::Time now, int limit, absl::string_view page_token) const {
  MutexLock lock(&mu_);
  const FilteredListSql& sql =
      live_only ? internal::kLiveSessionListSql : internal::kSessionListSql;
  sqlite3_stmt* stmt = statements_->Get(sql.For(staff_id, customer_id));
  BindText(stmt, 1, staff_id);
  BindText(stmt, 2, customer_id);
  if (live_only) sqlite3_bind_int64(stmt, 4, absl::ToUnixMicros(now));
  auto page = ReadPage<custos::v1::TakeIdentitySession>(
      db_, "sessions", stmt, 3, kSessionsList, page_token, limit,
      [&](custos::v1::TakeIdentitySession& session) {
        session = WithStateAt(std::move(session), now);
        return !live_only || session.state() == custos::v1::SESSION_LIVE;
      });
  // Null when the SQL did not prepare (ReadPage then failed).
  if (stmt != nullptr) {
    last_list_steps_ =
        sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, /*resetFlg=*/1);
  }
  return page;
}

int SessionStore::last_list_steps() const {
  MutexLock lock(&mu_);
  return last_list_steps_;
}

}  // namespace custos::gateway
