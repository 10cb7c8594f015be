// What approvals need to remember: trips abroad and the DPO's decisions on
// them, pending access requests and who has approved them, customers'
// partner consents, and customers' API tokens (as hashes only).
//
// Kept in one SQLite file, of which custosd is the only writer while it
// runs: a customer's consents, read on every access decision, are kept in
// memory once read and dropped when they change. Thread-safe (one
// connection behind a mutex).
#ifndef CUSTOS_GATEWAY_APPROVALS_APPROVAL_STORE_H_
#define CUSTOS_GATEWAY_APPROVALS_APPROVAL_STORE_H_

#include <sqlite3.h>

#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/page_token.h"
#include "common/sqlite_file.h"
#include "common/sqlite_statements.h"
#include "proto/custos/v1/access.pb.h"
#include "proto/custos/v1/approvals.pb.h"

namespace custos::gateway {

// A pending request and the request it came from, to decide again once
// approved.
struct StoredPendingRequest {
  custos::v1::PendingRequest pending;
  custos::v1::RequestAccessRequest request;
};

class ApprovalStore {
 public:
  // `read_wait` bounds how long StartWithdrawal waits for the reads under
  // a consent: a stuck read must not hold a withdrawal back for ever.
  static absl::StatusOr<std::unique_ptr<ApprovalStore>> Open(
      const std::string& path, absl::Duration read_wait = absl::Seconds(5));
  ~ApprovalStore();

  absl::Status PutTrip(const custos::v1::Trip& trip);
  // Replaces the trip stored as `was` by `now` in one step, or
  // FAILED_PRECONDITION when it changed since `was` was read (another
  // decision came first).
  absl::Status ReplaceTrip(const custos::v1::Trip& was,
                           const custos::v1::Trip& now);
  // NOT_FOUND naming trip_id.
  absl::StatusOr<custos::v1::Trip> GetTrip(absl::string_view trip_id) const;
  // A staff member's trips (all staff when empty), newest first, `limit` to
  // a page, from the page `page_token` names (empty: the first);
  // `undecided_only` reads the undecided ones alone, through an index.
  // INVALID_ARGUMENT naming page_token for a token not of this list.
  absl::StatusOr<Page<custos::v1::Trip>> ListTrips(
      absl::string_view staff_id, bool undecided_only,
      int limit = std::numeric_limits<int>::max(),
      absl::string_view page_token = "") const;

  absl::Status PutPending(const StoredPendingRequest& pending);
  // As ReplaceTrip, for a pending request (approvals racing each other).
  absl::Status ReplacePending(const StoredPendingRequest& was,
                              const StoredPendingRequest& now);
  absl::StatusOr<StoredPendingRequest> GetPending(
      absl::string_view request_id) const;
  // Pending requests on a customer's account (all when empty) and of a
  // staff member (all when empty), newest first, paged as ListTrips;
  // `waiting_only` reads those still PENDING_WAITING in the file alone
  // (one past its lifetime stays so: the caller judges lapses).
  absl::StatusOr<Page<custos::v1::PendingRequest>> ListPending(
      absl::string_view customer_id, absl::string_view staff_id,
      bool waiting_only, int limit, absl::string_view page_token) const;

  // What EraseNotes did.
  struct NotesErased {
    // The access requests and trips whose free text was erased.
    uint64_t changed = 0;
    // The notes are out of the file, but its write-ahead log could not be
    // truncated (a reader in another process, such as the sqlite3 shell or
    // a backup, held an older state of the file, or the checkpoint
    // failed): old page images there still hold them, those of this
    // erasure and of notes cleared before (a decision clears its
    // request's). Erasing again once the reader is done takes them out.
    bool old_copies_remain = false;
  };

  // Removes the free text kept here that an erasure of the log reaches
  // (the log's entries only commit to it): for `subject`, when not empty,
  // the notes of their access requests, their trips' purposes and the
  // decision notes on them, and the decision notes they wrote; otherwise
  // the notes of requests made, and of trips decided (or, never decided,
  // over), before `before`. The file keeps no copy (secure_delete), nor
  // does its write-ahead log, which is truncated, unless old_copies_remain
  // says otherwise. UNAVAILABLE when the notes could not be erased.
  absl::StatusOr<NotesErased> EraseNotes(absl::string_view subject,
                                         absl::Time before);
  // Removes, as EraseNotes does, the notes of access requests made before
  // `made_before`: those that lapsed undecided by then (decided ones keep
  // none, but in files written before that). Reads only the requests made
  // since the previous call's `made_before`. Returns how many changed.
  absl::StatusOr<uint64_t> DropLapsedNotes(absl::Time made_before);

  absl::Status PutConsent(const custos::v1::PartnerConsent& consent);
  // The customer's consents as stored, with those being withdrawn
  // (StartWithdrawal) as withdrawn.
  absl::StatusOr<std::vector<custos::v1::PartnerConsent>> ListConsents(
      absl::string_view customer_id) const;

  // OK unless the file has `partner`'s consent from `customer_id` as
  // withdrawn (a withdrawal only started, StartWithdrawal, does not count):
  // a partner read's last check once its entry is in the log, so that a
  // read logged after a withdrawal stored before it serves nothing.
  // PERMISSION_DENIED saying so; UNAVAILABLE when the file cannot be read.
  absl::Status ConsentNotWithdrawn(absl::string_view customer_id,
                                   absl::string_view partner) const;

