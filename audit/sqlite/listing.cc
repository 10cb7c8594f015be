#include "audit/sqlite/listing.h"

#include "absl/strings/str_cat.h"
#include "audit/sqlite/sqlite.h"
#include "common/status_macros.h"

namespace custos::audit::sqlite {

std::string CustomerKey(absl::string_view customer_id) {
  return absl::StrCat(kCustomerKeyPrefix, customer_id);
}

std::string ActorKey(absl::string_view actor_id) {
  return absl::StrCat(kActorKeyPrefix, actor_id);
}

absl::StatusOr<uint64_t> ReadListedBelow(sqlite3* db) {
  return ReadLogState(db, "listed_below");
}

absl::StatusOr<uint64_t> ReadLogState(sqlite3* db, absl::string_view name) {
  CUSTOS_ASSIGN_OR_RETURN(
      Statement state,
      Prepare(db, "SELECT value FROM log_state WHERE name = ?1"));
  BindText(state.get(), 1, name);
  const int rc = sqlite3_step(state.get());
  if (rc == SQLITE_ROW) {
    const int64_t below = sqlite3_column_int64(state.get(), 0);
    return below < 0 ? 0 : static_cast<uint64_t>(below);
  }
  if (rc != SQLITE_DONE) return Error(db, rc, "reading the log's state");
  return 0;
}

}  // namespace custos::audit::sqlite
