// For tests: SQLite's plan for a query, to check that it walks an index.
#ifndef CUSTOS_COMMON_QUERY_PLAN_H_
#define CUSTOS_COMMON_QUERY_PLAN_H_

#include <sqlite3.h>

#include <string>

namespace custos {

// The `detail` lines of EXPLAIN QUERY PLAN for `sql` on `db`, one a line
// (e.g. "SEARCH grants USING INDEX grants_by_staff_id (staff_id=? AND
// rowid<?)"), or "error: ..." when it does not prepare.
inline std::string QueryPlan(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  const std::string explain = std::string("EXPLAIN QUERY PLAN ") + sql;
  if (sqlite3_prepare_v2(db, explain.c_str(), -1, &stmt, nullptr) !=
      SQLITE_OK) {
    return std::string("error: ") + sqlite3_errmsg(db);
  }
  std::string plan;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
    plan += "\n";
  }
  sqlite3_finalize(stmt);
  return plan;
}

}  // namespace custos

#endif  // CUSTOS_COMMON_QUERY_PLAN_H_
