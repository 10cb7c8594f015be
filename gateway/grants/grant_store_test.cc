#include "gateway/grants/grant_store.h"

#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/mutex.h"
#include "common/query_plan.h"
#include "common/sqlite_file_testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace custos::gateway {
namespace {

using google::protobuf::util::TimeUtil;

const absl::Time kNow = absl::FromUnixSeconds(1790000000);

custos::v1::Grant NewGrant(const std::string& id, absl::Duration lifetime) {
  custos::v1::Grant grant;
  grant.set_grant_id(id);
  grant.set_staff_id("anna.support");
  grant.set_customer_id("acme");
  grant.set_state(custos::v1::GRANT_ACTIVE);
  *grant.mutable_created_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(kNow));
  *grant.mutable_obligations()->mutable_expires_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(kNow + lifetime));
  return grant;
}

// Ends wait for reads without a bound, so that no test races the store's.
std::unique_ptr<GrantStore> OpenStore(const std::string& name) {
  auto store = GrantStore::Open(absl::StrCat(getenv("TEST_TMPDIR"), "/", name),
                                absl::InfiniteDuration());
  EXPECT_TRUE(store.ok()) << store.status();
  return *std::move(store);
}

// Creates `count` grants of anna.support's at acme, `lifetime` from kNow,
// through the writer's group commit; ids "<prefix><i>".
void CreateMany(GrantStore& store, const std::string& prefix, int count,
                absl::Duration lifetime) {
  std::atomic<int> told{0};
  Notification all_told;
  for (int i = 0; i < count; ++i) {
    store.CreateAsync(NewGrant(absl::StrCat(prefix, i), lifetime),
                      [&](absl::Status s) {
                        EXPECT_TRUE(s.ok()) << s;
                        if (++told == count) all_told.Notify();
                      });
  }
  all_told.WaitForNotification();
}

TEST(GrantStoreTest, ReadsExpiredAtItsExpiryAndCannotBeEndedThen) {
  auto store = OpenStore("expiry.db");
  ASSERT_TRUE(store->Create(NewGrant("g_1", absl::Minutes(30))).ok());
  EXPECT_EQ(store->Get("g_1", kNow + absl::Minutes(29))->state(),
            custos::v1::GRANT_ACTIVE);
  EXPECT_EQ(store->Get("g_1", kNow + absl::Minutes(30))->state(),
            custos::v1::GRANT_EXPIRED);
  EXPECT_EQ(store
                ->End("g_1", custos::v1::GRANT_REVOKED, "dpo:dora",
                      kNow + absl::Minutes(31))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Create(NewGrant("g_1", absl::Minutes(5))).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->Get("g_2", kNow).status().code(),
            absl::StatusCode::kNotFound);
}

// Readers count records while the DPO revokes: the revocation wins at once
// (every read after it sees REVOKED, and no record is counted after it),
// only one revocation succeeds, and no count taken is lost.
TEST(GrantStoreTest, RevocationRacingReadsTakesEffectAtOnceAndLosesNoCount) {
  auto store = OpenStore("race.db");
  ASSERT_TRUE(store->Create(NewGrant("g_live", absl::Hours(1))).ok());
  constexpr int kReaders = 6;
  constexpr int kReadsEach = 200;
  std::atomic<bool> revoked{false};
  std::atomic<int> seen_active_after_revocation{0};
  std::atomic<int> revocations{0};
  std::atomic<uint64_t> counted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kReaders; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kReadsEach; ++i) {
        const bool revoked_before = revoked.load();
        auto grant = store->Get("g_live", kNow);
        ASSERT_TRUE(grant.ok()) << grant.status();
        if (revoked_before && grant->state() == custos::v1::GRANT_ACTIVE) {
          ++seen_active_after_revocation;
        }
        // Counted until the revocation, refused from then on.
        const absl::Status added =
            store->AddRecordsRead("g_live", 1, 1000000, kNow);
        if (added.ok()) {
          EXPECT_FALSE(revoked_before);
          ++counted;
        } else {
          EXPECT_EQ(added.code(), absl::StatusCode::kFailedPrecondition);
        }
      }
    });
  }
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      absl::SleepFor(absl::Milliseconds(5));
      auto ended = store->End("g_live", custos::v1::GRANT_REVOKED,
                              absl::StrCat("dpo:", t), kNow);
      if (ended.ok()) {
        revoked.store(true);
        ++revocations;
      } else {
        EXPECT_EQ(ended.status().code(), absl::StatusCode::kFailedPrecondition);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(revocations.load(), 1);
  EXPECT_EQ(seen_active_after_revocation.load(), 0);
  auto grant = store->Get("g_live", kNow);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->state(), custos::v1::GRANT_REVOKED);
  EXPECT_THAT(grant->ended_by(), ::testing::StartsWith("dpo:"));
  EXPECT_EQ(grant->records_read(), counted.load());
}

