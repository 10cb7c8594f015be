#include "audit/sqlite/offline_verifier.h"

#include <cstring>
#include <optional>

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
  const std::string digest = Sha256(absl::StrCat(salt, value));
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
  int rc;
  while ((rc = sqlite3_step(entries.get())) == SQLITE_ROW) {
    const uint64_t idx =
        static_cast<uint64_t>(sqlite3_column_int64(entries.get(), 0));
    if (idx != position) {
      return absl::DataLossError(absl::StrCat(
          "entry ", position, ": missing (the next row stored is ", idx, ")"));
    }
    const void* blob = sqlite3_column_blob(entries.get(), 2);
    const absl::string_view bytes(static_cast<const char*>(blob),
                                  sqlite3_column_bytes(entries.get(), 2));
    CUSTOS_RETURN_IF_ERROR(chain.Next(position, bytes));
    if (sqlite3_column_type(entries.get(), 3) != SQLITE_NULL) {
      CUSTOS_ASSIGN_OR_RETURN(
          const uint64_t checked,
          CheckRowValues(position, bytes,
                         sqlite::ColumnBytes(entries.get(), 3)));
      report.values_checked += checked;
    }
    const std::string& leaf = chain.last_leaf_hash();
    if (sqlite3_column_bytes(entries.get(), 1) !=
            static_cast<int>(leaf.size()) ||
        std::memcmp(sqlite3_column_blob(entries.get(), 1), leaf.data(),
                    leaf.size()) != 0) {
      return absl::DataLossError(absl::StrCat(
          "entry ", position, ": stored leaf hash does not match its bytes"));
    }
    // Each stored subtree is checked as soon as the rebuilt tree completes
    // it. Below kLowestStoredLevel a row is optional (logs written before
    // that rule have them) but checked when there.
    rebuilt.Append(chain.last_leaf_hash(), [&](int level, uint64_t index,
                                               const std::string& h) {
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
  }
  if (rc != SQLITE_DONE) return sqlite::Error(db.get(), rc, "reading entries");
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
