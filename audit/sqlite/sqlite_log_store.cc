#include "audit/sqlite/sqlite_log_store.h"

#include <limits>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "audit/entry.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace custos::audit {
namespace {

constexpr size_t kMaxBatch = 1024;

constexpr const char* kSchema = R"sql(
  CREATE TABLE IF NOT EXISTS entries(
    idx INTEGER PRIMARY KEY,
    leaf_hash BLOB NOT NULL,
    entry BLOB NOT NULL,
    time_us INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    category TEXT NOT NULL,
    outcome INTEGER NOT NULL);
  CREATE INDEX IF NOT EXISTS entries_by_customer ON entries(customer_id, idx);
  CREATE INDEX IF NOT EXISTS entries_by_actor ON entries(actor_id, idx);
  -- Full subtrees above the leaves (level >= 1); leaf hashes live in entries.
  CREATE TABLE IF NOT EXISTS tree_nodes(
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY(level, idx)) WITHOUT ROWID;
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

absl::StatusOr<uint64_t> ParsePageToken(absl::string_view token) {
  uint64_t below = 0;
  if (token.size() < 2 || token[0] != 'e' ||
      !absl::SimpleAtoi(token.substr(1), &below)) {
    return absl::InvalidArgumentError(
        "page_token: expected a token from a previous page of this listing");
  }
  return below;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteLogStore>> SqliteLogStore::Open(
    const std::string& path) {
  std::unique_ptr<SqliteLogStore> store(new SqliteLogStore());
  CUSTOS_RETURN_IF_ERROR(store->Init(path));
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  return store;
}

absl::Status SqliteLogStore::Init(const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(
      write_db_,
      sqlite::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  CUSTOS_RETURN_IF_ERROR(ConfigureConnection(write_db_.get()));
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(write_db_.get(), kSchema));
  CUSTOS_ASSIGN_OR_RETURN(
      insert_entry_,
      sqlite::Prepare(
          write_db_.get(),
          "INSERT INTO entries(idx, leaf_hash, entry, time_us, customer_id, "
          "actor_id, category, outcome) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, "
          "?8)"));
  CUSTOS_ASSIGN_OR_RETURN(
      insert_node_,
      sqlite::Prepare(
          write_db_.get(),
          "INSERT INTO tree_nodes(level, idx, hash) VALUES(?1, ?2, ?3)"));
  absl::MutexLock lock(&read_mu_);
  CUSTOS_ASSIGN_OR_RETURN(read_db_, sqlite::Open(path, SQLITE_OPEN_READONLY));
  sqlite3_busy_timeout(read_db_.get(), 1000);
  CUSTOS_ASSIGN_OR_RETURN(
      read_entry_, sqlite::Prepare(read_db_.get(),
                                   "SELECT entry FROM entries WHERE idx = ?1"));
  CUSTOS_ASSIGN_OR_RETURN(
      read_leaf_,
      sqlite::Prepare(read_db_.get(),
                      "SELECT leaf_hash FROM entries WHERE idx = ?1"));
  CUSTOS_ASSIGN_OR_RETURN(
      read_node_,
      sqlite::Prepare(
          read_db_.get(),
          "SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2"));
  return RecoverTail();
}

absl::Status SqliteLogStore::RecoverTail() {
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement last,
      sqlite::Prepare(
          write_db_.get(),
          "SELECT idx, leaf_hash FROM entries ORDER BY idx DESC LIMIT 1"));
  const int rc = sqlite3_step(last.get());
  if (rc == SQLITE_ROW) {
    next_index_ =
        static_cast<uint64_t>(sqlite3_column_int64(last.get(), 0)) + 1;
    last_leaf_hash_ = sqlite::ColumnBytes(last.get(), 1);
  } else if (rc == SQLITE_DONE) {
    next_index_ = 0;
    last_leaf_hash_ = ZeroHash();
  } else {
    return sqlite::Error(write_db_.get(), rc, "reading the log's last entry");
  }
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement node,
      sqlite::Prepare(
          write_db_.get(),
          "SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2"));
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement leaf,
      sqlite::Prepare(write_db_.get(),
                      "SELECT leaf_hash FROM entries WHERE idx = ?1"));
  auto read = [&](int level, uint64_t index) -> absl::StatusOr<std::string> {
    sqlite3_stmt* stmt = level == 0 ? leaf.get() : node.get();
    sqlite3_reset(stmt);
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
    return sqlite::Error(write_db_.get(), step, "reading a tree node");
  };
  CUSTOS_ASSIGN_OR_RETURN(range_, CompactRange::Load(next_index_, read));
  size_.store(next_index_, std::memory_order_release);
  tail_stale_ = false;
  return absl::OkStatus();
}

SqliteLogStore::~SqliteLogStore() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) writer_.join();
}

void SqliteLogStore::AppendAsync(custos::v1::LogEntry entry, AppendDone done) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    done(absl::UnavailableError("the audit log is closing"));
    return;
  }
  queue_.push_back({std::move(entry), std::move(done)});
}