// Commits wait for fsync (synchronous=FULL): an acknowledged end,
// revocation or stored count must not roll back on a power cut.
TEST(GrantStoreTest, CommitsAreDurableAgainstAPowerCut) {
  auto store = OpenStore("synchronous.db");
  EXPECT_EQ(store->synchronous(), 2);
}

// Reads are counted only under an active grant, in one step with the check:
// a read that passed its checks before a revocation or the grant's expiry
// is refused when it comes to count, and serves nothing.
TEST(GrantStoreTest, CountsNothingUnderAGrantNoLongerActive) {
  auto store = OpenStore("inactive.db");
  ASSERT_TRUE(store->Create(NewGrant("g_revoked", absl::Hours(1))).ok());
  ASSERT_TRUE(store->Create(NewGrant("g_short", absl::Minutes(1))).ok());
  ASSERT_TRUE(store->AddRecordsRead("g_revoked", 3, 1000, kNow).ok());
  ASSERT_TRUE(
      store->End("g_revoked", custos::v1::GRANT_REVOKED, "dpo:dirk.dpo", kNow)
          .ok());
  const absl::Status revoked =
      store->AddRecordsRead("g_revoked", 1, 1000, kNow);
  EXPECT_EQ(revoked.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(revoked.message(),
              ::testing::HasSubstr("g_revoked is GRANT_REVOKED"));
  EXPECT_EQ(store->Get("g_revoked", kNow)->records_read(), 3u);

  ASSERT_TRUE(store->AddRecordsRead("g_short", 2, 1000, kNow).ok());
  const absl::Status expired =
      store->AddRecordsRead("g_short", 1, 1000, kNow + absl::Minutes(1));
  EXPECT_EQ(expired.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(expired.message(),
              ::testing::HasSubstr("g_short is GRANT_EXPIRED"));
  EXPECT_EQ(store->Get("g_short", kNow)->records_read(), 2u);
}

// An end started ahead of its entry takes the grant out of use at once:
// reads are refused and Get and List read it as the state it is ending to. End
// applies it; an end given up (its entry not written) gives the grant back.
TEST(GrantStoreTest, AGrantBeingEndedServesNothingUntilTheEndIsGivenUp) {
  auto store = OpenStore("ending.db");
  ASSERT_TRUE(store->Create(NewGrant("g_1", absl::Hours(1))).ok());
  ASSERT_TRUE(store->AddRecordsRead("g_1", 2, 1000, kNow).ok());

  auto pending = store->StartEnd("g_1", custos::v1::GRANT_REVOKED, kNow);
  ASSERT_TRUE(pending.ok()) << pending.status();
  const absl::Status refused = store->AddRecordsRead("g_1", 1, 1000, kNow);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("g_1 is GRANT_REVOKED"));
  // Reads logged before the end's entry are served.
  EXPECT_TRUE(store->StillServing("g_1").ok());
  EXPECT_EQ(store->Get("g_1", kNow)->state(), custos::v1::GRANT_REVOKED);
  EXPECT_EQ(store->Get("g_1", kNow)->records_read(), 2u);
  const auto listed = store->List("", "acme", false, kNow, 10, "");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0].state(), custos::v1::GRANT_REVOKED);
  EXPECT_TRUE(store->List("", "acme", true, kNow, 10, "")->items.empty());
  EXPECT_EQ(
      store->StartEnd("g_1", custos::v1::GRANT_ENDED, kNow).status().code(),
      absl::StatusCode::kFailedPrecondition);

  pending->reset();
  EXPECT_TRUE(store->StillServing("g_1").ok());
  EXPECT_EQ(store->Get("g_1", kNow)->state(), custos::v1::GRANT_ACTIVE);
  EXPECT_EQ(store->List("", "acme", true, kNow, 10, "")->items.size(), 1u);
  ASSERT_TRUE(store->AddRecordsRead("g_1", 1, 1000, kNow).ok());

  auto ending = store->StartEnd("g_1", custos::v1::GRANT_ENDED, kNow);
  ASSERT_TRUE(ending.ok()) << ending.status();
  auto ended = store->End("g_1", custos::v1::GRANT_ENDED, "staff:anna", kNow);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->records_read(), 3u);
  ending->reset();
  EXPECT_EQ(store->Get("g_1", kNow)->state(), custos::v1::GRANT_ENDED);
  EXPECT_EQ(store->AddRecordsRead("g_1", 1, 1000, kNow).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      store->StartEnd("g_2", custos::v1::GRANT_ENDED, kNow).status().code(),
      absl::StatusCode::kNotFound);
}

