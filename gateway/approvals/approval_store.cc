#include "gateway/approvals/approval_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/sqlite_file.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace custos::gateway {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kSchema[] = R"sql(
  PRAGMA journal_mode=WAL;
  PRAGMA synchronous=FULL;
  -- Erased notes leave no copy in the file's free pages (EraseNotes).
  PRAGMA secure_delete=ON;
  CREATE TABLE IF NOT EXISTS trips(trip_id TEXT PRIMARY KEY, staff_id TEXT NOT NULL,
    state INTEGER NOT NULL, trip BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS pending(request_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL,
    staff_id TEXT NOT NULL, state INTEGER NOT NULL, created_us INTEGER NOT NULL,
    pending BLOB NOT NULL, request BLOB NOT NULL);
  CREATE TABLE IF NOT EXISTS consents(customer_id TEXT NOT NULL, partner TEXT NOT NULL,
    consent BLOB NOT NULL, PRIMARY KEY(customer_id, partner));
  CREATE TABLE IF NOT EXISTS customer_tokens(token_hash BLOB PRIMARY KEY,
    customer_id TEXT NOT NULL);
  -- For the lists (each decision from abroad reads the staff member's
  -- trips): newest first within a staff member or a customer.
  CREATE INDEX IF NOT EXISTS trips_by_staff_id ON trips(staff_id);
  CREATE INDEX IF NOT EXISTS pending_by_customer_id ON pending(customer_id);
  CREATE INDEX IF NOT EXISTS pending_by_staff_id ON pending(staff_id);
  -- For the lists of undecided trips and waiting requests: only those, so
  -- that the decided ones, however many, cost such a list nothing.
  CREATE INDEX IF NOT EXISTS trips_undecided ON trips(state) WHERE state = 1;
  CREATE INDEX IF NOT EXISTS trips_undecided_by_staff_id ON trips(staff_id)
    WHERE state = 1;
  CREATE INDEX IF NOT EXISTS pending_waiting ON pending(state)
    WHERE state = 1;
  CREATE INDEX IF NOT EXISTS pending_waiting_by_customer_id
    ON pending(customer_id) WHERE state = 1;
  CREATE INDEX IF NOT EXISTS pending_waiting_by_staff_id ON pending(staff_id)
    WHERE state = 1;
  -- Files written before kept seconds in created_us.
  UPDATE pending SET created_us = created_us * 1000000
    WHERE created_us < 100000000000;
)sql";

// ListTrips's SQL: all, or one staff member's (?1), every trip or the
// undecided (TRIP_REQUESTED) only; ?3 is the page cursor. The state is a
// literal, not "(?2 = 0 OR state = 1)", which kept SQLite off any index
// of it, so that the undecided come from indexes holding them alone.
constexpr char kAllTripsSql[] =
    "SELECT rowid, trip FROM trips WHERE rowid < ?3 ORDER BY rowid DESC";
constexpr char kStaffTripsSql[] =
    "SELECT rowid, trip FROM trips WHERE staff_id = ?1 AND rowid < ?3 "
    "ORDER BY rowid DESC";
constexpr char kUndecidedTripsSql[] =
    "SELECT rowid, trip FROM trips WHERE state = 1 AND rowid < ?3 "
    "ORDER BY rowid DESC";
constexpr char kStaffUndecidedTripsSql[] =
    "SELECT rowid, trip FROM trips WHERE staff_id = ?1 AND state = 1 AND "
    "rowid < ?3 ORDER BY rowid DESC";

absl::Status SqlError(sqlite3* db, absl::string_view context) {
  return SqliteUnavailable(db, "approvals", context);
}

absl::Status Exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqlError(db, sql);
  }
  return absl::OkStatus();
}

// Ids are text (so they compare with text literals); messages are blobs.
void Bind(sqlite3_stmt* stmt, int i, const std::string& value) {
  sqlite3_bind_text(stmt, i, value.data(), value.size(), SQLITE_TRANSIENT);
}

void BindBlob(sqlite3_stmt* stmt, int i, const std::string& value) {
  sqlite3_bind_blob(stmt, i, value.data(), value.size(), SQLITE_TRANSIENT);
}

template <typename Message>
absl::StatusOr<std::vector<Message>> Collect(sqlite3* db, sqlite3_stmt* stmt) {
  std::vector<Message> out;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    Message m;
    m.ParseFromArray(sqlite3_column_blob(stmt, 0),
                     sqlite3_column_bytes(stmt, 0));
    out.push_back(std::move(m));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return SqlError(db, "reading");
  return out;
}

}  // namespace

