#include "audit/sqlite/offline_verifier.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "audit/checkpoint.h"
#include "audit/entry.h"
#include "audit/log_store.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "audit/sqlite/held_values.h"
#include "audit/sqlite/listing.h"
#include "audit/sqlite/sqlite.h"
#include "audit/sqlite/tree_nodes.h"
#include "common/mutex.h"
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

// An entry's commitments, found in `entry_bytes` by scanning them, or for
// bytes the scan cannot read (a changed entry, which the chain or the leaf
// hash reports as well) as the message parser reads them, into `parsed`,
// which the views then point into. Building a message costs more than the
// scan, so `parsed` stays empty for intact entries.
void FindCommitments(absl::string_view entry_bytes,
                     std::vector<CommitmentView>& commitments,
                     std::optional<custos::v1::LogEntry>& parsed) {
  if (ScanCommitments(entry_bytes, commitments)) return;
  parsed.emplace();
  parsed->ParseFromArray(entry_bytes.data(), entry_bytes.size());
  commitments.clear();
  for (const auto& commitment : parsed->commitments()) {
    commitments.push_back({commitment.field(), commitment.digest()});
  }
}

// DATA_LOSS unless entry `position`, whose commitments are `commitments`,
// committed to `value` under `field` with `salt`: the last commitment to
// the field decides, as for the message parser.
absl::Status CheckCommitment(uint64_t position,
                             const std::vector<CommitmentView>& commitments,
                             absl::string_view field, absl::string_view salt,
                             absl::string_view value) {
  char digest[kHashSize];
  Sha256ConcatTo({salt, value}, digest);
  bool matched = false;
  for (const CommitmentView& commitment : commitments) {
    if (commitment.field == field) {
      matched = commitment.digest == absl::string_view(digest, kHashSize);
    }
  }
  if (matched) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("entry ", position, ": the stored ",
                                          field,
                                          " does not match the entry's "
                                          "commitment"));
}

// OK for a value kept without a salt, which only masking leaves: a
// source_ip in masked form (masking it again changes nothing), of an entry
// whose `commitments` include the field (masking only replaces a value
// the entry committed to). Anything else without a salt is a value the
// entry's commitment no longer checks, put there by hand.
absl::Status CheckUnsalted(uint64_t position,
                           const std::vector<CommitmentView>& commitments,
                           absl::string_view field, absl::string_view value) {
  // An empty source_ip is what earlier versions' masking kept of an address
  // that did not parse (it now erases it): it holds nothing, as an erased
  // value does.
  const bool left_by_masking = value.empty() ? field == "source_ip"
                                             : MaskedWithAge(field, value) &&
                                                   MaskAddress(value) == value;
  if (!left_by_masking) {
    return absl::DataLossError(absl::StrCat(
        "entry ", position, ": the stored ", field,
        " has no salt (only a masked source_ip or erased address is kept "
        "without one)"));
  }
  for (const CommitmentView& commitment : commitments) {
    if (commitment.field == field) return absl::OkStatus();
  }
  return absl::DataLossError(
      absl::StrCat("entry ", position, ": a masked ", field,
                   " is stored, but the entry commits to no ", field,
                   " (a value was added by hand)"));
}

// Checks the values in entry `position`'s row against its commitments and
// returns how many it checked (masked addresses, with no salt, are only
// checked to be masked).
// Runs for every row: `values` and `commitments` are scratch space, reused
// from row to row.
absl::StatusOr<uint64_t> CheckRowValues(
    uint64_t position, absl::string_view entry_bytes,
    absl::string_view row_values, std::vector<sqlite::RowValueView>& values,
    std::vector<CommitmentView>& commitments) {
  if (auto decoded = sqlite::DecodeRowValueViews(row_values, values);
      !decoded.ok()) {
    return absl::DataLossError(
        absl::StrCat("entry ", position, ": ", decoded.message()));
  }
  std::optional<custos::v1::LogEntry> parsed;
  FindCommitments(entry_bytes, commitments, parsed);
  uint64_t checked = 0;
  for (const sqlite::RowValueView& value : values) {
    if (value.salt.empty()) {
      CUSTOS_RETURN_IF_ERROR(
          CheckUnsalted(position, commitments, value.field, value.value));
      continue;
    }
    CUSTOS_RETURN_IF_ERROR(CheckCommitment(position, commitments, value.field,
                                           value.salt, value.value));
    ++checked;
  }
  return checked;
}

// Checks one value kept beside entry `position` (a personal_values row:
// field, salt, value and typeof(subject)) against the entry's
// `commitments`; true when it counted as checked (it had a salt).
absl::StatusOr<bool> CheckBesideValue(
    uint64_t position, const std::vector<CommitmentView>& commitments,
    absl::string_view field, absl::string_view salt, absl::string_view value,
    absl::string_view subject_type) {
  // Erasure finds a subject's values by `subject = ?` on text: one stored
  // as another type would outlive the erasure of that subject. (Its text
  // is no part of what the entry commits to.)
  if (subject_type != "text") {
    return absl::DataLossError(absl::StrCat(
        "entry ", position, ": the stored ", field,
        "'s subject column is stored as ", subject_type,
        ", not text (the row was changed: erasing that subject would not "
        "find the value)"));
  }
  if (salt.empty()) {
    CUSTOS_RETURN_IF_ERROR(CheckUnsalted(position, commitments, field, value));
    return false;
  }
  CUSTOS_RETURN_IF_ERROR(
      CheckCommitment(position, commitments, field, salt, value));
  return true;
}

