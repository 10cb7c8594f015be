#include "audit/sqlite/sqlite_log_store.h"

#include <pthread.h>

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "audit/checkpoint.h"
#include "audit/entry.h"
#include "audit/note.h"
#include "audit/sqlite/held_values.h"
#include "audit/sqlite/listing.h"
#include "audit/sqlite/tree_nodes.h"
#include "common/mutex.h"
#include "common/openssl.h"
#include "common/status_macros.h"

namespace custos::audit {
namespace {

using sqlite::ActorKey;
using sqlite::CustomerKey;
using sqlite::ReadListedBelow;

constexpr size_t kMaxBatch = 1024;
// Batches up to this size are completed on the writer thread itself.
constexpr size_t kMaxInlineCompletions = 8;
constexpr size_t kSaltSize = 16;

constexpr const char* kSchema = R"sql(
  -- personal: the values the entry commits to when they are all its
  -- actor's (held_values.h); others go to personal_values.
  CREATE TABLE IF NOT EXISTS entries(
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL,
    entry BLOB NOT NULL,
    time_us INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    category TEXT NOT NULL,
    outcome INTEGER NOT NULL,
    personal BLOB);
  -- Entries by customer ("c:<id>") and by actor ("a:<id>"), for listings.
  -- Written in batches (listing_batch), not per append; entries at or past
  -- log_state's listed_below have no rows here yet, and listings scan them.
  CREATE TABLE IF NOT EXISTS listing(
    key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY(key, idx)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS log_state(
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL) WITHOUT ROWID;
  -- Indexes of logs written before the listing table, maintained on every
  -- append; the listing table replaces them.
  DROP INDEX IF EXISTS entries_by_customer;
  DROP INDEX IF EXISTS entries_by_actor;
  -- Full subtrees of 16 entries or more (level >= 4, see tree_nodes.h);
  -- leaf hashes live in entries, smaller subtrees are hashed from them.
  -- Keyed by the last entry they cover, so each append adds its nodes at
  -- the end of the b-tree.
  CREATE TABLE IF NOT EXISTS tree_nodes(
    last_leaf INTEGER NOT NULL,
    level INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY(last_leaf, level)) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS checkpoints(
    size INTEGER PRIMARY KEY,
    root BLOB NOT NULL,
    note TEXT NOT NULL,
    time_us INTEGER NOT NULL);
  -- The values behind entries' commitments that are not in the entry's
  -- row (logs written before that, and values of a subject that is not
  -- the entry's actor); salt is empty once masked.
  CREATE TABLE IF NOT EXISTS personal_values(
    idx INTEGER NOT NULL,
    field TEXT NOT NULL,
    subject TEXT NOT NULL,
    salt BLOB NOT NULL,
    value TEXT NOT NULL,
    time_us INTEGER NOT NULL,
    PRIMARY KEY(idx, field)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS personal_values_by_subject ON personal_values(subject);
)sql";

absl::Status ConfigureConnection(sqlite3* db) {
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(db, "PRAGMA journal_mode=WAL"));
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(db, "PRAGMA synchronous=FULL"));
  // Short: a locked log must turn into UNAVAILABLE quickly, not a hang.
  sqlite3_busy_timeout(db, 200);
  return absl::OkStatus();
}

int64_t ToMicros(absl::Time t) {
  if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
  if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  return absl::ToUnixMicros(t);
}

std::string PageToken(uint64_t next_below) {
  return absl::StrCat("e", next_below);
}

// Resets a reused statement when the scope ends.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {
    sqlite3_reset(stmt_);
  }
  ~ResetOnExit() { sqlite3_reset(stmt_); }

 private:
  sqlite3_stmt* stmt_;
};

absl::StatusOr<uint64_t> ParsePageToken(absl::string_view token) {
  uint64_t below = 0;
  if (token.size() < 2 || token[0] != 'e' ||
      !absl::SimpleAtoi(token.substr(1), &below)) {
    return absl::InvalidArgumentError(
        "page_token: expected a token from a previous page of this listing");
  }
  return below;
}

// Logs made before personal values moved into the entry's row lack the
// column; adding it rewrites nothing.
absl::Status AddPersonalColumn(sqlite3* db) {
  CUSTOS_ASSIGN_OR_RETURN(const bool has,
                          sqlite::HasColumn(db, "entries", "personal"));
  if (has) return absl::OkStatus();
  return sqlite::Exec(db, "ALTER TABLE entries ADD COLUMN personal BLOB");
}

// Folds the WAL into the database file and truncates it, so that page
// images from before an erasure or masking (which still hold the values)
// are gone from the disk. A reader holding an older snapshot (a `custos
// verify` or `custos report` on the live file) blocks it: SQLite then
// answers with a "busy" row rather than an error, so the row is read, and
// the truncation tried again a few times (each waits the connection's busy
// timeout; it runs on the writer's thread, so not for long). UNAVAILABLE
// when it stays blocked.
absl::Status TruncateWal(sqlite3* db) {
  constexpr int kAttempts = 3;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement checkpoint,
        sqlite::Prepare(db, "PRAGMA wal_checkpoint(TRUNCATE)"));
    const int rc = sqlite3_step(checkpoint.get());
    if (rc != SQLITE_ROW && rc != SQLITE_BUSY) {
      return sqlite::Error(db, rc, "truncating the WAL");
    }
    if (rc == SQLITE_ROW && sqlite3_column_int(checkpoint.get(), 0) == 0) {
      return absl::OkStatus();
    }
  }
  return absl::UnavailableError(
      "a reader of the log kept the WAL from being truncated, which still "
      "holds old copies of changed pages");
}

// Logs masked before masking reached the subject still hold an unknown
// caller's full address as the subject of its entry's values: in an entry
// whose source_ip is masked, a subject that masks to it becomes the masked
// address. Once per log (log_state's masked_address_subjects), marked only
// once the WAL, whose old page images still hold the full addresses, is
// truncated (TruncateWal): a reader in the way fails the open, and the next
// one tries again.
absl::Status MaskAddressSubjects(sqlite3* db) {
  CUSTOS_ASSIGN_OR_RETURN(const uint64_t done,
                          sqlite::ReadLogState(db, "masked_address_subjects"));
  if (done != 0) return absl::OkStatus();
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(db, "BEGIN IMMEDIATE"));
  absl::Status status = [&]() -> absl::Status {
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement rows,
        sqlite::Prepare(db,
                        "SELECT p.idx, p.field, p.subject, s.value FROM "
                        "personal_values s JOIN personal_values p ON p.idx = "
                        "s.idx WHERE s.field = 'source_ip' AND "
                        "length(s.salt) = 0 AND p.subject <> s.value"));
    struct Subject {
      int64_t idx;
      std::string field;
      std::string masked;
    };
    std::vector<Subject> masked;
    int rc;
    while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
      std::string value = sqlite::ColumnBytes(rows.get(), 3);
      if (MaskAddress(sqlite::ColumnBytes(rows.get(), 2)) == value) {
        masked.push_back({sqlite3_column_int64(rows.get(), 0),
                          sqlite::ColumnBytes(rows.get(), 1),
                          std::move(value)});
      }
    }
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading values");
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement update,
        sqlite::Prepare(db,
                        "UPDATE personal_values SET subject = ?2 WHERE idx = "
                        "?1 AND field = ?3"));
    for (const Subject& m : masked) {
      sqlite3_reset(update.get());
      sqlite3_bind_int64(update.get(), 1, m.idx);
      sqlite::BindText(update.get(), 2, m.masked);
      sqlite::BindText(update.get(), 3, m.field);
      rc = sqlite3_step(update.get());
      if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "masking subjects");
    }
    return absl::OkStatus();
  }();
  if (status.ok()) status = sqlite::Exec(db, "COMMIT");
  if (!status.ok()) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }
  CUSTOS_RETURN_IF_ERROR(TruncateWal(db));
  return sqlite::Exec(db,
                      "INSERT OR REPLACE INTO log_state(name, value) "
                      "VALUES('masked_address_subjects', 1)");
}