namespace internal {
const char* TripListSql(absl::string_view staff_id, bool undecided_only) {
  if (undecided_only) {
    return staff_id.empty() ? kUndecidedTripsSql : kStaffUndecidedTripsSql;
  }
  return staff_id.empty() ? kAllTripsSql : kStaffTripsSql;
}

const FilteredListSql kPendingListSql = {
    "SELECT rowid, pending FROM pending WHERE rowid < ?4 ORDER BY rowid DESC",
    "SELECT rowid, pending FROM pending WHERE customer_id = ?1 AND rowid < ?4 "
    "ORDER BY rowid DESC",
    "SELECT rowid, pending FROM pending WHERE staff_id = ?2 AND rowid < ?4 "
    "ORDER BY rowid DESC",
    "SELECT rowid, pending FROM pending WHERE customer_id = ?1 AND staff_id = "
    "?2 AND rowid < ?4 ORDER BY rowid DESC"};

// PENDING_WAITING as a literal, as for trips.
const FilteredListSql kWaitingPendingListSql = {
    "SELECT rowid, pending FROM pending WHERE state = 1 AND rowid < ?4 "
    "ORDER BY rowid DESC",
    "SELECT rowid, pending FROM pending WHERE customer_id = ?1 AND state = 1 "
    "AND rowid < ?4 ORDER BY rowid DESC",
    "SELECT rowid, pending FROM pending WHERE staff_id = ?2 AND state = 1 AND "
    "rowid < ?4 ORDER BY rowid DESC",
    "SELECT rowid, pending FROM pending WHERE customer_id = ?1 AND staff_id = "
    "?2 AND state = 1 AND rowid < ?4 ORDER BY rowid DESC"};
}  // namespace internal

absl::StatusOr<std::unique_ptr<ApprovalStore>> ApprovalStore::Open(
    const std::string& path, absl::Duration read_wait) {
  CUSTOS_ASSIGN_OR_RETURN(sqlite3 * db,
                          OpenSqliteFile(path, kSchema, "approvals"));
  // Files written before secure_delete was on keep what was deleted or
  // replaced (notes among it) in free space until rebuilt, once.
  if (absl::Status rebuilt = RebuildOnce(db, 1, "approvals"); !rebuilt.ok()) {
    sqlite3_close_v2(db);
    return rebuilt;
  }
  std::unique_ptr<ApprovalStore> store(new ApprovalStore(db, read_wait));
  return store;
}

ApprovalStore::~ApprovalStore() {
  MutexLock lock(&mu_);
  statements_.reset();
  sqlite3_close_v2(db_);
}

absl::Status ApprovalStore::PutTrip(const custos::v1::Trip& trip) {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "INSERT OR REPLACE INTO trips(trip_id, staff_id, state, trip) VALUES(?1, "
      "?2, ?3, ?4)");
  Bind(stmt, 1, trip.trip_id());
  Bind(stmt, 2, trip.staff_id());
  sqlite3_bind_int(stmt, 3, trip.state());
  BindBlob(stmt, 4, trip.SerializeAsString());
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE ? absl::OkStatus() : SqlError(db_, "storing a trip");
}

absl::Status ApprovalStore::Replace(const char* update, absl::string_view id,
                                    int state, const std::string& now,
                                    const std::string& was,
                                    absl::string_view what,
                                    const std::string* also) {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(update);
  Bind(stmt, 1, std::string(id));
  sqlite3_bind_int(stmt, 2, state);
  BindBlob(stmt, 3, now);
  BindBlob(stmt, 4, was);
  if (also != nullptr) BindBlob(stmt, 5, *also);
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) {
    return SqlError(db_, absl::StrCat("storing ", what, " ", id));
  }
  if (sqlite3_changes(db_) != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " ", id, " changed meanwhile"));
  }
  return absl::OkStatus();
}

absl::Status ApprovalStore::ReplaceTrip(const custos::v1::Trip& was,
                                        const custos::v1::Trip& now) {
  return Replace(
      "UPDATE trips SET state = ?2, trip = ?3 WHERE trip_id = ?1 AND trip = ?4",
      now.trip_id(), now.state(), now.SerializeAsString(),
      was.SerializeAsString(), "trip");
}

