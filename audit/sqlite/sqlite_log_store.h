// The audit log in one SQLite file: entries, the hash chain, the Merkle
// tree's full subtrees, signed checkpoints and the personal values behind
// the entries' commitments, written by one writer thread with group commit.
//
// Durability: WAL with synchronous=FULL, so a commit is on disk when it
// returns; appends queued while a commit runs share the next transaction and
// its fsync. A crash at any moment leaves the last committed state, which
// holds every entry whose append was answered.
//
// Listings by customer or actor find entries through keys written in
// batches (at each checkpoint, or every listing_batch keys) rather than by
// an index every append must update; the few entries past the last batch
// are scanned. Keys a crash lost are written again at open.
//
// Erasure: secure_delete is on and the WAL is truncated after an erasure or
// a masking (at open too), so erased values leave no copy in the database
// files.
//
// Thread-safe. Readers use their own connection beside the writer's.
#ifndef CUSTOS_AUDIT_SQLITE_SQLITE_LOG_STORE_H_
#define CUSTOS_AUDIT_SQLITE_SQLITE_LOG_STORE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "audit/log_store.h"
#include "audit/merkle.h"
#include "audit/sqlite/sqlite.h"
#include "common/mutex.h"

namespace custos::audit {

class SqliteLogStore final : public LogStore {
 public:
  struct Options {
    // Signs checkpoints; without one the store makes none. While it fails,
    // appends go on unsigned, and a checkpoint is tried again each
    // checkpoint_interval.
    CheckpointSigner signer;
    // The signer's verifier key ("name+hex8+base64"). When given, the newest
    // checkpoint's note must carry a valid signature by it at open, or the
    // file's tree is not trusted to extend: with the stored root alone, a
    // note rewritten to fit a changed tree would pass.
    std::string verifier_key;
    // A new checkpoint at least this often while entries arrive.
    absl::Duration checkpoint_interval = absl::Seconds(1);
    // Told, on the writer thread, each commit's entry count and the log's
    // new size (for metrics). Must not block.
    std::function<void(size_t entries, uint64_t log_size)> on_commit;
    // Listing keys (an entry's customer and actor) are written in the
    // transaction of the next checkpoint, or once this many are waiting;
    // listings scan the entries not yet keyed. See List.
    size_t listing_batch = 4096;
    // The most entries one List call looks at (under the readers' lock)
    // before it ends its page, with a token to go on from there.
    size_t list_scan_budget = 10000;
  };

  // Opens or creates the log at `path` and recovers its tail; with a
  // signer, entries past the newest checkpoint (a crash's) are signed
  // before it returns (if the signer fails, the writer tries again each
  // checkpoint_interval). Before anything is signed, the stored tree at the
  // newest checkpoint must give the root its note states (O(log n) reads),
  // and the last entry's leaf hash is taken from its bytes; with a signer,
  // the entries past that checkpoint are hashed from their bytes and
  // checked against their rows and the stored tree, so that the next
  // checkpoint extends the newest one. With a verifier key, the newest
  // checkpoint's signature is checked too. Errors: INVALID_ARGUMENT for a
  // verifier key that does not parse; UNAVAILABLE when the file
  // cannot be opened or is locked (or, when open masks the subjects of an
  // older log, a reader keeps the WAL from being truncated), DATA_LOSS
  // naming the entry or checkpoint when it is corrupt or was changed.
  static absl::StatusOr<std::unique_ptr<SqliteLogStore>> Open(
      const std::string& path, Options options);
  // Open without checkpoints.
  static absl::StatusOr<std::unique_ptr<SqliteLogStore>> Open(
      const std::string& path) {
    return Open(path, Options());
  }

  // Finishes every queued append, signs a last checkpoint (with a signer),
  // then closes.
  ~SqliteLogStore() override;

  void AppendAsync(custos::v1::LogEntry entry,
                   std::vector<PersonalValue> personal,
                   AppendDone done) override;
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
  absl::StatusOr<StoredCheckpoint> LatestCheckpoint() const override;
  absl::StatusOr<StoredCheckpoint> CheckpointAt(uint64_t size) const override;
  absl::StatusOr<StoredCheckpoint> CheckpointNow() override;
  absl::StatusOr<ErasureCount> Erase(absl::string_view subject,
                                     absl::Time before) override;
  void EraseAsync(std::string subject, absl::Time before,
                  EraseDone done) override;
  absl::StatusOr<uint64_t> MaskSourceAddresses(absl::Time before) override;
  absl::StatusOr<std::vector<HeldValue>> PersonalValues(
      uint64_t index) const override;

  // Transactions committed since Open, and entries in the largest one, for
  // metrics and tests.
  uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    // Its commitments are already in place; salts[i] is personal[i]'s.
    custos::v1::LogEntry entry;
    std::vector<PersonalValue> personal;
    std::vector<std::string> salts;
    // SerializeEntry's bytes without index and prev_hash (LinkEntryBytes).
    std::string unlinked;
    // The values kept in the entry's own row, when they all belong to its
    // actor (held_values.h); else they go to personal_values.
    std::optional<std::string> row_values;
    // Its listing keys (CustomerKey, ActorKey), empty for none.
    std::string customer_key;
    std::string actor_key;
    AppendDone done;
  };
  // Work for the writer thread's connection other than appends.
  using Task = std::function<void()>;
  // An append's outcome, for its caller's `done`.
  struct Completion {
    AppendDone done;
    absl::StatusOr<custos::v1::LogEntry> outcome;
  };

