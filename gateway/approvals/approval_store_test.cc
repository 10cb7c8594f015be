#include "gateway/approvals/approval_store.h"

#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/query_plan.h"
#include "common/sqlite_file_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Path(const std::string& name) {
  return absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
}

StoredPendingRequest Pending(const std::string& id, const std::string& staff,
                             const std::string& note, int64_t created) {
  StoredPendingRequest p;
  p.pending.set_request_id(id);
  p.pending.set_staff_id(staff);
  p.pending.set_customer_id("acme");
  p.pending.set_state(custos::v1::PENDING_WAITING);
  p.pending.mutable_created_at()->set_seconds(created);
  p.pending.mutable_justification()->set_category("support");
  p.pending.mutable_justification()->set_note(note);
  *p.request.mutable_justification() = p.pending.justification();
  return p;
}

// Erasure reaches the free text kept beside the log: a subject's request
// notes, trip purposes and the decision notes on their trips and by them;
// or whatever is past an age. Nothing of it stays in the file or its WAL.
TEST(ApprovalStoreTest, ErasesNotesOfASubjectOrPastAnAge) {
  const std::string path = Path("erase-notes.db");
  auto store = ApprovalStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  const absl::Time now = absl::FromUnixSeconds(1764633600);
  ASSERT_TRUE((*store)
                  ->PutPending(Pending("p_1", "anna.support", "anna-note-1",
                                       absl::ToUnixSeconds(now)))
                  .ok());
  ASSERT_TRUE((*store)
                  ->PutPending(Pending("p_2", "daan.developer", "daan-note-2",
                                       absl::ToUnixSeconds(now)))
                  .ok());
  ASSERT_TRUE((*store)
                  ->PutPending(Pending("p_3", "daan.developer", "old-note-3",
                                       absl::ToUnixSeconds(now) - 40 * 86400))
                  .ok());
  custos::v1::Trip trip;
  trip.set_trip_id("t_1");
  trip.set_staff_id("anna.support");
  trip.set_purpose("anna-purpose");
  trip.set_state(custos::v1::TRIP_APPROVED);
  trip.set_decided_by("dirk.dpo");
  trip.set_decision_note("dirk-on-anna");
  trip.mutable_decided_at()->set_seconds(absl::ToUnixSeconds(now));
  ASSERT_TRUE((*store)->PutTrip(trip).ok());
  trip.set_trip_id("t_2");
  trip.set_staff_id("daan.developer");
  trip.set_purpose("daan-purpose");
  trip.set_decision_note("dirk-on-daan");
  ASSERT_TRUE((*store)->PutTrip(trip).ok());

  auto erased = (*store)->EraseNotes("anna.support", absl::InfinitePast());
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->changed, 2u);  // p_1, t_1
  EXPECT_FALSE(erased->old_copies_remain);
  EXPECT_TRUE(
      (*store)->GetPending("p_1")->request.justification().note().empty());
  EXPECT_EQ((*store)->GetPending("p_2")->pending.justification().note(),
            "daan-note-2");
  EXPECT_TRUE((*store)->GetTrip("t_1")->purpose().empty());
  EXPECT_TRUE((*store)->GetTrip("t_1")->decision_note().empty());
  EXPECT_EQ((*store)->GetTrip("t_2")->purpose(), "daan-purpose");
  for (const char* gone : {"anna-note-1", "anna-purpose", "dirk-on-anna"}) {
    EXPECT_FALSE(SqliteFilesHold(path, gone)) << gone;
  }
  EXPECT_TRUE(SqliteFilesHold(path, "daan-note-2"));

  // The decision notes a subject wrote.
  ASSERT_EQ((*store)->EraseNotes("dirk.dpo", absl::InfinitePast())->changed,
            1u);
  EXPECT_TRUE((*store)->GetTrip("t_2")->decision_note().empty());
  EXPECT_EQ((*store)->GetTrip("t_2")->purpose(), "daan-purpose");

  // Past an age: the request made 40 days ago, not the new ones; and the
  // trip never decided that ended before then, not the one to come.
  custos::v1::Trip undecided;
  undecided.set_trip_id("t_3");
  undecided.set_staff_id("daan.developer");
  undecided.set_purpose("over-purpose");
  undecided.set_state(custos::v1::TRIP_REQUESTED);
  undecided.set_last_day("2025-10-01");
  ASSERT_TRUE((*store)->PutTrip(undecided).ok());
  undecided.set_trip_id("t_4");
  undecided.set_purpose("coming-purpose");
  undecided.set_last_day("2026-01-10");
  ASSERT_TRUE((*store)->PutTrip(undecided).ok());
  ASSERT_EQ((*store)->EraseNotes("", now - absl::Hours(24 * 30))->changed, 2u);
  EXPECT_TRUE((*store)->GetTrip("t_3")->purpose().empty());
  EXPECT_EQ((*store)->GetTrip("t_4")->purpose(), "coming-purpose");
  EXPECT_TRUE(
      (*store)->GetPending("p_3")->pending.justification().note().empty());
  EXPECT_EQ((*store)->GetPending("p_2")->pending.justification().note(),
            "daan-note-2");
  EXPECT_FALSE(SqliteFilesHold(path, "old-note-3"));
  EXPECT_FALSE(SqliteFilesHold(path, "dirk-on-daan"));
  // Nothing left to erase changes nothing.
  EXPECT_EQ((*store)->EraseNotes("anna.support", absl::InfinitePast())->changed,
            0u);
}

