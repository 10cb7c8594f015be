// Grants: who may read which customer's data, for what, until when. Kept in
// an SQLite file so that a restart keeps every grant and its state.
//
// A grant past its expiry reads as EXPIRED; ended and revoked grants stay
// for the record. New grants, and the records counted under grants, are
// written by a thread of the store's own, as many to a transaction as were
// queued while the last one committed (group commit): a transaction each
// made the grant's write cost more than the rest of RequestAccess together,
// and had reads under grants wait for each other's. Thread-safe (one
// connection behind a mutex).
#ifndef CUSTOS_GATEWAY_GRANTS_GRANT_STORE_H_
#define CUSTOS_GATEWAY_GRANTS_GRANT_STORE_H_

#include <sqlite3.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/page_token.h"
#include "common/sqlite_file.h"
#include "common/sqlite_statements.h"
#include "proto/custos/v1/access.pb.h"

namespace custos::gateway {

class GrantStore {
 public:
  // `read_wait` bounds how long StartEnd waits for the reads under a grant:
  // a stuck read must not hold an end back for ever.
  static absl::StatusOr<std::unique_ptr<GrantStore>> Open(
      const std::string& path, absl::Duration read_wait = absl::Seconds(5));
  ~GrantStore();

  // Queues a new grant for the store's writer thread, which stores it in one
  // transaction with the others queued meanwhile and then tells `done`, on
  // that thread: OK once it is committed, ALREADY_EXISTS for a known id,
  // UNAVAILABLE when the file cannot be written (then nothing of the
  // transaction is kept, and each of its grants is told so).
  using CreateDone = std::function<void(absl::Status)>;
  void CreateAsync(custos::v1::Grant grant, CreateDone done);
  // CreateAsync, waiting for the outcome. Not from a `done`.
  absl::Status Create(const custos::v1::Grant& grant);

  // The grant as of `now` (ACTIVE past its expiry reads EXPIRED; an
  // ACTIVE grant being ended, see StartEnd, reads as the state it is
  // ending to, so that every use that checks its state refuses it).
  // NOT_FOUND naming grant_id.
  absl::StatusOr<custos::v1::Grant> Get(absl::string_view grant_id,
                                        absl::Time now) const;

  // A grant being ended or revoked, from StartEnd until End applies the
  // end or this is destroyed, whichever comes first. Destroying it first
  // (the end's entry could not be written, or End failed) makes the grant
  // usable again. Must not outlive the store.
  class PendingEnd {
   public:
    PendingEnd(const PendingEnd&) = delete;
    PendingEnd& operator=(const PendingEnd&) = delete;
    ~PendingEnd();

   private:
    friend class GrantStore;
    PendingEnd(GrantStore* store, std::string grant_id)
        : store_(store), grant_id_(std::move(grant_id)) {}
    GrantStore* store_;
    std::string grant_id_;
  };

  // A read counted under a grant (AddRecordsRead) whose entry is not yet
  // logged: held until it is, or could not be, and its StillServing has
  // answered. Must not outlive the store.
  class ReadInFlight {
   public:
    ReadInFlight(const ReadInFlight&) = delete;
    ReadInFlight& operator=(const ReadInFlight&) = delete;
    ~ReadInFlight();

   private:
    friend class GrantStore;
    ReadInFlight(GrantStore* store, std::string grant_id)
        : store_(store), grant_id_(std::move(grant_id)) {}
    GrantStore* store_;
    std::string grant_id_;
  };

  // Takes an ACTIVE grant out of use at once, ahead of End: from now on Get
  // reads it as `state` (ENDED or REVOKED), AddRecordsRead refuses it, and
  // StartEnd refuses a second end. Then waits, without the lock, until the
  // reads counted under it before (their ReadInFlight) are logged, for at
  // most the store's `read_wait` (Open): so that an end whose entry is
  // appended after this returns follows in the log the reads allowed under
  // the grant (one it gave up on serves nothing if logged after the end
  // applied, see StillServing). Not while holding a ReadInFlight. NOT_FOUND
  // naming grant_id; FAILED_PRECONDITION when the grant is not ACTIVE at `now`
  // or is being ended already.
  absl::StatusOr<std::unique_ptr<PendingEnd>> StartEnd(
      absl::string_view grant_id, custos::v1::GrantState state, absl::Time now);

