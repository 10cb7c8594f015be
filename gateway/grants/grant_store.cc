#include "gateway/grants/grant_store.h"

#include <pthread.h>

#include "absl/strings/str_cat.h"
#include "common/sqlite_file.h"
#include "common/status_macros.h"
#include "gateway/stored_notes.h"
#include "google/protobuf/util/time_util.h"

namespace custos::gateway {
namespace {

using google::protobuf::util::TimeUtil;

absl::Status SqlError(sqlite3* db, absl::string_view context) {
  return SqliteUnavailable(db, "grants", context);
}

// Until when a grant as stored serves, for the lists of active grants: its
// expiry while ACTIVE, 0 once it is not.
int64_t ActiveUntilUs(const custos::v1::Grant& grant) {
  return grant.state() == custos::v1::GRANT_ACTIVE
             ? TimeUtil::TimestampToMicroseconds(
                   grant.obligations().expires_at())
             : 0;
}

}  // namespace

namespace internal {
const FilteredListSql kGrantListSql = {
    "SELECT rowid, grant FROM grants WHERE rowid < ?3 ORDER BY rowid DESC",
    "SELECT rowid, grant FROM grants WHERE staff_id = ?1 AND rowid < ?3 "
    "ORDER BY rowid DESC",
    "SELECT rowid, grant FROM grants WHERE customer_id = ?2 AND rowid < ?3 "
    "ORDER BY rowid DESC",
    "SELECT rowid, grant FROM grants WHERE staff_id = ?1 AND customer_id = ?2 "
    "AND rowid < ?3 ORDER BY rowid DESC"};

// INDEXED BY: knowing nothing of how few grants are active, SQLite would
// rather walk a staff member's or customer's grants in rowid order, ended
// ones and all, than sort the active ones.
const FilteredListSql kActiveGrantListSql = {
    "SELECT rowid, grant FROM grants INDEXED BY grants_active "
    "WHERE active_until_us > ?4 AND rowid < ?3 ORDER BY rowid DESC",
    "SELECT rowid, grant FROM grants INDEXED BY grants_active_by_staff_id "
    "WHERE staff_id = ?1 AND active_until_us > ?4 AND rowid < ?3 "
    "ORDER BY rowid DESC",
    "SELECT rowid, grant FROM grants INDEXED BY grants_active_by_customer_id "
    "WHERE customer_id = ?2 AND active_until_us > ?4 AND rowid < ?3 "
    "ORDER BY rowid DESC",
    "SELECT rowid, grant FROM grants INDEXED BY grants_active_by_staff_id "
    "WHERE staff_id = ?1 AND customer_id = ?2 AND active_until_us > ?4 "
    "AND rowid < ?3 ORDER BY rowid DESC"};
}  // namespace internal

custos::v1::GrantState StateAt(const custos::v1::Grant& grant, absl::Time now) {
  if (grant.state() == custos::v1::GRANT_ACTIVE &&
      TimeUtil::TimestampToMicroseconds(grant.obligations().expires_at()) <=
          absl::ToUnixMicros(now)) {
    return custos::v1::GRANT_EXPIRED;
  }
  return grant.state();
}

absl::StatusOr<std::unique_ptr<GrantStore>> GrantStore::Open(
    const std::string& path, absl::Duration read_wait) {
  CUSTOS_ASSIGN_OR_RETURN(
      sqlite3 * db,
      OpenSqliteFile(
          path,
          // FULL, not NORMAL: under NORMAL a commit in WAL mode can roll back
          // on a power cut or OS crash, bringing back as live a grant whose
          // end or revocation was answered, or under its record limit one
          // whose reads were served once their count was "stored". Writes
          // are grouped (WriterLoop), so the fsync is shared.
          "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
          "CREATE TABLE IF NOT EXISTS grants(grant_id TEXT PRIMARY "
          "KEY, staff_id TEXT "
          "NOT NULL, customer_id TEXT NOT NULL, created_us INTEGER "
          "NOT NULL, grant "
          "BLOB NOT NULL);"
          // By staff member and by customer, newest first (rowid order
          // within each value), for List; the indexes of files written
          // before, by creation time, no list could use.
          "DROP INDEX IF EXISTS grants_by_staff;"
          "DROP INDEX IF EXISTS grants_by_customer;"
          "CREATE INDEX IF NOT EXISTS grants_by_staff_id ON grants(staff_id);"
          "CREATE INDEX IF NOT EXISTS grants_by_customer_id ON "
          "grants(customer_id);",
          "grants"));
  // Grants keep no free-text note since file version 1 (the log holds it,
  // salted, where erasure reaches it); files written before still did.
  if (absl::Status cleared =
          RewriteRowsOnce(db, 1, "grants", "grant",
                          ClearJustificationNote<custos::v1::Grant>, "grants");
      !cleared.ok()) {
    sqlite3_close_v2(db);
    return cleared;
  }
  // A list of active grants reads only those (and what it skips of them in
  // an index): ended and expired ones, by the million in time, are out of
  // its range, and out of the way of every read waiting for the lock.
  absl::Status indexed = AddIntegerColumnOnce(
      db, "grants", "active_until_us", "grant",
      [](absl::string_view blob) {
        custos::v1::Grant grant;
        grant.ParseFromArray(blob.data(), static_cast<int>(blob.size()));
        return ActiveUntilUs(grant);
      },
      "grants");
  if (indexed.ok() &&
      sqlite3_exec(db,
                   "CREATE INDEX IF NOT EXISTS grants_active ON "
                   "grants(active_until_us);"
                   "CREATE INDEX IF NOT EXISTS grants_active_by_staff_id ON "
                   "grants(staff_id, active_until_us);"
                   "CREATE INDEX IF NOT EXISTS grants_active_by_customer_id ON "
                   "grants(customer_id, active_until_us);",
                   nullptr, nullptr, nullptr) != SQLITE_OK) {
    indexed = SqlError(db, "indexing the active grants");
  }
  if (!indexed.ok()) {
    sqlite3_close_v2(db);
    return indexed;
  }
  std::unique_ptr<GrantStore> store(new GrantStore(db, read_wait));
  store->writer_ = std::thread([raw = store.get()] { raw->WriterLoop(); });
  return store;
}

GrantStore::~GrantStore() {
  {
    MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  writer_.join();  // Stores what was queued first.
  // And the counts of reads no one waited for (those whose entries could
  // not be written, or whose store failed): they stay counted.
  (void)WriteBatch({});
  MutexLock lock(&mu_);
  sqlite3_close_v2(db_);
}

void GrantStore::CreateAsync(custos::v1::Grant grant, CreateDone done) {
  MutexLock lock(&queue_mu_);
  queue_.push_back({std::move(grant), std::move(done)});
}

void GrantStore::StoreRecordsReadAsync(CreateDone done) {
  MutexLock lock(&queue_mu_);
  queue_.push_back({std::nullopt, std::move(done)});
}

int GrantStore::synchronous() const {
  MutexLock lock(&mu_);
  return SynchronousLevel(db_);
}

absl::Status GrantStore::StoreRecordsRead() {
  absl::Status outcome;
  Notification stored;
  StoreRecordsReadAsync([&](absl::Status status) {
    outcome = std::move(status);
    stored.Notify();
  });
  stored.WaitForNotification();
  return outcome;
}

absl::Status GrantStore::Create(const custos::v1::Grant& grant) {
  absl::Status outcome;
  Notification stored;
  CreateAsync(grant, [&](absl::Status status) {
    outcome = std::move(status);
    stored.Notify();
  });
  stored.WaitForNotification();
  return outcome;
}

void GrantStore::WriterLoop() {
  pthread_setname_np(pthread_self(), "custos-grants");
  for (;;) {
    std::vector<Queued> batch;
    {
      MutexLock lock(&queue_mu_);
      queue_mu_.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return !queue_.empty() || stopping_;
      });
      if (queue_.empty()) return;  // Stopping, and everything is stored.
      batch.swap(queue_);
    }
    std::vector<absl::Status> outcomes = WriteBatch(batch);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].done(std::move(outcomes[i]));
    }
  }
}