// SQLite's name for a storage class, as typeof() gives it.
absl::string_view TypeName(int type) {
  switch (type) {
    case SQLITE_INTEGER:
      return "integer";
    case SQLITE_FLOAT:
      return "real";
    case SQLITE_TEXT:
      return "text";
    case SQLITE_BLOB:
      return "blob";
    default:
      return "null";
  }
}

// DATA_LOSS unless the lookup columns of entry `position`'s row (columns 4
// to 8 of `row`, see EntryReader) say what its bytes say (`fields`), each
// stored as the type the writer binds. Listings filter on the columns: a
// changed one would hide the entry from the customer's or the DPO's list,
// or show it in another's, while its bytes, the chain and the tree stay
// intact. The types are checked first, and apart: the listings' SQL never
// finds a blob equal to text or a number, while reading a column as text or
// a number converts it (and leaves sqlite3_column_type undefined).
absl::Status CheckLookupColumns(uint64_t position, const LookupFields& fields,
                                sqlite3_stmt* row) {
  constexpr struct {
    int column;
    const char* name;
    int type;
  } kTypes[] = {{4, "time_us", SQLITE_INTEGER},
                {5, "customer_id", SQLITE_TEXT},
                {6, "actor_id", SQLITE_TEXT},
                {7, "category", SQLITE_TEXT},
                {8, "outcome", SQLITE_INTEGER}};
  for (const auto& expected : kTypes) {
    const int type = sqlite3_column_type(row, expected.column);
    if (type != expected.type) {
      return absl::DataLossError(absl::StrCat(
          "entry ", position, ": its row's ", expected.name,
          " column is stored as ", TypeName(type), ", not ",
          TypeName(expected.type),
          " (the row was changed: listings filtered on it do not find the "
          "entry)"));
    }
  }
  auto column = [row](int i) {
    return absl::string_view(
        reinterpret_cast<const char*>(sqlite3_column_text(row, i)),
        sqlite3_column_bytes(row, i));
  };
  auto wrong = [position](absl::string_view name, const auto& stored,
                          const auto& entry) {
    return absl::DataLossError(absl::StrCat(
        "entry ", position, ": its row's ", name, " column says \"", stored,
        "\" but the entry says \"", entry,
        "\" (the row was changed: listings filtered on it show the entry "
        "wrongly or not at all)"));
  };
  if (sqlite3_column_int64(row, 4) != fields.time_us)
    return wrong("time_us", sqlite3_column_int64(row, 4), fields.time_us);
  if (column(5) != fields.customer_id)
    return wrong("customer_id", column(5), fields.customer_id);
  if (column(6) != fields.actor_id)
    return wrong("actor_id", column(6), fields.actor_id);
  if (column(7) != fields.category)
    return wrong("category", column(7), fields.category);
  if (sqlite3_column_int64(row, 8) != fields.outcome)
    return wrong("outcome", sqlite3_column_int64(row, 8), fields.outcome);
  return absl::OkStatus();
}

// A listing key's entries, as a count and a sum of their indexes, each
// mixed with a secret drawn for the run (splitmix64's finalizer): two sets
// of indexes with the same count and sum differ only by a chance of about
// one in 2^64, unless whoever made them knew the run's secret. Lets the
// listing table be compared with the entries as sets without sorting
// either.
struct ListedSum {
  uint64_t count = 0;
  uint64_t mixed = 0;

  void Add(uint64_t index, uint64_t secret) {
    uint64_t z = index ^ secret;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    ++count;
    mixed += z ^ (z >> 31);
  }
  bool operator==(const ListedSum& other) const {
    return count == other.count && mixed == other.mixed;
  }
};
// By listing key ("c:<customer>", "a:<actor>").
using ListedSums = absl::flat_hash_map<std::string, ListedSum>;

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

// What a reader hands the checker: what it found of a run of entries, with
// the stored tree nodes their leaves complete and the checkpoints of the
// sizes they make (attached by the checker's thread). The last batch also
// carries every node and checkpoint past the log's end. What rows keep of
// their columns is copied into one buffer: an allocation per column would
// cost more than reading the row.
struct EntryBatch {
  // What the reader found of one entry. Only its prev_hash is kept of its
  // bytes: all else is checked by the reader.
  struct Row {
    // ScanLinks's findings; prev_hash lies in `data`.
    bool scanned;
    uint64_t index;
    size_t prev_hash_at;
    size_t prev_hash_size;
    // Whether the stored leaf hash is the one of the entry's bytes.
    bool leaf_matches;
    // Whether the entry has personal values, in its row or beside it, and
    // if so their check's outcome: the values checked, or what is wrong.
    bool has_values;
    absl::Status values;
    uint64_t values_checked;
    // Whether the row's lookup columns say what the entry's bytes say.
    absl::Status columns;
  };
  absl::string_view Column(size_t at, size_t size) const {
    return absl::string_view(data).substr(at, size);
  }
  uint64_t first = 0;
  std::string data;
  std::vector<Row> rows;
  // Each row's leaf hash, one after the other (kHashSize bytes each), and
  // the subtrees within the batch's leaves (HashSubtreesWithin). Neither
  // needs an earlier batch, so readers hash their batches side by side.
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

// Reads entries by index on a connection of its own, so that two can read
// side by side. Takes `SELECT idx, leaf_hash, entry, personal, time_us,
// customer_id, actor_id, category, outcome FROM entries WHERE idx >= ?1
// ORDER BY idx LIMIT ?2`, and kBesideSql for the values kept beside them.
// Adds the listing keys of the entries below `listed_below` to its own sums
// (listed()), with `secret`.
class EntryReader {
 public:
  static constexpr char kBesideSql[] =
      "SELECT idx, field, salt, value, typeof(subject) FROM personal_values "
      "WHERE idx >= ?1 AND idx < ?2 ORDER BY idx, field";

