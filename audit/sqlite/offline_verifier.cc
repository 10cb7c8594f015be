#include "audit/sqlite/offline_verifier.h"

#include <algorithm>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/checkpoint.h"
#include "audit/entry.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "audit/sqlite/held_values.h"
#include "audit/sqlite/sqlite.h"
#include "audit/sqlite/tree_nodes.h"
#include "common/openssl.h"
#include "common/status_macros.h"

namespace custos::audit {
namespace {

constexpr uint64_t kProgressEvery = 1 << 16;

// Checks one stored checkpoint against the root rebuilt from the entries.
absl::Status CheckCheckpoint(uint64_t size, const std::string& stored_root,
                             const std::string& note,
                             const std::string& rebuilt_root,
                             const std::optional<NoteVerifier>& verifier) {
  const std::string where = absl::StrCat("checkpoint of size ", size, ": ");
  if (stored_root != rebuilt_root) {
    return absl::DataLossError(absl::StrCat(
        where, "its root does not match the entries (entries before ", size,
        " were changed, or the checkpoint was)"));
  }
  std::string text;
  if (verifier.has_value()) {
    auto opened = verifier->Open(note);
    if (!opened.ok()) {
      return absl::DataLossError(
          absl::StrCat(where, "bad signature: ", opened.status().message()));
    }
    text = *opened;
  } else {
    const size_t split = note.find("\n\n");
    if (split == std::string::npos) {
      return absl::DataLossError(
          absl::StrCat(where, "the note has no signature"));
    }
    text = note.substr(0, split + 1);
  }
  auto body = ParseCheckpointBody(text);
  if (!body.ok())
    return absl::DataLossError(absl::StrCat(where, body.status().message()));
  if (verifier.has_value() && body->origin != verifier->name()) {
    return absl::DataLossError(absl::StrCat(
        where, "origin \"", body->origin, "\" is not the verifier key's name"));
  }
  if (body->size != size || body->root_hash != rebuilt_root) {
    return absl::DataLossError(
        absl::StrCat(where, "the signed note says size ", body->size,
                     " and another root than the entries give"));
  }
  return absl::OkStatus();
}

// DATA_LOSS unless `entry` committed to `value` under `field` with `salt`.
absl::Status CheckCommitment(uint64_t position,
                             const custos::v1::LogEntry& entry,
                             absl::string_view field, absl::string_view salt,
                             absl::string_view value) {
  const std::string digest = Sha256Concat({salt, value});
  bool matched = false;
  for (const auto& commitment : entry.commitments()) {
    if (commitment.field() == field) matched = commitment.digest() == digest;
  }
  if (matched) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("entry ", position, ": the stored ",
                                          field,
                                          " does not match the entry's "
                                          "commitment"));
}

// Checks the values in entry `position`'s row against its commitments and
// returns how many it checked (masked values, with no salt, are skipped).
absl::StatusOr<uint64_t> CheckRowValues(uint64_t position,
                                        absl::string_view entry_bytes,
                                        absl::string_view row_values) {
  auto values = sqlite::DecodeRowValues(row_values);
  if (!values.ok()) {
    return absl::DataLossError(
        absl::StrCat("entry ", position, ": ", values.status().message()));
  }
  custos::v1::LogEntry entry;
  entry.ParseFromArray(entry_bytes.data(), entry_bytes.size());
  uint64_t checked = 0;
  for (const sqlite::RowValue& value : *values) {
    if (value.salt.empty()) continue;
    CUSTOS_RETURN_IF_ERROR(
        CheckCommitment(position, entry, value.field, value.salt, value.value));
    ++checked;
  }
  return checked;
}

// Entries read from the log in a batch, with what ended the batch early.
// Their columns are copied into one buffer: an allocation per column would
// cost more than reading the row.
struct EntryBatch {
  struct Row {
    size_t bytes_at;
    size_t bytes_size;
    size_t leaf_at;
    size_t leaf_size;
    // The personal values kept in the entry's row, if any.
    bool has_values;
    size_t values_at;
    size_t values_size;
  };
  absl::string_view Column(size_t at, size_t size) const {
    return absl::string_view(data).substr(at, size);
  }
  uint64_t first = 0;
  std::string data;
  std::vector<Row> rows;
  // Not OK when the log's rows cannot be read past these: a missing entry,
  // or an SQLite error.
  absl::Status end;
};

// Reads the rows of `SELECT idx, leaf_hash, entry, personal ... ORDER BY
// idx` in batches, checking that no index is missing.
class EntryReader {
 public:
  EntryReader(sqlite3* db, sqlite3_stmt* entries)
      : db_(db), entries_(entries) {}