// Whether `personal` can live in its entry's row: all of it is the
// entry's actor's, so erasure finds it through the actor's listing keys.
bool BelongsToActor(const custos::v1::LogEntry& entry,
                    const std::vector<PersonalValue>& personal) {
  if (personal.empty() || entry.actor().id().empty()) return false;
  for (const PersonalValue& value : personal) {
    if (value.subject != entry.actor().id()) return false;
  }
  return true;
}

// Stores each entry's rewritten values (encoded; empty: none left).
absl::Status RewriteRowValues(
    sqlite3* db, const std::vector<std::pair<int64_t, std::string>>& rewrites) {
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement update,
      sqlite::Prepare(db, "UPDATE entries SET personal = ?2 WHERE idx = ?1"));
  for (const auto& [idx, values] : rewrites) {
    sqlite3_reset(update.get());
    sqlite3_bind_int64(update.get(), 1, idx);
    if (values.empty()) {
      sqlite3_bind_null(update.get(), 2);
    } else {
      sqlite::BindBlob(update.get(), 2, values);
    }
    const int rc = sqlite3_step(update.get());
    if (rc != SQLITE_DONE) {
      return sqlite::Error(db, rc, "rewriting an entry's personal values");
    }
  }
  return absl::OkStatus();
}

// From the pool of random bytes per thread (RandomBytes): a RAND_bytes
// call for each salt cost more than everything else an appender does, and
// a salt handed out is wiped from the pool, so erasing it from the log
// leaves no copy in memory either.
absl::StatusOr<std::string> NewSalt() {
  std::string salt(kSaltSize, '\0');
  if (auto s = RandomBytes(salt.data(), salt.size()); !s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("drawing a salt: ", s.message()));
  }
  return salt;
}

// What RecoverTail found changed in the file, for Open's caller.
absl::Status Tampered(absl::string_view what) {
  return absl::DataLossError(absl::StrCat(
      "the audit log was changed after it was written: ", what,
      " (a checkpoint signed over it would contradict those signed before; "
      "`custos verify --db` names the first change)"));
}

