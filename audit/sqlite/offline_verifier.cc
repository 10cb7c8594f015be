#include "audit/sqlite/offline_verifier.h"

#include <algorithm>
#include <deque>
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

// A stored tree node and a stored checkpoint, as read.
struct NodeRow {
  uint64_t last_leaf;
  int level;
  std::string hash;
};
struct CheckpointRow {
  uint64_t size;
  std::string root;
  std::string note;
};

// What the reader hands the checker: entries, with the stored tree nodes
// their leaves complete and the checkpoints of the sizes they make. The last
// batch also carries every node and checkpoint past the log's end. Entry
// columns are copied into one buffer: an allocation per column would cost
// more than reading the row.
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
  // Filled by HashBatch: each row's leaf hash, one after the other
  // (kHashSize bytes each), and the subtrees within the batch's leaves
  // (HashSubtreesWithin). Neither needs an earlier batch, so batches are
  // hashed side by side while the one before is checked.
  std::string leaves;
  std::string subtrees;
  std::vector<NodeRow> nodes;
  std::vector<CheckpointRow> checkpoints;
  // Not OK when the log cannot be read past these rows: a missing entry, or
  // an SQLite error.
  absl::Status end;
  // No batch follows.
  bool last = false;
};

void HashBatch(EntryBatch& batch) {
  batch.leaves.resize(batch.rows.size() * kHashSize);
  for (size_t i = 0; i < batch.rows.size(); ++i) {
    const EntryBatch::Row& row = batch.rows[i];
    HashLeafTo(batch.Column(row.bytes_at, row.bytes_size),
               &batch.leaves[i * kHashSize]);
  }
  HashSubtreesWithin(batch.first, batch.leaves, batch.subtrees);
}

// All of verification's reading: entries (checking that no index is
// missing), tree nodes and checkpoints, in step, on one connection. Takes
// `SELECT idx, leaf_hash, entry, personal ... ORDER BY idx`, nodes by
// (last_leaf, level) and checkpoints by size.
class LogReader {
 public:
  LogReader(sqlite3* db, sqlite3_stmt* entries, sqlite3_stmt* nodes,
            sqlite3_stmt* checkpoints)
      : db_(db),
        entries_(entries),
        nodes_(nodes),
        checkpoints_(checkpoints),
        node_rc_(sqlite3_step(nodes)),
        checkpoint_rc_(sqlite3_step(checkpoints)) {}

  // Fills `batch` with up to `count` entries and what they complete. The
  // batch's buffers are reused: allocating megabytes afresh for each batch
  // had the kernel mapping and unmapping them.
  void Next(size_t count, EntryBatch& batch) {
    batch.first = next_;
    batch.data.clear();
    batch.rows.clear();
    batch.leaves.clear();
    batch.subtrees.clear();
    batch.nodes.clear();
    batch.checkpoints.clear();
    batch.end = absl::OkStatus();
    batch.rows.reserve(count);
    while (!finished_ && batch.rows.size() < count) {
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
    batch.last = finished_;
    // A node over entries up to last_leaf is complete once that leaf is in;
    // a checkpoint of size n once entry n - 1 is.
    while (node_rc_ == SQLITE_ROW &&
           (batch.last ||
            static_cast<uint64_t>(sqlite3_column_int64(nodes_, 0)) < next_)) {
      batch.nodes.push_back(
          {static_cast<uint64_t>(sqlite3_column_int64(nodes_, 0)),
           sqlite3_column_int(nodes_, 1), sqlite::ColumnBytes(nodes_, 2)});
      node_rc_ = sqlite3_step(nodes_);
    }
    while (checkpoint_rc_ == SQLITE_ROW &&
           (batch.last || static_cast<uint64_t>(sqlite3_column_int64(
                              checkpoints_, 0)) <= next_)) {
      batch.checkpoints.push_back(
          {static_cast<uint64_t>(sqlite3_column_int64(checkpoints_, 0)),
           sqlite::ColumnBytes(checkpoints_, 1),
           sqlite::ColumnBytes(checkpoints_, 2)});
      checkpoint_rc_ = sqlite3_step(checkpoints_);
    }
    if (batch.end.ok() && node_rc_ != SQLITE_ROW && node_rc_ != SQLITE_DONE) {
      batch.end = sqlite::Error(db_, node_rc_, "reading tree nodes");
    }
    if (batch.end.ok() && checkpoint_rc_ != SQLITE_ROW &&
        checkpoint_rc_ != SQLITE_DONE) {
      batch.end = sqlite::Error(db_, checkpoint_rc_, "reading checkpoints");
    }
    if (!batch.end.ok()) batch.last = true;
  }

 private:
  // Appends column `i` of the current entry row to batch.data.
  void Copy(EntryBatch& batch, int i, size_t& at, size_t& size) {
    const void* blob = sqlite3_column_blob(entries_, i);
    size = sqlite3_column_bytes(entries_, i);
    at = batch.data.size();
    batch.data.append(static_cast<const char*>(blob), size);
  }

  sqlite3* const db_;
  sqlite3_stmt* const entries_;
  sqlite3_stmt* const nodes_;
  sqlite3_stmt* const checkpoints_;
  int node_rc_;
  int checkpoint_rc_;
  uint64_t next_ = 0;
  bool finished_ = false;
};

// Checks the batches of a LogReader in order: each entry against the chain,
// its stored leaf hash and its held values; the rebuilt tree against every
// stored node as soon as it completes; each checkpoint's root and signature
// at its size; and at the end, that nothing is stored past the log. The
// same checks in the same order as one pass over the log, so the first
// error is the same whatever the batches. One batch at a time, from any
// thread.
class LogChecker {
 public:
  LogChecker(const VerifyOptions& options,
             const std::optional<NoteVerifier>& verifier, uint64_t total)
      : options_(options), verifier_(verifier), total_(total) {
    report_.signatures_checked = verifier.has_value();
  }