// An end applied while reads counted before it are yet to be logged (the
// end gave up waiting for them) is remembered for those reads: each is
// refused once logged, until the last lets go. No other read can ask (none
// is counted after the end), so an end with none in flight, and one whose
// reads are all logged, is forgotten: ends since the start are not kept.
TEST(GrantStoreTest, RemembersAnEndOnlyForTheReadsInFlightAcrossIt) {
  // Ends that do not wait for reads.
  auto store =
      *GrantStore::Open(absl::StrCat(getenv("TEST_TMPDIR"), "/remembered.db"),
                        absl::ZeroDuration());
  CreateMany(*store, "g_", 50, absl::Hours(1));
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(store
                    ->End(absl::StrCat("g_", i), custos::v1::GRANT_REVOKED,
                          "dirk.dpo", kNow)
                    .ok());
  }
  EXPECT_EQ(store->ends_remembered(), 0u);

  std::unique_ptr<GrantStore::ReadInFlight> first;
  std::unique_ptr<GrantStore::ReadInFlight> second;
  std::unique_ptr<GrantStore::ReadInFlight> elsewhere;
  ASSERT_TRUE(store->AddRecordsRead("g_40", 1, 1000, kNow, &first).ok());
  ASSERT_TRUE(store->AddRecordsRead("g_40", 1, 1000, kNow, &second).ok());
  ASSERT_TRUE(store->AddRecordsRead("g_41", 1, 1000, kNow, &elsewhere).ok());
  auto pending = store->StartEnd("g_40", custos::v1::GRANT_REVOKED, kNow);
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_TRUE(store->StillServing("g_40").ok());
  ASSERT_TRUE(
      store->End("g_40", custos::v1::GRANT_REVOKED, "dirk.dpo", kNow).ok());
  pending->reset();
  EXPECT_EQ(store->ends_remembered(), 1u);
  EXPECT_EQ(store->StillServing("g_40").code(),
            absl::StatusCode::kFailedPrecondition);
  first.reset();
  EXPECT_EQ(store->ends_remembered(), 1u);
  const absl::Status refused = store->StillServing("g_40");
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.message(), "grant g_40 is GRANT_REVOKED");
  // A read under another grant holds nothing of this one's end.
  ASSERT_TRUE(
      store->End("g_42", custos::v1::GRANT_ENDED, "anna.support", kNow).ok());
  EXPECT_EQ(store->ends_remembered(), 1u);
  second.reset();
  EXPECT_EQ(store->ends_remembered(), 0u);
  EXPECT_TRUE(store->StillServing("g_41").ok());
  elsewhere.reset();
  EXPECT_EQ(store->ends_remembered(), 0u);
}

// An end started waits for the reads counted before it to be logged, so
// that its entry follows theirs; reads after it are refused meanwhile.
TEST(GrantStoreTest, AnEndStartedWaitsForTheReadsCountedBefore) {
  auto store = OpenStore("ending-waits.db");
  ASSERT_TRUE(store->Create(NewGrant("g_1", absl::Hours(1))).ok());
  std::unique_ptr<GrantStore::ReadInFlight> read;
  ASSERT_TRUE(store->AddRecordsRead("g_1", 1, 1000, kNow, &read).ok());
  ASSERT_NE(read, nullptr);
  std::atomic<bool> started{false};
  absl::StatusOr<std::unique_ptr<GrantStore::PendingEnd>> pending;
  std::thread ender([&] {
    pending = store->StartEnd("g_1", custos::v1::GRANT_REVOKED, kNow);
    started.store(true);
  });
  while (store->Get("g_1", kNow)->state() == custos::v1::GRANT_ACTIVE) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(store->AddRecordsRead("g_1", 1, 1000, kNow).code(),
            absl::StatusCode::kFailedPrecondition);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(started.load());
  read.reset();
  ender.join();
  EXPECT_TRUE(pending.ok()) << pending.status();
  EXPECT_EQ(store->Get("g_1", kNow)->records_read(), 1u);
}