// The root the checkpoint's signed note states: a changed root column, or
// a note of another size, would make RecoverTail check the stored tree
// against something nobody signed. (The signature itself is checked by
// RecoverTail when the store has the verifier key, and by `custos verify`.)
absl::StatusOr<std::string> SignedRoot(const StoredCheckpoint& checkpoint) {
  const std::string where =
      absl::StrCat("checkpoint of size ", checkpoint.size, ": ");
  const size_t split = checkpoint.note.find("\n\n");
  if (split == std::string::npos) {
    return Tampered(absl::StrCat(where, "the note has no signature"));
  }
  auto body = ParseCheckpointBody(checkpoint.note.substr(0, split + 1));
  if (!body.ok()) return Tampered(absl::StrCat(where, body.status().message()));
  if (body->size != checkpoint.size) {
    return Tampered(absl::StrCat(where, "its note says size ", body->size));
  }
  if (body->root_hash != checkpoint.root_hash) {
    return Tampered(absl::StrCat(where, "its note and its root column differ"));
  }
  return body->root_hash;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteLogStore>> SqliteLogStore::Open(
    const std::string& path, Options options) {
  std::unique_ptr<SqliteLogStore> store(new SqliteLogStore(std::move(options)));
  CUSTOS_RETURN_IF_ERROR(store->Init(path));
  // A log left by a crash may end past its newest checkpoint: signed now,
  // it verifies from the moment it is open, not only after the writer's
  // first interval. A signer failure is retried there.
  if (store->options_.signer &&
      store->next_index_ > store->checkpointed_size_) {
    store->CommitCheckpoint().IgnoreError();
  }
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  store->completer_ = std::thread([s = store.get()] { s->CompleterLoop(); });
  // Named, so that top, perf and gdb show where the appends are written.
  pthread_setname_np(store->writer_.native_handle(), "custos-log");
  pthread_setname_np(store->completer_.native_handle(), "custos-log-done");
  return store;
}

absl::Status SqliteLogStore::Init(const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(
      write_db_,
      sqlite::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  CUSTOS_RETURN_IF_ERROR(ConfigureConnection(write_db_.get()));
  // Deleted personal values are overwritten, not left in free pages.
  CUSTOS_RETURN_IF_ERROR(
      sqlite::Exec(write_db_.get(), "PRAGMA secure_delete=ON"));
  // Keeps the indexes' hot pages cached across commits.
  CUSTOS_RETURN_IF_ERROR(
      sqlite::Exec(write_db_.get(), "PRAGMA cache_size=-65536"));
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(write_db_.get(), kSchema));
  CUSTOS_RETURN_IF_ERROR(AddPersonalColumn(write_db_.get()));
  CUSTOS_RETURN_IF_ERROR(MaskAddressSubjects(write_db_.get()));
  // Masking resumes where it stopped: read again on each start, the old
  // entries of a large log would hold every append back while it ran.
  CUSTOS_ASSIGN_OR_RETURN(
      masked_below_, sqlite::ReadLogState(write_db_.get(), "masked_below"));
  CUSTOS_ASSIGN_OR_RETURN(
      insert_entry_,
      sqlite::Prepare(
          write_db_.get(),
          "INSERT INTO entries(idx, leaf_hash, entry, time_us, customer_id, "
          "actor_id, category, outcome, personal) VALUES(?1, ?2, ?3, ?4, ?5, "
          "?6, ?7, ?8, ?9)"));
  CUSTOS_ASSIGN_OR_RETURN(
      insert_node_,
      sqlite::Prepare(write_db_.get(),
                      "INSERT INTO tree_nodes(last_leaf, level, hash) "
                      "VALUES(((?2 + 1) << ?1) - 1, ?1, ?3)"));
  CUSTOS_ASSIGN_OR_RETURN(
      insert_value_, sqlite::Prepare(write_db_.get(),
                                     "INSERT INTO personal_values(idx, field, "
                                     "subject, salt, value, time_us) "
                                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"));
  CUSTOS_ASSIGN_OR_RETURN(
      insert_checkpoint_,
      sqlite::Prepare(
          write_db_.get(),
          "INSERT OR REPLACE INTO checkpoints(size, root, note, time_us) "
          "VALUES(?1, ?2, ?3, ?4)"));
  {
    MutexLock lock(&read_mu_);
    CUSTOS_ASSIGN_OR_RETURN(read_db_, sqlite::Open(path, SQLITE_OPEN_READONLY));
    sqlite3_busy_timeout(read_db_.get(), 1000);
    CUSTOS_ASSIGN_OR_RETURN(
        read_entry_,
        sqlite::Prepare(read_db_.get(),
                        "SELECT entry FROM entries WHERE idx = ?1"));
    CUSTOS_ASSIGN_OR_RETURN(
        read_leaf_,
        sqlite::Prepare(read_db_.get(),
                        "SELECT leaf_hash FROM entries WHERE idx = ?1"));
    CUSTOS_ASSIGN_OR_RETURN(
        read_leaf_range_,
        sqlite::Prepare(read_db_.get(), sqlite::kLeafRangeSql));
    CUSTOS_ASSIGN_OR_RETURN(
        read_node_,
        sqlite::Prepare(read_db_.get(),
                        "SELECT hash FROM tree_nodes WHERE last_leaf = ((?2 + "
                        "1) << ?1) - 1 AND level = ?1"));
  }
  CUSTOS_RETURN_IF_ERROR(RecoverTail());
  CUSTOS_RETURN_IF_ERROR(CatchUpListing());
  auto latest = LatestCheckpoint();
  if (latest.ok()) {
    checkpointed_size_ = latest->size;
    last_checkpoint_ = latest->time;
  } else if (latest.status().code() != absl::StatusCode::kNotFound) {
    return latest.status();
  }
  return absl::OkStatus();
}

absl::Status SqliteLogStore::RecoverTail() {
  sqlite3* db = write_db_.get();
  uint64_t size = 0;
  {
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement last,
        sqlite::Prepare(db, "SELECT coalesce(max(idx) + 1, 0) FROM entries"));
    const int rc = sqlite3_step(last.get());
    if (rc != SQLITE_ROW)
      return sqlite::Error(db, rc, "reading the log's last entry");
    size = static_cast<uint64_t>(sqlite3_column_int64(last.get(), 0));
  }
  // The newest checkpoint bounds what the stored tree may be trusted for:
  // the next one the signer makes must extend it.
  uint64_t signed_size = 0;
  std::string signed_root;
  if (auto newest = LatestCheckpointOnWriter(); newest.ok()) {
    signed_size = newest->size;
    CUSTOS_ASSIGN_OR_RETURN(signed_root, SignedRoot(*newest));
    if (!options_.verifier_key.empty()) {
      CUSTOS_ASSIGN_OR_RETURN(
          const NoteVerifier verifier,
          NoteVerifier::FromVerifierKey(options_.verifier_key));
      if (auto opened = verifier.Open(newest->note); !opened.ok()) {
        return Tampered(absl::StrCat(
            "checkpoint of size ", signed_size, ": its note is not signed by ",
            verifier.name(), "'s key (", opened.status().message(), ")"));
      }
    }
  } else if (!absl::IsNotFound(newest.status())) {
    return newest.status();
  }
  if (signed_size > size) {
    return Tampered(absl::StrCat("checkpoint of size ", signed_size,
                                 " is larger than the log (", size,
                                 " entries): entries were removed from the "
                                 "end"));
  }
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement node,
      sqlite::Prepare(db,
                      "SELECT hash FROM tree_nodes WHERE last_leaf = ((?2 + 1) "
                      "<< ?1) - 1 AND level = ?1"));
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement leaf,
      sqlite::Prepare(db, "SELECT leaf_hash FROM entries WHERE idx = ?1"));
  CUSTOS_ASSIGN_OR_RETURN(sqlite::Statement leaf_range,
                          sqlite::Prepare(db, sqlite::kLeafRangeSql));
  auto read = [&](int level, uint64_t index) -> absl::StatusOr<std::string> {
    if (level > 0 && level < sqlite::kLowestStoredLevel) {
      return sqlite::HashSubtreeFromLeaves(db, leaf_range.get(), level, index);
    }
    sqlite3_stmt* stmt = level == 0 ? leaf.get() : node.get();
    ResetOnExit reset(stmt);
    if (level == 0) {
      sqlite3_bind_int64(stmt, 1, static_cast<int64_t>(index));
    } else {
      sqlite3_bind_int(stmt, 1, level);
      sqlite3_bind_int64(stmt, 2, static_cast<int64_t>(index));
    }
    const int step = sqlite3_step(stmt);
    if (step == SQLITE_ROW) return sqlite::ColumnBytes(stmt, 0);
    if (step == SQLITE_DONE) {
      return absl::DataLossError(
          absl::StrCat("tree node ", level, "/", index, " is missing"));
    }
    return sqlite::Error(db, step, "reading a tree node");
  };
  // O(log n) reads: the stored tree at the newest checkpoint must give the
  // root it signed, or a node or leaf hash under it was changed.
  CUSTOS_ASSIGN_OR_RETURN(CompactRange range,
                          CompactRange::Load(signed_size, read));
  if (signed_size > 0 && range.RootHash() != signed_root) {
    return Tampered(absl::StrCat(
        "checkpoint of size ", signed_size,
        ": the stored tree gives another root than it signs (entries before ",
        signed_size, ", their leaf hashes or the tree were changed)"));
  }
  // With a signer, the entries past the checkpoint are hashed from their
  // bytes: it will sign them, and must not sign a tree that does not extend
  // the checkpoint. Without one, only the last entry is (the next one
  // links to it), and the rest of the tree is taken as stored.
  const uint64_t rehash_from = options_.signer ? signed_size : size;
  std::string last_leaf = ZeroHash();
  if (size > 0) {
    // From the entry before, whose hash the first one hashed links to.
    const uint64_t first = rehash_from > 0 ? rehash_from - 1 : 0;
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement rows,
        sqlite::Prepare(db,
                        "SELECT idx, leaf_hash, entry FROM entries WHERE idx "
                        ">= ?1 ORDER BY idx"));
    sqlite3_bind_int64(rows.get(), 1, static_cast<int64_t>(first));
    absl::Status node_status;
    uint64_t position = first;
    int rc;
    while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
      const uint64_t idx =
          static_cast<uint64_t>(sqlite3_column_int64(rows.get(), 0));
      if (idx != position) {
        return Tampered(absl::StrCat("entry ", position, " is missing"));
      }
      const std::string bytes = sqlite::ColumnBytes(rows.get(), 2);
      const std::string hash = HashLeaf(bytes);
      if (sqlite::ColumnBytes(rows.get(), 1) != hash) {
        return Tampered(absl::StrCat(
            "entry ", position, ": stored leaf hash does not match its bytes"));
      }
      uint64_t index = 0;
      absl::string_view prev_hash;
      // The first entry read links to one not read, unless it is entry 0.
      const bool knows_prev = position > first || first == 0;
      if (!ScanLinks(bytes, index, prev_hash) || index != position ||
          (knows_prev && prev_hash != last_leaf)) {
        return Tampered(absl::StrCat("entry ", position,
                                     ": its index or prev_hash does not link "
                                     "it to the entry before"));
      }
      if (position >= rehash_from) {
        range.Append(hash, [&](int level, uint64_t i, absl::string_view h) {
          if (level < sqlite::kLowestStoredLevel || !node_status.ok()) return;
          absl::StatusOr<std::string> stored = read(level, i);
          if (!stored.ok()) {
            node_status = stored.status();
          } else if (*stored != h) {
            node_status = Tampered(
                absl::StrCat("entry ", position,
                             ": does not match the stored Merkle tree (node ",
                             level, "/", i, ")"));
          }
        });
        CUSTOS_RETURN_IF_ERROR(node_status);
      }
      last_leaf = hash;
      ++position;
    }
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading entries");
  }
  if (!options_.signer) {
    CUSTOS_ASSIGN_OR_RETURN(range, CompactRange::Load(size, read));
  }
  next_index_ = size;
  last_leaf_hash_ = std::move(last_leaf);
  range_ = std::move(range);
  size_.store(next_index_, std::memory_order_release);
  tail_stale_ = false;
  return absl::OkStatus();
}

SqliteLogStore::~SqliteLogStore() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
  {
    MutexLock lock(&completion_mu_);
    writer_finished_ = true;
  }
  if (completer_.joinable()) completer_.join();
}

void SqliteLogStore::Complete(std::vector<Completion> batch) {
  {
    MutexLock lock(&completion_mu_);
    // A small batch (few appenders waiting) is told at once, on this
    // thread: a hand-over would only add to their latency. That keeps the
    // order because this thread is the only one that queues completions,
    // and the completion thread has none left.
    if (batch.size() > kMaxInlineCompletions || !completions_.empty() ||
        completer_busy_) {
      completions_.push_back(std::move(batch));
      return;
    }
  }
  for (Completion& completion : batch) {
    completion.done(std::move(completion.outcome));
  }
}

void SqliteLogStore::CompleterLoop() {
  for (;;) {
    std::deque<std::vector<Completion>> ready;
    bool finished = false;
    {
      MutexLock lock(&completion_mu_);
      completion_mu_.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return !completions_.empty() || writer_finished_;
      });
      ready.swap(completions_);
      finished = writer_finished_;
      completer_busy_ = !ready.empty();
    }
    for (std::vector<Completion>& batch : ready) {
      for (Completion& completion : batch) {
        completion.done(std::move(completion.outcome));
      }
    }
    if (!ready.empty()) {
      MutexLock lock(&completion_mu_);
      completer_busy_ = false;
    }
    // The writer has stopped and everything it finished has been told.
    if (finished && ready.empty()) return;
  }
}

