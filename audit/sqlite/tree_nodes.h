// Which Merkle tree nodes the SQLite log stores, and how the others are
// recomputed.
//
// The hash of every full subtree of 16 entries or more (level 4 up) is
// stored in tree_nodes; a smaller one, which a proof or the writer's
// recovery may need, is hashed again from the at most 15 leaf hashes under
// it, stored side by side in the entries table. One stored node per 16
// appends on average instead of about one per append, for at most one short
// range read per proof level below 4. Logs written before kept every level;
// their lower rows are still checked by `custos verify`, and never needed.
//
// Thread-compatible, as the connection and statement passed in.
#ifndef CUSTOS_AUDIT_SQLITE_TREE_NODES_H_
#define CUSTOS_AUDIT_SQLITE_TREE_NODES_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace custos::audit::sqlite {

inline constexpr int kLowestStoredLevel = 4;

// The statement HashSubtreeFromLeaves takes, prepared on its connection.
inline constexpr char kLeafRangeSql[] =
    "SELECT leaf_hash FROM entries WHERE idx >= ?1 AND idx < ?2 ORDER BY idx";

// The hash of the full subtree `level`/`index` (entries [index·2^level,
// (index+1)·2^level)), from the leaf hashes `leaf_range` (kLeafRangeSql on
// `db`) reads; resets it. DATA_LOSS when an entry under it is missing;
// UNAVAILABLE or INTERNAL as sqlite::Error when reading fails.
absl::StatusOr<std::string> HashSubtreeFromLeaves(sqlite3* db,
                                                  sqlite3_stmt* leaf_range,
                                                  int level, uint64_t index);

}  // namespace custos::audit::sqlite

#endif  // CUSTOS_AUDIT_SQLITE_TREE_NODES_H_