absl::StatusOr<custos::v1::Trip> ApprovalStore::GetTrip(
    absl::string_view trip_id) const {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt =
      statements_->Get("SELECT trip FROM trips WHERE trip_id = ?1");
  Bind(stmt, 1, std::string(trip_id));
  auto trips = Collect<custos::v1::Trip>(db_, stmt);
  if (!trips.ok()) return trips.status();
  if (trips->empty())
    return absl::NotFoundError(
        absl::StrCat("trip_id: no trip \"", trip_id, "\""));
  return (*trips)[0];
}

absl::StatusOr<Page<custos::v1::Trip>> ApprovalStore::ListTrips(
    absl::string_view staff_id, bool undecided_only, int limit,
    absl::string_view page_token) const {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt =
      statements_->Get(internal::TripListSql(staff_id, undecided_only));
  Bind(stmt, 1, std::string(staff_id));
  auto page = ReadPage<custos::v1::Trip>(
      db_, "approvals", stmt, 3, kTripsList, page_token, limit,
      [](const custos::v1::Trip&) { return true; });
  // Null when the SQL did not prepare (ReadPage then failed).
  if (stmt != nullptr) {
    last_list_steps_ =
        sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, /*resetFlg=*/1);
  }
  return page;
}

absl::Status ApprovalStore::PutPending(const StoredPendingRequest& p) {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "INSERT OR REPLACE INTO pending(request_id, customer_id, staff_id, "
      "state, created_us, "
      "pending, request) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  Bind(stmt, 1, p.pending.request_id());
  Bind(stmt, 2, p.pending.customer_id());
  Bind(stmt, 3, p.pending.staff_id());
  sqlite3_bind_int(stmt, 4, p.pending.state());
  sqlite3_bind_int64(stmt, 5,
                     TimeUtil::TimestampToMicroseconds(p.pending.created_at()));
  BindBlob(stmt, 6, p.pending.SerializeAsString());
  BindBlob(stmt, 7, p.request.SerializeAsString());
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE ? absl::OkStatus()
                           : SqlError(db_, "storing a pending request");
}

absl::Status ApprovalStore::ReplacePending(const StoredPendingRequest& was,
                                           const StoredPendingRequest& now) {
  const std::string request = now.request.SerializeAsString();
  return Replace(
      "UPDATE pending SET state = ?2, pending = ?3, request = ?5 WHERE "
      "request_id = ?1 AND pending = ?4",
      now.pending.request_id(), now.pending.state(),
      now.pending.SerializeAsString(), was.pending.SerializeAsString(),
      "request", &request);
}

namespace {

// Whether `t` is set and before `before`.
bool SetAndBefore(const google::protobuf::Timestamp& t, absl::Time before) {
  return t.seconds() != 0 &&
         absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos()) <
             before;
}

// Whether a trip is past an age `before`: decided before it, or, never
// decided, over (its last day ended, in UTC) before it.
bool TripPast(const custos::v1::Trip& trip, absl::Time before) {
  if (trip.decided_at().seconds() != 0) {
    return SetAndBefore(trip.decided_at(), before);
  }
  absl::CivilDay last_day;
  return absl::ParseCivilTime(trip.last_day(), &last_day) &&
         absl::FromCivil(last_day + 1, absl::UTCTimeZone()) <= before;
}

// Clears the engineer's note of a request; true when it had one.
bool ClearRequestNote(StoredPendingRequest& p) {
  if (p.pending.justification().note().empty() &&
      p.request.justification().note().empty()) {
    return false;
  }
  p.pending.mutable_justification()->clear_note();
  p.request.mutable_justification()->clear_note();
  return true;
}

}  // namespace

absl::StatusOr<ApprovalStore::NotesErased> ApprovalStore::EraseNotes(
    absl::string_view subject, absl::Time before) {
  return RewriteNotes(
      absl::InfinitePast(), absl::InfiniteFuture(),
      [&](StoredPendingRequest& p) {
        const bool theirs = subject.empty()
                                ? SetAndBefore(p.pending.created_at(), before)
                                : p.pending.staff_id() == subject;
        return theirs && ClearRequestNote(p);
      },
      absl::FunctionRef<bool(custos::v1::Trip&)>([&](custos::v1::Trip& trip) {
        const bool theirs = subject.empty() ? TripPast(trip, before)
                                            : trip.staff_id() == subject;
        const bool their_decision =
            !subject.empty() && trip.decided_by() == subject;
        const custos::v1::Trip was = trip;
        if (theirs) trip.clear_purpose();
        if (theirs || their_decision) trip.clear_decision_note();
        return trip.purpose() != was.purpose() ||
               trip.decision_note() != was.decision_note();
      }));
}