void SqliteLogStore::AppendAsync(custos::v1::LogEntry entry,
                                 std::vector<PersonalValue> personal,
                                 AppendDone done) {
  // Commitments need no order, so the caller's thread makes them and the
  // single writer thread is left with what must be sequential.
  entry.clear_commitments();
  std::vector<std::string> salts;
  salts.reserve(personal.size());
  for (const PersonalValue& value : personal) {
    absl::StatusOr<std::string> salt = NewSalt();
    if (!salt.ok()) {
      done(salt.status());
      return;
    }
    custos::v1::Commitment* commitment = entry.add_commitments();
    commitment->set_field(value.field);
    commitment->set_digest(Sha256Concat({*salt, value.value}));
    salts.push_back(*std::move(salt));
  }
  // So is all of the entry's serialization but its index and prev_hash,
  // which the writer links in (LinkEntryBytes).
  entry.set_format_version(kFormatVersion);
  entry.clear_index();
  entry.clear_prev_hash();
  std::string unlinked = SerializeEntry(entry);
  std::optional<std::string> row_values;
  if (BelongsToActor(entry, personal)) {
    std::vector<sqlite::RowValue> values;
    values.reserve(personal.size());
    for (size_t i = 0; i < personal.size(); ++i) {
      values.push_back({personal[i].field, personal[i].subject, salts[i],
                        personal[i].value});
    }
    row_values = sqlite::EncodeRowValues(values);
  }
  // And so are its listing keys.
  std::string customer_key, actor_key;
  if (!entry.customer_id().empty())
    customer_key = CustomerKey(entry.customer_id());
  if (!entry.actor().id().empty()) actor_key = ActorKey(entry.actor().id());
  MutexLock lock(&mu_);
  if (stopping_) {
    done(absl::UnavailableError("the audit log is closing"));
    return;
  }
  queue_.push_back({std::move(entry), std::move(personal), std::move(salts),
                    std::move(unlinked), std::move(row_values),
                    std::move(customer_key), std::move(actor_key),
                    std::move(done)});
}

void SqliteLogStore::WriterLoop() {
  for (;;) {
    std::deque<Pending> batch;
    std::deque<Task> tasks;
    bool stopping = false;
    {
      MutexLock lock(&mu_);
      // Entries not yet under a checkpoint get one when the interval is up,
      // even if nothing else arrives.
      if (options_.signer && next_index_ > checkpointed_size_) {
        const absl::Duration wait =
            std::max(absl::ZeroDuration(), NextCheckpointTime() - absl::Now());
        mu_.AwaitWithTimeout(
            [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return HasWork(); },
            wait);
      } else {
        mu_.Await([this]()
                      ABSL_NO_THREAD_SAFETY_ANALYSIS { return HasWork(); });
      }
      tasks.swap(tasks_);
      // Appenders wait on mu_ while the batch is taken: take it whole when
      // it fits, rather than moving each entry out under the lock.
      if (queue_.size() <= kMaxBatch) {
        batch.swap(queue_);
      } else {
        while (batch.size() < kMaxBatch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      stopping = stopping_ && queue_.empty() && batch.empty() && tasks.empty();
    }
    for (Task& task : tasks) task();
    const bool checkpoint_due =
        options_.signer && (stopping || absl::Now() >= NextCheckpointTime()) &&
        next_index_ + batch.size() > checkpointed_size_;
    if (!batch.empty()) {
      CommitBatch(batch, checkpoint_due);
    } else if (checkpoint_due) {
      // A failure here is retried an interval later (NextCheckpointTime);
      // appends are not affected.
      CommitCheckpoint().IgnoreError();
    }
    if (stopping) return;
  }
}

absl::Time SqliteLogStore::NextCheckpointTime() const {
  return std::max(last_checkpoint_ + options_.checkpoint_interval,
                  checkpoint_retry_);
}

absl::Status SqliteLogStore::WriteCheckpoint() {
  const uint64_t size = next_index_;
  const std::string root = range_.RootHash();
  CUSTOS_ASSIGN_OR_RETURN(const std::string note, options_.signer(size, root));
  return StoreCheckpoint(size, root, note);
}

absl::Status SqliteLogStore::StoreCheckpoint(uint64_t size,
                                             const std::string& root,
                                             const std::string& note) {
  const absl::Time now = absl::Now();
  sqlite3_stmt* insert = insert_checkpoint_.get();
  sqlite3_reset(insert);
  sqlite3_bind_int64(insert, 1, static_cast<int64_t>(size));
  sqlite::BindBlob(insert, 2, root);
  sqlite::BindText(insert, 3, note);
  sqlite3_bind_int64(insert, 4, absl::ToUnixMicros(now));
  const int rc = sqlite3_step(insert);
  sqlite3_reset(insert);
  if (rc != SQLITE_DONE)
    return sqlite::Error(write_db_.get(), rc, "storing a checkpoint");
  // Takes effect with the transaction; a rollback restores both below.
  checkpointed_size_ = size;
  last_checkpoint_ = now;
  return absl::OkStatus();
}

void SqliteLogStore::CommitBatch(std::deque<Pending>& batch,
                                 bool checkpoint_due) {
  absl::Status status = tail_stale_ ? RecoverTail() : absl::OkStatus();
  const uint64_t first_index = next_index_;
  const std::string first_prev = last_leaf_hash_;
  const CompactRange first_range = range_;
  const uint64_t first_checkpointed = checkpointed_size_;
  const absl::Time first_checkpoint_time = last_checkpoint_;
  const size_t first_unlisted = unlisted_.size();
  if (status.ok()) status = WriteBatch(batch);
  if (status.ok() && checkpoint_due) {
    // A signer that fails leaves the batch unsigned, not refused: refusing
    // every append while it is broken would refuse every call custosd logs.
    // The entries wait for the next checkpoint (tried again an interval
    // later), and custos verify reports them as unsigned until then.
    // Failing to store a signed checkpoint spoils the transaction, as any
    // failure to write does.
    absl::StatusOr<std::string> note =
        options_.signer(next_index_, range_.RootHash());
    if (note.ok()) {
      status = StoreCheckpoint(next_index_, range_.RootHash(), *note);
    } else {
      checkpoint_retry_ = absl::Now() + options_.checkpoint_interval;
    }
  }
  const bool list_now =
      checkpoint_due || unlisted_.size() >= options_.listing_batch;
  if (status.ok() && list_now) status = WriteListing(next_index_);
  if (status.ok()) status = sqlite::Exec(write_db_.get(), "COMMIT");
  if (!status.ok()) {
    sqlite3_exec(write_db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    next_index_ = first_index;
    last_leaf_hash_ = first_prev;
    range_ = first_range;
    checkpointed_size_ = first_checkpointed;
    last_checkpoint_ = first_checkpoint_time;
    unlisted_.resize(first_unlisted);
    // The database may know better than memory after a failed commit.
    tail_stale_ = !RecoverTail().ok();
    std::vector<Completion> failed;
    failed.reserve(batch.size());
    for (Pending& p : batch) failed.push_back({std::move(p.done), status});
    Complete(std::move(failed));
    return;
  }
  if (list_now) unlisted_.clear();
  size_.store(next_index_, std::memory_order_release);
  commits_.fetch_add(1, std::memory_order_relaxed);
  if (options_.on_commit) options_.on_commit(batch.size(), next_index_);
  std::vector<Completion> committed;
  committed.reserve(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    committed.push_back({std::move(batch[i].done), std::move(batch[i].entry)});
  }
  Complete(std::move(committed));
}

absl::Status SqliteLogStore::WriteBatch(std::deque<Pending>& batch) {
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(write_db_.get(), "BEGIN IMMEDIATE"));
  absl::Status node_status;
  for (Pending& p : batch) {
    custos::v1::LogEntry& entry = p.entry;
    const std::string bytes =
        LinkEntryBytes(p.unlinked, next_index_, last_leaf_hash_);
    entry.set_index(next_index_);
    entry.set_prev_hash(last_leaf_hash_);
    const std::vector<std::string>& salts = p.salts;
    char leaf_hash[kHashSize];
    HashLeafTo(bytes, leaf_hash);
    const absl::string_view leaf(leaf_hash, kHashSize);
    const int64_t time_us =
        TimeColumnMicros(entry.time().seconds(), entry.time().nanos());

    sqlite3_stmt* insert = insert_entry_.get();
    sqlite3_reset(insert);
    sqlite3_bind_int64(insert, 1, static_cast<int64_t>(next_index_));
    sqlite::BindBlob(insert, 2, leaf);
    sqlite::BindBlob(insert, 3, bytes);
    sqlite3_bind_int64(insert, 4, time_us);
    sqlite::BindText(insert, 5, entry.customer_id());
    sqlite::BindText(insert, 6, entry.actor().id());
    sqlite::BindText(insert, 7, entry.category());
    sqlite3_bind_int(insert, 8, entry.outcome());
    const bool in_row = p.row_values.has_value();
    if (in_row) {
      sqlite::BindBlob(insert, 9, *p.row_values);
    } else {
      sqlite3_bind_null(insert, 9);
    }
    const int rc = sqlite3_step(insert);
    if (rc != SQLITE_DONE)
      return sqlite::Error(write_db_.get(), rc, "appending an entry");
    if (!p.customer_key.empty())
      unlisted_.emplace_back(std::move(p.customer_key), next_index_);
    if (!p.actor_key.empty())
      unlisted_.emplace_back(std::move(p.actor_key), next_index_);

    for (size_t i = 0; !in_row && i < p.personal.size(); ++i) {
      sqlite3_stmt* value = insert_value_.get();
      sqlite3_reset(value);
      sqlite3_bind_int64(value, 1, static_cast<int64_t>(next_index_));
      sqlite::BindText(value, 2, p.personal[i].field);
      sqlite::BindText(value, 3, p.personal[i].subject);
      sqlite::BindBlob(value, 4, salts[i]);
      sqlite::BindText(value, 5, p.personal[i].value);
      sqlite3_bind_int64(value, 6, time_us);
      const int value_rc = sqlite3_step(value);
      if (value_rc != SQLITE_DONE) {
        return sqlite::Error(write_db_.get(), value_rc,
                             "storing a personal value");
      }
    }

    range_.Append(leaf, [&](int level, uint64_t index, absl::string_view hash) {
      if (level < sqlite::kLowestStoredLevel || !node_status.ok()) return;
      sqlite3_stmt* node = insert_node_.get();
      sqlite3_reset(node);
      sqlite3_bind_int(node, 1, level);
      sqlite3_bind_int64(node, 2, static_cast<int64_t>(index));
      sqlite::BindBlob(node, 3, hash);
      const int node_rc = sqlite3_step(node);
      if (node_rc != SQLITE_DONE) {
        node_status =
            sqlite::Error(write_db_.get(), node_rc, "storing a tree node");
      }
    });
    CUSTOS_RETURN_IF_ERROR(node_status);
    last_leaf_hash_.assign(leaf.data(), leaf.size());
    ++next_index_;
  }
  return absl::OkStatus();
}

absl::Status SqliteLogStore::RunOnWriter(std::function<void()> work) {
  Notification done;
  {
    MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the audit log is closing");
    tasks_.push_back([&] {
      work();
      done.Notify();
    });
  }
  done.WaitForNotification();
  return absl::OkStatus();
}

absl::StatusOr<StoredCheckpoint> SqliteLogStore::CheckpointNow() {
  if (!options_.signer) {
    return absl::FailedPreconditionError("this log has no checkpoint signer");
  }
  absl::StatusOr<StoredCheckpoint> result;
  // On the writer's own connection: the readers' lock can be held through
  // a long listing, and the writer, and every append behind it, must not
  // wait for one.
  CUSTOS_RETURN_IF_ERROR(RunOnWriter([&] {
    if (checkpointed_size_ < next_index_ || !LatestCheckpointOnWriter().ok()) {
      if (absl::Status status = CommitCheckpoint(); !status.ok()) {
        result = status;
        return;
      }
    }
    result = LatestCheckpointOnWriter();
  }));
  return result;
}

absl::Status SqliteLogStore::WriteListing(uint64_t listed_below) {
  sqlite3* db = write_db_.get();
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement insert,
      sqlite::Prepare(
          db, "INSERT OR IGNORE INTO listing(key, idx) VALUES(?1, ?2)"));
  // In key order, so that consecutive inserts land on the same pages of the
  // listing's B-tree instead of alternating between customers and actors.
  // (unlisted_ keeps its order: a failed commit cuts it back to its length
  // before the batch.)
  std::vector<const std::pair<std::string, uint64_t>*> in_order;
  in_order.reserve(unlisted_.size());
  for (const auto& key : unlisted_) in_order.push_back(&key);
  std::sort(in_order.begin(), in_order.end(),
            [](const auto* a, const auto* b) { return *a < *b; });
  for (const auto* listed : in_order) {
    const auto& [key, idx] = *listed;
    sqlite3_reset(insert.get());
    sqlite::BindText(insert.get(), 1, key);
    sqlite3_bind_int64(insert.get(), 2, static_cast<int64_t>(idx));
    const int rc = sqlite3_step(insert.get());
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "storing listing keys");
  }
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement state,
      sqlite::Prepare(db,
                      "INSERT OR REPLACE INTO log_state(name, value) "
                      "VALUES('listed_below', ?1)"));
  sqlite3_bind_int64(state.get(), 1, static_cast<int64_t>(listed_below));
  const int rc = sqlite3_step(state.get());
  if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "storing listing keys");
  return absl::OkStatus();
}