  EntryReader(sqlite::Database db, sqlite::Statement range,
              sqlite::Statement beside, uint64_t listed_below, uint64_t secret)
      : db_(std::move(db)),
        range_(std::move(range)),
        beside_(std::move(beside)),
        listed_below_(listed_below),
        secret_(secret) {}

  // The listing keys of the entries read so far that the listing table
  // must hold, summed.
  const ListedSums& listed() const { return listed_; }

  // Fills `batch` with the entries [first, end), where `total` entries are
  // stored in all. Stops at a missing entry or an SQLite error (batch.end),
  // and marks the batch last at the end of the log. The batch's buffers are
  // reused: allocating megabytes afresh for each batch had the kernel
  // mapping and unmapping them.
  void Read(uint64_t first, uint64_t end, uint64_t total, EntryBatch& batch) {
    batch.first = first;
    batch.data.clear();
    batch.rows.clear();
    batch.leaves.clear();
    batch.subtrees.clear();
    batch.nodes.clear();
    batch.checkpoints.clear();
    batch.end = absl::OkStatus();
    batch.last = end >= total;
    batch.rows.reserve(end - first);
    sqlite3_stmt* const range = range_.get();
    sqlite3_reset(range);
    sqlite3_bind_int64(range, 1, static_cast<int64_t>(first));
    sqlite3_bind_int64(range, 2, static_cast<int64_t>(end - first));
    // Stepped first by the first entry's Scan, while `range` is open: the
    // two statements then read the same state of the file.
    sqlite3_reset(beside_.get());
    sqlite3_bind_int64(beside_.get(), 1, static_cast<int64_t>(first));
    sqlite3_bind_int64(beside_.get(), 2, static_cast<int64_t>(end));
    beside_rc_ = kBesideNotStepped;
    for (uint64_t next = first; next < end; ++next) {
      const int rc = sqlite3_step(range);
      if (rc == SQLITE_DONE) {
        // Rows removed since the log's size was read: the log ends here.
        batch.last = true;
        break;
      }
      if (rc != SQLITE_ROW) {
        batch.end = sqlite::Error(db_.get(), rc, "reading entries");
        break;
      }
      const uint64_t idx =
          static_cast<uint64_t>(sqlite3_column_int64(range, 0));
      if (idx != next) {
        batch.end = absl::DataLossError(absl::StrCat(
            "entry ", next, ": missing (the next row stored is ", idx, ")"));
        break;
      }
      Scan(next, batch);
    }
    sqlite3_reset(range);
    sqlite3_reset(beside_.get());
    if (!batch.end.ok()) batch.last = true;
    HashSubtreesWithin(batch.first, batch.leaves, batch.subtrees);
  }

 private:
  // Adds the current row, entry `position`, to `batch`: all that checking it
  // needs of its bytes (leaf hash, links, held values) is done here, so
  // that the checker, which must go in order, has little left to do.
  void Scan(uint64_t position, EntryBatch& batch) {
    sqlite3_stmt* const range = range_.get();
    const absl::string_view bytes = Column(2);
    EntryBatch::Row& row = batch.rows.emplace_back();
    const size_t leaf_at = batch.leaves.size();
    batch.leaves.resize(leaf_at + kHashSize);
    HashLeafTo(bytes, &batch.leaves[leaf_at]);
    row.leaf_matches =
        Column(1) == absl::string_view(batch.leaves).substr(leaf_at, kHashSize);
    absl::string_view prev_hash;
    row.scanned = ScanLinks(bytes, row.index, prev_hash);
    row.prev_hash_at = batch.data.size();
    row.prev_hash_size = prev_hash.size();
    batch.data.append(prev_hash.data(), prev_hash.size());
    LookupFields fields;
    if (ScanLookupFields(bytes, fields)) {
      row.columns = CheckLookupColumns(position, fields, range);
      if (position < listed_below_) AddListingKeys(position, fields);
    } else {
      row.columns = absl::DataLossError(
          absl::StrCat("entry ", position,
                       ": its time or actor does not parse (entry changed)"));
    }
    row.has_values = sqlite3_column_type(range, 3) != SQLITE_NULL;
    row.values = absl::OkStatus();
    row.values_checked = 0;
    if (row.has_values) {
      auto checked =
          CheckRowValues(position, bytes, Column(3), values_, commitments_);
      if (checked.ok()) {
        row.values_checked = *checked;
      } else {
        row.values = checked.status();
      }
    }
    // Here rather than in a pass of their own after the entries, so that
    // what is reported is still the first problem in the log's order.
    ScanBeside(position, bytes, row);
  }