// A decision clears its request's note from the row, but the page image
// before it stays in the write-ahead log: an erasure takes it out even
// when no row is left to change.
TEST(ApprovalStoreTest, AnErasureTakesNotesClearedBeforeOutOfTheLog) {
  const std::string path = Path("cleared-before.db");
  auto store = ApprovalStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  const StoredPendingRequest waiting =
      Pending("p_1", "anna.support", "decided-note-31", 1764633600);
  ASSERT_TRUE((*store)->PutPending(waiting).ok());
  StoredPendingRequest decided = waiting;
  decided.pending.set_state(custos::v1::PENDING_APPROVED);
  decided.pending.mutable_justification()->clear_note();
  decided.request.mutable_justification()->clear_note();
  ASSERT_TRUE((*store)->ReplacePending(waiting, decided).ok());
  ASSERT_TRUE(SqliteFilesHold(path, "decided-note-31"));

  EXPECT_EQ((*store)->EraseNotes("anna.support", absl::InfinitePast())->changed,
            0u);
  EXPECT_FALSE(SqliteFilesHold(path, "decided-note-31"));
}

// Erased notes are out of the file at once, but a reader in another
// process holding an older state of it keeps their old page images in the
// write-ahead log: the erasure says so, and erasing again once the reader
// is done takes them out, and those of notes cleared before.
TEST(ApprovalStoreTest, SaysWhenAReaderKeepsErasedNotesInTheLog) {
  const std::string path = Path("erase-blocked.db");
  auto store = ApprovalStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)
                  ->PutPending(Pending("p_1", "anna.support", "kept-note-42",
                                       1764633600))
                  .ok());
  sqlite3* reader = nullptr;
  ASSERT_EQ(
      sqlite3_open_v2(path.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM pending;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  const auto blocked =
      (*store)->EraseNotes("anna.support", absl::InfinitePast());
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  EXPECT_EQ(blocked->changed, 1u);
  EXPECT_TRUE(blocked->old_copies_remain);
  EXPECT_TRUE(
      (*store)->GetPending("p_1")->pending.justification().note().empty());
  EXPECT_TRUE(SqliteFilesHold(path, "kept-note-42"));

  sqlite3_exec(reader, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(reader);
  const auto again = (*store)->EraseNotes("anna.support", absl::InfinitePast());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->changed, 0u);
  EXPECT_FALSE(again->old_copies_remain);
  EXPECT_FALSE(SqliteFilesHold(path, "kept-note-42"));
}

// A file written before secure_delete was on keeps what it deleted in its
// free space: the first open rebuilds it, once.
TEST(ApprovalStoreTest, RebuildsAFileWrittenBefore) {
  const std::string path = Path("rebuilt.db");
  ASSERT_TRUE(ApprovalStore::Open(path).ok());
  ASSERT_TRUE(ExecSqlite(path,
                         "PRAGMA secure_delete=OFF; INSERT INTO trips VALUES"
                         "('t_9', 'anna.support', 1, 'freed-purpose-77'); "
                         "DELETE FROM trips WHERE trip_id = 't_9'"));
  ASSERT_TRUE(SetSqliteUserVersion(path, 0));
  ASSERT_TRUE(SqliteFilesHold(path, "freed-purpose-77"));
  ASSERT_TRUE(ApprovalStore::Open(path).ok());
  EXPECT_FALSE(SqliteFilesHold(path, "freed-purpose-77"));
}

// Requests made before the lapse time lose their notes; newer requests and
// trips keep theirs.
TEST(ApprovalStoreTest, DropsTheNotesOfLapsedRequestsOnly) {
  const std::string path = Path("lapsed-notes.db");
  auto store = ApprovalStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  const absl::Time now = absl::FromUnixSeconds(1764633600);
  ASSERT_TRUE((*store)
                  ->PutPending(Pending("p_old", "anna.support", "lapsed-note",
                                       absl::ToUnixSeconds(now) - 3 * 86400))
                  .ok());
  ASSERT_TRUE((*store)
                  ->PutPending(Pending("p_new", "anna.support", "waiting-note",
                                       absl::ToUnixSeconds(now) - 3600))
                  .ok());
  custos::v1::Trip trip;
  trip.set_trip_id("t_1");
  trip.set_staff_id("anna.support");
  trip.set_purpose("trip-purpose");
  trip.mutable_decided_at()->set_seconds(absl::ToUnixSeconds(now) - 9 * 86400);
  ASSERT_TRUE((*store)->PutTrip(trip).ok());
  // Files written before kept the time a request was made in seconds.
  store->reset();
  ASSERT_TRUE(
      ExecSqlite(path, "UPDATE pending SET created_us = created_us / 1000000"));
  store = ApprovalStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();

  auto dropped = (*store)->DropLapsedNotes(now - absl::Hours(24));
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 1u);
  EXPECT_TRUE(
      (*store)->GetPending("p_old")->pending.justification().note().empty());
  EXPECT_EQ((*store)->GetPending("p_new")->request.justification().note(),
            "waiting-note");
  EXPECT_EQ((*store)->GetTrip("t_1")->purpose(), "trip-purpose");
  EXPECT_FALSE(SqliteFilesHold(path, "lapsed-note"));
  EXPECT_EQ(*(*store)->DropLapsedNotes(now - absl::Hours(24)), 0u);
}