std::vector<absl::Status> GrantStore::WriteBatch(
    const std::vector<Queued>& batch) {
  MutexLock lock(&mu_);
  std::vector<absl::Status> outcomes;
  if (batch.empty() && unstored_reads_.empty()) return outcomes;
  transactions_.fetch_add(1, std::memory_order_relaxed);
  outcomes.reserve(batch.size());
  if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    outcomes.assign(batch.size(),
                    SqlError(db_, "storing grants and record counts"));
    return outcomes;
  }
  // An I/O error or a full disk can end the whole transaction: then SQLite
  // has rolled back what was written in it before, and every item fails.
  const auto ended = [&](const absl::Status& failed)
                         ABSL_NO_THREAD_SAFETY_ANALYSIS {
                           if (failed.ok() || !sqlite3_get_autocommit(db_))
                             return false;
                           outcomes.assign(batch.size(), failed);
                           return true;
                         };
  for (const Queued& queued : batch) {
    // A wait for the counts is told how storing them went, below.
    outcomes.push_back(queued.grant.has_value()
                           ? Put(*queued.grant, Write::kNew)
                           : absl::OkStatus());
    if (ended(outcomes.back())) return outcomes;
  }
  std::vector<std::pair<std::string, uint64_t>> stored;
  const absl::Status counts = WriteUnstoredReads(stored);
  if (ended(counts)) return outcomes;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].grant.has_value()) outcomes[i] = counts;
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    const absl::Status failed =
        SqlError(db_, "storing grants and record counts");
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    outcomes.assign(batch.size(), failed);
    return outcomes;
  }
  // Only what is in the file is forgotten; counts taken since stay.
  for (const auto& [grant_id, count] : stored) {
    auto it = unstored_reads_.find(grant_id);
    if (it == unstored_reads_.end()) continue;
    it->second -= count;
    if (it->second == 0) unstored_reads_.erase(it);
  }
  return outcomes;
}