  // Takes the batch's nodes and checkpoints; the rest is left as it was.
  absl::Status Check(EntryBatch& batch) {
    for (NodeRow& node : batch.nodes) nodes_.push_back(std::move(node));
    for (CheckpointRow& c : batch.checkpoints)
      checkpoints_.push_back(std::move(c));
    if (!started_) {
      started_ = true;
      CUSTOS_RETURN_IF_ERROR(CheckCheckpointsAt(0));
    }
    absl::string_view subtrees = batch.subtrees;
    for (size_t i = 0; i < batch.rows.size(); ++i) {
      const EntryBatch::Row& row = batch.rows[i];
      const absl::string_view bytes =
          batch.Column(row.bytes_at, row.bytes_size);
      CUSTOS_RETURN_IF_ERROR(chain_.Next(
          position_, bytes,
          absl::string_view(batch.leaves).substr(i * kHashSize, kHashSize)));
      if (row.has_values) {
        CUSTOS_ASSIGN_OR_RETURN(
            const uint64_t checked,
            CheckRowValues(position_, bytes,
                           batch.Column(row.values_at, row.values_size)));
        report_.values_checked += checked;
      }
      if (batch.Column(row.leaf_at, row.leaf_size) != chain_.last_leaf_hash()) {
        return absl::DataLossError(
            absl::StrCat("entry ", position_,
                         ": stored leaf hash does not match its bytes"));
      }
      CUSTOS_RETURN_IF_ERROR(
          AppendLeaf(chain_.last_leaf_hash(), batch.first, subtrees));
    }
    CUSTOS_RETURN_IF_ERROR(batch.end);
    return batch.last ? Finish() : absl::OkStatus();
  }

  const VerifyReport& report() const { return report_; }

 private:
  // Adds the next entry's leaf to the rebuilt tree and checks the stored
  // subtrees it completes, the checkpoints of the size it makes, and the
  // size asked about. The subtrees within the leaf's batch, from `first` on,
  // come hashed in `subtrees`.
  absl::Status AppendLeaf(const std::string& leaf, uint64_t first,
                          absl::string_view& subtrees) {
    absl::Status node_status;
    // Each stored subtree is checked as soon as the rebuilt tree completes
    // it. Below kLowestStoredLevel a row is optional (logs written before
    // that rule have them) but checked when there.
    rebuilt_.AppendHashed(
        leaf, first, subtrees,
        [&](int level, uint64_t index, absl::string_view h) {
          if (level == 0 || !node_status.ok()) return;
          const uint64_t last = ((index + 1) << level) - 1;
          const bool row_is_this_node = !nodes_.empty() &&
                                        nodes_.front().last_leaf == last &&
                                        nodes_.front().level == level;
          if (!row_is_this_node && level < sqlite::kLowestStoredLevel) return;
          const bool stored = row_is_this_node && nodes_.front().hash == h;
          if (row_is_this_node) nodes_.pop_front();
          if (!stored) {
            // Every other leaf under this node was checked in a smaller node
            // already, so the newest entry (or the node itself) is what
            // changed.
            const uint64_t first = index << level;
            node_status = absl::DataLossError(
                absl::StrCat("entry ", position_,
                             ": does not match the stored Merkle tree (node ",
                             level, "/", index, " over entries ", first, "..",
                             first + (uint64_t{1} << level) - 1,
                             "): the entry or the tree was changed"));
          }
        });
    CUSTOS_RETURN_IF_ERROR(node_status);
    ++position_;
    if (position_ == options_.root_at_size)
      report_.root_at_size = rebuilt_.RootHash();
    CUSTOS_RETURN_IF_ERROR(CheckCheckpointsAt(position_));
    if (options_.progress && position_ % kProgressEvery == 0)
      options_.progress(position_, total_);
    return absl::OkStatus();
  }

