#include "gateway/sessions/session_store.h"

#include <atomic>
#include <cstdlib>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/query_plan.h"
#include "common/sqlite_file_testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace custos::gateway {
namespace {

using google::protobuf::util::TimeUtil;

const absl::Time kNow = absl::FromUnixSeconds(1790000000);

custos::v1::TakeIdentitySession NewSession(const std::string& id) {
  custos::v1::TakeIdentitySession session;
  session.set_session_id(id);
  session.set_staff_id("anna.support");
  session.set_customer_id("acme");
  session.set_customer_user_id("u_acme_1");
  session.set_state(custos::v1::SESSION_LINK_ISSUED);
  session.set_read_only(true);
  *session.mutable_started_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(kNow));
  *session.mutable_expires_at() = TimeUtil::MicrosecondsToTimestamp(
      absl::ToUnixMicros(kNow + absl::Minutes(30)));
  return session;
}

std::unique_ptr<SessionStore> OpenStore(const std::string& name) {
  auto store =
      SessionStore::Open(absl::StrCat(getenv("TEST_TMPDIR"), "/", name));
  EXPECT_TRUE(store.ok()) << store.status();
  return *std::move(store);
}

// Eight threads present the same single-use link at once: exactly one opens
// the session, and the session answers only to that one's token.
TEST(SessionStoreTest, ALinkRacedByManyOpensExactlyOneSession) {
  auto store = OpenStore("race.db");
  constexpr int kRounds = 20;
  constexpr int kRacers = 8;
  for (int round = 0; round < kRounds; ++round) {
    const std::string id = absl::StrCat("s_", round);
    const std::string link = absl::StrCat("link-hash-", round);
    ASSERT_TRUE(
        store->Create(NewSession(id), link, kNow + absl::Minutes(5)).ok());
    std::atomic<int> winners{0};
    std::atomic<int> winning_racer{-1};
    std::vector<std::thread> racers;
    for (int r = 0; r < kRacers; ++r) {
      racers.emplace_back([&, r] {
        auto opened = store->ExchangeLink(link, r % 2 ? "anna.support" : "",
                                          absl::StrCat("token-", round, "-", r),
                                          kNow + absl::Seconds(1));
        if (opened.ok()) {
          ++winners;
          winning_racer = r;
          EXPECT_EQ(opened->state(), custos::v1::SESSION_LIVE);
        } else {
          EXPECT_EQ(opened.status().code(),
                    absl::StatusCode::kPermissionDenied);
        }
      });
    }
    for (std::thread& racer : racers) racer.join();
    ASSERT_EQ(winners.load(), 1) << "round " << round;
    for (int r = 0; r < kRacers; ++r) {
      auto by_token = store->ByToken(absl::StrCat("token-", round, "-", r),
                                     kNow + absl::Seconds(2));
      EXPECT_EQ(by_token.ok(), r == winning_racer.load())
          << "round " << round << " racer " << r;
    }
  }
}

// A session revoked before its link was used: the link opens nothing, and
// stays spent.
// A file written when sessions still kept their justification's note: the
// first open clears it, from the file and its write-ahead log, and keeps
// the rest of each session.
TEST(SessionStoreTest, ClearsTheNotesOfAFileWrittenBefore) {
  const std::string path =
      absl::StrCat(getenv("TEST_TMPDIR"), "/legacy-sessions.db");
  {
    auto store = *SessionStore::Open(path);
    for (int i = 0; i < 20; ++i) {
      custos::v1::TakeIdentitySession session =
          NewSession(absl::StrCat("s_", i));
      session.mutable_justification()->set_reference(absl::StrCat("SUP-", i));
      session.mutable_justification()->set_note(
          absl::StrCat("legacy-session-note-", i));
      ASSERT_TRUE(
          store->Create(session, absl::StrCat("h", i), kNow + absl::Minutes(1))
              .ok());
    }
    ASSERT_TRUE(
        store->End("s_3", custos::v1::SESSION_ENDED, "anna.support", kNow)
            .ok());
  }
  ASSERT_TRUE(SetSqliteUserVersion(path, 0));
  ASSERT_TRUE(SqliteFilesHold(path, "legacy-session-note-3"));

  auto store = *SessionStore::Open(path);
  EXPECT_FALSE(SqliteFilesHold(path, "legacy-session-note-"));
  const auto session = store->ById("s_3", kNow);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_TRUE(session->justification().note().empty());
  EXPECT_EQ(session->justification().reference(), "SUP-3");
  EXPECT_EQ(session->state(), custos::v1::SESSION_ENDED);
  // The link still opens its session.
  EXPECT_TRUE(store->ExchangeLink("h4", "", "t4", kNow).ok());
}