absl::Status GrantStore::WriteUnstoredReads(
    std::vector<std::pair<std::string, uint64_t>>& stored) {
  for (const auto& [grant_id, count] : unstored_reads_) {
    auto grant = LoadStored(grant_id);
    if (absl::IsNotFound(grant.status())) {
      // Removed from the file behind the store's back: there is nothing to
      // count against, and failing would fail every later read's store.
      stored.emplace_back(grant_id, count);
      continue;
    }
    if (!grant.ok()) return grant.status();
    grant->set_records_read(grant->records_read() + count);
    if (auto s = Put(*grant, Write::kRecordsRead); !s.ok()) return s;
    stored.emplace_back(grant_id, count);
  }
  return absl::OkStatus();
}

absl::Status GrantStore::Put(const custos::v1::Grant& grant, Write write) {
  // A count leaves active_until_us as it is, and so its index: SQLite
  // rewrites the index entry of every column an UPDATE sets, and every
  // read's count is such an update.
  sqlite3_stmt* stmt = statements_->Get(
      write == Write::kNew
          ? "INSERT INTO grants(grant_id, staff_id, customer_id, "
            "created_us, grant, active_until_us) "
            "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
      : write == Write::kEnd
          ? "UPDATE grants SET grant = ?5, active_until_us = ?6 WHERE "
            "grant_id = ?1"
          : "UPDATE grants SET grant = ?5 WHERE grant_id = ?1");
  const std::string bytes = grant.SerializeAsString();
  sqlite3_bind_text(stmt, 1, grant.grant_id().data(), grant.grant_id().size(),
                    SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, grant.staff_id().data(), grant.staff_id().size(),
                    SQLITE_STATIC);
  sqlite3_bind_text(stmt, 3, grant.customer_id().data(),
                    grant.customer_id().size(), SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 4,
                     TimeUtil::TimestampToMicroseconds(grant.created_at()));
  sqlite3_bind_blob(stmt, 5, bytes.data(), bytes.size(), SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 6, ActiveUntilUs(grant));
  const int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || (rc & 0xff) == SQLITE_CONSTRAINT) {
    return absl::AlreadyExistsError(
        absl::StrCat("grant_id: ", grant.grant_id(), " exists"));
  }
  return rc == SQLITE_DONE ? absl::OkStatus()
                           : SqlError(db_, "storing a grant");
}

absl::StatusOr<custos::v1::Grant> GrantStore::LoadStored(
    absl::string_view grant_id) const {
  sqlite3_stmt* stmt =
      statements_->Get("SELECT grant FROM grants WHERE grant_id = ?1");
  sqlite3_bind_text(stmt, 1, grant_id.data(), grant_id.size(), SQLITE_STATIC);
  const int rc = sqlite3_step(stmt);
  custos::v1::Grant grant;
  if (rc == SQLITE_ROW) {
    grant.ParseFromArray(sqlite3_column_blob(stmt, 0),
                         sqlite3_column_bytes(stmt, 0));
  }
  sqlite3_reset(stmt);
  if (rc == SQLITE_DONE) {
    return absl::NotFoundError(
        absl::StrCat("grant_id: no grant \"", grant_id, "\""));
  }
  if (rc != SQLITE_ROW) return SqlError(db_, "reading a grant");
  return grant;
}