absl::StatusOr<uint64_t> ApprovalStore::DropLapsedNotes(
    absl::Time made_before) {
  absl::Time from;
  {
    MutexLock lock(&mu_);
    from = lapsed_dropped_before_;
  }
  if (made_before <= from) return 0;
  auto dropped =
      RewriteNotes(from, made_before, ClearRequestNote, std::nullopt);
  if (!dropped.ok()) return dropped.status();
  MutexLock lock(&mu_);
  lapsed_dropped_before_ = std::max(lapsed_dropped_before_, made_before);
  // Old copies a reader kept in the log go with the next sweep or erasure.
  return dropped->changed;
}

absl::StatusOr<ApprovalStore::NotesErased> ApprovalStore::RewriteNotes(
    absl::Time made_from, absl::Time made_before,
    absl::FunctionRef<bool(StoredPendingRequest&)> request,
    std::optional<absl::FunctionRef<bool(custos::v1::Trip&)>> trip_notes) {
  MutexLock lock(&mu_);
  // Read first, then rewrite: no row changes under a running SELECT.
  std::vector<StoredPendingRequest> requests;
  {
    sqlite3_stmt* stmt = statements_->Get(
        "SELECT pending, request FROM pending WHERE created_us >= ?1 AND "
        "created_us < ?2");
    sqlite3_bind_int64(stmt, 1, absl::ToUnixMicros(made_from));
    sqlite3_bind_int64(stmt, 2, absl::ToUnixMicros(made_before));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      StoredPendingRequest& p = requests.emplace_back();
      p.pending.ParseFromArray(sqlite3_column_blob(stmt, 0),
                               sqlite3_column_bytes(stmt, 0));
      p.request.ParseFromArray(sqlite3_column_blob(stmt, 1),
                               sqlite3_column_bytes(stmt, 1));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) return SqlError(db_, "reading pending requests");
  }
  std::vector<custos::v1::Trip> trips;
  if (trip_notes.has_value()) {
    CUSTOS_ASSIGN_OR_RETURN(
        trips, Collect<custos::v1::Trip>(
                   db_, statements_->Get("SELECT trip FROM trips")));
  }

  std::vector<const StoredPendingRequest*> erased_requests;
  for (StoredPendingRequest& p : requests) {
    if (request(p)) erased_requests.push_back(&p);
  }
  std::vector<const custos::v1::Trip*> erased_trips;
  for (custos::v1::Trip& trip : trips) {
    if ((*trip_notes)(trip)) erased_trips.push_back(&trip);
  }
  if (!erased_requests.empty() || !erased_trips.empty()) {
    CUSTOS_RETURN_IF_ERROR(StoreRewritten(erased_requests, erased_trips));
  }
  // The old pages' copies in the write-ahead log go with it, and so do
  // those of notes cleared before (a decision clears its request's). A
  // reader that holds an older state keeps them; so may a checkpoint that
  // failed, though the notes are out of the file all the same.
  NotesErased erased;
  erased.changed = erased_requests.size() + erased_trips.size();
  const absl::StatusOr<bool> truncated = TruncateWal(db_, "approvals");
  erased.old_copies_remain = !truncated.ok() || !*truncated;
  return erased;
}

absl::Status ApprovalStore::StoreRewritten(
    const std::vector<const StoredPendingRequest*>& erased_requests,
    const std::vector<const custos::v1::Trip*>& erased_trips) {
  CUSTOS_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  absl::Status status = [&]() -> absl::Status {
    sqlite3_stmt* request_update = statements_->Get(
        "UPDATE pending SET pending = ?2, request = ?3 WHERE request_id = ?1");
    for (const StoredPendingRequest* p : erased_requests) {
      Bind(request_update, 1, p->pending.request_id());
      BindBlob(request_update, 2, p->pending.SerializeAsString());
      BindBlob(request_update, 3, p->request.SerializeAsString());
      const int rc = sqlite3_step(request_update);
      sqlite3_reset(request_update);
      if (rc != SQLITE_DONE) return SqlError(db_, "erasing a request's note");
    }
    sqlite3_stmt* trip_update =
        statements_->Get("UPDATE trips SET trip = ?2 WHERE trip_id = ?1");
    for (const custos::v1::Trip* trip : erased_trips) {
      Bind(trip_update, 1, trip->trip_id());
      BindBlob(trip_update, 2, trip->SerializeAsString());
      const int rc = sqlite3_step(trip_update);
      sqlite3_reset(trip_update);
      if (rc != SQLITE_DONE) return SqlError(db_, "erasing a trip's notes");
    }
    return Exec(db_, "COMMIT");
  }();
  if (!status.ok()) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  return status;
}