TEST(SessionStoreTest, ALinkToARevokedSessionOpensNothing) {
  auto store = OpenStore("revoked-link.db");
  ASSERT_TRUE(
      store->Create(NewSession("s_1"), "h1", kNow + absl::Minutes(1)).ok());
  ASSERT_TRUE(
      store->End("s_1", custos::v1::SESSION_REVOKED, "dpo:dirk.dpo", kNow)
          .ok());
  const auto opened = store->ExchangeLink("h1", "", "t1", kNow);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(),
              ::testing::HasSubstr("SESSION_REVOKED (by dpo:dirk.dpo)"));
  EXPECT_EQ(store->ById("s_1", kNow)->state(), custos::v1::SESSION_REVOKED);
  EXPECT_EQ(store->ExchangeLink("h1", "", "t2", kNow).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->FindLink("h1", "", kNow).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// FindLink answers as ExchangeLink would and changes nothing: the link
// still exchanges once, after which FindLink refuses it too.
TEST(SessionStoreTest, FindingALinkLeavesItUnspent) {
  auto store = OpenStore("find-link.db");
  ASSERT_TRUE(
      store->Create(NewSession("s_1"), "h1", kNow + absl::Minutes(1)).ok());
  EXPECT_EQ(store->FindLink("h1", "bob.engineer", kNow).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store->FindLink("h1", "", kNow + absl::Minutes(1)).status().code(),
            absl::StatusCode::kPermissionDenied);
  const auto found = store->FindLink("h1", "anna.support", kNow);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->session_id(), "s_1");
  EXPECT_EQ(found->state(), custos::v1::SESSION_LINK_ISSUED);
  EXPECT_EQ(store->ById("s_1", kNow)->state(), custos::v1::SESSION_LINK_ISSUED);
  ASSERT_TRUE(store->ExchangeLink("h1", "anna.support", "t1", kNow).ok());
  EXPECT_EQ(store->ByToken("t1", kNow)->state(), custos::v1::SESSION_LIVE);
  EXPECT_EQ(store->FindLink("h1", "", kNow).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(SessionStoreTest, RefusesAnExpiredLinkAndAnotherStaffMembersLink) {
  auto store = OpenStore("refuse.db");
  ASSERT_TRUE(
      store->Create(NewSession("s_1"), "h1", kNow + absl::Minutes(5)).ok());
  EXPECT_EQ(
      store->ExchangeLink("h1", "bob.engineer", "t1", kNow).status().code(),
      absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(store->ExchangeLink("h1", "", "t1", kNow + absl::Minutes(5))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  // Refusals left the link unused and the session unopened.
  EXPECT_EQ(store->ById("s_1", kNow)->state(), custos::v1::SESSION_LINK_ISSUED);
  EXPECT_EQ(store->ById("s_1", kNow + absl::Minutes(31))->state(),
            custos::v1::SESSION_EXPIRED);
}

// Page views counted from many threads while the customer revokes: the
// revocation is seen at once by every later lookup and count.
TEST(SessionStoreTest, RevocationIsSeenByEveryLaterLookup) {
  auto store = OpenStore("revoke.db");
  ASSERT_TRUE(
      store->Create(NewSession("s_r"), "hr", kNow + absl::Minutes(5)).ok());
  ASSERT_TRUE(store->ExchangeLink("hr", "", "tr", kNow).ok());
  std::atomic<bool> revoked{false};
  std::atomic<int> live_after_revocation{0};
  std::atomic<int> views{0};
  std::vector<std::thread> viewers;
  for (int t = 0; t < 4; ++t) {
    viewers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        const bool revoked_before = revoked.load();
        auto session = store->ByToken("tr", kNow + absl::Seconds(1));
        ASSERT_TRUE(session.ok());
        if (revoked_before && session->state() == custos::v1::SESSION_LIVE) {
          ++live_after_revocation;
        }
        // Counting a view must never undo the revocation, and no view is
        // counted after it.
        const absl::Status counted =
            store->Count("s_r", 1, 0, kNow + absl::Seconds(1));
        if (counted.ok()) {
          EXPECT_FALSE(revoked_before);
          ++views;
        } else {
          EXPECT_EQ(counted.code(), absl::StatusCode::kFailedPrecondition);
        }
      }
    });
  }
  std::thread revoker([&] {
    ASSERT_TRUE(store
                    ->End("s_r", custos::v1::SESSION_REVOKED, "customer:acme",
                          kNow + absl::Seconds(1))
                    .ok());
    revoked = true;
  });
  for (std::thread& viewer : viewers) viewer.join();
  revoker.join();
  EXPECT_EQ(live_after_revocation.load(), 0);
  auto session = store->ByToken("tr", kNow);
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->state(), custos::v1::SESSION_REVOKED);
  EXPECT_EQ(session->ended_by(), "customer:acme");
  // No view counted is lost, and none is counted after the revocation.
  EXPECT_EQ(session->page_views(), views.load());
}

