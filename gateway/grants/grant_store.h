// Grants: who may read which customer's data, for what, until when. Kept in
// an SQLite file so that a restart keeps every grant and its state.
//
// A grant past its expiry reads as EXPIRED; ended and revoked grants stay
// for the record. Thread-safe (one connection behind a mutex).
#ifndef CUSTOS_GATEWAY_GRANTS_GRANT_STORE_H_
#define CUSTOS_GATEWAY_GRANTS_GRANT_STORE_H_

#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/sqlite_statements.h"
#include "proto/custos/v1/access.pb.h"

namespace custos::gateway {

class GrantStore {
 public:
  static absl::StatusOr<std::unique_ptr<GrantStore>> Open(
      const std::string& path);
  ~GrantStore();

  // Stores a new grant. ALREADY_EXISTS for a known id.
  absl::Status Create(const custos::v1::Grant& grant);

  // The grant as of `now` (ACTIVE past its expiry reads EXPIRED).
  // NOT_FOUND naming grant_id.
  absl::StatusOr<custos::v1::Grant> Get(absl::string_view grant_id,
                                        absl::Time now) const;

  // Moves an active grant to `state` (ENDED or REVOKED) at `now`, by `by`.
  // FAILED_PRECONDITION when it is no longer active.
  absl::StatusOr<custos::v1::Grant> End(absl::string_view grant_id,
                                        custos::v1::GrantState state,
                                        absl::string_view by, absl::Time now);

  // Counts records served under a grant.
  absl::Status AddRecordsRead(absl::string_view grant_id, uint64_t count);

  // Grants matching the filters (empty matches all), newest first.
  absl::StatusOr<std::vector<custos::v1::Grant>> List(
      absl::string_view staff_id, absl::string_view customer_id,
      bool active_only, absl::Time now, int limit) const;

 private:
  explicit GrantStore(sqlite3* db)
      : db_(db), statements_(std::make_unique<SqliteStatements>(db)) {}
  absl::Status Put(const custos::v1::Grant& grant, bool create)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<custos::v1::Grant> Load(absl::string_view grant_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<SqliteStatements> statements_ ABSL_GUARDED_BY(mu_);
};

// The grant's state at `now`: ACTIVE past its expiry is EXPIRED.
custos::v1::GrantState StateAt(const custos::v1::Grant& grant, absl::Time now);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_GRANTS_GRANT_STORE_H_