  // How many withdrawals started (StartWithdrawal), or reads under a
  // consent (UseConsent), are under way: by customer, then partner.
  using PartnerCounts =
      absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, int>>;

  // A withdrawal of consent under way (StartWithdrawal), or a read under a
  // consent (UseConsent), until destroyed. Must not outlive the store.
  class ConsentHold {
   public:
    ConsentHold(const ConsentHold&) = delete;
    ConsentHold& operator=(const ConsentHold&) = delete;
    ~ConsentHold();

   private:
    friend class ApprovalStore;
    ConsentHold(ApprovalStore* store, PartnerCounts* counts,
                std::string customer_id, std::string partner)
        : store_(store),
          counts_(counts),
          customer_id_(std::move(customer_id)),
          partner_(std::move(partner)) {}
    ApprovalStore* store_;
    PartnerCounts* counts_;
    std::string customer_id_;
    std::string partner_;
  };

  // Withdraws `partner`'s consent from `customer_id` in ListConsents at
  // once, ahead of PutConsent, then waits, without the lock, until the
  // reads under it that began before (UseConsent) are logged, for at most
  // the store's `read_wait` (Open): so that a withdrawal whose entry is
  // appended after this returns follows in the log the reads allowed under
  // the consent (one it gave up on serves nothing if logged after, see
  // ConsentNotWithdrawn). Lifted when the result is destroyed, by when
  // PutConsent has stored the withdrawal or its entry or store failed (the
  // consent then holds as before). Not while holding a UseConsent.
  std::unique_ptr<ConsentHold> StartWithdrawal(absl::string_view customer_id,
                                               absl::string_view partner);

  // For a read resting on `partner`'s consent from `customer_id`, taken
  // before the consent is checked and held until the read's entry is
  // logged: a withdrawal started meanwhile waits for it, and one started
  // before shows in the check.
  std::unique_ptr<ConsentHold> UseConsent(absl::string_view customer_id,
                                          absl::string_view partner);

  // Stores SHA-256(token) for a customer.
  absl::Status PutTokenHash(absl::string_view customer_id,
                            absl::string_view token_hash);
  // The customer whose token hashes to `token_hash`, or nullopt.
  absl::StatusOr<std::optional<std::string>> CustomerForTokenHash(
      absl::string_view token_hash) const;
  // The customers with at least one token.
  absl::StatusOr<std::vector<std::string>> CustomersWithTokens() const;

  // SQLite's virtual-machine steps in the last ListTrips or ListPending,
  // for tests: how much of the file it walked under the store's lock.
  int last_list_steps() const;

 private:
  ApprovalStore(sqlite3* db, absl::Duration read_wait)
      : read_wait_(read_wait),
        db_(db),
        statements_(std::make_unique<SqliteStatements>(db)) {}
  // Stores the requests and trips RewriteNotes changed, in one transaction.
  absl::Status StoreRewritten(
      const std::vector<const StoredPendingRequest*>& erased_requests,
      const std::vector<const custos::v1::Trip*>& erased_trips)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Passes every request made in [made_from, made_before) to `request`
  // and, when given, every trip to `trip_notes`, which clear free text in
  // place and return true when they did; stores those and truncates the
  // write-ahead log.
  absl::StatusOr<NotesErased> RewriteNotes(
      absl::Time made_from, absl::Time made_before,
      absl::FunctionRef<bool(StoredPendingRequest&)> request,
      std::optional<absl::FunctionRef<bool(custos::v1::Trip&)>> trip_notes);
  // Runs `update`, which sets state ?2 and blob ?3 (and ?5 to `also`, when
  // given) on row ?1 where its blob is still ?4: ReplaceTrip and
  // ReplacePending. `what` names the row.
  absl::Status Replace(const char* update, absl::string_view id, int state,
                       const std::string& now, const std::string& was,
                       absl::string_view what,
                       const std::string* also = nullptr);
  // The customer's consents as the file has them, cached in consents_.
  absl::StatusOr<std::vector<custos::v1::PartnerConsent>> StoredConsents(
      absl::string_view customer_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const absl::Duration read_wait_;
  mutable Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
  // DropLapsedNotes has read the requests made before this.
  absl::Time lapsed_dropped_before_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::unique_ptr<SqliteStatements> statements_ ABSL_GUARDED_BY(mu_);
  // Consents by customer, as last read from the file.
  mutable absl::flat_hash_map<std::string,
                              std::vector<custos::v1::PartnerConsent>>
      consents_ ABSL_GUARDED_BY(mu_);
  PartnerCounts withdrawing_ ABSL_GUARDED_BY(mu_);
  PartnerCounts reading_ ABSL_GUARDED_BY(mu_);
  mutable int last_list_steps_ ABSL_GUARDED_BY(mu_) = 0;
};

namespace internal {
// ApprovalStore's list SQL, here for the test that checks each has SQLite
// walk an index: trips by staff_id, every one or the undecided, and pending
// requests by customer_id (first) and staff_id (second), every one or the
// waiting.
const char* TripListSql(absl::string_view staff_id, bool undecided_only);
extern const FilteredListSql kPendingListSql;
extern const FilteredListSql kWaitingPendingListSql;
}  // namespace internal

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_APPROVALS_APPROVAL_STORE_H_
