// For tests of what a SQLite database keeps on disk.
#ifndef CUSTOS_COMMON_SQLITE_FILE_TESTING_H_
#define CUSTOS_COMMON_SQLITE_FILE_TESTING_H_

#include <sqlite3.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace custos {

// Whether any of the files of the SQLite database at `path` holds `text`
// byte for byte: the database, its write-ahead log, its shared-memory index
// or its rollback journal. What is erased must be in none of them.
inline bool SqliteFilesHold(const std::string& path, absl::string_view text) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::ifstream in(path + suffix, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (absl::StrContains(bytes.str(), text)) return true;
  }
  return false;
}

// Runs `sql` on the database at `path` on a connection of its own, as
// another program (or an older version of its store) would; false when it
// fails.
inline bool ExecSqlite(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  const bool ran =
      sqlite3_open(path.c_str(), &db) == SQLITE_OK &&
      sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(db);
  return ran;
}

// Sets the database's user_version, as a file written by an older version
// of its store would have it; false when it cannot.
inline bool SetSqliteUserVersion(const std::string& path, int version) {
  return ExecSqlite(path, absl::StrCat("PRAGMA user_version = ", version));
}

}  // namespace custos

#endif  // CUSTOS_COMMON_SQLITE_FILE_TESTING_H_