absl::Status SqliteLogStore::CatchUpListing() {
  sqlite3* db = write_db_.get();
  CUSTOS_ASSIGN_OR_RETURN(const uint64_t listed_below, ReadListedBelow(db));
  const uint64_t end = next_index_;
  // In steps, so that a large log written before the listing table does
  // not hold all its keys in memory at once.
  constexpr uint64_t kStep = 100000;
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement rows,
      sqlite::Prepare(db,
                      "SELECT idx, customer_id, actor_id FROM entries WHERE "
                      "idx >= ?1 AND idx < ?2 ORDER BY idx"));
  for (uint64_t from = listed_below; from < end; from += kStep) {
    const uint64_t to = std::min(end, from + kStep);
    unlisted_.clear();
    sqlite3_reset(rows.get());
    sqlite3_bind_int64(rows.get(), 1, static_cast<int64_t>(from));
    sqlite3_bind_int64(rows.get(), 2, static_cast<int64_t>(to));
    int rc;
    while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
      const uint64_t idx = sqlite3_column_int64(rows.get(), 0);
      const std::string customer = sqlite::ColumnBytes(rows.get(), 1);
      const std::string actor = sqlite::ColumnBytes(rows.get(), 2);
      if (!customer.empty()) unlisted_.emplace_back(CustomerKey(customer), idx);
      if (!actor.empty()) unlisted_.emplace_back(ActorKey(actor), idx);
    }
    sqlite3_reset(rows.get());
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading entries");
    absl::Status status = sqlite::Exec(db, "BEGIN IMMEDIATE");
    if (status.ok()) status = WriteListing(to);
    if (status.ok()) status = sqlite::Exec(db, "COMMIT");
    if (!status.ok()) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      unlisted_.clear();
      return status;
    }
  }
  unlisted_.clear();
  return absl::OkStatus();
}