absl::StatusOr<std::vector<custos::v1::Grant>> GrantStore::IssuedTo(
    absl::string_view staff_id, absl::Time since) const {
  MutexLock lock(&mu_);
  sqlite3_stmt* stmt = statements_->Get(
      "SELECT grant FROM grants WHERE staff_id = ?1 AND created_us >= ?2");
  sqlite3_bind_text(stmt, 1, staff_id.data(), staff_id.size(), SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 2, absl::ToUnixMicros(since));
  std::vector<custos::v1::Grant> grants;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    custos::v1::Grant& grant = grants.emplace_back();
    grant.ParseFromArray(sqlite3_column_blob(stmt, 0),
                         sqlite3_column_bytes(stmt, 0));
  }
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) return SqlError(db_, "reading grants");
  return grants;
}

uint64_t GrantStore::UnstoredReads(absl::string_view grant_id) const {
  const auto it = unstored_reads_.find(grant_id);
  return it == unstored_reads_.end() ? 0 : it->second;
}

absl::StatusOr<custos::v1::Grant> GrantStore::Load(
    absl::string_view grant_id) const {
  auto grant = LoadStored(grant_id);
  if (grant.ok()) {
    grant->set_records_read(grant->records_read() + UnstoredReads(grant_id));
  }
  return grant;
}

custos::v1::GrantState GrantStore::UsableStateAt(const custos::v1::Grant& grant,
                                                 absl::Time now) const {
  const custos::v1::GrantState state = StateAt(grant, now);
  if (state != custos::v1::GRANT_ACTIVE) return state;
  const auto ending = ending_.find(grant.grant_id());
  return ending == ending_.end() ? state : ending->second;
}