  // Up to `count` rows; none once the log or an error is reached.
  EntryBatch Next(size_t count) {
    EntryBatch batch;
    batch.first = next_;
    if (finished_) return batch;
    batch.rows.reserve(count);
    batch.data.reserve(count * 512);
    while (batch.rows.size() < count) {
      const int rc = sqlite3_step(entries_);
      if (rc == SQLITE_DONE) {
        finished_ = true;
        break;
      }
      if (rc != SQLITE_ROW) {
        batch.end = sqlite::Error(db_, rc, "reading entries");
        finished_ = true;
        break;
      }
      const uint64_t idx =
          static_cast<uint64_t>(sqlite3_column_int64(entries_, 0));
      if (idx != next_) {
        batch.end = absl::DataLossError(absl::StrCat(
            "entry ", next_, ": missing (the next row stored is ", idx, ")"));
        finished_ = true;
        break;
      }
      EntryBatch::Row& row = batch.rows.emplace_back();
      Copy(batch, 1, row.leaf_at, row.leaf_size);
      Copy(batch, 2, row.bytes_at, row.bytes_size);
      row.has_values = sqlite3_column_type(entries_, 3) != SQLITE_NULL;
      Copy(batch, 3, row.values_at, row.values_size);
      ++next_;
    }
    return batch;
  }

 private:
  // Appends column `i` of the current row to batch.data.
  void Copy(EntryBatch& batch, int i, size_t& at, size_t& size) {
    const void* blob = sqlite3_column_blob(entries_, i);
    size = sqlite3_column_bytes(entries_, i);
    at = batch.data.size();
    batch.data.append(static_cast<const char*>(blob), size);
  }

  sqlite3* const db_;
  sqlite3_stmt* const entries_;
  uint64_t next_ = 0;
  bool finished_ = false;
};

// What checking a batch on its own found.
struct CheckedEntries {
  // The leaf hashes of the entries before the first error, in order.
  std::vector<std::string> leaves;
  uint64_t values_checked = 0;
  // The first error, else the batch's own end.
  absl::Status status;
};

// Checks each entry of `batch` against the chain, its stored leaf hash and
// its held values, up to the first error.
CheckedEntries CheckEntries(ChainVerifier& chain, const EntryBatch& batch) {
  CheckedEntries checked;
  checked.leaves.reserve(batch.rows.size());
  uint64_t position = batch.first;
  for (const EntryBatch::Row& row : batch.rows) {
    const absl::string_view bytes = batch.Column(row.bytes_at, row.bytes_size);
    if (checked.status = chain.Next(position, bytes); !checked.status.ok())
      return checked;
    if (row.has_values) {
      auto values = CheckRowValues(
          position, bytes, batch.Column(row.values_at, row.values_size));
      if (!values.ok()) {
        checked.status = values.status();
        return checked;
      }
      checked.values_checked += *values;
    }
    if (batch.Column(row.leaf_at, row.leaf_size) != chain.last_leaf_hash()) {
      checked.status = absl::DataLossError(absl::StrCat(
          "entry ", position, ": stored leaf hash does not match its bytes"));
      return checked;
    }
    checked.leaves.push_back(chain.last_leaf_hash());
    ++position;
  }
  checked.status = batch.end;
  return checked;
}

}  // namespace