absl::StatusOr<StoredPendingRequest> ApprovalStore::GetPending(
    absl::string_view request_id) const {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "SELECT pending, request FROM pending WHERE request_id = ?1");
  Bind(stmt, 1, std::string(request_id));
  const int rc = sqlite3_step(stmt);
  StoredPendingRequest p;
  if (rc == SQLITE_ROW) {
    p.pending.ParseFromArray(sqlite3_column_blob(stmt, 0),
                             sqlite3_column_bytes(stmt, 0));
    p.request.ParseFromArray(sqlite3_column_blob(stmt, 1),
                             sqlite3_column_bytes(stmt, 1));
  }
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(
        absl::StrCat("request_id: no pending request \"", request_id, "\""));
  }
  if (rc != SQLITE_ROW) return SqlError(db_, "reading a pending request");
  return p;
}

absl::StatusOr<Page<custos::v1::PendingRequest>> ApprovalStore::ListPending(
    absl::string_view customer_id, absl::string_view staff_id,
    bool waiting_only, int limit, absl::string_view page_token) const {
  MutexLock lock(&mu_);
  const FilteredListSql& sql = waiting_only ? internal::kWaitingPendingListSql
                                            : internal::kPendingListSql;
  sqlite3_stmt* stmt = statements_->Get(sql.For(customer_id, staff_id));
  Bind(stmt, 1, std::string(customer_id));
  Bind(stmt, 2, std::string(staff_id));
  auto page = ReadPage<custos::v1::PendingRequest>(
      db_, "approvals", stmt, 4, kPendingList, page_token, limit,
      [](const custos::v1::PendingRequest&) { return true; });
  // Null when the SQL did not prepare (ReadPage then failed).
  if (stmt != nullptr) {
    last_list_steps_ =
        sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, /*resetFlg=*/1);
  }
  return page;
}

absl::Status ApprovalStore::PutConsent(
    const custos::v1::PartnerConsent& consent) {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "INSERT OR REPLACE INTO consents(customer_id, partner, consent) "
      "VALUES(?1, ?2, ?3)");
  Bind(stmt, 1, consent.customer_id());
  Bind(stmt, 2, consent.partner_organisation());
  BindBlob(stmt, 3, consent.SerializeAsString());
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  // Read again next time, whether or not the write went through.
  consents_.erase(consent.customer_id());
  return rc == SQLITE_DONE ? absl::OkStatus()
                           : SqlError(db_, "storing a consent");
}

absl::StatusOr<std::vector<custos::v1::PartnerConsent>>
ApprovalStore::StoredConsents(absl::string_view customer_id) const {
  if (auto known = consents_.find(customer_id); known != consents_.end()) {
    return known->second;
  }
  sqlite3_stmt* stmt = statements_->Get(
      "SELECT consent FROM consents WHERE customer_id = ?1 ORDER BY "
      "partner");
  Bind(stmt, 1, std::string(customer_id));
  auto stored = Collect<custos::v1::PartnerConsent>(db_, stmt);
  if (!stored.ok()) return stored.status();
  consents_.emplace(customer_id, *stored);
  return stored;
}

