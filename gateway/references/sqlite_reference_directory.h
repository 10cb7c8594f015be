// The demo's reference directory: support tickets, bug reports, feature
// requests, abuse reports and signals, and meetings in an SQLite file. A
// deployment implements policy::ReferenceDirectory over its ticket system
// instead.
//
// Thread-safe (one connection behind a mutex).
#ifndef CUSTOS_GATEWAY_REFERENCES_SQLITE_REFERENCE_DIRECTORY_H_
#define CUSTOS_GATEWAY_REFERENCES_SQLITE_REFERENCE_DIRECTORY_H_

#include <sqlite3.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "common/sqlite_statements.h"
#include "policy/facts.h"

namespace custos::gateway {

class SqliteReferenceDirectory final : public policy::ReferenceDirectory {
 public:
  // Opens or creates the file; a new file gets the demo's references.
  static absl::StatusOr<std::unique_ptr<SqliteReferenceDirectory>> Open(
      const std::string& path);
  ~SqliteReferenceDirectory() override;

  absl::StatusOr<std::optional<policy::Reference>> Find(
      absl::string_view id) const override;

  // Adds or replaces a reference (for tests and tools).
  absl::Status Put(const policy::Reference& reference, absl::string_view title);

 private:
  explicit SqliteReferenceDirectory(sqlite3* db)
      : db_(db), statements_(std::make_unique<SqliteStatements>(db)) {}
  mutable Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<SqliteStatements> statements_ ABSL_GUARDED_BY(mu_);
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_REFERENCES_SQLITE_REFERENCE_DIRECTORY_H_