absl::StatusOr<VerifyReport> VerifySqliteLog(const std::string& path,
                                             const VerifyOptions& options) {
  std::optional<NoteVerifier> verifier;
  if (!options.verifier_key.empty()) {
    CUSTOS_ASSIGN_OR_RETURN(
        NoteVerifier v, NoteVerifier::FromVerifierKey(options.verifier_key));
    verifier.emplace(std::move(v));
  }
  CUSTOS_ASSIGN_OR_RETURN(sqlite::Database db,
                          sqlite::Open(path, SQLITE_OPEN_READONLY));
  sqlite3_busy_timeout(db.get(), 1000);

  uint64_t total = 0;
  {
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement count,
        sqlite::Prepare(db.get(),
                        "SELECT coalesce(max(idx) + 1, 0) FROM entries"));
    if (sqlite3_step(count.get()) == SQLITE_ROW)
      total = sqlite3_column_int64(count.get(), 0);
  }
  // Logs written before personal values moved into the entries' rows
  // lack the column.
  CUSTOS_ASSIGN_OR_RETURN(const bool has_personal,
                          sqlite::HasColumn(db.get(), "entries", "personal"));
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement entries,
      sqlite::Prepare(db.get(), absl::StrCat("SELECT idx, leaf_hash, entry, ",
                                             has_personal ? "personal" : "NULL",
                                             " FROM entries ORDER BY idx")));
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement nodes,
      // Primary-key order is the order in which the rebuilt tree completes
      // nodes: by last entry covered, then level upwards. One sequential
      // cursor checks them all.
      sqlite::Prepare(db.get(),
                      "SELECT last_leaf, level, hash FROM tree_nodes ORDER BY "
                      "last_leaf, level"));
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement checkpoints,
      sqlite::Prepare(
          db.get(), "SELECT size, root, note FROM checkpoints ORDER BY size"));

  VerifyReport report;
  report.signatures_checked = verifier.has_value();
  ChainVerifier chain;
  CompactRange rebuilt;
  absl::Status node_status;
  // Checkpoints are read in step with the entries, so memory stays flat.
  int checkpoint_rc = sqlite3_step(checkpoints.get());
  auto check_checkpoints_at = [&](uint64_t size) -> absl::Status {
    while (checkpoint_rc == SQLITE_ROW &&
           static_cast<uint64_t>(sqlite3_column_int64(checkpoints.get(), 0)) ==
               size) {
      CUSTOS_RETURN_IF_ERROR(
          CheckCheckpoint(size, sqlite::ColumnBytes(checkpoints.get(), 1),
                          sqlite::ColumnBytes(checkpoints.get(), 2),
                          rebuilt.RootHash(), verifier));
      ++report.checkpoints;
      report.latest_checkpoint_size = size;
      report.latest_checkpoint_note = sqlite::ColumnBytes(checkpoints.get(), 2);
      checkpoint_rc = sqlite3_step(checkpoints.get());
    }
    return absl::OkStatus();
  };

  int node_rc = sqlite3_step(nodes.get());
  CUSTOS_RETURN_IF_ERROR(check_checkpoints_at(0));
  uint64_t position = 0;
  // Adds the next entry's leaf to the rebuilt tree and checks the stored
  // subtrees it completes, the checkpoints of the size it makes, and the
  // size asked about.
  auto append_leaf = [&](const std::string& leaf) -> absl::Status {
    // Each stored subtree is checked as soon as the rebuilt tree completes
    // it. Below kLowestStoredLevel a row is optional (logs written before
    // that rule have them) but checked when there.
    rebuilt.Append(leaf, [&](int level, uint64_t index, const std::string& h) {
      if (level == 0 || !node_status.ok()) return;
      const uint64_t last = ((index + 1) << level) - 1;
      const bool row_is_this_node =
          node_rc == SQLITE_ROW &&
          static_cast<uint64_t>(sqlite3_column_int64(nodes.get(), 0)) == last &&
          sqlite3_column_int(nodes.get(), 1) == level;
      if (!row_is_this_node && level < sqlite::kLowestStoredLevel) return;
      const bool stored =
          row_is_this_node &&
          sqlite3_column_bytes(nodes.get(), 2) == static_cast<int>(h.size()) &&
          std::memcmp(sqlite3_column_blob(nodes.get(), 2), h.data(),
                      h.size()) == 0;
      if (row_is_this_node) node_rc = sqlite3_step(nodes.get());
      if (!stored) {
        // Every other leaf under this node was checked in a smaller node
        // already, so the newest entry (or the node itself) is what changed.
        const uint64_t first = index << level;
        node_status = absl::DataLossError(absl::StrCat(
            "entry ", position,
            ": does not match the stored Merkle tree (node ", level, "/", index,
            " over entries ", first, "..", first + (uint64_t{1} << level) - 1,
            "): the entry or the tree was changed"));
      }
    });
    CUSTOS_RETURN_IF_ERROR(node_status);
    ++position;
    if (position == options.root_at_size)
      report.root_at_size = rebuilt.RootHash();
    CUSTOS_RETURN_IF_ERROR(check_checkpoints_at(position));
    if (options.progress && position % kProgressEvery == 0)
      options.progress(position, total);
    return absl::OkStatus();
  };

  // Two stages on two threads: while a second thread checks one batch of
  // entries on their own (chain, leaf hash, held values), this one reads
  // the next batch and puts the batch before into the tree. Checked in
  // order, an error is the one a single pass would meet first.
  EntryReader reader(db.get(), entries.get());
  std::future<CheckedEntries> checking;
  for (;;) {
    EntryBatch batch = reader.Next(std::max<size_t>(options.batch_size, 1));
    std::optional<CheckedEntries> checked;
    if (checking.valid()) checked = checking.get();
    const bool last = batch.rows.empty() && batch.end.ok();
    if (!last && (!checked.has_value() || checked->status.ok())) {
      checking = std::async(std::launch::async,
                            [&chain, batch = std::move(batch)] {
                              return CheckEntries(chain, batch);
                            });
    }
    if (checked.has_value()) {
      report.values_checked += checked->values_checked;
      for (const std::string& leaf : checked->leaves) {
        CUSTOS_RETURN_IF_ERROR(append_leaf(leaf));
      }
      CUSTOS_RETURN_IF_ERROR(checked->status);
    }
    if (last) break;
  }
  if (checkpoint_rc == SQLITE_ROW) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint of size ", sqlite3_column_int64(checkpoints.get(), 0),
        " is larger than the log (", position,
        " entries): entries were removed from the end"));
  }
  if (node_rc == SQLITE_ROW) {
    return absl::DataLossError(absl::StrCat(
        "tree node ", sqlite3_column_int(nodes.get(), 1),
        " over entries up to ", sqlite3_column_int64(nodes.get(), 0),
        " is stored, but the log holds ", position,
        " entries: entries were removed from the end, or the node added"));
  }
  if (node_rc != SQLITE_ROW && node_rc != SQLITE_DONE) {
    return sqlite::Error(db.get(), node_rc, "reading tree nodes");
  }
  if (verifier.has_value() && position > 0 && report.checkpoints == 0) {
    return absl::DataLossError(
        absl::StrCat("the log has ", position,
                     " entries but no checkpoint to check them by"));
  }
  report.entries = position;
  report.root_hash = rebuilt.RootHash();
  if (options.progress) options.progress(position, total);

  // Values still held must match what their entries committed to.
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement values,
      sqlite::Prepare(
          db.get(),
          "SELECT p.idx, p.field, p.salt, p.value, e.entry FROM "
          "personal_values p "
          "LEFT JOIN entries e ON e.idx = p.idx WHERE length(p.salt) > 0 "
          "ORDER BY p.idx"));
  int rc;
  while ((rc = sqlite3_step(values.get())) == SQLITE_ROW) {
    custos::v1::LogEntry entry;
    entry.ParseFromString(sqlite::ColumnBytes(values.get(), 4));
    CUSTOS_RETURN_IF_ERROR(
        CheckCommitment(sqlite3_column_int64(values.get(), 0), entry,
                        sqlite::ColumnBytes(values.get(), 1),
                        sqlite::ColumnBytes(values.get(), 2),
                        sqlite::ColumnBytes(values.get(), 3)));
    ++report.values_checked;
  }
  if (rc != SQLITE_DONE)
    return sqlite::Error(db.get(), rc, "reading personal values");
  return report;
}

absl::Status VerifySqliteLogFile(const std::string& path) {
  return VerifySqliteLog(path).status();
}

}  // namespace custos::audit