absl::Status SqliteLogStore::CommitCheckpoint() {
  const uint64_t checkpointed = checkpointed_size_;
  const absl::Time checkpoint_time = last_checkpoint_;
  absl::Status status = sqlite::Exec(write_db_.get(), "BEGIN IMMEDIATE");
  if (status.ok()) status = WriteCheckpoint();
  if (status.ok()) status = WriteListing(next_index_);
  if (status.ok()) status = sqlite::Exec(write_db_.get(), "COMMIT");
  if (!status.ok()) {
    sqlite3_exec(write_db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    checkpointed_size_ = checkpointed;
    last_checkpoint_ = checkpoint_time;
    // Not at once again: the writer would spin on a lasting failure.
    checkpoint_retry_ = absl::Now() + options_.checkpoint_interval;
    return status;
  }
  unlisted_.clear();
  return status;
}

uint64_t SqliteLogStore::FirstIndexAtOrAfter(absl::Time t) {
  // Entry times follow append order (to within a request's duration), so a
  // binary search over the primary key finds the boundary in O(log n) reads
  // without an index on time.
  auto time_of = [&](uint64_t idx) -> int64_t {
    auto stmt = sqlite::Prepare(write_db_.get(),
                                "SELECT time_us FROM entries WHERE idx = ?1");
    if (!stmt.ok()) return std::numeric_limits<int64_t>::max();
    sqlite3_bind_int64(stmt->get(), 1, static_cast<int64_t>(idx));
    return sqlite3_step(stmt->get()) == SQLITE_ROW
               ? sqlite3_column_int64(stmt->get(), 0)
               : std::numeric_limits<int64_t>::max();
  };
  const int64_t target = ToMicros(t);
  uint64_t low = 0, high = next_index_;
  while (low < high) {
    const uint64_t mid = low + (high - low) / 2;
    if (time_of(mid) < target) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return low;
}

absl::StatusOr<LogStore::ErasureCount> SqliteLogStore::Erase(
    absl::string_view subject, absl::Time before) {
  ErasureCount count;
  absl::Status status;
  const std::string who(subject);
  CUSTOS_RETURN_IF_ERROR(
      RunOnWriter([&] { status = EraseOnWriter(who, before, count); }));
  if (!status.ok()) return status;
  return count;
}

void SqliteLogStore::EraseAsync(std::string subject, absl::Time before,
                                EraseDone done) {
  {
    MutexLock lock(&mu_);
    if (!stopping_) {
      tasks_.push_back([this, subject = std::move(subject), before, done] {
        ErasureCount count;
        const absl::Status status = EraseOnWriter(subject, before, count);
        if (status.ok()) {
          done(count);
        } else {
          done(status);
        }
      });
      return;
    }
  }
  done(absl::UnavailableError("the audit log is closing"));
}

absl::Status SqliteLogStore::EraseOnWriter(const std::string& subject,
                                           absl::Time before,
                                           ErasureCount& count) {
  sqlite3* db = write_db_.get();
  const bool by_subject = !subject.empty();
  const int64_t bound =
      by_subject ? 0 : static_cast<int64_t>(FirstIndexAtOrAfter(before));
  auto bind = [&](sqlite3_stmt* stmt) {
    if (by_subject) {
      sqlite::BindText(stmt, 1, subject);
    } else {
      sqlite3_bind_int64(stmt, 1, bound);
    }
  };
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(db, "BEGIN IMMEDIATE"));
  ErasureCount erased;
  absl::Status status = [&]() -> absl::Status {
    std::set<int64_t> touched;
    // Every entry keyed first, so that its actor's key finds it.
    CUSTOS_RETURN_IF_ERROR(WriteListing(next_index_));
    // Values in entries' rows: a subject's are in the rows of the entries
    // it is the actor of (BelongsToActor).
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement rows,
        sqlite::Prepare(db, by_subject
                                ? "SELECT e.idx, e.personal FROM listing l "
                                  "JOIN entries e ON e.idx = l.idx WHERE "
                                  "l.key = 'a:' || ?1 AND e.personal IS NOT "
                                  "NULL"
                                : "SELECT idx, personal FROM entries WHERE "
                                  "idx < ?1 AND personal IS NOT NULL"));
    bind(rows.get());
    std::vector<std::pair<int64_t, std::string>> rewrites;
    int rc;
    while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
      const int64_t idx = sqlite3_column_int64(rows.get(), 0);
      CUSTOS_ASSIGN_OR_RETURN(
          std::vector<sqlite::RowValue> values,
          sqlite::DecodeRowValues(sqlite::ColumnBytes(rows.get(), 1)));
      std::vector<sqlite::RowValue> kept;
      for (sqlite::RowValue& value : values) {
        if (by_subject && value.subject != subject) {
          kept.push_back(std::move(value));
        }
      }
      const size_t removed = values.size() - kept.size();
      if (removed == 0) continue;
      erased.values_erased += removed;
      touched.insert(idx);
      rewrites.emplace_back(
          idx, kept.empty() ? std::string() : sqlite::EncodeRowValues(kept));
    }
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading values");
    rows.reset();
    CUSTOS_RETURN_IF_ERROR(RewriteRowValues(db, rewrites));
    // Values kept beside the entries: of the fields MaskedWithAge may mask,
    // those it does.
    const char* where = by_subject ? "subject = ?1" : "idx < ?1";
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement beside,
        sqlite::Prepare(
            db, absl::StrCat("SELECT idx FROM personal_values WHERE ", where)));
    bind(beside.get());
    while ((rc = sqlite3_step(beside.get())) == SQLITE_ROW) {
      ++erased.values_erased;
      touched.insert(sqlite3_column_int64(beside.get(), 0));
    }
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading values");
    beside.reset();
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement erase,
        sqlite::Prepare(
            db, absl::StrCat("DELETE FROM personal_values WHERE ", where)));
    bind(erase.get());
    rc = sqlite3_step(erase.get());
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "erasing values");
    erased.entries_touched = touched.size();
    return absl::OkStatus();
  }();
  if (status.ok()) status = sqlite::Exec(db, "COMMIT");
  if (!status.ok()) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }
  unlisted_.clear();
  count = erased;
  // Old page images in the WAL still hold the values: fold the WAL into
  // the database (where secure_delete zeroed them) and truncate it. The
  // erasure itself is committed either way, so a reader in the way is
  // reported in the count, not as a failure.
  const absl::Status truncated = TruncateWal(db);
  if (absl::IsUnavailable(truncated)) {
    count.old_copies_remain = true;
    return absl::OkStatus();
  }
  return truncated;
}

absl::StatusOr<uint64_t> SqliteLogStore::MaskSourceAddresses(
    absl::Time before) {
  uint64_t masked = 0;
  absl::Status status;
  CUSTOS_RETURN_IF_ERROR(
      RunOnWriter([&] { status = MaskOnWriter(before, masked); }));
  if (!status.ok()) return status;
  return masked;
}