void SqliteLogStore::WriterLoop() {
  for (;;) {
    std::deque<Pending> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &SqliteLogStore::HasWorkOrStopping));
      if (queue_.empty()) return;  // stopping, and everything is written
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitBatch(batch);
  }
}

void SqliteLogStore::CommitBatch(std::deque<Pending>& batch) {
  std::vector<custos::v1::LogEntry> stored;
  absl::Status status = tail_stale_ ? RecoverTail() : absl::OkStatus();
  const uint64_t first_index = next_index_;
  const std::string first_prev = last_leaf_hash_;
  const CompactRange first_range = range_;
  if (status.ok()) status = WriteBatch(batch, stored);
  if (!status.ok()) {
    sqlite3_exec(write_db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    next_index_ = first_index;
    last_leaf_hash_ = first_prev;
    range_ = first_range;
    // The database may know better than our memory after a failed commit.
    tail_stale_ = !RecoverTail().ok();
    for (Pending& p : batch) p.done(status);
    return;
  }
  size_.store(next_index_, std::memory_order_release);
  commits_.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(stored[i]));
}

absl::Status SqliteLogStore::WriteBatch(
    std::deque<Pending>& batch, std::vector<custos::v1::LogEntry>& stored) {
  CUSTOS_RETURN_IF_ERROR(sqlite::Exec(write_db_.get(), "BEGIN IMMEDIATE"));
  stored.reserve(batch.size());
  absl::Status node_status;
  for (Pending& p : batch) {
    custos::v1::LogEntry& entry = p.entry;
    entry.set_format_version(kFormatVersion);
    entry.set_index(next_index_);
    entry.set_prev_hash(last_leaf_hash_);
    const std::string bytes = SerializeEntry(entry);
    std::string leaf = HashLeaf(bytes);

    sqlite3_stmt* insert = insert_entry_.get();
    sqlite3_reset(insert);
    sqlite3_bind_int64(insert, 1, static_cast<int64_t>(next_index_));
    sqlite::BindBlob(insert, 2, leaf);
    sqlite::BindBlob(insert, 3, bytes);
    sqlite3_bind_int64(
        insert, 4,
        google::protobuf::util::TimeUtil::TimestampToMicroseconds(
            entry.time()));
    sqlite::BindText(insert, 5, entry.customer_id());
    sqlite::BindText(insert, 6, entry.actor().id());
    sqlite::BindText(insert, 7, entry.category());
    sqlite3_bind_int(insert, 8, entry.outcome());
    const int rc = sqlite3_step(insert);
    if (rc != SQLITE_DONE)
      return sqlite::Error(write_db_.get(), rc, "appending an entry");

    range_.Append(
        leaf, [&](int level, uint64_t index, const std::string& hash) {
          if (level == 0 || !node_status.ok()) return;
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
    last_leaf_hash_ = std::move(leaf);
    ++next_index_;
    stored.push_back(std::move(entry));
  }
  return sqlite::Exec(write_db_.get(), "COMMIT");
}

absl::StatusOr<LogStore::Page> SqliteLogStore::List(
    const Filter& filter, int page_size, absl::string_view page_token) const {
  uint64_t below = std::numeric_limits<int64_t>::max();
  if (!page_token.empty()) {
    CUSTOS_ASSIGN_OR_RETURN(below, ParsePageToken(page_token));
  }
  // Only the conditions in use go into the SQL, so SQLite can pick the
  // matching index.
  std::vector<std::string> where = {"idx < ?1"};
  if (!filter.customer_id.empty()) where.push_back("customer_id = ?2");
  if (!filter.actor_id.empty()) where.push_back("actor_id = ?3");
  if (!filter.category.empty()) where.push_back("category = ?4");
  if (filter.outcome != custos::v1::OUTCOME_UNSPECIFIED)
    where.push_back("outcome = ?5");
  if (filter.from != absl::InfinitePast()) where.push_back("time_us >= ?6");
  if (filter.to != absl::InfiniteFuture()) where.push_back("time_us < ?7");
  const std::string sql = absl::StrCat("SELECT idx, entry FROM entries WHERE ",
                                       absl::StrJoin(where, " AND "),
                                       " ORDER BY idx DESC LIMIT ?8");
  Page page;
  page.log_size = Size();
  absl::MutexLock lock(&read_mu_);
  CUSTOS_ASSIGN_OR_RETURN(sqlite::Statement stmt,
                          sqlite::Prepare(read_db_.get(), sql));
  sqlite3_bind_int64(stmt.get(), 1, static_cast<int64_t>(below));
  sqlite::BindText(stmt.get(), 2, filter.customer_id);
  sqlite::BindText(stmt.get(), 3, filter.actor_id);
  sqlite::BindText(stmt.get(), 4, filter.category);
  sqlite3_bind_int(stmt.get(), 5, filter.outcome);
  sqlite3_bind_int64(stmt.get(), 6, ToMicros(filter.from));
  sqlite3_bind_int64(stmt.get(), 7, ToMicros(filter.to));
  sqlite3_bind_int(stmt.get(), 8, page_size + 1);
  int rc;
  uint64_t last_index = 0;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    if (page.entries.size() == static_cast<size_t>(page_size)) {
      page.next_page_token = PageToken(last_index);
      break;
    }
    last_index = static_cast<uint64_t>(sqlite3_column_int64(stmt.get(), 0));
    const std::string bytes = sqlite::ColumnBytes(stmt.get(), 1);
    custos::v1::LogEntry entry;
    if (!entry.ParseFromString(bytes)) {
      return absl::DataLossError(
          absl::StrCat("entry ", last_index, ": bytes do not parse"));
    }
    page.entries.push_back(std::move(entry));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    return sqlite::Error(read_db_.get(), rc, "listing entries");
  }
  return page;
}

absl::StatusOr<std::string> SqliteLogStore::ReadEntryBytes(
    uint64_t index) const {
  if (index >= Size()) {
    return absl::OutOfRangeError(absl::StrCat(
        "entry ", index, " is past the end of the log (size ", Size(), ")"));
  }
  absl::MutexLock lock(&read_mu_);
  sqlite3_stmt* stmt = read_entry_.get();
  sqlite3_reset(stmt);
  sqlite3_bind_int64(stmt, 1, static_cast<int64_t>(index));
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return sqlite::ColumnBytes(stmt, 0);
  if (rc == SQLITE_DONE)
    return absl::DataLossError(absl::StrCat("entry ", index, " is missing"));
  return sqlite::Error(read_db_.get(), rc, "reading an entry");
}

absl::StatusOr<std::string> SqliteLogStore::ReadNode(int level,
                                                     uint64_t index) const {
  sqlite3_stmt* stmt = level == 0 ? read_leaf_.get() : read_node_.get();
  sqlite3_reset(stmt);
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
  absl::MutexLock lock(&read_mu_);
  return audit::RootHash(
      size, [this](int level, uint64_t index) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return ReadNode(level, index);
      });
}

