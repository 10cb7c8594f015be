#include "audit/sqlite/sqlite.h"

#include "absl/strings/str_cat.h"

namespace custos::audit::sqlite {

absl::Status Error(sqlite3* db, int rc, absl::string_view context) {
  const std::string message = absl::StrCat(
      context, ": ", sqlite3_errstr(rc),
      db != nullptr ? absl::StrCat(" (", sqlite3_errmsg(db), ")") : "");
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
      return absl::UnavailableError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<Database> Open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK) return Error(raw, rc, absl::StrCat("opening ", path));
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

absl::Status Exec(sqlite3* db, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(db, rc, sql);
  return absl::OkStatus();
}

absl::StatusOr<Statement> Prepare(sqlite3* db, absl::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc =
      sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                         SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  Statement stmt(raw);
  if (rc != SQLITE_OK) return Error(db, rc, absl::StrCat("preparing ", sql));
  return stmt;
}

absl::StatusOr<bool> HasColumn(sqlite3* db, absl::string_view table,
                               absl::string_view column) {
  auto has = Prepare(db,
                     "SELECT count(*) FROM pragma_table_info(?1) WHERE "
                     "name = ?2");
  if (!has.ok()) return has.status();
  BindText(has->get(), 1, table);
  BindText(has->get(), 2, column);
  const int rc = sqlite3_step(has->get());
  if (rc != SQLITE_ROW) return Error(db, rc, "reading the schema");
  return sqlite3_column_int(has->get(), 0) > 0;
}

}  // namespace custos::audit::sqlite