TEST(GrantStoreTest, ConcurrentReadsNeverCountPastTheLimit) {
  auto store = OpenStore("limit.db");
  ASSERT_TRUE(store->Create(NewGrant("g_limit", absl::Hours(1))).ok());
  constexpr uint64_t kLimit = 1000;
  constexpr int kReaders = 6;
  // Pages of 7 do not divide the limit: the last pages find fewer left.
  constexpr uint64_t kPage = 7;
  std::atomic<uint64_t> counted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kReaders; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        const absl::Status added =
            store->AddRecordsRead("g_limit", kPage, kLimit, kNow);
        if (!added.ok()) {
          EXPECT_EQ(added.code(), absl::StatusCode::kResourceExhausted);
          EXPECT_THAT(added.message(),
                      ::testing::HasSubstr("of its 1000 records left"));
          ++refused;
          return;
        }
        counted += kPage;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(refused.load(), kReaders);
  EXPECT_EQ(counted.load(), kLimit / kPage * kPage);
  EXPECT_EQ(store->Get("g_limit", kNow)->records_read(), counted.load());
  // What is left still fits a smaller read, and then nothing does.
  ASSERT_TRUE(
      store->AddRecordsRead("g_limit", kLimit - counted.load(), kLimit, kNow)
          .ok());
  EXPECT_EQ(store->AddRecordsRead("g_limit", 1, kLimit, kNow).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store->Get("g_limit", kNow)->records_read(), kLimit);
  EXPECT_EQ(store->AddRecordsRead("g_none", 1, kLimit, kNow).code(),
            absl::StatusCode::kNotFound);
}

// The records_read of grant `grant_id` as the file at `path` has it, read
// on a connection of the test's own.
uint64_t StoredRecordsRead(const std::string& path,
                           const std::string& grant_id) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(
      sqlite3_prepare_v2(db, "SELECT grant FROM grants WHERE grant_id = ?1", -1,
                         &stmt, nullptr),
      SQLITE_OK);
  sqlite3_bind_text(stmt, 1, grant_id.c_str(), -1, SQLITE_TRANSIENT);
  custos::v1::Grant grant;
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  grant.ParseFromArray(sqlite3_column_blob(stmt, 0),
                       sqlite3_column_bytes(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return grant.records_read();
}

// A file written when grants still kept their justification's note: the
// first open clears every note from the rows, the free pages and the
// write-ahead log, and keeps the rest of each grant.
TEST(GrantStoreTest, ClearsTheNotesOfAFileWrittenBefore) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/legacy.db");
  {
    auto store = *GrantStore::Open(path);
    // More grants than one batch of the rewrite.
    for (int i = 0; i < 600; ++i) {
      custos::v1::Grant grant = NewGrant(absl::StrCat("g_", i), absl::Hours(1));
      grant.mutable_justification()->set_category("support");
      grant.mutable_justification()->set_reference(absl::StrCat("SUP-", i));
      grant.mutable_justification()->set_note(
          absl::StrCat("legacy-note-", i, std::string(200, 'x')));
      ASSERT_TRUE(store->Create(grant).ok());
      // Older versions of the row go to free space.
      if (i < 50) {
        ASSERT_TRUE(
            store->AddRecordsRead(grant.grant_id(), 1, 1000, kNow).ok());
        ASSERT_TRUE(store->StoreRecordsRead().ok());
      }
    }
  }
  ASSERT_TRUE(SetSqliteUserVersion(path, 0));
  ASSERT_TRUE(SqliteFilesHold(path, "legacy-note-7"));
  ASSERT_TRUE(SqliteFilesHold(path, "legacy-note-599"));

  auto store = *GrantStore::Open(path);
  EXPECT_FALSE(SqliteFilesHold(path, "legacy-note-"));
  const auto grant = store->Get("g_7", kNow);
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_TRUE(grant->justification().note().empty());
  EXPECT_EQ(grant->justification().reference(), "SUP-7");
  EXPECT_EQ(grant->records_read(), 1u);
  EXPECT_EQ(store->Get("g_599", kNow)->justification().reference(), "SUP-599");
  EXPECT_EQ(store->List("", "acme", false, kNow, 500, "")->items.size(), 500u);
}