  // Checks the values kept beside entry `position` (whose bytes are
  // `bytes`) into `row`, after those in its row.
  void ScanBeside(uint64_t position, absl::string_view bytes,
                  EntryBatch::Row& row) {
    sqlite3_stmt* const beside = beside_.get();
    if (beside_rc_ == kBesideNotStepped) beside_rc_ = sqlite3_step(beside);
    bool found_commitments = false;
    std::optional<custos::v1::LogEntry> parsed;
    // Rows in index order: those up to this entry's are its (an index
    // stored as a real, say 5.5, is truncated to the entry it follows).
    while (beside_rc_ == SQLITE_ROW) {
      // The type first: reading the column as a number may convert it.
      const bool integer = sqlite3_column_type(beside, 0) == SQLITE_INTEGER;
      if (sqlite3_column_int64(beside, 0) > static_cast<int64_t>(position)) {
        break;
      }
      row.has_values = true;
      if (row.values.ok()) {
        if (!integer) {
          row.values = absl::DataLossError(absl::StrCat(
              "entry ", position, ": a stored ", ColumnOf(beside, 1),
              " is kept under index ", ColumnOf(beside, 0),
              ", which is no entry's (the row was changed)"));
        } else {
          if (!found_commitments) {
            FindCommitments(bytes, commitments_, parsed);
            found_commitments = true;
          }
          auto checked = CheckBesideValue(
              position, commitments_, ColumnOf(beside, 1), ColumnOf(beside, 2),
              ColumnOf(beside, 3), ColumnOf(beside, 4));
          if (checked.ok()) {
            row.values_checked += *checked ? 1 : 0;
          } else {
            row.values = checked.status();
          }
        }
      }
      beside_rc_ = sqlite3_step(beside);
    }
    if (beside_rc_ != SQLITE_ROW && beside_rc_ != SQLITE_DONE &&
        row.values.ok()) {
      row.values =
          sqlite::Error(db_.get(), beside_rc_, "reading personal values");
    }
  }

  // Column `i` of `stmt`'s current row as bytes, valid until its next step.
  static absl::string_view ColumnOf(sqlite3_stmt* stmt, int i) {
    const void* blob = sqlite3_column_blob(stmt, i);
    return absl::string_view(static_cast<const char*>(blob),
                             sqlite3_column_bytes(stmt, i));
  }

  // Column `i` of the current row, valid until the next step.
  absl::string_view Column(int i) const {
    const void* blob = sqlite3_column_blob(range_.get(), i);
    return absl::string_view(static_cast<const char*>(blob),
                             sqlite3_column_bytes(range_.get(), i));
  }

  // Adds entry `position` under its customer's and its actor's keys, as
  // the log's writer lists it: by what its bytes say (a changed column is
  // reported by CheckLookupColumns).
  void AddListingKeys(uint64_t position, const LookupFields& fields) {
    auto add = [&](absl::string_view prefix, absl::string_view id) {
      if (id.empty()) return;
      key_.assign(prefix.data(), prefix.size());
      key_.append(id.data(), id.size());
      listed_[key_].Add(position, secret_);
    };
    add(sqlite::kCustomerKeyPrefix, fields.customer_id);
    add(sqlite::kActorKeyPrefix, fields.actor_id);
  }

  sqlite::Database db_;
  sqlite::Statement range_;
  sqlite::Statement beside_;
  // beside_'s last step's result, or kBesideNotStepped.
  static constexpr int kBesideNotStepped = -1;
  int beside_rc_ = kBesideNotStepped;
  const uint64_t listed_below_;
  const uint64_t secret_;
  ListedSums listed_;
  std::string key_;
  // CheckRowValues's scratch space.
  std::vector<sqlite::RowValueView> values_;
  std::vector<CommitmentView> commitments_;
};

// Reads the stored tree nodes and checkpoints in step with the entries.
// Takes nodes by (last_leaf, level) and checkpoints by size.
class TreeRowReader {
 public:
  TreeRowReader(sqlite3* db, sqlite3_stmt* nodes, sqlite3_stmt* checkpoints)
      : db_(db),
        nodes_(nodes),
        checkpoints_(checkpoints),
        node_rc_(sqlite3_step(nodes)),
        checkpoint_rc_(sqlite3_step(checkpoints)) {}