  // Moves an active grant to `state` (ENDED or REVOKED) at `now`, by `by`,
  // whether or not it is being ended (StartEnd), and lifts that mark.
  // FAILED_PRECONDITION when it is no longer active.
  absl::StatusOr<custos::v1::Grant> End(absl::string_view grant_id,
                                        custos::v1::GrantState state,
                                        absl::string_view by, absl::Time now);

  // OK unless an end was applied to the grant (End; one only started,
  // StartEnd, does not count): a read's last check once its entry is in the
  // log, so that a read logged after an end applied before it serves
  // nothing. (Its expiry was checked when it was counted, at the same
  // time.) FAILED_PRECONDITION saying its state otherwise. Only for a read
  // whose ReadInFlight is still held: an end is remembered while reads
  // counted before it are in flight, and forgotten when the last of them
  // lets go (no read is counted after it to ask). Takes neither the
  // store's lock nor the file: it runs on the log's completion thread,
  // which must not wait out the writer's commits.
  absl::Status StillServing(absl::string_view grant_id) const;

  // Counts `count` records served under a grant, unless that would take it
  // past `limit` records in all (RESOURCE_EXHAUSTED, saying how many are
  // left) or the grant is not ACTIVE at `now` (FAILED_PRECONDITION, saying
  // its state); then nothing is counted. Reads under one grant run side by
  // side, and beside ends and revocations, so the check and the count are
  // one step under the store's lock: checked apart, two reads could each
  // see room for their page, or a read checked before a revocation could
  // serve after it. The count holds at once (Get, List and later checks see
  // it) but reaches the file with the writer's next transaction; see
  // StoreRecordsReadAsync. A grant being ended (StartEnd) is not ACTIVE
  // here. For a read whose entry is yet to be appended, `in_flight` gets,
  // when it is counted, what to hold until the entry is logged (StartEnd
  // waits for it).
  absl::Status AddRecordsRead(
      absl::string_view grant_id, uint64_t count, uint64_t limit,
      absl::Time now, std::unique_ptr<ReadInFlight>* in_flight = nullptr);
  // Tells `done`, on the writer's thread, once every count AddRecordsRead
  // took before the call is in the file, stored in one transaction with
  // the grants and counts queued meanwhile: so a read is answered only once
  // its count would survive a restart, and reads share transactions instead
  // of taking one each under the store's lock. UNAVAILABLE when the file
  // cannot be written; the counts still hold, and a later transaction
  // stores them.
  void StoreRecordsReadAsync(CreateDone done);
  // StoreRecordsReadAsync, waiting for the outcome. Not from a `done`.
  absl::Status StoreRecordsRead();

  // Transactions the writer thread made since Open, for tests.
  uint64_t transactions() const {
    return transactions_.load(std::memory_order_relaxed);
  }

  // The connection's PRAGMA synchronous (2 is FULL; -1 if it cannot be
  // read), for tests.
  int synchronous() const;

  // Grants matching the filters (empty matches all), in their state as Get
  // reads it (a grant being ended is not ACTIVE), newest first, `limit`
  // to a page, from the page `page_token` names (empty: the first).
  // `active_only` reads the grants active at `now` through an index, and
  // no other: ended and expired ones cost it nothing, however many.
  // INVALID_ARGUMENT naming page_token for a token not of this list.
  absl::StatusOr<Page<custos::v1::Grant>> List(
      absl::string_view staff_id, absl::string_view customer_id,
      bool active_only, absl::Time now, int limit,
      absl::string_view page_token) const;

  // How many ends StillServing remembers, for tests.
  size_t ends_remembered() const;

  // SQLite's virtual-machine steps in the last List, for tests: how much of
  // the file it walked under the store's lock.
  int last_list_steps() const;