// Reads count at once, but write their counts together: every count taken
// before StoreRecordsRead reaches the file in one transaction.
TEST(GrantStoreTest, CountsHoldAtOnceAndReachTheFileTogether) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/counts.db");
  auto store = *GrantStore::Open(path);
  ASSERT_TRUE(store->Create(NewGrant("g_a", absl::Hours(1))).ok());
  ASSERT_TRUE(store->Create(NewGrant("g_b", absl::Hours(1))).ok());
  for (int i = 1; i <= 4; ++i) {
    ASSERT_TRUE(store->AddRecordsRead("g_a", i, 1000, kNow).ok());
  }
  ASSERT_TRUE(store->AddRecordsRead("g_b", 9, 1000, kNow).ok());
  EXPECT_EQ(store->Get("g_a", kNow)->records_read(), 10u);
  EXPECT_EQ(
      store->List("", "acme", false, kNow, 10, "")->items[1].records_read(),
      10u);
  EXPECT_EQ(StoredRecordsRead(path, "g_a"), 0u);

  const uint64_t before = store->transactions();
  ASSERT_TRUE(store->StoreRecordsRead().ok());
  EXPECT_EQ(store->transactions(), before + 1);
  EXPECT_EQ(StoredRecordsRead(path, "g_a"), 10u);
  EXPECT_EQ(StoredRecordsRead(path, "g_b"), 9u);
  // Stored counts are not stored again, nor counted twice.
  ASSERT_TRUE(store->AddRecordsRead("g_a", 5, 1000, kNow).ok());
  ASSERT_TRUE(store->StoreRecordsRead().ok());
  EXPECT_EQ(StoredRecordsRead(path, "g_a"), 15u);
  EXPECT_EQ(StoredRecordsRead(path, "g_b"), 9u);
  EXPECT_EQ(store->Get("g_a", kNow)->records_read(), 15u);
}

// Ending a grant writes its whole count; counts no read waited for are
// written when the store closes.
TEST(GrantStoreTest, EndingAndClosingKeepEveryCount) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/ended.db");
  {
    auto store = *GrantStore::Open(path);
    ASSERT_TRUE(store->Create(NewGrant("g_ended", absl::Hours(1))).ok());
    ASSERT_TRUE(store->Create(NewGrant("g_open", absl::Hours(1))).ok());
    ASSERT_TRUE(store->AddRecordsRead("g_ended", 7, 1000, kNow).ok());
    ASSERT_TRUE(
        store->End("g_ended", custos::v1::GRANT_ENDED, "anna.support", kNow)
            .ok());
    EXPECT_EQ(StoredRecordsRead(path, "g_ended"), 7u);
    ASSERT_TRUE(store->AddRecordsRead("g_open", 3, 1000, kNow).ok());
    ASSERT_TRUE(store->StoreRecordsRead().ok());
    EXPECT_EQ(StoredRecordsRead(path, "g_ended"), 7u);
    ASSERT_TRUE(store->AddRecordsRead("g_open", 4, 1000, kNow).ok());
  }
  EXPECT_EQ(StoredRecordsRead(path, "g_open"), 7u);
  auto reopened = *GrantStore::Open(path);
  EXPECT_EQ(reopened->Get("g_ended", kNow)->records_read(), 7u);
  EXPECT_EQ(reopened->Get("g_open", kNow)->records_read(), 7u);
}

// A grant removed from the file by hand while its count waits: the other
// counts are still stored, and later reads' stores still succeed.
TEST(GrantStoreTest, AGrantRemovedBehindTheStoresBackFailsNoOtherCount) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/removed.db");
  auto store = *GrantStore::Open(path);
  ASSERT_TRUE(store->Create(NewGrant("g_gone", absl::Hours(1))).ok());
  ASSERT_TRUE(store->Create(NewGrant("g_kept", absl::Hours(1))).ok());
  ASSERT_TRUE(store->AddRecordsRead("g_gone", 2, 1000, kNow).ok());
  ASSERT_TRUE(store->AddRecordsRead("g_kept", 3, 1000, kNow).ok());
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    EXPECT_EQ(sqlite3_exec(db, "DELETE FROM grants WHERE grant_id = 'g_gone'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  EXPECT_TRUE(store->StoreRecordsRead().ok());
  EXPECT_EQ(StoredRecordsRead(path, "g_kept"), 3u);
  ASSERT_TRUE(store->AddRecordsRead("g_kept", 1, 1000, kNow).ok());
  EXPECT_TRUE(store->StoreRecordsRead().ok());
  EXPECT_EQ(StoredRecordsRead(path, "g_kept"), 4u);
}

TEST(GrantStoreTest, ConcurrentCreatorsAndListersSeeEveryGrant) {
  auto store = OpenStore("list.db");
  constexpr int kCreators = 4;
  constexpr int kEach = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kCreators; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        ASSERT_TRUE(store
                        ->Create(NewGrant(absl::StrCat("g_", t, "_", i),
                                          absl::Hours(1)))
                        .ok());
      }
    });
  }
  threads.emplace_back([&] {
    size_t last = 0;
    for (int i = 0; i < 50; ++i) {
      auto listed = store->List("anna.support", "", true, kNow, 100000, "");
      ASSERT_TRUE(listed.ok());
      EXPECT_GE(listed->items.size(), last);  // grants only ever appear
      last = listed->items.size();
    }
  });
  for (std::thread& thread : threads) thread.join();
  auto listed = store->List("anna.support", "acme", true, kNow, 100000, "");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->items.size(), size_t{kCreators * kEach});
  EXPECT_TRUE(store->List("", "", true, kNow + absl::Hours(2), 100000, "")
                  ->items.empty());
}