absl::Status ApprovalStore::ConsentNotWithdrawn(
    absl::string_view customer_id, absl::string_view partner) const {
  MutexLock lock(&mu_);
  auto consents = StoredConsents(customer_id);
  if (!consents.ok()) return consents.status();
  for (const auto& consent : *consents) {
    if (consent.partner_organisation() == partner && !consent.consented()) {
      return absl::PermissionDeniedError(
          absl::StrCat("PARTNER_WITHOUT_CONSENT: ", customer_id,
                       " has withdrawn its consent to access by ", partner));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<custos::v1::PartnerConsent>>
ApprovalStore::ListConsents(absl::string_view customer_id) const {
  MutexLock lock(&mu_);
  auto stored = StoredConsents(customer_id);
  if (!stored.ok()) return stored.status();
  std::vector<custos::v1::PartnerConsent> consents = *std::move(stored);
  const auto withdrawing = withdrawing_.find(customer_id);
  if (withdrawing == withdrawing_.end()) return consents;
  for (const auto& withdrawn : withdrawing->second) {
    const std::string& partner = withdrawn.first;
    auto it = std::find_if(consents.begin(), consents.end(),
                           [&](const custos::v1::PartnerConsent& c) {
                             return c.partner_organisation() == partner;
                           });
    if (it == consents.end()) {
      // A consent the directory gave, withdrawn for the first time.
      it = consents.insert(consents.end(), custos::v1::PartnerConsent());
      it->set_customer_id(std::string(customer_id));
      it->set_partner_organisation(partner);
    }
    it->set_consented(false);
  }
  return consents;
}

std::unique_ptr<ApprovalStore::ConsentHold> ApprovalStore::StartWithdrawal(
    absl::string_view customer_id, absl::string_view partner) {
  MutexLock lock(&mu_);
  ++withdrawing_[customer_id][partner];
  // Reads that took their hold before see no withdrawal in their check, so
  // they are logged before this one's entry is appended. Bounded (Open): a
  // read logged after a withdrawal stored still serves nothing
  // (ConsentNotWithdrawn).
  (void)mu_.AwaitWithTimeout(
      [this, customer = std::string(customer_id),
       partner = std::string(partner)]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        const auto readers = reading_.find(customer);
        return readers == reading_.end() || !readers->second.contains(partner);
      },
      read_wait_);
  return std::unique_ptr<ConsentHold>(new ConsentHold(
      this, &withdrawing_, std::string(customer_id), std::string(partner)));
}

std::unique_ptr<ApprovalStore::ConsentHold> ApprovalStore::UseConsent(
    absl::string_view customer_id, absl::string_view partner) {
  MutexLock lock(&mu_);
  ++reading_[customer_id][partner];
  return std::unique_ptr<ConsentHold>(new ConsentHold(
      this, &reading_, std::string(customer_id), std::string(partner)));
}

ApprovalStore::ConsentHold::~ConsentHold() {
  MutexLock lock(&store_->mu_);
  auto customer = counts_->find(customer_id_);
  if (customer == counts_->end()) return;
  auto partner = customer->second.find(partner_);
  if (partner == customer->second.end()) return;
  if (--partner->second == 0) customer->second.erase(partner);
  if (customer->second.empty()) counts_->erase(customer);
}

absl::Status ApprovalStore::PutTokenHash(absl::string_view customer_id,
                                         absl::string_view token_hash) {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "INSERT OR REPLACE INTO customer_tokens(token_hash, customer_id) "
      "VALUES(?1, ?2)");
  BindBlob(stmt, 1, std::string(token_hash));
  Bind(stmt, 2, std::string(customer_id));
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE ? absl::OkStatus()
                           : SqlError(db_, "storing a token");
}

absl::StatusOr<std::optional<std::string>> ApprovalStore::CustomerForTokenHash(
    absl::string_view token_hash) const {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "SELECT customer_id FROM customer_tokens WHERE token_hash = ?1");
  BindBlob(stmt, 1, std::string(token_hash));
  const int rc = sqlite3_step(stmt);
  std::optional<std::string> customer;
  if (rc == SQLITE_ROW) {
    customer =
        std::string(reinterpret_cast<const char*>(sqlite3_column_blob(stmt, 0)),
                    sqlite3_column_bytes(stmt, 0));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return SqlError(db_, "reading a token");
  return customer;
}

absl::StatusOr<std::vector<std::string>> ApprovalStore::CustomersWithTokens()
    const {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt =
      statements_->Get("SELECT DISTINCT customer_id FROM customer_tokens");
  std::vector<std::string> customers;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    customers.emplace_back(
        reinterpret_cast<const char*>(sqlite3_column_blob(stmt, 0)),
        sqlite3_column_bytes(stmt, 0));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return SqlError(db_, "reading tokens");
  return customers;
}

int ApprovalStore::last_list_steps() const {
  MutexLock lock(&mu_);
  return last_list_steps_;
}

}  // namespace custos::gateway