// An end marked before its entry is written refuses every use at once: a
// view or action is not counted and the link does not open (nor is it
// spent). The mark only lasts while held: once dropped (the end could not
// be logged), the session serves again; once the end is stored, it stays
// ended.
TEST(SessionStoreTest, ASessionMarkedEndingServesNothingUntilTheMarkIsDropped) {
  auto store = OpenStore("ending.db");
  ASSERT_TRUE(
      store->Create(NewSession("s_live"), "h1", kNow + absl::Minutes(5)).ok());
  ASSERT_TRUE(
      store->Create(NewSession("s_link"), "h2", kNow + absl::Minutes(5)).ok());
  ASSERT_TRUE(store->ExchangeLink("h1", "", "t1", kNow).ok());

  auto live_mark = *store->MarkEnding("s_live");
  // One end at a time: a second is refused while the first is recorded.
  const auto second_mark = store->MarkEnding("s_live");
  EXPECT_EQ(second_mark.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(second_mark.status().message(),
              ::testing::HasSubstr("s_live is being ended already"));
  auto link_mark = *store->MarkEnding("s_link");
  absl::Status counted = store->Count("s_live", 1, 0, kNow);
  EXPECT_EQ(counted.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(counted.message(), ::testing::HasSubstr("s_live is ending"));
  const auto opened = store->ExchangeLink("h2", "", "t2", kNow);
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(opened.status().message(),
              ::testing::HasSubstr("s_link is ending"));

  // Dropped: the ends were not logged, and the sessions serve again (the
  // link was not spent).
  live_mark.reset();
  link_mark.reset();
  EXPECT_TRUE(store->Count("s_live", 1, 0, kNow).ok());
  EXPECT_TRUE(store->ExchangeLink("h2", "", "t2", kNow).ok());
  EXPECT_EQ(store->ById("s_live", kNow)->page_views(), 1u);

  // Stored while marked, the end outlasts the mark.
  live_mark = *store->MarkEnding("s_live");
  ASSERT_TRUE(
      store->End("s_live", custos::v1::SESSION_REVOKED, "customer:acme", kNow)
          .ok());
  live_mark.reset();
  EXPECT_EQ(store->Count("s_live", 1, 0, kNow).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->ById("s_live", kNow)->state(), custos::v1::SESSION_REVOKED);
}

// A view's or action's check once logged goes by the file alone: an end
// only marked leaves it OK (the view may be logged ahead of the end), one
// stored fails it.
TEST(SessionStoreTest, StillLiveFailsOnceAnEndIsStored) {
  auto store = OpenStore("still-live.db");
  ASSERT_TRUE(
      store->Create(NewSession("s_live"), "h1", kNow + absl::Minutes(5)).ok());
  EXPECT_EQ(store->StillLive("s_live", kNow).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store->ExchangeLink("h1", "", "t1", kNow).ok());
  EXPECT_TRUE(store->StillLive("s_live", kNow).ok());

  auto mark = *store->MarkEnding("s_live");
  EXPECT_TRUE(store->StillLive("s_live", kNow).ok());
  ASSERT_TRUE(
      store->End("s_live", custos::v1::SESSION_REVOKED, "dpo.eva", kNow).ok());
  mark.reset();
  const absl::Status live = store->StillLive("s_live", kNow);
  EXPECT_EQ(live.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(live.message(), ::testing::HasSubstr("SESSION_REVOKED"));
  EXPECT_EQ(store->StillLive("s_none", kNow).code(),
            absl::StatusCode::kNotFound);
}

// Commits wait for fsync (synchronous=FULL): an acknowledged end or
// revocation must not roll back on a power cut and bring the session back.
TEST(SessionStoreTest, CommitsAreDurableAgainstAPowerCut) {
  auto store = OpenStore("synchronous.db");
  EXPECT_EQ(store->synchronous(), 2);
}

// The engineer ending and the DPO revoking at once: one wins, the other is
// told the session is over, and the stored end is the winner's.
TEST(SessionStoreTest, OfTwoEndsOneWins) {
  auto store = OpenStore("two_ends.db");
  ASSERT_TRUE(
      store->Create(NewSession("s_e"), "he", kNow + absl::Minutes(5)).ok());
  std::atomic<int> won{0};
  std::vector<std::thread> enders;
  for (const char* by : {"staff:anna.support", "dpo:dirk.dpo"}) {
    enders.emplace_back([&, by] {
      auto ended = store->End("s_e", custos::v1::SESSION_REVOKED, by, kNow);
      if (ended.ok()) {
        ++won;
      } else {
        EXPECT_EQ(ended.status().code(), absl::StatusCode::kFailedPrecondition);
      }
    });
  }
  for (std::thread& ender : enders) ender.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(
      store->End("s_e", custos::v1::SESSION_ENDED, "x", kNow).status().code(),
      absl::StatusCode::kFailedPrecondition);
}

// Lists by staff member, by customer, by both or by neither hold exactly
// the sessions that match, newest first; filtered, SQLite walks an index
// instead of the table.
TEST(SessionStoreTest, ListsByEachFilterWalkAnIndex) {
  auto store = OpenStore("lists.db");
  const struct {
    const char* id;
    const char* staff;
    const char* customer;
  } sessions[] = {{"s_1", "anna.support", "acme"},
                  {"s_2", "anna.support", "nordwind"},
                  {"s_3", "lars.deliverability", "acme"},
                  {"s_4", "anna.support", "acme"}};
  for (const auto& made : sessions) {
    custos::v1::TakeIdentitySession session = NewSession(made.id);
    session.set_staff_id(made.staff);
    session.set_customer_id(made.customer);
    ASSERT_TRUE(store
                    ->Create(session, absl::StrCat("link-", made.id),
                             kNow + absl::Minutes(5))
                    .ok());
  }
  const auto ids = [&](const std::string& staff, const std::string& customer) {
    std::vector<std::string> listed;
    auto page = store->List(staff, customer, false, kNow, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& s : page->items) listed.push_back(s.session_id());
    }
    return listed;
  };
  using ::testing::ElementsAre;
  EXPECT_THAT(ids("", ""), ElementsAre("s_4", "s_3", "s_2", "s_1"));
  EXPECT_THAT(ids("anna.support", ""), ElementsAre("s_4", "s_2", "s_1"));
  EXPECT_THAT(ids("", "acme"), ElementsAre("s_4", "s_3", "s_1"));
  EXPECT_THAT(ids("anna.support", "acme"), ElementsAre("s_4", "s_1"));
  EXPECT_THAT(ids("nobody", ""), ElementsAre());

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(
                absl::StrCat(getenv("TEST_TMPDIR"), "/lists.db").c_str(), &db),
            SQLITE_OK);
  const FilteredListSql& sql = internal::kSessionListSql;
  EXPECT_EQ(QueryPlan(db, sql.first),
            "SEARCH sessions USING INDEX sessions_by_staff_id (staff_id=? AND "
            "rowid<?)\n");
  EXPECT_EQ(QueryPlan(db, sql.second),
            "SEARCH sessions USING INDEX sessions_by_customer_id "
            "(customer_id=? AND rowid<?)\n");
  EXPECT_THAT(QueryPlan(db, sql.both),
              ::testing::HasSubstr("SEARCH sessions USING INDEX sessions_by_"));
  // The live ones range over until when each session is live, and sort
  // what they find (only live sessions) newest first.
  const FilteredListSql& live = internal::kLiveSessionListSql;
  EXPECT_EQ(QueryPlan(db, live.all),
            "SEARCH sessions USING INDEX sessions_live (live_until_us>?)\n"
            "USE TEMP B-TREE FOR ORDER BY\n");
  EXPECT_EQ(QueryPlan(db, live.first),
            "SEARCH sessions USING INDEX sessions_live_by_staff_id (staff_id=? "
            "AND live_until_us>?)\n"
            "USE TEMP B-TREE FOR ORDER BY\n");
  EXPECT_EQ(QueryPlan(db, live.second),
            "SEARCH sessions USING INDEX sessions_live_by_customer_id "
            "(customer_id=? AND live_until_us>?)\n"
            "USE TEMP B-TREE FOR ORDER BY\n");
  EXPECT_EQ(QueryPlan(db, live.both),
            "SEARCH sessions USING INDEX sessions_live_by_staff_id (staff_id=? "
            "AND live_until_us>?)\n"
            "USE TEMP B-TREE FOR ORDER BY\n");
  sqlite3_close(db);
}

// Stores session `id` of `staff` at `customer` and, when `live`, opens it
// with token "token-<id>".
void AddSession(SessionStore& store, const std::string& id,
                const std::string& staff, const std::string& customer,
                bool live) {
  custos::v1::TakeIdentitySession session = NewSession(id);
  session.set_staff_id(staff);
  session.set_customer_id(customer);
  const std::string link = absl::StrCat("link-", id);
  ASSERT_TRUE(store.Create(session, link, kNow + absl::Minutes(5)).ok());
  if (live) {
    ASSERT_TRUE(
        store.ExchangeLink(link, staff, absl::StrCat("token-", id), kNow).ok());
  }
}

// A list of live sessions reads the live ones, not the table, under the
// store's lock: a thousand more ended sessions, and links never used, add
// nothing to what SQLite does for it, with any filter.
TEST(SessionStoreTest, LiveListsReadOnlyLiveSessions) {
  auto store = OpenStore("live-only.db");
  for (int i = 0; i < 10; ++i) {
    AddSession(*store, absl::StrCat("s_unused_", i), "anna.support", "acme",
               false);
  }
  for (int i = 0; i < 3; ++i) {
    AddSession(*store, absl::StrCat("s_live_", i), "anna.support", "acme",
               true);
  }
  AddSession(*store, "s_other", "lars.deliverability", "nordwind", true);
  struct Filter {
    const char* staff;
    const char* customer;
  };
  const Filter filters[] = {
      {"", ""}, {"anna.support", ""}, {"", "acme"}, {"anna.support", "acme"}};
  const auto listed = [&](const Filter& filter, absl::Time now) {
    std::vector<std::string> ids;
    auto page = store->List(filter.staff, filter.customer, true, now, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& s : page->items) ids.push_back(s.session_id());
    }
    return ids;
  };
  std::vector<int> steps;
  for (const Filter& filter : filters) {
    EXPECT_THAT(listed(filter, kNow),
                ::testing::IsSupersetOf({"s_live_2", "s_live_1", "s_live_0"}));
    steps.push_back(store->last_list_steps());
  }

  for (int i = 0; i < 1000; ++i) {
    const std::string id = absl::StrCat("s_ended_", i);
    AddSession(*store, id, "anna.support", "acme", i % 2 == 0);
    ASSERT_TRUE(
        store->End(id, custos::v1::SESSION_ENDED, "anna.support", kNow).ok());
  }
  for (int i = 10; i < 500; ++i) {
    AddSession(*store, absl::StrCat("s_unused_", i), "anna.support", "acme",
               false);
  }
  for (size_t f = 0; f < std::size(filters); ++f) {
    const Filter& filter = filters[f];
    std::vector<std::string> expected = {"s_live_2", "s_live_1", "s_live_0"};
    if (filter.staff[0] == '\0' && filter.customer[0] == '\0') {
      expected.insert(expected.begin(), "s_other");
    }
    EXPECT_EQ(listed(filter, kNow), expected)
        << filter.staff << "/" << filter.customer;
    EXPECT_EQ(store->last_list_steps(), steps[f])
        << filter.staff << "/" << filter.customer;
  }
  EXPECT_EQ(store->List("", "", false, kNow, 10000, "")->items.size(), 1504u);
  // Live sessions expire.
  EXPECT_TRUE(listed({"", ""}, kNow + absl::Minutes(30)).empty());
}