  // Adds to `batch` the nodes its entries complete and the checkpoints of
  // the sizes they make; to the last batch, everything left.
  void Attach(EntryBatch& batch) {
    const uint64_t next = batch.first + batch.rows.size();
    // A node over entries up to last_leaf is complete once that leaf is in;
    // a checkpoint of size n once entry n - 1 is.
    while (node_rc_ == SQLITE_ROW &&
           (batch.last ||
            static_cast<uint64_t>(sqlite3_column_int64(nodes_, 0)) < next)) {
      batch.nodes.push_back(
          {static_cast<uint64_t>(sqlite3_column_int64(nodes_, 0)),
           sqlite3_column_int(nodes_, 1), sqlite::ColumnBytes(nodes_, 2)});
      node_rc_ = sqlite3_step(nodes_);
    }
    while (checkpoint_rc_ == SQLITE_ROW &&
           (batch.last || static_cast<uint64_t>(
                              sqlite3_column_int64(checkpoints_, 0)) <= next)) {
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
  sqlite3* const db_;
  sqlite3_stmt* const nodes_;
  sqlite3_stmt* const checkpoints_;
  int node_rc_;
  int checkpoint_rc_;
};

// The batches between the readers and the checker. Batch k is read into
// slot k % size once the checker is done with batch k - size, and checked
// once it is read. A batch is touched by one thread at a time, handed over
// under the lock. Thread-safe.
class BatchSlots {
 public:
  explicit BatchSlots(size_t size) : slots_(size) {
    for (size_t i = 0; i < size; ++i) slots_[i].next = i;
  }

  // Waits until batch k may be read; null once stopped.
  EntryBatch* ForReading(uint64_t k) {
    MutexLock lock(&mu_);
    Slot& slot = slots_[k % slots_.size()];
    mu_.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return stopped_ || (slot.next == k && !slot.read);
    });
    return stopped_ ? nullptr : &slot.batch;
  }
  void Read(uint64_t k) {
    MutexLock lock(&mu_);
    slots_[k % slots_.size()].read = true;
  }

  // Waits until batch k is read; null once stopped.
  EntryBatch* ForChecking(uint64_t k) {
    MutexLock lock(&mu_);
    Slot& slot = slots_[k % slots_.size()];
    mu_.Await([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return stopped_ || (slot.next == k && slot.read);
    });
    return stopped_ ? nullptr : &slot.batch;
  }
  void Checked(uint64_t k) {
    MutexLock lock(&mu_);
    Slot& slot = slots_[k % slots_.size()];
    slot.read = false;
    slot.next = k + slots_.size();
  }

  void Stop() {
    MutexLock lock(&mu_);
    stopped_ = true;
  }

 private:
  struct Slot {
    EntryBatch batch;
    // The batch this slot holds or is waiting for.
    uint64_t next = 0;
    bool read = false;
  };
  Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

// A reader's thread: reads batches k, k + stride, ... until the
// log's end, an error, or the checker stops.
void ReadBatches(EntryReader& reader, uint64_t k, uint64_t stride,
                 uint64_t batch_size, uint64_t total, BatchSlots& slots) {
  for (; k == 0 || k * batch_size < total; k += stride) {
    EntryBatch* batch = slots.ForReading(k);
    if (batch == nullptr) return;
    const uint64_t first = k * batch_size;
    reader.Read(first, std::min(total, first + batch_size), total, *batch);
    const bool last = batch->last;
    slots.Read(k);
    if (last) return;
  }
}

// Checks the batches read in order: each entry against the chain,
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
      CUSTOS_RETURN_IF_ERROR(chain_.NextScanned(
          position_, row.scanned, row.index,
          batch.Column(row.prev_hash_at, row.prev_hash_size),
          absl::string_view(batch.leaves).substr(i * kHashSize, kHashSize)));
      if (row.has_values) {
        // Checked by the reader, which named the entry by its row's index:
        // the position, once the chain has checked that they agree.
        CUSTOS_RETURN_IF_ERROR(row.values);
        report_.values_checked += row.values_checked;
      }
      if (!row.leaf_matches) {
        return absl::DataLossError(
            absl::StrCat("entry ", position_,
                         ": stored leaf hash does not match its bytes"));
      }
      CUSTOS_RETURN_IF_ERROR(row.columns);
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
    // Checkpoints past the end were refused above, so the newest one is
    // within the log.
    const uint64_t signed_size = report_.latest_checkpoint_size;
    report_.unsigned_entries = position_ - signed_size;
    if (verifier_.has_value() && report_.unsigned_entries > 0 &&
        !options_.unsigned_tail_ok) {
      return absl::DataLossError(absl::StrCat(
          "entry ", signed_size, ": entries ", signed_size, "..", position_ - 1,
          " are not covered by any signature: the newest checkpoint is of "
          "size ",
          signed_size,
          " (entries after it were changed or added without the key, or the "
          "log was copied while it was being written)"));
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

// A read-only connection for verification.
absl::StatusOr<sqlite::Database> OpenForReading(const std::string& path) {
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
  return db;
}

// An EntryReader on a connection of its own; `main` is verification's own
// connection, asked whether the entries have the personal column.
absl::StatusOr<EntryReader> OpenEntryReader(const std::string& path,
                                            sqlite3* main,
                                            uint64_t listed_below,
                                            uint64_t secret) {
  // Logs written before personal values moved into the entries' rows
  // lack the column.
  CUSTOS_ASSIGN_OR_RETURN(const bool has_personal,
                          sqlite::HasColumn(main, "entries", "personal"));
  CUSTOS_ASSIGN_OR_RETURN(sqlite::Database db, OpenForReading(path));
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement range,
      sqlite::Prepare(db.get(),
                      absl::StrCat("SELECT idx, leaf_hash, entry, ",
                                   has_personal ? "personal" : "NULL",
                                   ", time_us, customer_id, actor_id, "
                                   "category, outcome FROM entries WHERE idx "
                                   ">= ?1 ORDER BY idx LIMIT ?2")));
  CUSTOS_ASSIGN_OR_RETURN(sqlite::Statement beside,
                          sqlite::Prepare(db.get(), EntryReader::kBesideSql));
  return EntryReader(std::move(db), std::move(range), std::move(beside),
                     listed_below, secret);
}

absl::StatusOr<bool> HasTable(sqlite3* db, absl::string_view table) {
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement stmt,
      sqlite::Prepare(db,
                      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                      "name = ?1"));
  sqlite::BindText(stmt.get(), 1, table);
  const int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return sqlite::Error(db, rc, "reading the log's schema");
  return rc == SQLITE_ROW;
}

// Below which index every entry must have its rows in the listing table;
// 0 for a log written before the table, whose server lists its entries
// when it next opens it.
absl::StatusOr<uint64_t> ListedBelow(sqlite3* db) {
  CUSTOS_ASSIGN_OR_RETURN(const bool has_state, HasTable(db, "log_state"));
  CUSTOS_ASSIGN_OR_RETURN(const bool has_listing, HasTable(db, "listing"));
  if (!has_state || !has_listing) return 0;
  return sqlite::ReadListedBelow(db);
}

// For a listing row that `key` and `idx` do not find as text and integer:
// how it is stored instead ("blob key, integer idx"), if it is there at
// all, else "". Scans the table, so it runs once, on a mismatch.
absl::StatusOr<std::string> ListingRowType(sqlite3* db, absl::string_view key,
                                           int64_t idx) {
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement stmt,
      sqlite::Prepare(db,
                      "SELECT typeof(key), typeof(idx) FROM listing WHERE "
                      "CAST(key AS TEXT) = ?1 AND CAST(idx AS INTEGER) = ?2 "
                      "LIMIT 1"));
  sqlite::BindText(stmt.get(), 1, key);
  sqlite3_bind_int64(stmt.get(), 2, idx);
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return std::string();
  if (rc != SQLITE_ROW) return sqlite::Error(db, rc, "reading listing");
  return absl::StrCat(sqlite::ColumnBytes(stmt.get(), 0), " key, ",
                      sqlite::ColumnBytes(stmt.get(), 1), " idx");
}

