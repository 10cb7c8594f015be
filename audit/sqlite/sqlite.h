// Thin RAII owners over the SQLite C API, and SQLite errors as statuses.
//
// Thread-compatible: a Database and its Statements belong to one thread at
// a time (callers serialize with their own mutex).
#ifndef CUSTOS_AUDIT_SQLITE_SQLITE_H_
#define CUSTOS_AUDIT_SQLITE_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos::audit::sqlite {

struct DatabaseCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Database = std::unique_ptr<sqlite3, DatabaseCloser>;
using Statement = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

// UNAVAILABLE for conditions that pass (busy, locked, full, I/O), DATA_LOSS
// for a corrupt file, INTERNAL otherwise; the message is `context`, the
// SQLite error and the database's message.
absl::Status Error(sqlite3* db, int rc, absl::string_view context);

// Opens `path` with `flags` (SQLITE_OPEN_*).
absl::StatusOr<Database> Open(const std::string& path, int flags);

absl::Status Exec(sqlite3* db, const char* sql);

absl::StatusOr<Statement> Prepare(sqlite3* db, absl::string_view sql);

// Whether `table` has a column named `column` (logs written by older
// versions lack some).
absl::StatusOr<bool> HasColumn(sqlite3* db, absl::string_view table,
                               absl::string_view column);

// Binds text or a blob without copying; the bytes must outlive the step.
inline void BindText(sqlite3_stmt* stmt, int i, absl::string_view s) {
  sqlite3_bind_text(stmt, i, s.data(), static_cast<int>(s.size()),
                    SQLITE_STATIC);
}
inline void BindBlob(sqlite3_stmt* stmt, int i, absl::string_view s) {
  sqlite3_bind_blob(stmt, i, s.data(), static_cast<int>(s.size()),
                    SQLITE_STATIC);
}
inline std::string ColumnBytes(sqlite3_stmt* stmt, int i) {
  const void* data = sqlite3_column_blob(stmt, i);
  const int size = sqlite3_column_bytes(stmt, i);
  return data == nullptr ? std::string()
                         : std::string(static_cast<const char*>(data), size);
}

}  // namespace custos::audit::sqlite

#endif  // CUSTOS_AUDIT_SQLITE_SQLITE_H_
