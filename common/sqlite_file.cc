#include "common/sqlite_file.h"

#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace custos {

absl::Status SqliteUnavailable(sqlite3* db, absl::string_view what,
                               absl::string_view context) {
  return absl::UnavailableError(
      absl::StrCat(what, ": ", context, ": ",
                   db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

absl::StatusOr<sqlite3*> OpenSqliteFile(const std::string& path,
                                        const char* schema,
                                        absl::string_view what) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    absl::Status status =
        SqliteUnavailable(db, what, absl::StrCat("opening ", path));
    sqlite3_close_v2(db);
    return status;
  }
  sqlite3_busy_timeout(db, 500);
  if (sqlite3_exec(db, schema, nullptr, nullptr, nullptr) != SQLITE_OK) {
    absl::Status status = SqliteUnavailable(
        db, what, absl::StrCat("creating the schema in ", path));
    sqlite3_close_v2(db);
    return status;
  }
  return db;
}

namespace {

// The result of one statement run to its end, as OK or UNAVAILABLE.
absl::Status Exec(sqlite3* db, const std::string& sql, absl::string_view what,
                  absl::string_view context) {
  return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK
             ? absl::OkStatus()
             : SqliteUnavailable(db, what, context);
}

// Rewrites the rows in batches: each batch is read to its end before any
// of it is written, so that no row changes under a running SELECT.
absl::Status RewriteRows(sqlite3* db, absl::string_view table,
                         absl::string_view column,
                         absl::FunctionRef<bool(std::string&)> rewrite,
                         absl::string_view what) {
  constexpr int kBatch = 512;
  sqlite3_stmt* select = nullptr;
  sqlite3_stmt* update = nullptr;
  const std::string select_sql =
      absl::StrCat("SELECT rowid, ", column, " FROM ", table,
                   " WHERE rowid > ?1 ORDER BY rowid LIMIT ", kBatch);
  const std::string update_sql =
      absl::StrCat("UPDATE ", table, " SET ", column, " = ?2 WHERE rowid = ?1");
  absl::Status status;
  if (sqlite3_prepare_v2(db, select_sql.c_str(), -1, &select, nullptr) !=
          SQLITE_OK ||
      sqlite3_prepare_v2(db, update_sql.c_str(), -1, &update, nullptr) !=
          SQLITE_OK) {
    status = SqliteUnavailable(db, what, "rewriting rows written before");
  }
  int64_t after = std::numeric_limits<int64_t>::min();
  for (int read = kBatch; status.ok() && read == kBatch;) {
    std::vector<std::pair<int64_t, std::string>> rewritten;
    sqlite3_bind_int64(select, 1, after);
    read = 0;
    int rc;
    while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
      ++read;
      after = sqlite3_column_int64(select, 0);
      const void* data = sqlite3_column_blob(select, 1);
      std::string blob = data == nullptr
                             ? std::string()
                             : std::string(static_cast<const char*>(data),
                                           sqlite3_column_bytes(select, 1));
      if (rewrite(blob)) rewritten.emplace_back(after, std::move(blob));
    }
    sqlite3_reset(select);
    if (rc != SQLITE_DONE) {
      status = SqliteUnavailable(db, what, "reading rows written before");
    }
    for (const auto& [rowid, blob] : rewritten) {
      if (!status.ok()) break;
      sqlite3_bind_int64(update, 1, rowid);
      sqlite3_bind_blob(update, 2, blob.data(), static_cast<int>(blob.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(update) != SQLITE_DONE) {
        status = SqliteUnavailable(db, what, "rewriting a row written before");
      }
      sqlite3_reset(update);
    }
  }
  sqlite3_finalize(select);
  sqlite3_finalize(update);
  return status;
}

// The file's user_version.
absl::StatusOr<int> UserVersion(sqlite3* db, absl::string_view what) {
  sqlite3_stmt* read = nullptr;
  absl::StatusOr<int> version =
      SqliteUnavailable(db, what, "reading the file's version");
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &read, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(read) == SQLITE_ROW) {
    version = sqlite3_column_int(read, 0);
  }
  sqlite3_finalize(read);
  return version;
}

// Rebuilds the file (VACUUM), truncates its write-ahead log and then sets
// its user_version to `version`; a reader in the way of the truncation
// leaves the version as it was, so the next open does it again.
absl::Status Rebuild(sqlite3* db, int version, absl::string_view what) {
  if (auto rebuilt = Exec(db, "VACUUM", what, "rebuilding the file");
      !rebuilt.ok()) {
    return rebuilt;
  }
  CUSTOS_ASSIGN_OR_RETURN(const bool truncated, TruncateWal(db, what));
  if (!truncated) return absl::OkStatus();
  return Exec(db, absl::StrCat("PRAGMA user_version = ", version), what,
              "setting the file's version");
}

}  // namespace

absl::StatusOr<bool> TruncateWal(sqlite3* db, absl::string_view what) {
  sqlite3_stmt* checkpoint = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &checkpoint,
                         nullptr) != SQLITE_OK) {
    return SqliteUnavailable(db, what, "truncating the write-ahead log");
  }
  // One row: busy (1 when a reader kept the checkpoint from finishing),
  // frames in the log, frames checkpointed. Another writer in the way
  // makes the step itself busy.
  const int rc = sqlite3_step(checkpoint);
  absl::StatusOr<bool> truncated = false;
  if (rc == SQLITE_ROW) {
    truncated = sqlite3_column_int(checkpoint, 0) == 0;
  } else if (rc != SQLITE_BUSY) {
    truncated = SqliteUnavailable(db, what, "truncating the write-ahead log");
  }
  sqlite3_finalize(checkpoint);
  return truncated;
}

absl::Status RebuildOnce(sqlite3* db, int version, absl::string_view what) {
  CUSTOS_ASSIGN_OR_RETURN(const int current, UserVersion(db, what));
  if (current >= version) return absl::OkStatus();
  return Rebuild(db, version, what);
}

absl::Status RewriteRowsOnce(sqlite3* db, int version, absl::string_view table,
                             absl::string_view column,
                             absl::FunctionRef<bool(std::string&)> rewrite,
                             absl::string_view what) {
  CUSTOS_ASSIGN_OR_RETURN(const int current, UserVersion(db, what));
  if (current >= version) return absl::OkStatus();

  if (auto begun = Exec(db, "BEGIN IMMEDIATE", what, "rewriting rows");
      !begun.ok()) {
    return begun;
  }
  absl::Status rewritten = RewriteRows(db, table, column, rewrite, what);
  if (rewritten.ok()) {
    rewritten = Exec(db, "COMMIT", what, "storing rows rewritten");
  }
  if (!rewritten.ok()) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return rewritten;
  }
  return Rebuild(db, version, what);
}

int SynchronousLevel(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  int level = -1;
  if (sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &stmt, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    level = sqlite3_column_int(stmt, 0);
  }
  sqlite3_finalize(stmt);
  return level;
}

}  // namespace custos