absl::Status SqliteLogStore::MaskOnWriter(absl::Time before, uint64_t& masked) {
  sqlite3* db = write_db_.get();
  const uint64_t bound = FirstIndexAtOrAfter(before);
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(db, "BEGIN IMMEDIATE"));
  uint64_t count = 0;
  absl::Status status = [&]() -> absl::Status {
    // Entries below the watermark were masked by an earlier run.
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement rows,
        sqlite::Prepare(db,
                        "SELECT idx, personal FROM entries WHERE idx >= ?2 "
                        "AND idx < ?1 AND personal IS NOT NULL"));
    sqlite3_bind_int64(rows.get(), 1, static_cast<int64_t>(bound));
    sqlite3_bind_int64(rows.get(), 2, static_cast<int64_t>(masked_below_));
    std::vector<std::pair<int64_t, std::string>> rewrites;
    int rc;
    while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
      CUSTOS_ASSIGN_OR_RETURN(
          std::vector<sqlite::RowValue> values,
          sqlite::DecodeRowValues(sqlite::ColumnBytes(rows.get(), 1)));
      bool changed = false;
      for (auto value = values.begin(); value != values.end();) {
        if (value->salt.empty() || !MaskedWithAge(value->field, value->value)) {
          ++value;
          continue;
        }
        changed = true;
        ++count;
        std::string masked = MaskAddress(value->value);
        // An address that does not parse has no masked form: it is erased
        // (kept as "" without a salt, it would fail verification).
        if (masked.empty()) {
          value = values.erase(value);
          continue;
        }
        value->value = std::move(masked);
        value->salt.clear();
        ++value;
      }
      if (changed) {
        rewrites.emplace_back(
            sqlite3_column_int64(rows.get(), 0),
            values.empty() ? std::string() : sqlite::EncodeRowValues(values));
      }
    }
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading values");
    rows.reset();
    CUSTOS_RETURN_IF_ERROR(RewriteRowValues(db, rewrites));
    // Values kept beside the entries.
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement select,
        sqlite::Prepare(db,
                        "SELECT idx, field, value FROM personal_values WHERE "
                        "field IN ('source_ip', 'erased_subject') AND "
                        "length(salt) > 0 AND idx >= ?2 AND idx < ?1"));
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement mask,
        sqlite::Prepare(db,
                        "UPDATE personal_values SET value = ?2, salt = x'' "
                        "WHERE idx = ?1 AND field = ?3"));
    // As in the entries' rows, an address that does not parse is erased.
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement erase,
        sqlite::Prepare(db,
                        "DELETE FROM personal_values WHERE idx = ?1 AND field "
                        "= ?2"));
    // A caller known only by its address (no identity) has it as the
    // subject of the entry's values too, which must not keep what the
    // masked value no longer does.
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement mask_subject,
        sqlite::Prepare(db,
                        "UPDATE personal_values SET subject = ?2 WHERE idx = "
                        "?1 AND subject = ?3"));
    sqlite3_bind_int64(select.get(), 1, static_cast<int64_t>(bound));
    sqlite3_bind_int64(select.get(), 2, static_cast<int64_t>(masked_below_));
    struct Masked {
      int64_t idx;
      std::string field;
      std::string full;
      std::string masked;
    };
    std::vector<Masked> beside;
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
      std::string field = sqlite::ColumnBytes(select.get(), 1);
      std::string value = sqlite::ColumnBytes(select.get(), 2);
      if (!MaskedWithAge(field, value)) continue;
      std::string masked = MaskAddress(value);
      beside.push_back({sqlite3_column_int64(select.get(), 0), std::move(field),
                        std::move(value), std::move(masked)});
    }
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "reading values");
    select.reset();
    for (const Masked& m : beside) {
      ++count;
      if (m.masked.empty()) {
        sqlite3_reset(erase.get());
        sqlite3_bind_int64(erase.get(), 1, m.idx);
        sqlite::BindText(erase.get(), 2, m.field);
        rc = sqlite3_step(erase.get());
        if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "erasing values");
        continue;
      }
      sqlite3_reset(mask.get());
      sqlite3_bind_int64(mask.get(), 1, m.idx);
      sqlite::BindText(mask.get(), 2, m.masked);
      sqlite::BindText(mask.get(), 3, m.field);
      rc = sqlite3_step(mask.get());
      if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "masking values");
      sqlite3_reset(mask_subject.get());
      sqlite3_bind_int64(mask_subject.get(), 1, m.idx);
      sqlite::BindText(mask_subject.get(), 2, m.masked);
      sqlite::BindText(mask_subject.get(), 3, m.full);
      rc = sqlite3_step(mask_subject.get());
      if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "masking subjects");
    }
    if (bound <= masked_below_) return absl::OkStatus();
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement state,
        sqlite::Prepare(db,
                        "INSERT OR REPLACE INTO log_state(name, value) "
                        "VALUES('masked_below', ?1)"));
    sqlite3_bind_int64(state.get(), 1, static_cast<int64_t>(bound));
    rc = sqlite3_step(state.get());
    if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "storing the mark");
    return absl::OkStatus();
  }();
  if (status.ok()) status = sqlite::Exec(db, "COMMIT");
  if (!status.ok()) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }
  masked = count;
  masked_below_ = std::max(masked_below_, bound);
  return TruncateWal(db);
}

absl::StatusOr<std::vector<LogStore::HeldValue>> SqliteLogStore::PersonalValues(
    uint64_t index) const {
  MutexLock lock(&read_mu_);
  std::vector<HeldValue> values;
  {
    CUSTOS_ASSIGN_OR_RETURN(
        sqlite::Statement row,
        sqlite::Prepare(read_db_.get(),
                        "SELECT personal FROM entries WHERE idx = ?1 AND "
                        "personal IS NOT NULL"));
    sqlite3_bind_int64(row.get(), 1, static_cast<int64_t>(index));
    const int rc = sqlite3_step(row.get());
    if (rc == SQLITE_ROW) {
      CUSTOS_ASSIGN_OR_RETURN(
          std::vector<sqlite::RowValue> in_row,
          sqlite::DecodeRowValues(sqlite::ColumnBytes(row.get(), 0)));
      for (sqlite::RowValue& value : in_row) {
        values.push_back({std::move(value.field), std::move(value.value),
                          std::move(value.salt)});
      }
    } else if (rc != SQLITE_DONE) {
      return sqlite::Error(read_db_.get(), rc, "reading personal values");
    }
  }
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement stmt,
      sqlite::Prepare(
          read_db_.get(),
          "SELECT field, value, salt FROM personal_values WHERE idx = ?1"));
  sqlite3_bind_int64(stmt.get(), 1, static_cast<int64_t>(index));
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    values.push_back({sqlite::ColumnBytes(stmt.get(), 0),
                      sqlite::ColumnBytes(stmt.get(), 1),
                      sqlite::ColumnBytes(stmt.get(), 2)});
  }
  if (rc != SQLITE_DONE)
    return sqlite::Error(read_db_.get(), rc, "reading personal values");
  std::sort(
      values.begin(), values.end(),
      [](const HeldValue& a, const HeldValue& b) { return a.field < b.field; });
  return values;
}

absl::StatusOr<StoredCheckpoint> SqliteLogStore::ReadCheckpoint(
    const char* sql, uint64_t size) const {
  MutexLock lock(&read_mu_);
  return ReadCheckpointFrom(read_db_.get(), sql, size);
}

absl::StatusOr<StoredCheckpoint> SqliteLogStore::ReadCheckpointFrom(
    sqlite3* db, const char* sql, uint64_t size) {
  CUSTOS_ASSIGN_OR_RETURN(sqlite::Statement stmt, sqlite::Prepare(db, sql));
  sqlite3_bind_int64(stmt.get(), 1, static_cast<int64_t>(size));
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE) return absl::NotFoundError("no such checkpoint");
  if (rc != SQLITE_ROW) return sqlite::Error(db, rc, "reading a checkpoint");
  StoredCheckpoint checkpoint;
  checkpoint.size = static_cast<uint64_t>(sqlite3_column_int64(stmt.get(), 0));
  checkpoint.root_hash = sqlite::ColumnBytes(stmt.get(), 1);
  checkpoint.note = sqlite::ColumnBytes(stmt.get(), 2);
  checkpoint.time = absl::FromUnixMicros(sqlite3_column_int64(stmt.get(), 3));
  return checkpoint;
}

namespace {
constexpr char kLatestCheckpointSql[] =
    "SELECT size, root, note, time_us FROM checkpoints WHERE size >= ?1 "
    "ORDER BY size DESC LIMIT 1";

absl::StatusOr<StoredCheckpoint> NoCheckpointYet(
    absl::StatusOr<StoredCheckpoint> checkpoint) {
  if (checkpoint.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError("the log has no checkpoint yet");
  }
  return checkpoint;
}
}  // namespace

absl::StatusOr<StoredCheckpoint> SqliteLogStore::LatestCheckpoint() const {
  return NoCheckpointYet(ReadCheckpoint(kLatestCheckpointSql, 0));
}

absl::StatusOr<StoredCheckpoint> SqliteLogStore::LatestCheckpointOnWriter()
    const {
  return NoCheckpointYet(
      ReadCheckpointFrom(write_db_.get(), kLatestCheckpointSql, 0));
}

absl::StatusOr<StoredCheckpoint> SqliteLogStore::CheckpointAt(
    uint64_t size) const {
  auto checkpoint = ReadCheckpoint(
      "SELECT size, root, note, time_us FROM checkpoints WHERE size = ?1",
      size);
  if (checkpoint.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat("no checkpoint of size ", size));
  }
  return checkpoint;
}

