// The audit log in one SQLite file: entries, the hash chain and the Merkle
// tree's full subtrees, written by one writer thread with group commit.
//
// Durability: WAL with synchronous=FULL, so a commit is on disk when it
// returns; appends queued while a commit runs share the next transaction and
// its fsync. A crash at any moment leaves the last committed state, which
// holds every entry whose append was answered.
//
// Thread-safe. Readers use their own connection beside the writer's.
#ifndef CUSTOS_AUDIT_SQLITE_SQLITE_LOG_STORE_H_
#define CUSTOS_AUDIT_SQLITE_SQLITE_LOG_STORE_H_

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "audit/log_store.h"
#include "audit/merkle.h"
#include "audit/sqlite/sqlite.h"

namespace custos::audit {

class SqliteLogStore final : public LogStore {
 public:
  // Opens or creates the log at `path` and recovers its tail. Errors:
  // UNAVAILABLE when the file cannot be opened or is locked, DATA_LOSS when
  // it is corrupt.
  static absl::StatusOr<std::unique_ptr<SqliteLogStore>> Open(
      const std::string& path);

  // Finishes every queued append, then closes.
  ~SqliteLogStore() override;

  void AppendAsync(custos::v1::LogEntry entry, AppendDone done) override;
  uint64_t Size() const override {
    return size_.load(std::memory_order_acquire);
  }
  absl::StatusOr<Page> List(const Filter& filter, int page_size,
                            absl::string_view page_token) const override;
  absl::StatusOr<std::string> ReadEntryBytes(uint64_t index) const override;
  absl::StatusOr<std::string> RootHash(uint64_t size) const override;
  absl::StatusOr<std::vector<std::string>> InclusionProof(
      uint64_t index, uint64_t size) const override;
  absl::StatusOr<std::vector<std::string>> ConsistencyProof(
      uint64_t old_size, uint64_t new_size) const override;

  // Transactions committed since Open, for metrics and tests.
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    custos::v1::LogEntry entry;
    AppendDone done;
  };

  SqliteLogStore() = default;
  absl::Status Init(const std::string& path);
  absl::Status RecoverTail();
  void WriterLoop();
  void CommitBatch(std::deque<Pending>& batch);
  absl::Status WriteBatch(std::deque<Pending>& batch,
                          std::vector<custos::v1::LogEntry>& stored);
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_;
  }
  absl::StatusOr<std::string> ReadNode(int level, uint64_t index) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  absl::Status CheckSize(uint64_t size) const;

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // The writer thread's own state.
  sqlite::Database write_db_;
  sqlite::Statement insert_entry_;
  sqlite::Statement insert_node_;
  uint64_t next_index_ = 0;
  std::string last_leaf_hash_;
  CompactRange range_;
  bool tail_stale_ = false;

  mutable absl::Mutex read_mu_;
  sqlite::Database read_db_ ABSL_GUARDED_BY(read_mu_);
  sqlite::Statement read_entry_ ABSL_GUARDED_BY(read_mu_);
  sqlite::Statement read_leaf_ ABSL_GUARDED_BY(read_mu_);
  sqlite::Statement read_node_ ABSL_GUARDED_BY(read_mu_);

  std::atomic<uint64_t> size_{0};
  std::atomic<uint64_t> commits_{0};
  std::thread writer_;
};

// Verifies a log file offline, without trusting anything stored but the
// entry bytes: walks the chain from entry 0, checks each stored leaf hash and
// rebuilds the tree, comparing every stored subtree hash. OK, or DATA_LOSS
// naming the first bad entry or node.
absl::Status VerifySqliteLogFile(const std::string& path);

}  // namespace custos::audit

#endif  // CUSTOS_AUDIT_SQLITE_SQLITE_LOG_STORE_H_