  // The grants issued to `staff_id` at or after `since`, in no particular
  // order (states as stored; records read not included).
  absl::StatusOr<std::vector<custos::v1::Grant>> IssuedTo(
      absl::string_view staff_id, absl::Time since) const;

 private:
  // A new grant to store, or (without one) a wait for the counts to be.
  struct Queued {
    std::optional<custos::v1::Grant> grant;
    CreateDone done;
  };

  GrantStore(sqlite3* db, absl::Duration read_wait)
      : read_wait_(read_wait),
        db_(db),
        statements_(std::make_unique<SqliteStatements>(db)) {}
  void WriterLoop();
  // Stores `batch` and the counts not yet in the file in one transaction;
  // the outcome of each queued item, in order.
  std::vector<absl::Status> WriteBatch(const std::vector<Queued>& batch);
  // Writes every count not yet in the file (inside the caller's
  // transaction); `stored` gets what was written, to forget once committed.
  absl::Status WriteUnstoredReads(
      std::vector<std::pair<std::string, uint64_t>>& stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What a Put stores: a new grant, a grant's records read (nothing else of
  // it changed), or its end.
  enum class Write { kNew, kRecordsRead, kEnd };
  absl::Status Put(const custos::v1::Grant& grant, Write write)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The grant as the file has it.
  absl::StatusOr<custos::v1::Grant> LoadStored(absl::string_view grant_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The grant as it is: the file's, with the records counted since.
  absl::StatusOr<custos::v1::Grant> Load(absl::string_view grant_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t UnstoredReads(absl::string_view grant_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The grant's state at `now` for its use: StateAt, or the state an end
  // started (StartEnd) is taking an ACTIVE grant to.
  custos::v1::GrantState UsableStateAt(const custos::v1::Grant& grant,
                                       absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // OK when `state`, the grant's, is ACTIVE; FAILED_PRECONDITION saying
  // it otherwise.
  static absl::Status Serving(const custos::v1::Grant& grant,
                              custos::v1::GrantState state);
  // Lifts StartEnd's mark, unless End lifted it already (then the grant is
  // no longer ACTIVE, and no later StartEnd can have marked it again).
  void CancelEnd(const std::string& grant_id);

  const absl::Duration read_wait_;
  mutable Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<SqliteStatements> statements_ ABSL_GUARDED_BY(mu_);
  // Records counted by AddRecordsRead and not yet in the file, by grant.
  absl::flat_hash_map<std::string, uint64_t> unstored_reads_
      ABSL_GUARDED_BY(mu_);
  // Grants being ended (StartEnd), and the state each is ending to.
  absl::flat_hash_map<std::string, custos::v1::GrantState> ending_
      ABSL_GUARDED_BY(mu_);
  // Reads counted and not yet logged (ReadInFlight), by grant.
  absl::flat_hash_map<std::string, int> reads_in_flight_ ABSL_GUARDED_BY(mu_);
  mutable int last_list_steps_ ABSL_GUARDED_BY(mu_) = 0;

  // The grants End applied while reads counted under them were in flight,
  // and their state, for StillServing; each until the last of those reads
  // lets go. Taken after mu_ when both are.
  mutable Mutex ended_mu_;
  absl::flat_hash_map<std::string, custos::v1::GrantState> ended_
      ABSL_GUARDED_BY(ended_mu_);
  Mutex queue_mu_;
  std::vector<Queued> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::atomic<uint64_t> transactions_{0};
  std::thread writer_;
};

namespace internal {
// GrantStore::List's SQL, by staff_id (first) and customer_id (second), of
// every grant and of those active at ?4; here for the test that checks each
// has SQLite walk an index.
extern const FilteredListSql kGrantListSql;
extern const FilteredListSql kActiveGrantListSql;
}  // namespace internal

// The grant's state at `now`: ACTIVE past its expiry is EXPIRED.
custos::v1::GrantState StateAt(const custos::v1::Grant& grant, absl::Time now);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_GRANTS_GRANT_STORE_H_
