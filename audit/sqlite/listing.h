// The SQLite log's listing table: which entries a filtered listing reaches
// through it, and under which keys. See audit/FORMAT.md, section 6.
//
// An entry is listed under its customer ("c:<customer_id>") and its actor
// ("a:<actor id>"), none for an empty id. The log's writer adds the keys in
// batches; every entry below log_state's listed_below has them, entries at
// or past it are scanned by listings instead.
//
// Thread-compatible, as the connection passed in.
#ifndef CUSTOS_AUDIT_SQLITE_LISTING_H_
#define CUSTOS_AUDIT_SQLITE_LISTING_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos::audit::sqlite {

inline constexpr absl::string_view kCustomerKeyPrefix = "c:";
inline constexpr absl::string_view kActorKeyPrefix = "a:";

std::string CustomerKey(absl::string_view customer_id);
std::string ActorKey(absl::string_view actor_id);

// The log_state value `name` (an entry index); 0 when it is not there yet.
absl::StatusOr<uint64_t> ReadLogState(sqlite3* db, absl::string_view name);

// log_state's listed_below: 0 before the first keys are written.
absl::StatusOr<uint64_t> ReadListedBelow(sqlite3* db);

}  // namespace custos::audit::sqlite

#endif  // CUSTOS_AUDIT_SQLITE_LISTING_H_