// A file written before sessions had a column saying until when each is
// live gets it filled in at the first open: its live sessions are listed.
TEST(SessionStoreTest, FillsInUntilWhenSessionsOfAFileWrittenBeforeAreLive) {
  const std::string path =
      absl::StrCat(getenv("TEST_TMPDIR"), "/live-legacy.db");
  {
    auto store = SessionStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    AddSession(**store, "s_live", "anna.support", "acme", true);
    AddSession(**store, "s_unused", "anna.support", "acme", false);
    AddSession(**store, "s_ended", "anna.support", "acme", true);
    ASSERT_TRUE(
        (*store)
            ->End("s_ended", custos::v1::SESSION_REVOKED, "dirk.dpo", kNow)
            .ok());
  }
  ASSERT_TRUE(ExecSqlite(path,
                         "DROP INDEX sessions_live;"
                         "DROP INDEX sessions_live_by_staff_id;"
                         "DROP INDEX sessions_live_by_customer_id;"
                         "ALTER TABLE sessions DROP COLUMN live_until_us;"));
  auto store = SessionStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  const auto page = (*store)->List("", "acme", true, kNow, 10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].session_id(), "s_live");
  EXPECT_EQ((*store)->List("", "", false, kNow, 10, "")->items.size(), 3u);
}

}  // namespace
}  // namespace custos::gateway