// Names the first entry below `listed_below` that lacks a listing row, or
// else the listing row of the lowest index that no entry accounts for.
// Called once the listing is known not to match: it looks rows up one by
// one, which the check of a sound log cannot afford. The entries' columns
// were checked against their bytes already.
absl::Status NameListingMismatch(sqlite3* db, uint64_t listed_below) {
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement entries,
      sqlite::Prepare(db,
                      "SELECT idx, customer_id, actor_id FROM entries WHERE "
                      "idx < ?1 ORDER BY idx"));
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement listed,
      sqlite::Prepare(db, "SELECT 1 FROM listing WHERE key = ?1 AND idx = ?2"));
  sqlite3_bind_int64(entries.get(), 1, static_cast<int64_t>(listed_below));
  int rc;
  while ((rc = sqlite3_step(entries.get())) == SQLITE_ROW) {
    const int64_t idx = sqlite3_column_int64(entries.get(), 0);
    const std::pair<const char*, int> keys[] = {{"customer", 1}, {"actor", 2}};
    for (const auto& [whose, column] : keys) {
      const std::string id = sqlite::ColumnBytes(entries.get(), column);
      if (id.empty()) continue;
      // Bound without a copy, so the key must live until the step.
      const std::string key =
          column == 1 ? sqlite::CustomerKey(id) : sqlite::ActorKey(id);
      sqlite3_reset(listed.get());
      sqlite::BindText(listed.get(), 1, key);
      sqlite3_bind_int64(listed.get(), 2, idx);
      const int found = sqlite3_step(listed.get());
      if (found == SQLITE_DONE) {
        CUSTOS_ASSIGN_OR_RETURN(const std::string stored_as,
                                ListingRowType(db, key, idx));
        if (!stored_as.empty()) {
          return absl::DataLossError(absl::StrCat(
              "entry ", idx, ": its listing row under its ", whose, " \"", id,
              "\" is stored as ", stored_as,
              " (a listing row's type was changed: lists filtered by that ",
              whose, " do not show the entry)"));
        }
        return absl::DataLossError(absl::StrCat(
            "entry ", idx, ": missing from the listing of its ", whose, " \"",
            id, "\" (a listing row was deleted: lists filtered by that ", whose,
            " do not show the entry)"));
      }
      if (found != SQLITE_ROW)
        return sqlite::Error(db, found, "reading listing");
    }
  }
  if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading entries");

  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement rows,
      sqlite::Prepare(db,
                      "SELECT l.key, l.idx, e.idx IS NOT NULL, e.customer_id, "
                      "e.actor_id FROM listing l LEFT JOIN entries e ON "
                      "e.idx = l.idx WHERE l.idx < ?1"));
  sqlite3_bind_int64(rows.get(), 1, static_cast<int64_t>(listed_below));
  std::optional<absl::Status> lowest;
  int64_t lowest_idx = 0;
  while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
    const std::string key = sqlite::ColumnBytes(rows.get(), 0);
    const int64_t idx = sqlite3_column_int64(rows.get(), 1);
    const bool held = sqlite3_column_int(rows.get(), 2) != 0;
    const std::string customer = sqlite::ColumnBytes(rows.get(), 3);
    const std::string actor = sqlite::ColumnBytes(rows.get(), 4);
    if (held && ((!customer.empty() && key == sqlite::CustomerKey(customer)) ||
                 (!actor.empty() && key == sqlite::ActorKey(actor)))) {
      continue;
    }
    if (lowest.has_value() && idx >= lowest_idx) continue;
    lowest_idx = idx;
    lowest = absl::DataLossError(absl::StrCat(
        "entry ", idx, ": a listing row \"", key, "\" lists it, but ",
        held ? absl::StrCat("its customer is \"", customer,
                            "\" and its actor \"", actor, "\"")
             : "the log holds no such entry",
        " (a listing row was added: a list filtered by it would look for the "
        "entry there)"));
  }
  if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading listing");
  if (lowest.has_value()) return *lowest;
  return absl::DataLossError(
      "the listing table does not match the entries' customers and actors");
}