absl::Status GrantStore::Serving(const custos::v1::Grant& grant,
                                 custos::v1::GrantState state) {
  if (state != custos::v1::GRANT_ACTIVE) {
    return absl::FailedPreconditionError(absl::StrCat(
        "grant ", grant.grant_id(), " is ", custos::v1::GrantState_Name(state),
        "; nothing is served under it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<custos::v1::Grant> GrantStore::Get(absl::string_view grant_id,
                                                  absl::Time now) const {
  MutexLock lock(&mu_);
  auto grant = Load(grant_id);
  if (!grant.ok()) return grant.status();
  grant->set_state(UsableStateAt(*grant, now));
  return grant;
}

absl::StatusOr<std::unique_ptr<GrantStore::PendingEnd>> GrantStore::StartEnd(
    absl::string_view grant_id, custos::v1::GrantState state, absl::Time now) {
  MutexLock lock(&mu_);
  auto grant = Load(grant_id);
  if (!grant.ok()) return grant.status();
  if (const custos::v1::GrantState current = UsableStateAt(*grant, now);
      current != custos::v1::GRANT_ACTIVE) {
    return absl::FailedPreconditionError(
        absl::StrCat("grant ", grant_id, " is ",
                     custos::v1::GrantState_Name(current), " already"));
  }
  ending_[grant_id] = state;
  // No read is counted from here on; those counted before are logged before
  // the end's entry is appended, or a read allowed in the log could follow
  // the end. Bounded (Open): a read logged after an applied end still
  // serves nothing (StillServing).
  const std::string id(grant_id);
  (void)mu_.AwaitWithTimeout(
      [this, &id]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return !reads_in_flight_.contains(id);
      },
      read_wait_);
  return std::unique_ptr<PendingEnd>(new PendingEnd(this, id));
}

GrantStore::ReadInFlight::~ReadInFlight() {
  MutexLock lock(&store_->mu_);
  auto it = store_->reads_in_flight_.find(grant_id_);
  if (it != store_->reads_in_flight_.end() && --it->second == 0) {
    store_->reads_in_flight_.erase(it);
    // The last read counted before an end (none is counted after one) has
    // had its StillServing: no one is left to ask about the end.
    MutexLock ended(&store_->ended_mu_);
    store_->ended_.erase(grant_id_);
  }
}

GrantStore::PendingEnd::~PendingEnd() { store_->CancelEnd(grant_id_); }

void GrantStore::CancelEnd(const std::string& grant_id) {
  MutexLock lock(&mu_);
  ending_.erase(grant_id);
}

absl::Status GrantStore::StillServing(absl::string_view grant_id) const {
  MutexLock lock(&ended_mu_);
  auto it = ended_.find(grant_id);
  if (it == ended_.end()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "grant ", grant_id, " is ", custos::v1::GrantState_Name(it->second)));
}

absl::StatusOr<custos::v1::Grant> GrantStore::End(absl::string_view grant_id,
                                                  custos::v1::GrantState state,
                                                  absl::string_view by,
                                                  absl::Time now) {
  MutexLock lock(&mu_);
  auto grant = Load(grant_id);
  if (!grant.ok()) return grant.status();
  const custos::v1::GrantState current = StateAt(*grant, now);
  if (current != custos::v1::GRANT_ACTIVE) {
    return absl::FailedPreconditionError(
        absl::StrCat("grant ", grant_id, " is ",
                     custos::v1::GrantState_Name(current), " already"));
  }
  grant->set_state(state);
  grant->set_ended_by(std::string(by));
  *grant->mutable_ended_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  if (auto s = Put(*grant, Write::kEnd); !s.ok()) return s;
  // The file now has the grant's whole count, and its end.
  unstored_reads_.erase(grant_id);
  ending_.erase(grant_id);
  // Only reads counted before now, and yet to be logged, ask StillServing
  // about this end (AddRecordsRead counts none from here on): without any,
  // it need not be remembered; with some, until the last lets go.
  if (reads_in_flight_.contains(grant_id)) {
    MutexLock ended(&ended_mu_);
    ended_[grant_id] = state;
  }
  return *grant;
}

absl::Status GrantStore::AddRecordsRead(
    absl::string_view grant_id, uint64_t count, uint64_t limit, absl::Time now,
    std::unique_ptr<ReadInFlight>* in_flight) {
  MutexLock lock(&mu_);
  auto grant = Load(grant_id);
  if (!grant.ok()) return grant.status();
  if (auto s = Serving(*grant, UsableStateAt(*grant, now)); !s.ok()) return s;
  const uint64_t read = grant->records_read();
  if (read > limit || count > limit - read) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "grant ", grant_id, " has ", read >= limit ? 0 : limit - read,
        " of its ", limit, " records left, fewer than the ", count,
        " read (other reads under it took them)"));
  }
  if (count > 0) unstored_reads_[grant_id] += count;
  if (in_flight != nullptr) {
    ++reads_in_flight_[grant_id];
    in_flight->reset(new ReadInFlight(this, std::string(grant_id)));
  }
  return absl::OkStatus();
}

absl::StatusOr<Page<custos::v1::Grant>> GrantStore::List(
    absl::string_view staff_id, absl::string_view customer_id, bool active_only,
    absl::Time now, int limit, absl::string_view page_token) const {
  MutexLock lock(&mu_);
  const FilteredListSql& sql =
      active_only ? internal::kActiveGrantListSql : internal::kGrantListSql;
  sqlite3_stmt* stmt = statements_->Get(sql.For(staff_id, customer_id));
  sqlite3_bind_text(stmt, 1, staff_id.data(), staff_id.size(), SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, customer_id.data(), customer_id.size(),
                    SQLITE_STATIC);
  if (active_only) sqlite3_bind_int64(stmt, 4, absl::ToUnixMicros(now));
  auto page = ReadPage<custos::v1::Grant>(
      db_, "grants", stmt, 3, kGrantsList, page_token, limit,
      // Under the lock, which List holds throughout.
      [&](custos::v1::Grant& grant) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        grant.set_records_read(grant.records_read() +
                               UnstoredReads(grant.grant_id()));
        // A grant being ended is still active in the file.
        grant.set_state(UsableStateAt(grant, now));
        return !active_only || grant.state() == custos::v1::GRANT_ACTIVE;
      });
  // Null when the SQL did not prepare (ReadPage then failed).
  if (stmt != nullptr) {
    last_list_steps_ =
        sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, /*resetFlg=*/1);
  }
  return page;
}

size_t GrantStore::ends_remembered() const {
  MutexLock lock(&ended_mu_);
  return ended_.size();
}

int GrantStore::last_list_steps() const {
  MutexLock lock(&mu_);
  return last_list_steps_;
}

}  // namespace custos::gateway
