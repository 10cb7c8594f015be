// Prepared statements kept for the life of an SQLite connection: preparing
// costs more than running a point query, so each SQL text is prepared once.
//
// Not thread-safe: guard it with the connection's own mutex.
#ifndef CUSTOS_COMMON_SQLITE_STATEMENTS_H_
#define CUSTOS_COMMON_SQLITE_STATEMENTS_H_

#include <sqlite3.h>

#include "absl/container/flat_hash_map.h"

namespace custos {

class SqliteStatements {
 public:
  explicit SqliteStatements(sqlite3* db) : db_(db) {}
  ~SqliteStatements() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  }
  SqliteStatements(const SqliteStatements&) = delete;
  SqliteStatements& operator=(const SqliteStatements&) = delete;

  // The statement for `sql` (a string literal: its address is the key),
  // reset and with its bindings cleared; null if it does not prepare.
  sqlite3_stmt* Get(const char* sql) {
    sqlite3_stmt*& stmt = statements_[sql];
    if (stmt == nullptr) {
      sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr);
    } else {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    }
    return stmt;
  }

 private:
  sqlite3* db_;
  absl::flat_hash_map<const char*, sqlite3_stmt*> statements_;
};

}  // namespace custos

#endif  // CUSTOS_COMMON_SQLITE_STATEMENTS_H_