// Lists of trips by staff member and of pending requests by customer, by
// staff member or both hold exactly the rows that match, newest first;
// filtered, SQLite walks an index instead of the table (a decision from
// abroad reads the staff member's trips every time).
TEST(ApprovalStoreTest, ListsByEachFilterWalkAnIndex) {
  auto store = ApprovalStore::Open(Path("lists.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  const struct {
    const char* id;
    const char* staff;
    custos::v1::TripState state;
  } trips[] = {{"t_1", "anna.support", custos::v1::TRIP_REQUESTED},
               {"t_2", "lars.deliverability", custos::v1::TRIP_REQUESTED},
               {"t_3", "anna.support", custos::v1::TRIP_APPROVED}};
  for (const auto& made : trips) {
    custos::v1::Trip trip;
    trip.set_trip_id(made.id);
    trip.set_staff_id(made.staff);
    trip.set_state(made.state);
    ASSERT_TRUE((*store)->PutTrip(trip).ok());
  }
  const auto trip_ids = [&](const std::string& staff, bool undecided_only) {
    std::vector<std::string> listed;
    auto page = (*store)->ListTrips(staff, undecided_only);
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& t : page->items) listed.push_back(t.trip_id());
    }
    return listed;
  };
  EXPECT_THAT(trip_ids("", false), ElementsAre("t_3", "t_2", "t_1"));
  EXPECT_THAT(trip_ids("anna.support", false), ElementsAre("t_3", "t_1"));
  EXPECT_THAT(trip_ids("anna.support", true), ElementsAre("t_1"));
  EXPECT_THAT(trip_ids("nobody", false), ElementsAre());

  const struct {
    const char* id;
    const char* customer;
    const char* staff;
  } pending[] = {{"p_1", "acme", "anna.support"},
                 {"p_2", "nordwind", "anna.support"},
                 {"p_3", "acme", "lars.deliverability"},
                 {"p_4", "acme", "anna.support"}};
  for (const auto& made : pending) {
    StoredPendingRequest stored;
    stored.pending.set_request_id(made.id);
    stored.pending.set_customer_id(made.customer);
    stored.pending.set_staff_id(made.staff);
    stored.pending.set_state(custos::v1::PENDING_WAITING);
    ASSERT_TRUE((*store)->PutPending(stored).ok());
  }
  const auto pending_ids = [&](const std::string& customer,
                               const std::string& staff) {
    std::vector<std::string> listed;
    auto page = (*store)->ListPending(customer, staff, false, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& p : page->items) listed.push_back(p.request_id());
    }
    return listed;
  };
  EXPECT_THAT(pending_ids("", ""), ElementsAre("p_4", "p_3", "p_2", "p_1"));
  EXPECT_THAT(pending_ids("acme", ""), ElementsAre("p_4", "p_3", "p_1"));
  EXPECT_THAT(pending_ids("", "anna.support"),
              ElementsAre("p_4", "p_2", "p_1"));
  EXPECT_THAT(pending_ids("acme", "anna.support"), ElementsAre("p_4", "p_1"));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Path("lists.db").c_str(), &db), SQLITE_OK);
  EXPECT_THAT(QueryPlan(db, internal::TripListSql("anna.support", false)),
              HasSubstr("SEARCH trips USING INDEX trips_by_staff_id "
                        "(staff_id=? AND rowid<?)"));
  EXPECT_THAT(QueryPlan(db, internal::kPendingListSql.first),
              HasSubstr("SEARCH pending USING INDEX pending_by_customer_id "
                        "(customer_id=? AND rowid<?)"));
  EXPECT_THAT(QueryPlan(db, internal::kPendingListSql.second),
              HasSubstr("SEARCH pending USING INDEX pending_by_staff_id "
                        "(staff_id=? AND rowid<?)"));
  EXPECT_THAT(QueryPlan(db, internal::kPendingListSql.both),
              HasSubstr("SEARCH pending USING INDEX pending_by_"));
  // The undecided trips and the waiting requests come from indexes of
  // those alone.
  EXPECT_EQ(QueryPlan(db, internal::TripListSql("", true)),
            "SEARCH trips USING INDEX trips_undecided (state=? AND rowid<?)\n");
  EXPECT_EQ(QueryPlan(db, internal::TripListSql("anna.support", true)),
            "SEARCH trips USING INDEX trips_undecided_by_staff_id (staff_id=? "
            "AND rowid<?)\n");
  const FilteredListSql& waiting = internal::kWaitingPendingListSql;
  EXPECT_EQ(QueryPlan(db, waiting.all),
            "SEARCH pending USING INDEX pending_waiting (state=? AND "
            "rowid<?)\n");
  EXPECT_EQ(QueryPlan(db, waiting.first),
            "SEARCH pending USING INDEX pending_waiting_by_customer_id "
            "(customer_id=? AND rowid<?)\n");
  EXPECT_EQ(QueryPlan(db, waiting.second),
            "SEARCH pending USING INDEX pending_waiting_by_staff_id "
            "(staff_id=? AND rowid<?)\n");
  EXPECT_THAT(QueryPlan(db, waiting.both),
              ::testing::MatchesRegex("SEARCH pending USING INDEX "
                                      "pending_waiting_by_[a-z]+_id \\([a-z_]+"
                                      "=\\? AND rowid<\\?\\)\n"));
  for (const char* sql :
       {internal::TripListSql("anna.support", false),
        internal::TripListSql("", true),
        internal::TripListSql("anna.support", true),
        internal::kPendingListSql.first, internal::kPendingListSql.second,
        internal::kPendingListSql.both, waiting.all, waiting.first,
        waiting.second, waiting.both}) {
    EXPECT_THAT(QueryPlan(db, sql), ::testing::Not(HasSubstr("TEMP B-TREE")))
        << sql;
  }
  sqlite3_close(db);
}