// Grants queued while a transaction commits share the next one, and each is
// told its own outcome: a known id fails alone.
TEST(GrantStoreTest, GrantsQueuedMeanwhileShareOneTransaction) {
  auto store = OpenStore("batch.db");
  ASSERT_TRUE(store->Create(NewGrant("g_known", absl::Hours(1))).ok());
  const uint64_t before = store->transactions();
  // The writer is held in the first grant's `done` while the others queue.
  Notification release;
  Notification first_stored;
  store->CreateAsync(NewGrant("g_first", absl::Hours(1)),
                     [&](absl::Status status) {
                       EXPECT_TRUE(status.ok()) << status;
                       first_stored.Notify();
                       release.WaitForNotification();
                     });
  first_stored.WaitForNotification();
  constexpr int kQueued = 50;
  std::vector<absl::Status> outcomes(kQueued + 1);
  std::atomic<int> told{0};
  Notification all_told;
  for (int i = 0; i <= kQueued; ++i) {
    // The one in the middle has the id of a stored grant.
    const std::string id =
        i == kQueued / 2 ? "g_known" : absl::StrCat("g_queued_", i);
    store->CreateAsync(NewGrant(id, absl::Hours(1)), [&, i](absl::Status s) {
      outcomes[i] = std::move(s);
      if (++told == kQueued + 1) all_told.Notify();
    });
  }
  release.Notify();
  all_told.WaitForNotification();
  EXPECT_EQ(store->transactions(), before + 2);
  for (int i = 0; i <= kQueued; ++i) {
    if (i == kQueued / 2) {
      EXPECT_EQ(outcomes[i].code(), absl::StatusCode::kAlreadyExists);
      continue;
    }
    EXPECT_TRUE(outcomes[i].ok()) << i << ": " << outcomes[i];
    EXPECT_TRUE(store->Get(absl::StrCat("g_queued_", i), kNow).ok()) << i;
  }
}

// Grants queued when the store closes are stored and told first.
TEST(GrantStoreTest, ClosingStoresWhatWasQueued) {
  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/close.db");
  std::atomic<int> stored{0};
  {
    auto store = GrantStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 20; ++i) {
      (*store)->CreateAsync(NewGrant(absl::StrCat("g_", i), absl::Hours(1)),
                            [&](absl::Status s) {
                              if (s.ok()) ++stored;
                            });
    }
  }
  EXPECT_EQ(stored.load(), 20);
  auto reopened = GrantStore::Open(path);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->List("", "", false, kNow, 100, "")->items.size(),
            size_t{20});
}

// Pages follow each other newest first, each grant on exactly one, even
// with grants created between pages; filtered-out grants are skipped, and
// a token of another list is refused.
TEST(GrantStoreTest, PagesGoNewestFirstAndMissNothing) {
  auto store = OpenStore("pages.db");
  for (int i = 0; i < 23; ++i) {
    // Every third one has expired by kNow.
    ASSERT_TRUE(
        store
            ->Create(NewGrant(absl::StrCat("g_", i),
                              i % 3 == 0 ? -absl::Hours(1) : absl::Hours(1)))
            .ok());
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page =
        store->List("anna.support", "", /*active_only=*/true, kNow, 5, token);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->items.size(), 5u);
    for (const auto& grant : page->items) seen.push_back(grant.grant_id());
    token = page->next_page_token;
    // Newer grants do not push older ones onto the next page twice.
    if (pages++ == 0) {
      ASSERT_TRUE(store->Create(NewGrant("g_newer", absl::Hours(1))).ok());
    }
  } while (!token.empty());
  std::vector<std::string> expected;
  for (int i = 22; i >= 0; --i) {
    if (i % 3 != 0) expected.push_back(absl::StrCat("g_", i));
  }
  EXPECT_EQ(seen, expected);
  // Three full pages, the third known to be the last: the expired grants
  // (g_0 among them) are not read at all.
  EXPECT_EQ(pages, 3);

  auto foreign = store->List("", "", false, kNow, 5, "s12");
  EXPECT_EQ(foreign.status().code(), absl::StatusCode::kInvalidArgument);
}