  explicit SqliteLogStore(Options options) : options_(std::move(options)) {}
  absl::Status Init(const std::string& path);
  absl::Status RecoverTail();
  void WriterLoop();
  // Runs the callers' `done`s of each finished batch, in order, so that the
  // writer thread can start the next transaction meanwhile (small batches
  // are completed on the writer thread, see Complete).
  void CompleterLoop();
  void Complete(std::vector<Completion> batch);
  void CommitBatch(std::deque<Pending>& batch, bool checkpoint_due);
  // Inserts the batch's entries in one open transaction, setting each
  // entry's index and prev_hash in place (the callers are answered with it).
  absl::Status WriteBatch(std::deque<Pending>& batch);
  // Signs and stores a checkpoint of everything appended, inside the
  // caller's transaction.
  absl::Status WriteCheckpoint();
  // Stores a checkpoint of `size` entries, signed as `note`, inside the
  // caller's transaction.
  absl::Status StoreCheckpoint(uint64_t size, const std::string& root,
                               const std::string& note);
  // When the writer next makes a checkpoint, if entries are unsigned: an
  // interval after the last one, and after a failed attempt's retry time.
  absl::Time NextCheckpointTime() const;
  // WriteCheckpoint in a transaction of its own; a failure puts the next
  // attempt an interval off (checkpoint_retry_).
  absl::Status CommitCheckpoint();
  // Runs `work` on the writer thread between batches and waits for it.
  // UNAVAILABLE when the store is closing.
  absl::Status RunOnWriter(std::function<void()> work);
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || !tasks_.empty() || stopping_;
  }
  absl::StatusOr<std::string> ReadNode(int level, uint64_t index) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu_);
  absl::Status CheckSize(uint64_t size) const;
  // Writes the waiting listing keys and records that every entry below
  // `listed_below` is keyed, inside the caller's transaction (the caller
  // clears unlisted_ once it commits).
  absl::Status WriteListing(uint64_t listed_below);
  // Keys the entries a previous run appended but did not list, in
  // transactions of their own (at open).
  absl::Status CatchUpListing();
  // Erase and MaskSourceAddresses on the writer thread, each in one
  // transaction.
  absl::Status EraseOnWriter(const std::string& subject, absl::Time before,
                             ErasureCount& count);
  absl::Status MaskOnWriter(absl::Time before, uint64_t& masked);
  // The first entry index whose time is at or after `t` (writer thread).
  uint64_t FirstIndexAtOrAfter(absl::Time t);
  // LatestCheckpoint through the writer's connection, on its thread.
  absl::StatusOr<StoredCheckpoint> LatestCheckpointOnWriter() const;
  static absl::StatusOr<StoredCheckpoint> ReadCheckpointFrom(sqlite3* db,
                                                             const char* sql,
                                                             uint64_t size);
  absl::StatusOr<StoredCheckpoint> ReadCheckpoint(const char* sql,
                                                  uint64_t size) const;

  const Options options_;

  mutable Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // The writer thread's own state.
  sqlite::Database write_db_;
  sqlite::Statement insert_entry_;
  sqlite::Statement insert_node_;
  sqlite::Statement insert_value_;
  sqlite::Statement insert_checkpoint_;
  uint64_t next_index_ = 0;
  std::string last_leaf_hash_;
  CompactRange range_;
  bool tail_stale_ = false;
  uint64_t checkpointed_size_ = 0;
  // Source addresses of entries below this index are masked already.
  uint64_t masked_below_ = 0;
  // Listing keys ("c:<customer>", "a:<actor>") of entries appended since
  // the last WriteListing; entries below listed_below in log_state have
  // theirs in the listing table.
  std::vector<std::pair<std::string, uint64_t>> unlisted_;
  absl::Time last_checkpoint_ = absl::InfinitePast();
  // No checkpoint is tried before this, after one failed.
  absl::Time checkpoint_retry_ = absl::InfinitePast();

  mutable Mutex read_mu_;
  sqlite::Database read_db_ ABSL_GUARDED_BY(read_mu_);
  sqlite::Statement read_entry_ ABSL_GUARDED_BY(read_mu_);
  sqlite::Statement read_leaf_ ABSL_GUARDED_BY(read_mu_);
  sqlite::Statement read_node_ ABSL_GUARDED_BY(read_mu_);
  sqlite::Statement read_leaf_range_ ABSL_GUARDED_BY(read_mu_);

  Mutex completion_mu_;
  std::deque<std::vector<Completion>> completions_
      ABSL_GUARDED_BY(completion_mu_);
  bool writer_finished_ ABSL_GUARDED_BY(completion_mu_) = false;
  // The completion thread is running callbacks it took off the queue.
  bool completer_busy_ ABSL_GUARDED_BY(completion_mu_) = false;

  std::atomic<uint64_t> size_{0};
  std::atomic<uint64_t> commits_{0};
  std::thread writer_;
  std::thread completer_;
};

}  // namespace custos::audit

#endif  // CUSTOS_AUDIT_SQLITE_SQLITE_LOG_STORE_H_