// Lists of undecided trips and of waiting requests read those, not the
// tables, under the store's lock: a thousand more decided ones add nothing
// to what SQLite does for them.
TEST(ApprovalStoreTest, UndecidedAndWaitingListsReadOnlyThose) {
  auto store = ApprovalStore::Open(Path("waiting-only.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  const auto put = [&](const std::string& id, bool decided) {
    custos::v1::Trip trip;
    trip.set_trip_id(absl::StrCat("t_", id));
    trip.set_staff_id("anna.support");
    trip.set_state(decided ? custos::v1::TRIP_APPROVED
                           : custos::v1::TRIP_REQUESTED);
    ASSERT_TRUE((*store)->PutTrip(trip).ok());
    StoredPendingRequest pending =
        Pending(absl::StrCat("p_", id), "anna.support", "", 1764633600);
    pending.pending.set_state(decided ? custos::v1::PENDING_APPROVED
                                      : custos::v1::PENDING_WAITING);
    ASSERT_TRUE((*store)->PutPending(pending).ok());
  };
  for (int i = 0; i < 10; ++i) put(absl::StrCat("decided_", i), true);
  for (int i = 0; i < 2; ++i) put(absl::StrCat("waiting_", i), false);
  const auto trips = [&](const std::string& staff) {
    std::vector<std::string> ids;
    auto page = (*store)->ListTrips(staff, true, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& t : page->items) ids.push_back(t.trip_id());
    }
    return ids;
  };
  const auto pending = [&](const std::string& customer,
                           const std::string& staff) {
    std::vector<std::string> ids;
    auto page = (*store)->ListPending(customer, staff, true, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& p : page->items) ids.push_back(p.request_id());
    }
    return ids;
  };
  const auto lists = [&] {
    std::vector<int> steps;
    for (const std::string staff : {"", "anna.support"}) {
      EXPECT_THAT(trips(staff), ElementsAre("t_waiting_1", "t_waiting_0"));
      steps.push_back((*store)->last_list_steps());
      for (const std::string customer : {"", "acme"}) {
        EXPECT_THAT(pending(customer, staff),
                    ElementsAre("p_waiting_1", "p_waiting_0"));
        steps.push_back((*store)->last_list_steps());
      }
    }
    return steps;
  };
  const std::vector<int> before = lists();
  for (int i = 10; i < 1000; ++i) put(absl::StrCat("decided_", i), true);
  EXPECT_EQ(lists(), before);
  EXPECT_EQ((*store)->ListTrips("anna.support", false, 2000, "")->items.size(),
            1002u);
}