// Lists by staff member, by customer, by both or by neither hold exactly the
// grants that match, newest first; filtered, they walk that column's index
// without sorting, so a staff member with a few grants among millions
// reads only theirs.
TEST(GrantStoreTest, ListsByEachFilterWalkAnIndex) {
  auto store = OpenStore("plan.db");
  const struct {
    const char* id;
    const char* staff;
    const char* customer;
  } grants[] = {{"g_1", "anna.support", "acme"},
                {"g_2", "anna.support", "nordwind"},
                {"g_3", "lars.deliverability", "acme"},
                {"g_4", "anna.support", "acme"}};
  for (const auto& made : grants) {
    custos::v1::Grant grant = NewGrant(made.id, absl::Hours(1));
    grant.set_staff_id(made.staff);
    grant.set_customer_id(made.customer);
    ASSERT_TRUE(store->Create(grant).ok());
  }
  const auto ids = [&](const std::string& staff, const std::string& customer) {
    std::vector<std::string> listed;
    auto page = store->List(staff, customer, false, kNow, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& g : page->items) listed.push_back(g.grant_id());
    }
    return listed;
  };
  using ::testing::ElementsAre;
  EXPECT_THAT(ids("", ""), ElementsAre("g_4", "g_3", "g_2", "g_1"));
  EXPECT_THAT(ids("anna.support", ""), ElementsAre("g_4", "g_2", "g_1"));
  EXPECT_THAT(ids("", "acme"), ElementsAre("g_4", "g_3", "g_1"));
  EXPECT_THAT(ids("anna.support", "acme"), ElementsAre("g_4", "g_1"));
  EXPECT_THAT(ids("nobody", ""), ElementsAre());

  const std::string path = absl::StrCat(getenv("TEST_TMPDIR"), "/plan.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const FilteredListSql& sql = internal::kGrantListSql;
  EXPECT_EQ(QueryPlan(db, sql.all),
            "SEARCH grants USING INTEGER PRIMARY KEY (rowid<?)\n");
  EXPECT_EQ(QueryPlan(db, sql.first),
            "SEARCH grants USING INDEX grants_by_staff_id (staff_id=? AND "
            "rowid<?)\n");
  EXPECT_EQ(QueryPlan(db, sql.second),
            "SEARCH grants USING INDEX grants_by_customer_id (customer_id=? "
            "AND rowid<?)\n");
  EXPECT_THAT(
      QueryPlan(db, sql.both),
      ::testing::MatchesRegex(
          "SEARCH grants USING INDEX grants_by_[a-z]+_id \\([a-z_]+=\\? "
          "AND rowid<\\?\\)\n"));
  // The active ones range over until when each grant is active, and sort
  // what they find (only active grants) newest first.
  const FilteredListSql& active = internal::kActiveGrantListSql;
  EXPECT_EQ(QueryPlan(db, active.all),
            "SEARCH grants USING INDEX grants_active (active_until_us>?)\n"
            "USE TEMP B-TREE FOR ORDER BY\n");
  EXPECT_EQ(QueryPlan(db, active.first),
            "SEARCH grants USING INDEX grants_active_by_staff_id (staff_id=? "
            "AND active_until_us>?)\n"
            "USE TEMP B-TREE FOR ORDER BY\n");
  EXPECT_EQ(QueryPlan(db, active.second),
            "SEARCH grants USING INDEX grants_active_by_customer_id "
            "(customer_id=? AND active_until_us>?)\n"
            "USE TEMP B-TREE FOR ORDER BY\n");
  EXPECT_EQ(QueryPlan(db, active.both),
            "SEARCH grants USING INDEX grants_active_by_staff_id (staff_id=? "
            "AND active_until_us>?)\n"
            "USE TEMP B-TREE FOR ORDER BY\n");
  sqlite3_close(db);
}

