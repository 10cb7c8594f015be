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

using Rows = std::vector<std::pair<int64_t, std::string>>;

// Reads the rowid and the blob in `column` of every row of `table`, in
// batches, and passes each batch to `batch` once it is read to its end, so
// that no row changes under a running SELECT.
absl::Status ForEachBatch(sqlite3* db, absl::string_view table,
                          absl::string_view column,
                          absl::FunctionRef<absl::Status(Rows&)> batch,
                          absl::string_view what) {
  constexpr int kBatch = 512;
  const std::string select_sql =
      absl::StrCat("SELECT rowid, ", column, " FROM ", table,
                   " WHERE rowid > ?1 ORDER BY rowid LIMIT ", kBatch);
  sqlite3_stmt* select = nullptr;
  if (sqlite3_prepare_v2(db, select_sql.c_str(), -1, &select, nullptr) !=
      SQLITE_OK) {
    return SqliteUnavailable(db, what, "reading rows written before");
  }
  absl::Status status;
  int64_t after = std::numeric_limits<int64_t>::min();
  for (size_t read = kBatch; status.ok() && read == kBatch;) {
    Rows rows;
    sqlite3_bind_int64(select, 1, after);
    int rc;
    while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
      after = sqlite3_column_int64(select, 0);
      const void* data = sqlite3_column_blob(select, 1);
      rows.emplace_back(after,
                        data == nullptr
                            ? std::string()
                            : std::string(static_cast<const char*>(data),
                                          sqlite3_column_bytes(select, 1)));
    }
    sqlite3_reset(select);
    read = rows.size();
    status = rc == SQLITE_DONE
                 ? batch(rows)
                 : SqliteUnavailable(db, what, "reading rows written before");
  }
  sqlite3_finalize(select);
  return status;
}

// Runs `update_sql`, which sets ?2 on the row whose rowid is ?1, for each
// (rowid, value) of `rows`, with `bind` binding the value to ?2.
template <typename T, typename Bind>
absl::Status UpdateRows(sqlite3* db, const std::string& update_sql,
                        const std::vector<std::pair<int64_t, T>>& rows,
                        Bind bind, absl::string_view what) {
  if (rows.empty()) return absl::OkStatus();
  sqlite3_stmt* update = nullptr;
  if (sqlite3_prepare_v2(db, update_sql.c_str(), -1, &update, nullptr) !=
      SQLITE_OK) {
    return SqliteUnavailable(db, what, "rewriting a row written before");
  }
  absl::Status status;
  for (const auto& [rowid, value] : rows) {
    sqlite3_bind_int64(update, 1, rowid);
    bind(update, value);
    if (sqlite3_step(update) != SQLITE_DONE) {
      status = SqliteUnavailable(db, what, "rewriting a row written before");
      break;
    }
    sqlite3_reset(update);
  }
  sqlite3_finalize(update);
  return status;
}

absl::Status RewriteRows(sqlite3* db, absl::string_view table,
                         absl::string_view column,
                         absl::FunctionRef<bool(std::string&)> rewrite,
                         absl::string_view what) {
  const std::string update_sql =
      absl::StrCat("UPDATE ", table, " SET ", column, " = ?2 WHERE rowid = ?1");
  return ForEachBatch(
      db, table, column,
      [&](Rows& rows) {
        Rows rewritten;
        for (auto& row : rows) {
          if (rewrite(row.second)) rewritten.push_back(std::move(row));
        }
        return UpdateRows(
            db, update_sql, rewritten,
            [](sqlite3_stmt* update, const std::string& blob) {
              sqlite3_bind_blob(update, 2, blob.data(),
                                static_cast<int>(blob.size()), SQLITE_STATIC);
            },
            what);
      },
      what);
}

// Whether `table` has a column named `column`.
absl::StatusOr<bool> HasColumn(sqlite3* db, absl::string_view table,
                               absl::string_view column,
                               absl::string_view what) {
  sqlite3_stmt* stmt = nullptr;
  absl::StatusOr<bool> has =
      SqliteUnavailable(db, what, "reading the table's columns");
  if (sqlite3_prepare_v2(
          db, "SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", -1,
          &stmt, nullptr) == SQLITE_OK) {
    sqlite3_bind_text(stmt, 1, table.data(), static_cast<int>(table.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, column.data(), static_cast<int>(column.size()),
                      SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      has = sqlite3_column_int(stmt, 0) > 0;
    }
  }
  sqlite3_finalize(stmt);
  return has;
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

absl::Status AddIntegerColumnOnce(
    sqlite3* db, absl::string_view table, absl::string_view column,
    absl::string_view blob_column,
    absl::FunctionRef<int64_t(absl::string_view blob)> value,
    absl::string_view what) {
  CUSTOS_ASSIGN_OR_RETURN(const bool has, HasColumn(db, table, column, what));
  if (has) return absl::OkStatus();
  if (auto begun = Exec(db, "BEGIN IMMEDIATE", what, "adding a column");
      !begun.ok()) {
    return begun;
  }
  absl::Status added = Exec(db,
                            absl::StrCat("ALTER TABLE ", table, " ADD COLUMN ",
                                         column, " INTEGER NOT NULL DEFAULT 0"),
                            what, absl::StrCat("adding the column ", column));
  const std::string update_sql =
      absl::StrCat("UPDATE ", table, " SET ", column, " = ?2 WHERE rowid = ?1");
  if (added.ok()) {
    added = ForEachBatch(
        db, table, blob_column,
        [&](Rows& rows) {
          // Rows left at the default need no write.
          std::vector<std::pair<int64_t, int64_t>> values;
          for (const auto& [rowid, blob] : rows) {
            if (const int64_t v = value(blob); v != 0) {
              values.emplace_back(rowid, v);
            }
          }
          return UpdateRows(
              db, update_sql, values,
              [](sqlite3_stmt* update, int64_t v) {
                sqlite3_bind_int64(update, 2, v);
              },
              what);
        },
        what);
  }
  if (added.ok()) {
    added =
        Exec(db, "COMMIT", what, absl::StrCat("adding the column ", column));
  }
  if (!added.ok()) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return added;
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