// The listing table's rows below `listed_below`, summed by key, as
// EntryReader sums what the entries say. Any connection will do: rows are
// only ever added at or past listed_below, so every state of the file since
// the one listed_below was read from has the same rows below it. Gives up
// early once `stop` is set.
absl::StatusOr<ListedSums> SumListing(sqlite3* db, uint64_t listed_below,
                                      uint64_t secret,
                                      const std::atomic<bool>& stop) {
  ListedSums sums;
  if (listed_below == 0) return sums;
  // In the table's own order, key by key, so each key is looked up once.
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement rows,
      sqlite::Prepare(db,
                      "SELECT key, idx FROM listing WHERE idx < ?1 ORDER BY "
                      "key, idx"));
  sqlite3_bind_int64(rows.get(), 1, static_cast<int64_t>(listed_below));
  std::string key;
  ListedSum* sum = nullptr;
  uint64_t read = 0;
  int rc;
  while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
    // Listings look rows up by a text key and an integer index, and SQLite
    // never finds a blob equal to either: such a row lists nothing, so it
    // is left out of the sums, and NameListingMismatch names it.
    if (sqlite3_column_type(rows.get(), 0) != SQLITE_TEXT ||
        sqlite3_column_type(rows.get(), 1) != SQLITE_INTEGER) {
      continue;
    }
    const absl::string_view row_key(
        reinterpret_cast<const char*>(sqlite3_column_text(rows.get(), 0)),
        sqlite3_column_bytes(rows.get(), 0));
    if (sum == nullptr || row_key != key) {
      key.assign(row_key.data(), row_key.size());
      sum = &sums[key];
    }
    sum->Add(static_cast<uint64_t>(sqlite3_column_int64(rows.get(), 1)),
             secret);
    if (++read % kProgressEvery == 0 && stop.load(std::memory_order_relaxed))
      return absl::CancelledError("verification stopped");
  }
  if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading listing");
  return sums;
}

// Sums the listing table (SumListing) on a thread and a connection of its
// own, beside the entries' readers.
class ListingSummer {
 public:
  static absl::StatusOr<std::unique_ptr<ListingSummer>> Start(
      const std::string& path, uint64_t listed_below, uint64_t secret) {
    auto summer = absl::WrapUnique(new ListingSummer());
    CUSTOS_ASSIGN_OR_RETURN(summer->db_, OpenForReading(path));
    ListingSummer* s = summer.get();
    summer->thread_ = std::thread([s, listed_below, secret] {
      s->sums_ = SumListing(s->db_.get(), listed_below, secret, s->stop_);
    });
    return summer;
  }
  ~ListingSummer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // Waits for the sums.
  absl::StatusOr<ListedSums> Sums() {
    thread_.join();
    return std::move(sums_);
  }

 private:
  ListingSummer() = default;