// A list of active grants reads the active ones, not the table, under the
// store's lock (which every read under every grant takes): thousands more
// ended and expired grants add nothing to what SQLite does for it, with
// any filter.
TEST(GrantStoreTest, ActiveListsReadOnlyActiveGrants) {
  auto store = OpenStore("active-only.db");
  CreateMany(*store, "g_expired_", 20, -absl::Minutes(1));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        store->Create(NewGrant(absl::StrCat("g_active_", i), absl::Hours(1)))
            .ok());
  }
  custos::v1::Grant other = NewGrant("g_other", absl::Hours(1));
  other.set_staff_id("lars.deliverability");
  other.set_customer_id("nordwind");
  ASSERT_TRUE(store->Create(other).ok());
  struct Filter {
    const char* staff;
    const char* customer;
  };
  const Filter filters[] = {
      {"", ""}, {"anna.support", ""}, {"", "acme"}, {"anna.support", "acme"}};
  const auto listed = [&](const Filter& filter) {
    std::vector<std::string> ids;
    auto page = store->List(filter.staff, filter.customer, true, kNow, 100, "");
    EXPECT_TRUE(page.ok()) << page.status();
    if (page.ok()) {
      for (const auto& grant : page->items) ids.push_back(grant.grant_id());
    }
    return ids;
  };
  std::vector<int> steps;
  for (const Filter& filter : filters) {
    EXPECT_THAT(listed(filter), ::testing::IsSupersetOf(
                                    {"g_active_2", "g_active_1", "g_active_0"}))
        << filter.staff << "/" << filter.customer;
    steps.push_back(store->last_list_steps());
  }

  CreateMany(*store, "g_old_", 2000, -absl::Minutes(1));
  CreateMany(*store, "g_ended_", 100, absl::Hours(1));
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(store
                    ->End(absl::StrCat("g_ended_", i), custos::v1::GRANT_ENDED,
                          "anna.support", kNow)
                    .ok());
  }
  for (size_t f = 0; f < std::size(filters); ++f) {
    const Filter& filter = filters[f];
    const std::vector<std::string> expected =
        filter.staff[0] == '\0' && filter.customer[0] == '\0'
            ? std::vector<std::string>{"g_other", "g_active_2", "g_active_1",
                                       "g_active_0"}
            : std::vector<std::string>{"g_active_2", "g_active_1",
                                       "g_active_0"};
    EXPECT_EQ(listed(filter), expected)
        << filter.staff << "/" << filter.customer;
    EXPECT_EQ(store->last_list_steps(), steps[f])
        << filter.staff << "/" << filter.customer;
  }
  // Every grant is still in the full list, and an expired one is in no
  // active list once its time has come.
  EXPECT_EQ(store->List("", "", false, kNow, 10000, "")->items.size(), 2124u);
  EXPECT_TRUE(
      store->List("", "", true, kNow + absl::Hours(1), 100, "")->items.empty());
}

// A file written before grants had a column saying until when each is
// active gets it filled in at the first open: its active grants are listed.
TEST(GrantStoreTest, FillsInUntilWhenGrantsOfAFileWrittenBeforeAreActive) {
  const std::string path =
      absl::StrCat(getenv("TEST_TMPDIR"), "/active-legacy.db");
  {
    auto store = *GrantStore::Open(path);
    // More grants than one batch of the fill.
    CreateMany(*store, "g_many_", 600, absl::Hours(2));
    ASSERT_TRUE(store->Create(NewGrant("g_active", absl::Hours(1))).ok());
    ASSERT_TRUE(store->Create(NewGrant("g_expired", -absl::Hours(1))).ok());
    ASSERT_TRUE(store->Create(NewGrant("g_ended", absl::Hours(1))).ok());
    ASSERT_TRUE(
        store->End("g_ended", custos::v1::GRANT_ENDED, "anna.support", kNow)
            .ok());
  }
  ASSERT_TRUE(ExecSqlite(path,
                         "DROP INDEX grants_active;"
                         "DROP INDEX grants_active_by_staff_id;"
                         "DROP INDEX grants_active_by_customer_id;"
                         "ALTER TABLE grants DROP COLUMN active_until_us;"));
  auto store = *GrantStore::Open(path);
  const auto page = store->List("anna.support", "", true, kNow, 1000, "");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->items.size(), 601u);
  EXPECT_EQ(page->items[0].grant_id(), "g_active");
  EXPECT_EQ(page->items[600].grant_id(), "g_many_0");
  EXPECT_EQ(store->List("", "", false, kNow, 1000, "")->items.size(), 603u);
  // Past the first grant's expiry, only the 600 longer ones.
  EXPECT_EQ(store->List("", "", true, kNow + absl::Minutes(90), 1000, "")
                ->items.size(),
            600u);
}

}  // namespace
}  // namespace custos::gateway
