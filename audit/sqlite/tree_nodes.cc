#include "audit/sqlite/tree_nodes.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/merkle.h"
#include "audit/sqlite/sqlite.h"

namespace custos::audit::sqlite {

absl::StatusOr<std::string> HashSubtreeFromLeaves(sqlite3* db,
                                                  sqlite3_stmt* leaf_range,
                                                  int level, uint64_t index) {
  const uint64_t count = uint64_t{1} << level;
  const uint64_t first = index << level;
  sqlite3_reset(leaf_range);
  sqlite3_bind_int64(leaf_range, 1, static_cast<int64_t>(first));
  sqlite3_bind_int64(leaf_range, 2, static_cast<int64_t>(first + count));
  std::vector<std::string> hashes;
  hashes.reserve(count);
  int rc;
  while ((rc = sqlite3_step(leaf_range)) == SQLITE_ROW) {
    hashes.push_back(ColumnBytes(leaf_range, 0));
  }
  // Reset at once: a statement left open keeps its read snapshot.
  sqlite3_reset(leaf_range);
  if (rc != SQLITE_DONE) return Error(db, rc, "reading leaf hashes");
  if (hashes.size() != count) {
    return absl::DataLossError(absl::StrCat(
        "tree node ", level, "/", index, ": ", count - hashes.size(),
        " of its ", count, " entries are missing"));
  }
  for (size_t width = hashes.size(); width > 1; width /= 2) {
    for (size_t i = 0; i < width / 2; ++i) {
      hashes[i] = HashChildren(hashes[2 * i], hashes[2 * i + 1]);
    }
  }
  return hashes[0];
}

}  // namespace custos::audit::sqlite