// A withdrawal started reads as withdrawn at once, for consents stored and
// for those the directory gave, until it is done; then the file decides.
TEST(ApprovalStoreTest, AWithdrawalStartedReadsAsWithdrawnUntilItIsDone) {
  auto store = ApprovalStore::Open(Path("withdrawing.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  custos::v1::PartnerConsent given;
  given.set_customer_id("acme");
  given.set_partner_organisation("mailfix");
  given.set_consented(true);
  ASSERT_TRUE((*store)->PutConsent(given).ok());
  const auto consented = [&](const std::string& partner) {
    auto consents = (*store)->ListConsents("acme");
    EXPECT_TRUE(consents.ok()) << consents.status();
    std::vector<bool> found;
    for (const auto& c : *consents) {
      if (c.partner_organisation() == partner) found.push_back(c.consented());
    }
    return found;
  };

  auto first = (*store)->StartWithdrawal("acme", "mailfix");
  auto second = (*store)->StartWithdrawal("acme", "mailfix");
  auto from_directory = (*store)->StartWithdrawal("acme", "inboxpro");
  EXPECT_THAT(consented("mailfix"), ElementsAre(false));
  EXPECT_THAT(consented("inboxpro"), ElementsAre(false));
  first.reset();
  EXPECT_THAT(consented("mailfix"), ElementsAre(false));
  second.reset();
  from_directory.reset();
  EXPECT_THAT(consented("mailfix"), ElementsAre(true));
  EXPECT_THAT(consented("inboxpro"), ElementsAre());
}

// A withdrawal started waits for the reads under the consent that took
// their hold before it to be logged, so that its entry follows theirs; a
// read taking its hold after it sees the consent withdrawn.
TEST(ApprovalStoreTest, AWithdrawalWaitsForTheReadsUnderTheConsent) {
  // Without a bound, so that the test does not race the store's.
  auto store = ApprovalStore::Open(Path("withdrawal-waits.db"),
                                   absl::InfiniteDuration());
  ASSERT_TRUE(store.ok()) << store.status();
  auto read = (*store)->UseConsent("acme", "mailfix");
  auto other_partner = (*store)->UseConsent("acme", "inboxpro");
  std::atomic<bool> started{false};
  std::unique_ptr<ApprovalStore::ConsentHold> withdrawal;
  std::thread withdrawer([&] {
    withdrawal = (*store)->StartWithdrawal("acme", "mailfix");
    started.store(true);
  });
  const auto withdrawn = [&] {
    auto consents = (*store)->ListConsents("acme");
    return consents.ok() && !consents->empty() && !(*consents)[0].consented();
  };
  while (!withdrawn()) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(started.load());
  read.reset();
  withdrawer.join();
  EXPECT_TRUE(started.load());
  EXPECT_NE(withdrawal, nullptr);
}

// A read's check once logged goes by the file alone: a withdrawal only
// started leaves it OK (the read may be logged ahead of the withdrawal),
// one stored fails it.
TEST(ApprovalStoreTest, ConsentNotWithdrawnFailsOnceAWithdrawalIsStored) {
  auto store = ApprovalStore::Open(Path("withdrawn-check.db"));
  ASSERT_TRUE(store.ok()) << store.status();
  custos::v1::PartnerConsent consent;
  consent.set_customer_id("acme");
  consent.set_partner_organisation("mailfix");
  consent.set_consented(true);
  ASSERT_TRUE((*store)->PutConsent(consent).ok());
  EXPECT_TRUE((*store)->ConsentNotWithdrawn("acme", "mailfix").ok());
  // A consent the directory gave, with nothing in the file.
  EXPECT_TRUE((*store)->ConsentNotWithdrawn("acme", "inboxpro").ok());

  auto withdrawal = (*store)->StartWithdrawal("acme", "mailfix");
  EXPECT_TRUE((*store)->ConsentNotWithdrawn("acme", "mailfix").ok());
  consent.set_consented(false);
  ASSERT_TRUE((*store)->PutConsent(consent).ok());
  withdrawal.reset();
  EXPECT_EQ((*store)->ConsentNotWithdrawn("acme", "mailfix").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE((*store)->ConsentNotWithdrawn("acme", "inboxpro").ok());
}

}  // namespace
}  // namespace custos::gateway