  absl::Status CheckCheckpointsAt(uint64_t size) {
    while (!checkpoints_.empty() && checkpoints_.front().size == size) {
      const CheckpointRow& stored = checkpoints_.front();
      CUSTOS_RETURN_IF_ERROR(CheckCheckpoint(size, stored.root, stored.note,
                                             rebuilt_.RootHash(), verifier_));
      ++report_.checkpoints;
      report_.latest_checkpoint_size = size;
      report_.latest_checkpoint_note = stored.note;
      checkpoints_.pop_front();
    }
    return absl::OkStatus();
  }

  // What is left once every entry is in.
  absl::Status Finish() {
    if (!checkpoints_.empty()) {
      return absl::DataLossError(
          absl::StrCat("checkpoint of size ", checkpoints_.front().size,
                       " is larger than the log (", position_,
                       " entries): entries were removed from the end"));
    }
    if (!nodes_.empty()) {
      return absl::DataLossError(absl::StrCat(
          "tree node ", nodes_.front().level, " over entries up to ",
          nodes_.front().last_leaf, " is stored, but the log holds ", position_,
          " entries: entries were removed from the end, or the node added"));
    }
    if (verifier_.has_value() && position_ > 0 && report_.checkpoints == 0) {
      return absl::DataLossError(
          absl::StrCat("the log has ", position_,
                       " entries but no checkpoint to check them by"));
    }
    report_.entries = position_;
    report_.root_hash = rebuilt_.RootHash();
    if (options_.progress) options_.progress(position_, total_);
    return absl::OkStatus();
  }

  const VerifyOptions& options_;
  const std::optional<NoteVerifier>& verifier_;
  const uint64_t total_;
  ChainVerifier chain_;
  CompactRange rebuilt_;
  std::deque<NodeRow> nodes_;
  std::deque<CheckpointRow> checkpoints_;
  uint64_t position_ = 0;
  bool started_ = false;
  VerifyReport report_;
};

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
  // Reading through a memory map hands out rows where they lie in the
  // page cache, instead of copying each page into SQLite's own cache. The
  // log's file only grows (erasure zeroes in place), so the map never
  // loses its end. SQLite caps the size at its compile-time limit and
  // reads the rest as before.
  CUSTOS_RETURN_IF_ERROR(
      sqlite::Exec(db.get(), "PRAGMA mmap_size = 2147418112"));

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
      // nodes: by last entry covered, then level upwards.
      sqlite::Prepare(db.get(),
                      "SELECT last_leaf, level, hash FROM tree_nodes ORDER BY "
                      "last_leaf, level"));
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement checkpoints,
      sqlite::Prepare(
          db.get(), "SELECT size, root, note FROM checkpoints ORDER BY size"));

  // Three stages: this thread reads batches (all the reading, on the one
  // connection). Each batch then gets a thread of its own, which hashes its
  // leaves and the subtrees within them (nearly all of the tree), waits for
  // the batch before it to be checked, and checks it. So batches are hashed
  // while the one before is checked and the next read, which keeps both
  // cores busy. At most kBatchesInFlight batches are held,
  // so memory stays flat.
  constexpr size_t kBatchesInFlight = 3;
  LogReader reader(db.get(), entries.get(), nodes.get(), checkpoints.get());
  LogChecker checker(options, verifier, total);
  // Batch k is read into batches[k % kBatchesInFlight], once batch
  // k - kBatchesInFlight, the last user of that slot, is checked.
  std::vector<EntryBatch> batches(kBatchesInFlight);
  std::deque<std::shared_future<absl::Status>> in_flight;
  // A batch's thread returns the first error of any batch up to its own, so
  // waiting for each in turn finds the first error of the log, and every
  // thread is done with `checker` and `batches` before this returns.
  const auto wait_for_all = [&in_flight]() {
    absl::Status first;
    for (; !in_flight.empty(); in_flight.pop_front())
      first.Update(in_flight.front().get());
    return first;
  };
  bool last = false;
  for (uint64_t k = 0; !last; ++k) {
    if (in_flight.size() == kBatchesInFlight) {
      const absl::Status status = in_flight.front().get();
      in_flight.pop_front();
      if (!status.ok()) {
        wait_for_all().IgnoreError();
        return status;
      }
    }
    EntryBatch& batch = batches[k % kBatchesInFlight];
    reader.Next(std::max<size_t>(options.batch_size, 1), batch);
    last = batch.last;
    std::shared_future<absl::Status> before;
    if (!in_flight.empty()) before = in_flight.back();
    in_flight.push_back(
        std::async(std::launch::async, [&checker, &batch, before]() {
          HashBatch(batch);
          if (before.valid() && !before.get().ok()) return before.get();
          return checker.Check(batch);
        }).share());
  }
  CUSTOS_RETURN_IF_ERROR(wait_for_all());
  VerifyReport report = checker.report();

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
