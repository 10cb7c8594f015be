#include "common/sqlite_file.h"

#include "absl/strings/str_cat.h"

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

}  // namespace custos