absl::StatusOr<LogStore::Page> SqliteLogStore::List(
    const Filter& filter, int page_size, absl::string_view page_token) const {
  uint64_t below = std::numeric_limits<int64_t>::max();
  if (!page_token.empty()) {
    CUSTOS_ASSIGN_OR_RETURN(below, ParsePageToken(page_token));
  }
  // The listing key that narrows the search, if a filter gives one.
  std::string key;
  if (!filter.customer_id.empty()) {
    key = CustomerKey(filter.customer_id);
  } else if (!filter.actor_id.empty()) {
    key = ActorKey(filter.actor_id);
  }
  // The index bounds (?1, ?9), customer and actor go into the SQL; the
  // other filters are checked here, on the entries' lookup columns, so that
  // every entry looked at counts against the page's budget (a filter
  // matching few entries would otherwise have SQLite walk the whole log, or
  // a customer's part of it, in one call, under the readers' lock).
  std::vector<std::string> where = {"e.idx < ?1", "e.idx >= ?9"};
  if (!filter.customer_id.empty()) where.push_back("e.customer_id = ?2");
  if (!filter.actor_id.empty()) where.push_back("e.actor_id = ?3");
  const std::string conditions = absl::StrJoin(where, " AND ");
  const auto matches = [&filter](sqlite3_stmt* row) {
    if (!filter.category.empty() &&
        sqlite::ColumnBytes(row, 2) != filter.category) {
      return false;
    }
    if (filter.outcome != custos::v1::OUTCOME_UNSPECIFIED &&
        sqlite3_column_int(row, 3) != filter.outcome) {
      return false;
    }
    const int64_t time_us = sqlite3_column_int64(row, 4);
    return time_us >= ToMicros(filter.from) && time_us < ToMicros(filter.to);
  };
  // Entries not yet keyed (at or past listed_below) are scanned; the rest
  // are found through their key.
  constexpr char kColumns[] =
      "e.idx, e.entry, e.category, e.outcome, e.time_us";
  const std::string scan =
      absl::StrCat("SELECT ", kColumns, " FROM entries e WHERE ", conditions,
                   " ORDER BY e.idx DESC");
  const std::string keyed =
      absl::StrCat("SELECT ", kColumns,
                   " FROM listing l JOIN entries e ON e.idx = l.idx "
                   "WHERE l.key = ?10 AND l.idx < ?1 AND ",
                   conditions, " ORDER BY l.idx DESC");

  Page page;
  page.log_size = Size();
  MutexLock lock(&read_mu_);
  sqlite3* db = read_db_.get();
  // One snapshot for the watermark and both queries.
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(db, "BEGIN"));
  absl::Status status = [&]() -> absl::Status {
    uint64_t listed_below = 0;
    if (!key.empty()) {
      CUSTOS_ASSIGN_OR_RETURN(listed_below, ReadListedBelow(db));
    }
    uint64_t last_index = 0;
    size_t looked_at = 0;
    // Runs `sql` over [from, below) and adds what it finds to the page.
    auto run = [&](const std::string& sql, uint64_t from) -> absl::Status {
      CUSTOS_ASSIGN_OR_RETURN(sqlite::Statement stmt, sqlite::Prepare(db, sql));
      sqlite3_bind_int64(stmt.get(), 1, static_cast<int64_t>(below));
      sqlite::BindText(stmt.get(), 2, filter.customer_id);
      sqlite::BindText(stmt.get(), 3, filter.actor_id);
      sqlite3_bind_int64(stmt.get(), 9, static_cast<int64_t>(from));
      sqlite::BindText(stmt.get(), 10, key);
      int rc;
      while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
        const uint64_t index =
            static_cast<uint64_t>(sqlite3_column_int64(stmt.get(), 0));
        if (page.entries.size() == static_cast<size_t>(page_size)) {
          page.next_page_token = PageToken(last_index);
          return absl::OkStatus();
        }
        // At least one entry a page, or a budget of 0 would name the
        // same page for ever.
        if (++looked_at > std::max<size_t>(options_.list_scan_budget, 1)) {
          // The next page goes on from the entry not looked at yet.
          page.next_page_token = PageToken(index + 1);
          return absl::OkStatus();
        }
        last_index = index;
        if (!matches(stmt.get())) continue;
        custos::v1::LogEntry entry;
        if (!entry.ParseFromString(sqlite::ColumnBytes(stmt.get(), 1))) {
          return absl::DataLossError(
              absl::StrCat("entry ", last_index, ": bytes do not parse"));
        }
        page.entries.push_back(std::move(entry));
      }
      if (rc != SQLITE_DONE) return sqlite::Error(db, rc, "listing entries");
      return absl::OkStatus();
    };
    if (key.empty()) return run(scan, 0);
    CUSTOS_RETURN_IF_ERROR(run(scan, listed_below));
    if (!page.next_page_token.empty()) return absl::OkStatus();
    below = std::min<uint64_t>(below, listed_below);
    return run(keyed, 0);
  }();
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  if (!status.ok()) return status;
  return page;
}

absl::StatusOr<std::string> SqliteLogStore::ReadEntryBytes(
    uint64_t index) const {
  if (index >= Size()) {
    return absl::OutOfRangeError(absl::StrCat(
        "entry ", index, " is past the end of the log (size ", Size(), ")"));
  }
  MutexLock lock(&read_mu_);
  sqlite3_stmt* stmt = read_entry_.get();
  // Reset on the way out: a statement left mid-result keeps its read
  // snapshot open, and later reads would not see newer entries.
  ResetOnExit reset(stmt);
  sqlite3_bind_int64(stmt, 1, static_cast<int64_t>(index));
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return sqlite::ColumnBytes(stmt, 0);
  if (rc == SQLITE_DONE)
    return absl::DataLossError(absl::StrCat("entry ", index, " is missing"));
  return sqlite::Error(read_db_.get(), rc, "reading an entry");
}

absl::StatusOr<std::string> SqliteLogStore::ReadNode(int level,
                                                     uint64_t index) const {
  if (level > 0 && level < sqlite::kLowestStoredLevel) {
    return sqlite::HashSubtreeFromLeaves(read_db_.get(), read_leaf_range_.get(),
                                         level, index);
  }
  sqlite3_stmt* stmt = level == 0 ? read_leaf_.get() : read_node_.get();
  ResetOnExit reset(stmt);
  if (level == 0) {
    sqlite3_bind_int64(stmt, 1, static_cast<int64_t>(index));
  } else {
    sqlite3_bind_int(stmt, 1, level);
    sqlite3_bind_int64(stmt, 2, static_cast<int64_t>(index));
  }
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return sqlite::ColumnBytes(stmt, 0);
  if (rc == SQLITE_DONE) {
    return absl::DataLossError(
        absl::StrCat("tree node ", level, "/", index, " is missing"));
  }
  return sqlite::Error(read_db_.get(), rc, "reading a tree node");
}

absl::Status SqliteLogStore::CheckSize(uint64_t size) const {
  if (size > Size()) {
    return absl::OutOfRangeError(absl::StrCat(
        "tree size ", size, " is larger than the log (", Size(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SqliteLogStore::RootHash(uint64_t size) const {
  CUSTOS_RETURN_IF_ERROR(CheckSize(size));
  MutexLock lock(&read_mu_);
  return audit::RootHash(
      size, [this](int level, uint64_t index) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return ReadNode(level, index);
      });
}

absl::StatusOr<std::vector<std::string>> SqliteLogStore::InclusionProof(
    uint64_t index, uint64_t size) const {
  CUSTOS_RETURN_IF_ERROR(CheckSize(size));
  MutexLock lock(&read_mu_);
  return audit::InclusionProof(
      index, size,
      [this](int level, uint64_t i)
          ABSL_NO_THREAD_SAFETY_ANALYSIS { return ReadNode(level, i); });
}

absl::StatusOr<std::vector<std::string>> SqliteLogStore::ConsistencyProof(
    uint64_t old_size, uint64_t new_size) const {
  CUSTOS_RETURN_IF_ERROR(CheckSize(new_size));
  MutexLock lock(&read_mu_);
  return audit::ConsistencyProof(
      old_size, new_size,
      [this](int level, uint64_t i)
          ABSL_NO_THREAD_SAFETY_ANALYSIS { return ReadNode(level, i); });
}

}  // namespace custos::audit