absl::StatusOr<std::vector<std::string>> SqliteLogStore::InclusionProof(
    uint64_t index, uint64_t size) const {
  CUSTOS_RETURN_IF_ERROR(CheckSize(size));
  absl::MutexLock lock(&read_mu_);
  return audit::InclusionProof(
      index, size,
      [this](int level, uint64_t i)
          ABSL_NO_THREAD_SAFETY_ANALYSIS { return ReadNode(level, i); });
}

absl::StatusOr<std::vector<std::string>> SqliteLogStore::ConsistencyProof(
    uint64_t old_size, uint64_t new_size) const {
  CUSTOS_RETURN_IF_ERROR(CheckSize(new_size));
  absl::MutexLock lock(&read_mu_);
  return audit::ConsistencyProof(
      old_size, new_size,
      [this](int level, uint64_t i)
          ABSL_NO_THREAD_SAFETY_ANALYSIS { return ReadNode(level, i); });
}

absl::Status VerifySqliteLogFile(const std::string& path) {
  CUSTOS_ASSIGN_OR_RETURN(sqlite::Database db,
                          sqlite::Open(path, SQLITE_OPEN_READONLY));
  sqlite3_busy_timeout(db.get(), 1000);
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement entries,
      sqlite::Prepare(
          db.get(), "SELECT idx, leaf_hash, entry FROM entries ORDER BY idx"));
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite::Statement node,
      sqlite::Prepare(
          db.get(),
          "SELECT hash FROM tree_nodes WHERE level = ?1 AND idx = ?2"));
  ChainVerifier chain;
  CompactRange rebuilt;
  absl::Status node_status;
  uint64_t position = 0;
  int rc;
  while ((rc = sqlite3_step(entries.get())) == SQLITE_ROW) {
    const uint64_t idx =
        static_cast<uint64_t>(sqlite3_column_int64(entries.get(), 0));
    const std::string bytes = sqlite::ColumnBytes(entries.get(), 2);
    if (idx != position) {
      return absl::DataLossError(absl::StrCat(
          "entry ", position, ": missing (the next row stored is ", idx, ")"));
    }
    CUSTOS_RETURN_IF_ERROR(chain.Next(position, bytes));
    if (sqlite::ColumnBytes(entries.get(), 1) != chain.last_leaf_hash()) {
      return absl::DataLossError(absl::StrCat(
          "entry ", position, ": stored leaf hash does not match its bytes"));
    }
    // Each stored subtree is checked as soon as the rebuilt tree completes it.
    rebuilt.Append(chain.last_leaf_hash(), [&](int level, uint64_t index,
                                               const std::string& h) {
      if (level == 0 || !node_status.ok()) return;
      sqlite3_reset(node.get());
      sqlite3_bind_int(node.get(), 1, level);
      sqlite3_bind_int64(node.get(), 2, static_cast<int64_t>(index));
      if (sqlite3_step(node.get()) != SQLITE_ROW ||
          sqlite::ColumnBytes(node.get(), 0) != h) {
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
  }
  if (rc != SQLITE_DONE) return sqlite::Error(db.get(), rc, "reading entries");
  return absl::OkStatus();
}

}  // namespace custos::audit
