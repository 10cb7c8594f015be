// Opening the small SQLite files the gateway keeps its state in.
#ifndef CUSTOS_COMMON_SQLITE_FILE_H_
#define CUSTOS_COMMON_SQLITE_FILE_H_

#include <sqlite3.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos {

// Opens (creating it if needed) the SQLite file at `path`, sets a short
// busy timeout so a locked file fails fast, and runs `schema`. The caller
// owns the handle (sqlite3_close_v2). UNAVAILABLE naming `what` and the file
// otherwise.
absl::StatusOr<sqlite3*> OpenSqliteFile(const std::string& path,
                                        const char* schema,
                                        absl::string_view what);

// UNAVAILABLE "<what>: <context>: <SQLite's message>".
absl::Status SqliteUnavailable(sqlite3* db, absl::string_view what,
                               absl::string_view context);

}  // namespace custos

#endif  // CUSTOS_COMMON_SQLITE_FILE_H_