  sqlite::Database db_;
  std::atomic<bool> stop_{false};
  absl::StatusOr<ListedSums> sums_;
  std::thread thread_;
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
  CUSTOS_ASSIGN_OR_RETURN(sqlite::Database db, OpenForReading(path));
  // One read transaction on this connection: the log's size, its nodes,
  // checkpoints and held values are all read from one state of the file,
  // even while a server appends. The readers' own connections see that
  // state or a later one, whose entries up to this size are the same: the
  // log is only appended to, and erasure only removes held values.
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(db.get(), "BEGIN"));
  uint64_t total = 0;
  int64_t lowest = 0;
  {
    // Two queries: SQLite finds a lone max() or min() in the index, but
    // scans the whole table for both at once.
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement highest,
        sqlite::Prepare(db.get(),
                        "SELECT coalesce(max(idx) + 1, 0) FROM entries"));
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement least,
        sqlite::Prepare(db.get(), "SELECT coalesce(min(idx), 0) FROM entries"));
    for (sqlite3_stmt* statement : {highest.get(), least.get()}) {
      const int rc = sqlite3_step(statement);
      if (rc != SQLITE_ROW)
        return sqlite::Error(db.get(), rc, "reading the log's size");
    }
    total = sqlite3_column_int64(highest.get(), 0);
    lowest = sqlite3_column_int64(least.get(), 0);
  }
  CUSTOS_ASSIGN_OR_RETURN(const uint64_t listed_below, ListedBelow(db.get()));
  uint64_t secret = 0;
  if (absl::Status drawn = RandomBytes(&secret, sizeof secret); !drawn.ok()) {
    return absl::UnavailableError(
        absl::StrCat("drawing the listing check's secret: ", drawn.message()));
  }
  // Readers ask for indexes from 0 up, so they would not see this row.
  if (lowest < 0) {
    return absl::DataLossError(
        absl::StrCat("entry 0: a row with index ", lowest,
                     " is stored before it (a row was inserted)"));
  }
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
  TreeRowReader tree_rows(db.get(), nodes.get(), checkpoints.get());

  // Readers, one per core and at least two, each on a connection and a
  // thread of its own, read and hash batches in turn: their leaves, and the
  // subtrees within them (nearly all of the tree). This thread checks the
  // batches in order. Reading and hashing are most of the work and need no
  // order, so every core stays busy; at most two batches per reader are
  // held, so memory stays flat.
  const size_t readers_count =
      std::clamp<size_t>(std::thread::hardware_concurrency(), 2, 8);

  const uint64_t batch_size = std::max<size_t>(options.batch_size, 1);
  std::vector<EntryReader> readers;
  for (size_t i = 0; i < readers_count; ++i) {
    CUSTOS_ASSIGN_OR_RETURN(
        EntryReader reader,
        OpenEntryReader(path, db.get(), listed_below, secret));
    readers.push_back(std::move(reader));
  }
  // Listings reach entries below listed_below through the listing table
  // alone; its rows are summed beside the readers.
  CUSTOS_ASSIGN_OR_RETURN(std::unique_ptr<ListingSummer> listing,
                          ListingSummer::Start(path, listed_below, secret));
  BatchSlots slots(2 * readers_count);
  std::vector<std::thread> reading;
  for (size_t i = 0; i < readers_count; ++i) {
    reading.emplace_back(ReadBatches, std::ref(readers[i]), i, readers_count,
                         batch_size, total, std::ref(slots));
  }
  LogChecker checker(options, verifier, total);
  absl::Status checked;
  for (uint64_t k = 0; checked.ok(); ++k) {
    EntryBatch& batch = *slots.ForChecking(k);
    tree_rows.Attach(batch);
    checked = checker.Check(batch);
    const bool last = batch.last;
    slots.Checked(k);
    if (last) break;
  }
  slots.Stop();
  for (std::thread& thread : reading) thread.join();
  CUSTOS_RETURN_IF_ERROR(checked);
  VerifyReport report = checker.report();

  // The listing against what the entries say, as sets: every entry below
  // listed_below under its customer and its actor, and nothing else.
  ListedSums listed = readers[0].listed();
  for (size_t i = 1; i < readers.size(); ++i) {
    for (const auto& [key, sum] : readers[i].listed()) {
      ListedSum& merged = listed[key];
      merged.count += sum.count;
      merged.mixed += sum.mixed;
    }
  }
  CUSTOS_ASSIGN_OR_RETURN(const ListedSums stored, listing->Sums());
  if (stored != listed) {
    return NameListingMismatch(db.get(), listed_below);
  }
  report.listed_entries = std::min(listed_below, report.entries);

  // Values beside entries were checked with them, by the readers; any
  // other is kept under an index the log holds no entry at (texts and
  // blobs sort after every number), which commits to nothing. Two lookups
  // in the primary key: `idx < 0 OR idx >= ?1` would scan the table.
  for (const char* sql :
       {"SELECT idx, field, salt, value, typeof(subject) FROM personal_values "
        "WHERE idx < 0 ORDER BY idx, field LIMIT 1",
        "SELECT idx, field, salt, value, typeof(subject) FROM personal_values "
        "WHERE idx >= ?1 ORDER BY idx, field LIMIT 1"}) {
    CUSTOS_ASSIGN_OR_RETURN(sqlite::Statement orphan,
                            sqlite::Prepare(db.get(), sql));
    sqlite3_bind_int64(orphan.get(), 1, static_cast<int64_t>(total));
    const int rc = sqlite3_step(orphan.get());
    if (rc == SQLITE_DONE) continue;
    if (rc != SQLITE_ROW)
      return sqlite::Error(db.get(), rc, "reading personal values");
    auto column = [&](int i) { return sqlite::ColumnBytes(orphan.get(), i); };
    CUSTOS_RETURN_IF_ERROR(
        CheckBesideValue(sqlite3_column_int64(orphan.get(), 0), {}, column(1),
                         column(2), column(3), column(4))
            .status());
  }
  return report;
}

absl::Status VerifySqliteLogFile(const std::string& path) {
  return VerifySqliteLog(path).status();
}

}  // namespace custos::audit
