// Opening and reading the small SQLite files the gateway keeps its state
// in.
#ifndef CUSTOS_COMMON_SQLITE_FILE_H_
#define CUSTOS_COMMON_SQLITE_FILE_H_

#include <sqlite3.h>

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/page_token.h"

namespace custos {

// Opens (creating it if needed) the SQLite file at `path`, sets a short
// busy timeout so a locked file fails fast, and runs `schema`. The caller
// owns the handle (sqlite3_close_v2). UNAVAILABLE naming `what` and the file
// otherwise.
absl::StatusOr<sqlite3*> OpenSqliteFile(const std::string& path,
                                        const char* schema,
                                        absl::string_view what);

// Brings the rows of a file written before the file's user_version reached
// `version` in line with what it keeps now: passes the message blob in
// `column` of every row of `table` to `rewrite`, which changes it in place
// and returns true when it did; stores those, in one transaction. Then,
// since the bytes rewritten away must not stay in the file's free pages or
// its write-ahead log, rebuilds the file (VACUUM) and truncates the log,
// and only then sets user_version, so that a crash before, or a reader in
// the way of the truncation, has the next open do it all again. A file at
// `version` or past it is left as it is. UNAVAILABLE as SqliteUnavailable.
absl::Status RewriteRowsOnce(sqlite3* db, int version, absl::string_view table,
                             absl::string_view column,
                             absl::FunctionRef<bool(std::string&)> rewrite,
                             absl::string_view what);

// Adds the column `column` ("<name> INTEGER NOT NULL DEFAULT 0") to
// `table` of a file that does not have it, and sets it on every row to
// `value` of the row's message blob in `blob_column`, all in one
// transaction: a file has the column filled in for every row, or not at all
// (the next open does it again). A table that has the column is left as it
// is. UNAVAILABLE as SqliteUnavailable.
absl::Status AddIntegerColumnOnce(
    sqlite3* db, absl::string_view table, absl::string_view column,
    absl::string_view blob_column,
    absl::FunctionRef<int64_t(absl::string_view blob)> value,
    absl::string_view what);

// As RewriteRowsOnce with no row to rewrite: rebuilds a file written before
// its user_version reached `version`, so that no free page keeps what was
// deleted before secure_delete was on.
absl::Status RebuildOnce(sqlite3* db, int version, absl::string_view what);

// Folds the write-ahead log into the file and truncates it, so that no old
// page image stays in it. False when a reader holding an older state of the
// file kept the checkpoint from finishing (the log then keeps its frames).
absl::StatusOr<bool> TruncateWal(sqlite3* db, absl::string_view what);

// `db`'s PRAGMA synchronous level (2 is FULL), or -1 when it cannot be
// read: for tests of how durably a store commits.
int SynchronousLevel(sqlite3* db);

// UNAVAILABLE "<what>: <context>: <SQLite's message>".
absl::Status SqliteUnavailable(sqlite3* db, absl::string_view what,
                               absl::string_view context);

// The SQL of one list, newest first, for each combination of its two
// optional equality filters: the first bound to ?1, the second to ?2, then
// whatever else the list binds, and the page cursor (ReadPage's
// start_param). Each text names only the filters given: a term like
// "(?1 = '' OR staff_id = ?1)" keeps SQLite off staff_id's index, so every
// list walked the whole table, and a staff member with a few rows among
// millions waited for all of them. An index on the filtered column keeps
// rowid order within each value, so the page comes from it without
// sorting. A list filtered by state as well (active grants, live
// sessions, waiting requests) has texts of its own, on indexes that hold
// or range over that state, for the same reason. The texts are literals
// (SqliteStatements's keys); a parameter a text does not name may still be
// bound.
struct FilteredListSql {
  const char* all;
  const char* first;
  const char* second;
  const char* both;

  const char* For(absl::string_view first_filter,
                  absl::string_view second_filter) const {
    if (first_filter.empty()) return second_filter.empty() ? all : second;
    return second_filter.empty() ? first : both;
  }
};

// Reads one page of a list (common/page_token.h) from `stmt`, whose
// parameters are bound but for `start_param`, and which selects (rowid,
// message) ordered by rowid DESC, with "rowid < ?<start_param>". Each row's
// message goes through `keep`, which may change it, and is on the page when
// `keep` returns true; up to `limit` of them. Every row `keep` leaves out
// was read and parsed for nothing, under the caller's lock: a filter that
// leaves out most rows belongs in the SQL, on an index. Resets `stmt`.
// UNAVAILABLE as SqliteUnavailable, INVALID_ARGUMENT for a token not of
// `list`.
template <typename Message, typename Keep>
absl::StatusOr<Page<Message>> ReadPage(sqlite3* db, absl::string_view what,
                                       sqlite3_stmt* stmt, int start_param,
                                       char list, absl::string_view page_token,
                                       int limit, Keep keep) {
  absl::StatusOr<int64_t> start = PageStart(list, page_token);
  if (!start.ok()) return start.status();
  sqlite3_bind_int64(stmt, start_param, *start);
  Page<Message> page;
  int64_t last = 0;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    // A row is left past a full page: the next one starts below the last
    // row read (rows `keep` left out are not read again).
    if (static_cast<int>(page.items.size()) >= limit) {
      page.next_page_token = PageToken(list, last);
      break;
    }
    last = sqlite3_column_int64(stmt, 0);
    Message message;
    message.ParseFromArray(sqlite3_column_blob(stmt, 1),
                           sqlite3_column_bytes(stmt, 1));
    if (keep(message)) page.items.push_back(std::move(message));
  }
  const bool read = rc == SQLITE_ROW || rc == SQLITE_DONE;
  absl::Status status =
      read ? absl::OkStatus() : SqliteUnavailable(db, what, "reading a list");
  sqlite3_reset(stmt);
  if (!status.ok()) return status;
  return page;
}

}  // namespace custos

#endif  // CUSTOS_COMMON_SQLITE_FILE_H_
