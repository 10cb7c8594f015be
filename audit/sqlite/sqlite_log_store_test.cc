#include "audit/sqlite/sqlite_log_store.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "audit/checkpoint.h"
#include "audit/entry.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "audit/sqlite/held_values.h"
#include "audit/sqlite/offline_verifier.h"
#include "audit/sqlite/sqlite.h"
#include "common/sqlite_file_testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::audit {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const std::string path =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name, ".db");
  for (const char* suffix : {"", "-wal", "-shm"})
    unlink((path + suffix).c_str());
  return path;
}

custos::v1::LogEntry Entry(const std::string& customer,
                           const std::string& actor,
                           const std::string& reference) {
  custos::v1::LogEntry entry;
  entry.set_customer_id(customer);
  entry.mutable_actor()->set_id(actor);
  entry.set_reference(reference);
  entry.set_category("support");
  entry.set_outcome(custos::v1::OUTCOME_ALLOWED);
  entry.mutable_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  return entry;
}

// Runs one SQL statement on the file through a second connection.
void RawSql(const std::string& path, const std::string& sql) {
  auto db = sqlite::Open(path, SQLITE_OPEN_READWRITE);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE(sqlite::Exec(db->get(), sql.c_str()).ok()) << sql;
}

TEST(SqliteLogStoreTest, AssignsIndicesAndChainsEntries) {
  const std::string path = TempPath("chain");
  auto store = SqliteLogStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string prev = ZeroHash();
  for (uint64_t i = 0; i < 3; ++i) {
    auto stored =
        (*store)->Append(Entry("acme", "anna", absl::StrCat("T-", i)));
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_EQ(stored->index(), i);
    EXPECT_EQ(stored->prev_hash(), prev);
    EXPECT_EQ(stored->format_version(), kFormatVersion);
    prev = HashLeaf(SerializeEntry(*stored));
    EXPECT_EQ(*(*store)->ReadEntryBytes(i), SerializeEntry(*stored));
  }
  EXPECT_EQ((*store)->Size(), 3u);
  EXPECT_TRUE(VerifySqliteLogFile(path).ok());
}

TEST(SqliteLogStoreTest, ReopeningContinuesTheChainAndTree) {
  const std::string path = TempPath("reopen");
  std::string root_before;
  {
    auto store = *SqliteLogStore::Open(path);
    for (int i = 0; i < 11; ++i)
      ASSERT_TRUE(store->Append(Entry("acme", "a", "r")).ok());
    root_before = *store->RootHash(11);
  }
  auto store = *SqliteLogStore::Open(path);
  EXPECT_EQ(store->Size(), 11u);
  EXPECT_EQ(*store->RootHash(11), root_before);
  auto stored = store->Append(Entry("acme", "a", "r"));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->index(), 11u);
  EXPECT_TRUE(VerifySqliteLogFile(path).ok());
}

TEST(SqliteLogStoreTest, ProofsVerifyAgainstTheRoot) {
  const std::string path = TempPath("proofs");
  auto store = *SqliteLogStore::Open(path);
  std::vector<std::string> leaves;
  for (int i = 0; i < 37; ++i) {
    auto stored = store->Append(Entry("acme", "a", absl::StrCat(i)));
    leaves.push_back(HashLeaf(SerializeEntry(*stored)));
  }
  const std::string root = *store->RootHash(37);
  for (uint64_t i = 0; i < 37; ++i) {
    auto proof = store->InclusionProof(i, 37);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_TRUE(VerifyInclusion(leaves[i], i, 37, *proof, root).ok()) << i;
  }
  const std::string old_root = *store->RootHash(20);
  EXPECT_TRUE(VerifyConsistency(20, 37, old_root, root,
                                *store->ConsistencyProof(20, 37))
                  .ok());
  EXPECT_EQ(store->InclusionProof(3, 38).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(store->ReadEntryBytes(37).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(SqliteLogStoreTest, ConcurrentAppendsShareCommitsWithoutGaps) {
  const std::string path = TempPath("concurrent");
  auto store = *SqliteLogStore::Open(path);
  constexpr int kThreads = 8;
  constexpr int kAppends = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAppends; ++i) {
        ASSERT_TRUE(
            store->Append(Entry("acme", absl::StrCat("t", t), absl::StrCat(i)))
                .ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(store->Size(), static_cast<uint64_t>(kThreads * kAppends));
  EXPECT_LT(store->commits(), static_cast<uint64_t>(kThreads * kAppends));
  EXPECT_TRUE(VerifySqliteLogFile(path).ok());
}

TEST(SqliteLogStoreTest, ListsNewestFirstWithFiltersAndPages) {
  const std::string path = TempPath("list");
  auto store = *SqliteLogStore::Open(path);
  for (int i = 0; i < 5; ++i)
    (void)store->Append(Entry("acme", "anna", absl::StrCat("a", i)));
  for (int i = 0; i < 3; ++i)
    (void)store->Append(Entry("nordwind", "lars", absl::StrCat("n", i)));

  LogStore::Filter by_customer;
  by_customer.customer_id = "acme";
  auto first = store->List(by_customer, 2, "");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->entries.size(), 2u);
  EXPECT_EQ(first->entries[0].reference(), "a4");
  EXPECT_EQ(first->entries[1].reference(), "a3");
  EXPECT_EQ(first->log_size, 8u);
  auto second = store->List(by_customer, 2, first->next_page_token);
  EXPECT_EQ(second->entries[0].reference(), "a2");
  auto last = store->List(by_customer, 2, second->next_page_token);
  ASSERT_EQ(last->entries.size(), 1u);
  EXPECT_EQ(last->entries[0].reference(), "a0");
  EXPECT_EQ(last->next_page_token, "");

  LogStore::Filter by_actor;
  by_actor.actor_id = "lars";
  EXPECT_EQ(store->List(by_actor, 100, "")->entries.size(), 3u);
  LogStore::Filter none;
  none.outcome = custos::v1::OUTCOME_REFUSED;
  EXPECT_EQ(store->List(none, 100, "")->entries.size(), 0u);

  auto bad = store->List(by_customer, 2, "'; DROP TABLE entries; --");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("page_token"));
}

// Paging with two filters returns exactly the matching entries, newest
// first; erasing one subject leaves the others' values.
// Listings find keyed entries through the listing table and scan the ones
// past its watermark: every split between the two gives the same pages.
TEST(SqliteLogStoreTest, ListsTheSameWhereverTheKeyedPartEnds) {
  for (size_t batch : {size_t{1}, size_t{5}, size_t{7}, size_t{4096}}) {
    const std::string path = TempPath(absl::StrCat("listing-", batch));
    SqliteLogStore::Options options;
    options.listing_batch = batch;
    auto store = *SqliteLogStore::Open(path, options);
    for (int i = 0; i < 23; ++i) {
      ASSERT_TRUE(
          store
              ->Append(Entry(i % 3 ? "acme" : "nordwind",
                             i % 2 ? "anna" : "lars", absl::StrCat("r", i)))
              .ok());
    }
    for (const bool by_customer : {true, false}) {
      LogStore::Filter filter;
      if (by_customer) {
        filter.customer_id = "acme";
      } else {
        filter.actor_id = "lars";
      }
      std::vector<std::string> seen;
      std::string token;
      do {
        auto page = store->List(filter, 3, token);
        ASSERT_TRUE(page.ok()) << page.status();
        EXPECT_LE(page->entries.size(), 3u);
        for (const auto& e : page->entries) seen.push_back(e.reference());
        token = page->next_page_token;
      } while (!token.empty());
      std::vector<std::string> want;
      for (int i = 22; i >= 0; --i) {
        if (by_customer ? i % 3 != 0 : i % 2 == 0) {
          want.push_back(absl::StrCat("r", i));
        }
      }
      EXPECT_EQ(seen, want) << "listing_batch " << batch << " by "
                            << (by_customer ? "customer" : "actor");
    }
  }
}

// A filter few entries match is answered a bounded stretch of the log at a
// time: a page may come back short, even empty, with a token to go on, and
// following the tokens still gives exactly the matching entries, newest
// first, keyed or scanned.
TEST(SqliteLogStoreTest, ListsInStretchesOfAtMostTheScanBudget) {
  for (size_t batch : {size_t{1}, size_t{7}, size_t{4096}}) {
    const std::string path = TempPath(absl::StrCat("budget-", batch));
    SqliteLogStore::Options options;
    options.listing_batch = batch;
    options.list_scan_budget = 4;
    auto store = *SqliteLogStore::Open(path, options);
    for (int i = 0; i < 23; ++i) {
      custos::v1::LogEntry entry =
          Entry(i % 3 ? "acme" : "nordwind", "anna", absl::StrCat("r", i));
      if (i % 5 == 0) entry.set_outcome(custos::v1::OUTCOME_REFUSED);
      ASSERT_TRUE(store->Append(entry).ok());
    }
    for (const bool by_customer : {true, false}) {
      LogStore::Filter filter;
      filter.outcome = custos::v1::OUTCOME_REFUSED;
      if (by_customer) filter.customer_id = "acme";
      std::vector<std::string> seen;
      std::string token;
      int pages = 0, short_pages = 0;
      do {
        auto page = store->List(filter, 3, token);
        ASSERT_TRUE(page.ok()) << page.status();
        ++pages;
        if (page->entries.size() < 3 && !page->next_page_token.empty()) {
          ++short_pages;
        }
        for (const auto& e : page->entries) seen.push_back(e.reference());
        token = page->next_page_token;
        ASSERT_LT(pages, 100) << "the tokens do not end";
      } while (!token.empty());
      std::vector<std::string> want;
      for (int i = 22; i >= 0; --i) {
        if (i % 5 == 0 && (!by_customer || i % 3 != 0)) {
          want.push_back(absl::StrCat("r", i));
        }
      }
      EXPECT_EQ(seen, want) << "listing_batch " << batch;
      EXPECT_GT(short_pages, 0) << "listing_batch " << batch;
    }
  }
}

// Keys of entries appended but not yet keyed when the store closed are
// written when it opens again; so are those of a log from before the
// listing table, whose per-append indexes are dropped.
TEST(SqliteLogStoreTest, KeysWhatAnEarlierRunLeftUnkeyed) {
  const std::string path = TempPath("catch-up");
  {
    SqliteLogStore::Options options;
    options.listing_batch = 1000000;
    auto store = *SqliteLogStore::Open(path, options);
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(
          store->Append(Entry("acme", "anna", absl::StrCat("r", i))).ok());
    }
  }
  RawSql(path,
         "CREATE INDEX entries_by_customer ON entries(customer_id, idx); "
         "DELETE FROM listing; DELETE FROM log_state;");
  // Nothing listed yet: listings scan, and verification has no rows to check.
  auto unlisted = VerifySqliteLog(path);
  ASSERT_TRUE(unlisted.ok()) << unlisted.status();
  EXPECT_EQ(unlisted->listed_entries, 0u);
  auto store = *SqliteLogStore::Open(path);
  auto db = *sqlite::Open(path, SQLITE_OPEN_READONLY);
  auto count = *sqlite::Prepare(
      db.get(),
      "SELECT (SELECT count(*) FROM listing), (SELECT value FROM log_state "
      "WHERE name = 'listed_below'), (SELECT count(*) FROM sqlite_master "
      "WHERE name = 'entries_by_customer')");
  ASSERT_EQ(sqlite3_step(count.get()), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(count.get(), 0),
            20);  // a customer and actor key each
  EXPECT_EQ(sqlite3_column_int(count.get(), 1), 10);
  EXPECT_EQ(sqlite3_column_int(count.get(), 2), 0);
  LogStore::Filter filter;
  filter.customer_id = "acme";
  EXPECT_EQ(store->List(filter, 100, "")->entries.size(), 10u);
  auto listed = VerifySqliteLog(path);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->listed_entries, 10u);
}

TEST(SqliteLogStoreTest, PagesThroughTwoFiltersAndErasesOneSubject) {
  const std::string path = TempPath("indexed");
  auto store = *SqliteLogStore::Open(path);
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(
        store
            ->Append(
                Entry(i % 3 ? "acme" : "nordwind", i % 2 ? "anna" : "lars",
                      absl::StrCat("r", i)),
                {{"note", absl::StrCat("note ", i), i % 2 ? "anna" : "lars"}})
            .ok());
  }
  for (int i = 30; i < 34; ++i)
    (void)store->Append(Entry("acme", "anna", absl::StrCat("r", i)));

  LogStore::Filter filter;
  filter.customer_id = "acme";
  filter.actor_id = "anna";
  std::vector<std::string> seen;
  std::string token;
  do {
    auto page = store->List(filter, 4, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& e : page->entries) seen.push_back(e.reference());
    token = page->next_page_token;
  } while (!token.empty());
  std::vector<std::string> want;
  for (int i = 33; i >= 0; --i) {
    const bool acme = i >= 30 || i % 3 != 0;
    const bool anna = i >= 30 || i % 2 == 1;
    if (acme && anna) want.push_back(absl::StrCat("r", i));
  }
  EXPECT_EQ(seen, want);

  auto erased = store->Erase("lars", absl::InfinitePast());
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->entries_touched, 15u);
  EXPECT_EQ(erased->values_erased, 15u);
  EXPECT_TRUE(store->PersonalValues(0)->empty());   // lars's
  EXPECT_EQ(store->PersonalValues(1)->size(), 1u);  // anna's stays
}

// What verification finds first, the same whether entries are checked in
// one batch or in batches of 1 or 3 (each handed between two threads).
std::string FirstProblem(const std::string& path) {
  std::string found;
  for (size_t batch_size : {size_t{8192}, size_t{1}, size_t{3}}) {
    VerifyOptions options;
    options.batch_size = batch_size;
    const std::string message(
        VerifySqliteLog(path, options).status().message());
    if (batch_size == 8192) {
      found = message;
    } else {
      EXPECT_EQ(message, found) << "in batches of " << batch_size;
    }
  }
  return found;
}

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempPath("tamper");
    auto store = *SqliteLogStore::Open(path_);
    // 40 entries: two full subtrees of 16, whose nodes are stored. Even
    // ones are acme's, odd ones globex's.
    for (int i = 0; i < 40; ++i) {
      (void)store->Append(
          Entry(i % 2 == 0 ? "acme" : "globex", "anna", absl::StrCat("T-", i)));
    }
    // Reopened, the store lists what its last run left unlisted (without a
    // signer there were no checkpoints to list them at).
    store.reset();
    store = *SqliteLogStore::Open(path_);
  }
  std::string path_;
};

TEST_F(TamperTest, DetectsAFlippedByte) {
  RawSql(path_,
         "UPDATE entries SET entry = CAST(replace(CAST(entry AS TEXT), 'T-6', "
         "'T-7') AS BLOB) "
         "WHERE idx = 6");
  EXPECT_EQ(FirstProblem(path_),
            "entry 6: stored leaf hash does not match its bytes");
}

TEST_F(TamperTest, DetectsAChangedEntryWithItsLeafHashRecomputed) {
  // Changing the bytes and the stored hash together breaks the next link.
  auto db = *sqlite::Open(path_, SQLITE_OPEN_READWRITE);
  custos::v1::LogEntry entry;
  {
    auto stmt =
        *sqlite::Prepare(db.get(), "SELECT entry FROM entries WHERE idx = 3");
    ASSERT_EQ(sqlite3_step(stmt.get()), SQLITE_ROW);
    entry.ParseFromString(sqlite::ColumnBytes(stmt.get(), 0));
  }
  entry.set_reference("forged");
  const std::string bytes = SerializeEntry(entry);
  const std::string leaf = HashLeaf(bytes);
  auto update = *sqlite::Prepare(
      db.get(), "UPDATE entries SET entry = ?1, leaf_hash = ?2 WHERE idx = 3");
  sqlite::BindBlob(update.get(), 1, bytes);
  sqlite::BindBlob(update.get(), 2, leaf);
  ASSERT_EQ(sqlite3_step(update.get()), SQLITE_DONE);
  EXPECT_EQ(FirstProblem(path_),
            "entry 4: prev_hash does not match the leaf hash of entry 3 (an "
            "entry was changed, inserted or reordered)");
}

TEST_F(TamperTest, DetectsBytesThatAreNoEntry) {
  // Even with a leaf hash to match, bytes that are no protobuf fail first.
  auto db = *sqlite::Open(path_, SQLITE_OPEN_READWRITE);
  const std::string garbage("\xff\xff\xff", 3);
  const std::string leaf = HashLeaf(garbage);  // bound, so kept until the step
  auto update = *sqlite::Prepare(
      db.get(), "UPDATE entries SET entry = ?1, leaf_hash = ?2 WHERE idx = 9");
  sqlite::BindBlob(update.get(), 1, garbage);
  sqlite::BindBlob(update.get(), 2, leaf);
  ASSERT_EQ(sqlite3_step(update.get()), SQLITE_DONE);
  EXPECT_EQ(FirstProblem(path_),
            "entry 9: bytes do not parse as a LogEntry (entry changed)");
}

TEST_F(TamperTest, DetectsADeletedRow) {
  RawSql(path_, "DELETE FROM entries WHERE idx = 5");
  EXPECT_EQ(FirstProblem(path_), "entry 5: missing (the next row stored is 6)");
}

TEST_F(TamperTest, DetectsSwappedRows) {
  RawSql(path_,
         "UPDATE entries SET idx = -1 WHERE idx = 2; UPDATE entries SET idx = "
         "2 WHERE idx = 3; "
         "UPDATE entries SET idx = 3 WHERE idx = -1;");
  EXPECT_EQ(FirstProblem(path_),
            "entry 2: its index field says 3 (entries missing or reordered "
            "before it)");
}

TEST_F(TamperTest, DetectsARowInsertedBeforeTheFirst) {
  RawSql(path_,
         "INSERT INTO entries(idx, leaf_hash, entry, time_us, customer_id, "
         "actor_id, category, outcome) SELECT -1, leaf_hash, entry, time_us, "
         "customer_id, actor_id, category, outcome FROM entries WHERE idx = "
         "0");
  EXPECT_EQ(FirstProblem(path_),
            "entry 0: a row with index -1 is stored before it (a row was "
            "inserted)");
}

TEST_F(TamperTest, DetectsARowAddedAtTheEnd) {
  RawSql(path_,
         "INSERT INTO entries(idx, leaf_hash, entry, time_us, customer_id, "
         "actor_id, category, outcome) SELECT 40, leaf_hash, entry, time_us, "
         "customer_id, actor_id, category, outcome FROM entries WHERE idx = "
         "39");
  EXPECT_EQ(FirstProblem(path_),
            "entry 40: its index field says 39 (entries reordered or "
            "inserted)");
}

TEST_F(TamperTest, ListsEveryEntryItVerified) {
  auto report = VerifySqliteLog(path_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->listed_entries, 40u);
}

// Listings filter on the row's columns: each changed column is named, with
// what the entry says, though bytes, chain and tree are intact.
TEST_F(TamperTest, DetectsAChangedLookupColumn) {
  const struct {
    const char* set;
    const char* restore;
    const char* problem;
  } cases[] = {
      {"customer_id = 'globex'", "customer_id = 'acme'",
       "entry 12: its row's customer_id column says \"globex\" but the entry "
       "says \"acme\""},
      {"actor_id = 'bob'", "actor_id = 'anna'",
       "entry 12: its row's actor_id column says \"bob\" but the entry says "
       "\"anna\""},
      {"category = 'bug'", "category = 'support'",
       "entry 12: its row's category column says \"bug\""},
      {"outcome = 2", "outcome = 1",
       "entry 12: its row's outcome column says \"2\" but the entry says "
       "\"1\""},
      {"time_us = time_us + 1", "time_us = time_us - 1",
       "entry 12: its row's time_us column says"},
  };
  ASSERT_TRUE(VerifySqliteLog(path_).ok());
  for (const auto& c : cases) {
    RawSql(path_,
           absl::StrCat("UPDATE entries SET ", c.set, " WHERE idx = 12"));
    EXPECT_THAT(FirstProblem(path_), HasSubstr(c.problem)) << c.set;
    RawSql(path_,
           absl::StrCat("UPDATE entries SET ", c.restore, " WHERE idx = 12"));
  }
  EXPECT_TRUE(VerifySqliteLog(path_).ok());
}

// A value of another type is never equal to the text or number listings
// look for, though reading it as text or a number gives the same value:
// each column stored as another type is named.
TEST_F(TamperTest, DetectsALookupColumnStoredAsAnotherType) {
  const struct {
    const char* change;
    const char* restore;
    const char* problem;
  } cases[] = {
      {"UPDATE entries SET customer_id = CAST(customer_id AS BLOB) WHERE idx "
       "= 2",
       "UPDATE entries SET customer_id = CAST(customer_id AS TEXT) WHERE idx "
       "= 2",
       "entry 2: its row's customer_id column is stored as blob, not text"},
      {"UPDATE entries SET actor_id = CAST(actor_id AS BLOB) WHERE idx = 4",
       "UPDATE entries SET actor_id = CAST(actor_id AS TEXT) WHERE idx = 4",
       "entry 4: its row's actor_id column is stored as blob, not text"},
      {"UPDATE entries SET category = CAST(category AS BLOB) WHERE idx = 6",
       "UPDATE entries SET category = CAST(category AS TEXT) WHERE idx = 6",
       "entry 6: its row's category column is stored as blob, not text"},
      {"UPDATE entries SET outcome = CAST(outcome AS BLOB) WHERE idx = 5",
       "UPDATE entries SET outcome = CAST(outcome AS INTEGER) WHERE idx = 5",
       "entry 5: its row's outcome column is stored as blob, not integer"},
      {"UPDATE entries SET time_us = CAST(time_us AS BLOB) WHERE idx = 7",
       "UPDATE entries SET time_us = CAST(time_us AS INTEGER) WHERE idx = 7",
       "entry 7: its row's time_us column is stored as blob, not integer"},
      {"UPDATE entries SET time_us = time_us + 0.5 WHERE idx = 7",
       "UPDATE entries SET time_us = time_us - 0.5 WHERE idx = 7",
       "entry 7: its row's time_us column is stored as real, not integer"},
      {"UPDATE listing SET key = CAST(key AS BLOB) WHERE idx = 3",
       "UPDATE listing SET key = CAST(key AS TEXT) WHERE idx = 3",
       "entry 3: its listing row under its customer \"globex\" is stored as "
       "blob key, integer idx"},
      {"UPDATE listing SET idx = CAST(idx AS BLOB) WHERE idx = 8 AND key = "
       "'a:anna'",
       "UPDATE listing SET idx = CAST(idx AS INTEGER) WHERE typeof(idx) = "
       "'blob'",
       "entry 8: its listing row under its actor \"anna\" is stored as text "
       "key, blob idx"},
  };
  ASSERT_TRUE(VerifySqliteLog(path_).ok());
  for (const auto& c : cases) {
    RawSql(path_, c.change);
    EXPECT_THAT(FirstProblem(path_), HasSubstr(c.problem)) << c.change;
    RawSql(path_, c.restore);
    EXPECT_TRUE(VerifySqliteLog(path_).ok()) << c.restore;
  }
}

TEST_F(TamperTest, DetectsADeletedListingRow) {
  RawSql(path_, "DELETE FROM listing WHERE key = 'c:acme' AND idx = 8");
  EXPECT_EQ(FirstProblem(path_),
            "entry 8: missing from the listing of its customer \"acme\" (a "
            "listing row was deleted: lists filtered by that customer do not "
            "show the entry)");
  // The filtered list indeed misses it.
  auto store = *SqliteLogStore::Open(path_);
  LogStore::Filter filter;
  filter.customer_id = "acme";
  EXPECT_EQ(store->List(filter, 100, "")->entries.size(), 19u);
}

TEST_F(TamperTest, DetectsAListingRowMovedToAnotherEntry) {
  // acme's rows keep their count, but one now names a globex entry.
  RawSql(path_,
         "UPDATE listing SET idx = 11 WHERE key = 'c:acme' AND idx = 10");
  EXPECT_EQ(FirstProblem(path_),
            "entry 10: missing from the listing of its customer \"acme\" (a "
            "listing row was deleted: lists filtered by that customer do not "
            "show the entry)");
  RawSql(path_, "DELETE FROM listing WHERE key = 'a:anna' AND idx = 3");
  EXPECT_THAT(FirstProblem(path_),
              HasSubstr("entry 3: missing from the listing of its actor "
                        "\"anna\""));
}

TEST_F(TamperTest, DetectsAnAddedListingRow) {
  RawSql(path_, "INSERT INTO listing(key, idx) VALUES('c:acme', 13)");
  EXPECT_EQ(FirstProblem(path_),
            "entry 13: a listing row \"c:acme\" lists it, but its customer is "
            "\"globex\" and its actor \"anna\" (a listing row was added: a "
            "list filtered by it would look for the entry there)");
  // A row for an entry the log does not hold, below the listed watermark.
  RawSql(path_,
         "DELETE FROM listing WHERE idx = 13 AND key = 'c:acme'; "
         "UPDATE log_state SET value = 41 WHERE name = 'listed_below'; "
         "INSERT INTO listing(key, idx) VALUES('a:anna', 40)");
  EXPECT_THAT(FirstProblem(path_),
              HasSubstr("entry 40: a listing row \"a:anna\" lists it, but the "
                        "log holds no such entry"));
}

TEST_F(TamperTest, DetectsATamperedTreeNode) {
  RawSql(path_,
         "UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 4 AND "
         "last_leaf = 31");
  EXPECT_EQ(FirstProblem(path_),
            "entry 31: does not match the stored Merkle tree (node 4/1 over "
            "entries 16..31): the entry or the tree was changed");
}

TEST_F(TamperTest, StoresNoNodeBelowSixteenEntries) {
  auto db = *sqlite::Open(path_, SQLITE_OPEN_READONLY);
  auto stmt = *sqlite::Prepare(
      db.get(),
      "SELECT group_concat(level || '/' || last_leaf) FROM tree_nodes");
  ASSERT_EQ(sqlite3_step(stmt.get()), SQLITE_ROW);
  EXPECT_EQ(sqlite::ColumnBytes(stmt.get(), 0), "4/15,4/31,5/31");
}

// Logs written before nodes below level 4 were left out still hold them:
// such a row is checked when present.
TEST_F(TamperTest, DetectsAWrongLowerNodeOfAnOlderLog) {
  RawSql(path_,
         "INSERT INTO tree_nodes(last_leaf, level, hash) VALUES(7, 2, "
         "zeroblob(32))");
  EXPECT_EQ(FirstProblem(path_),
            "entry 7: does not match the stored Merkle tree (node 2/1 over "
            "entries 4..7): the entry or the tree was changed");
}

TEST_F(TamperTest, DetectsANodeBeyondTheLog) {
  RawSql(path_,
         "INSERT INTO tree_nodes(last_leaf, level, hash) VALUES(63, 6, "
         "zeroblob(32))");
  EXPECT_EQ(FirstProblem(path_),
            "tree node 6 over entries up to 63 is stored, but the log holds 40 "
            "entries: entries were removed from the end, or the node added");
}

TEST(SqliteLogStoreFailClosedTest, RefusesWhileLockedAndRecoversAfter) {
  const std::string path = TempPath("locked");
  auto store = *SqliteLogStore::Open(path);
  ASSERT_TRUE(store->Append(Entry("acme", "a", "before")).ok());

  auto other = *sqlite::Open(path, SQLITE_OPEN_READWRITE);
  ASSERT_TRUE(sqlite::Exec(other.get(), "BEGIN EXCLUSIVE").ok());
  const absl::Time start = absl::Now();
  auto refused = store->Append(Entry("acme", "a", "during"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  ASSERT_TRUE(sqlite::Exec(other.get(), "ROLLBACK").ok());

  auto after = store->Append(Entry("acme", "a", "after"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->index(), 1u);
  EXPECT_EQ(store->Size(), 2u);
  EXPECT_TRUE(VerifySqliteLogFile(path).ok());
}

// --- Checkpoints, erasure and offline verification ---

SqliteLogStore::Options SignedBy(const NoteSigner& signer,
                                 absl::Duration interval = absl::Hours(1)) {
  SqliteLogStore::Options options;
  options.signer = [signer](uint64_t size, absl::string_view root) {
    return signer.Sign(
        FormatCheckpointBody({signer.name(), size, std::string(root)}));
  };
  options.checkpoint_interval = interval;
  return options;
}

TEST(CheckpointTest, CheckpointNowSignsTheCurrentRoot) {
  const std::string path = TempPath("checkpoint_now");
  const NoteSigner signer = *NoteSigner::Generate("custos.test/log");
  auto store = *SqliteLogStore::Open(path, SignedBy(signer));
  for (int i = 0; i < 5; ++i)
    (void)store->Append(Entry("acme", "a", absl::StrCat(i)));
  auto checkpoint = store->CheckpointNow();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->size, 5u);
  EXPECT_EQ(checkpoint->root_hash, *store->RootHash(5));
  auto text = NoteVerifier::FromVerifierKey(signer.verifier_key())
                  ->Open(checkpoint->note);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(ParseCheckpointBody(*text)->root_hash, checkpoint->root_hash);
  EXPECT_EQ(store->CheckpointAt(5)->note, checkpoint->note);
  EXPECT_EQ(store->CheckpointAt(4).status().code(),
            absl::StatusCode::kNotFound);
  // Nothing new: the same checkpoint comes back.
  EXPECT_EQ(store->CheckpointNow()->note, checkpoint->note);
}

TEST(CheckpointTest, MakesCheckpointsWhileEntriesArrive) {
  const std::string path = TempPath("checkpoint_periodic");
  const NoteSigner signer = *NoteSigner::Generate("custos.test/log");
  auto store =
      *SqliteLogStore::Open(path, SignedBy(signer, absl::Milliseconds(50)));
  for (int i = 0; i < 3; ++i)
    (void)store->Append(Entry("acme", "a", absl::StrCat(i)));
  absl::SleepFor(absl::Milliseconds(300));
  auto latest = store->LatestCheckpoint();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->size, 3u);
}

// A signer that fails leaves appends unsigned, not refused; the store
// tries again an interval later (not at once, over and over) and signs
// everything once the signer works.
TEST(CheckpointTest, AppendsWhileTheSignerFailsAndSignsOnceItRecovers) {
  const std::string path = TempPath("checkpoint_signer_down");
  const NoteSigner signer = *NoteSigner::Generate("custos.test/log");
  std::atomic<bool> failing{false};
  std::atomic<int> attempts{0};
  SqliteLogStore::Options options;
  options.signer = [&](uint64_t size,
                       absl::string_view root) -> absl::StatusOr<std::string> {
    ++attempts;
    if (failing) return absl::UnavailableError("the signer is down");
    return signer.Sign(
        FormatCheckpointBody({signer.name(), size, std::string(root)}));
  };
  options.checkpoint_interval = absl::Milliseconds(20);
  auto store = *SqliteLogStore::Open(path, options);
  ASSERT_TRUE(store->Append(Entry("acme", "a", "0")).ok());
  ASSERT_EQ(store->LatestCheckpoint()->size, 1u);

  failing = true;
  for (int i = 1; i < 4; ++i) {
    absl::SleepFor(absl::Milliseconds(30));  // a checkpoint is due
    auto appended = store->Append(Entry("acme", "a", absl::StrCat(i)));
    ASSERT_TRUE(appended.ok()) << appended.status();
  }
  EXPECT_EQ(store->LatestCheckpoint()->size, 1u);
  attempts = 0;
  absl::SleepFor(absl::Milliseconds(200));
  // About one attempt per interval; a writer retrying at once makes
  // thousands.
  EXPECT_LT(attempts.load(), 100);

  failing = false;
  auto checkpoint = store->CheckpointNow();
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_EQ(checkpoint->size, 4u);
  store.reset();
  VerifyOptions verify;
  verify.verifier_key = signer.verifier_key();
  auto report = VerifySqliteLog(path, verify);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->entries, 4u);
}

TEST(CheckpointTest, ClosingCheckpointsEverything) {
  const std::string path = TempPath("checkpoint_close");
  const NoteSigner signer = *NoteSigner::Generate("custos.test/log");
  {
    auto store = *SqliteLogStore::Open(path, SignedBy(signer));
    for (int i = 0; i < 4; ++i)
      (void)store->Append(Entry("acme", "a", absl::StrCat(i)));
  }
  VerifyOptions options;
  options.verifier_key = signer.verifier_key();
  auto report = VerifySqliteLog(path, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->entries, 4u);
  EXPECT_EQ(report->latest_checkpoint_size, 4u);
  EXPECT_TRUE(report->signatures_checked);
}

// A log that a server keeps appending to verifies at any moment: the
// verifier reads one state of it, whichever connection reads what.
TEST(OfflineVerifierTest, VerifiesALogWhileItGrows) {
  const std::string path = TempPath("growing");
  const NoteSigner signer = *NoteSigner::Generate("custos.test/log");
  auto store = *SqliteLogStore::Open(path, SignedBy(signer));
  std::atomic<bool> stop{false};
  std::thread appender([&] {
    for (int i = 0; !stop.load(); ++i) {
      (void)store->Append(Entry("acme", "anna", absl::StrCat("T-", i)),
                          {{"note", absl::StrCat("note-", i), "anna"}});
      if (i % 50 == 0) (void)store->CheckpointNow();
    }
  });
  VerifyOptions options;
  options.verifier_key = signer.verifier_key();
  // Entries appended since the last CheckpointNow wait for the next one.
  options.unsigned_tail_ok = true;
  uint64_t seen = 0;
  for (size_t batch_size : {size_t{8192}, size_t{7}, size_t{1}, size_t{64}}) {
    options.batch_size = batch_size;
    // Wait for new entries, so that each pass meets a log being written.
    while (store->Size() <= seen + 20) absl::SleepFor(absl::Milliseconds(5));
    auto report = VerifySqliteLog(path, options);
    ASSERT_TRUE(report.ok())
        << "in batches of " << batch_size << ": " << report.status();
    EXPECT_GE(report->entries, seen);
    seen = report->entries;
  }
  stop = true;
  appender.join();
}

class SignedLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempPath("signed");
    auto store = *SqliteLogStore::Open(path_, SignedBy(signer_));
    for (int i = 0; i < 12; ++i) {
      (void)store->Append(Entry("acme", "anna", absl::StrCat("T-", i)),
                          {{"note", absl::StrCat("secret-note-", i), "anna"},
                           {"source_ip", "203.0.113.77", "anna"},
                           {"actor_name", "Anna de Vries", "anna"}});
      if (i == 5) ASSERT_TRUE(store->CheckpointNow().ok());
    }
    ASSERT_TRUE(store->CheckpointNow().ok());
    options_.verifier_key = signer_.verifier_key();
  }

  // Checked in one batch and in batches of 2, which must agree.
  absl::Status Verify() {
    const absl::Status whole = VerifySqliteLog(path_, options_).status();
    VerifyOptions small = options_;
    small.batch_size = 2;
    EXPECT_EQ(VerifySqliteLog(path_, small).status(), whole);
    return whole;
  }

  const NoteSigner signer_ = *NoteSigner::Generate("custos.test/log");
  std::string path_;
  VerifyOptions options_;
};

TEST_F(SignedLogTest, VerifiesWithItsKeyAndChecksEveryValue) {
  auto report = VerifySqliteLog(path_, options_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->entries, 12u);
  // The first append is checkpointed at once, then the two asked for.
  EXPECT_EQ(report->checkpoints, 3u);
  EXPECT_EQ(report->values_checked, 36u);
}

TEST_F(SignedLogTest, DetectsTruncation) {
  RawSql(path_, "DELETE FROM entries WHERE idx >= 10");
  EXPECT_EQ(Verify().message(),
            "checkpoint of size 12 is larger than the log (10 entries): "
            "entries were removed "
            "from the end");
}

TEST_F(SignedLogTest, DetectsALogRewrittenWithoutTheSigningKey) {
  // Whoever runs the database rebuilds the whole log consistently, with a
  // changed entry and a key of their own.
  const std::string forged = TempPath("forged");
  {
    const NoteSigner mallory = *NoteSigner::Generate("custos.test/log");
    auto store = *SqliteLogStore::Open(forged, SignedBy(mallory));
    for (int i = 0; i < 12; ++i) {
      (void)store->Append(
          Entry("acme", i == 7 ? "nobody" : "anna", absl::StrCat("T-", i)));
    }
    ASSERT_TRUE(store->CheckpointNow().ok());
  }
  EXPECT_TRUE(VerifySqliteLogFile(forged).ok());  // consistent in itself
  const absl::Status status = VerifySqliteLog(forged, options_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              HasSubstr("checkpoint of size 1: bad signature"));
}

TEST_F(SignedLogTest, DetectsAChangedCheckpoint) {
  RawSql(path_,
         "UPDATE checkpoints SET note = replace(note, '\n6\n', '\n7\n') WHERE "
         "size = 6");
  EXPECT_THAT(Verify().message(),
              HasSubstr("checkpoint of size 6: bad signature"));
}

// Whoever can write the file rewrites the log from entry `from` on without
// the key: a changed reference, and every later prev_hash and leaf hash
// recomputed (12 entries store no tree node).
void RewriteFrom(const std::string& path, int from) {
  auto db = *sqlite::Open(path, SQLITE_OPEN_READWRITE);
  std::string prev;
  for (int idx = from - 1; idx < 12; ++idx) {
    auto read = *sqlite::Prepare(
        db.get(),
        absl::StrCat("SELECT entry, leaf_hash FROM entries WHERE idx = ", idx));
    ASSERT_EQ(sqlite3_step(read.get()), SQLITE_ROW);
    if (idx < from) {
      prev = sqlite::ColumnBytes(read.get(), 1);
      continue;
    }
    custos::v1::LogEntry entry;
    ASSERT_TRUE(entry.ParseFromString(sqlite::ColumnBytes(read.get(), 0)));
    read.reset();
    if (idx == from) entry.set_reference("rewritten");
    entry.set_prev_hash(prev);
    const std::string bytes = SerializeEntry(entry);
    prev = HashLeaf(bytes);
    auto write = *sqlite::Prepare(
        db.get(),
        absl::StrCat("UPDATE entries SET entry = ?1, leaf_hash = ?2 WHERE "
                     "idx = ",
                     idx));
    sqlite::BindBlob(write.get(), 1, bytes);
    sqlite::BindBlob(write.get(), 2, prev);
    ASSERT_EQ(sqlite3_step(write.get()), SQLITE_DONE);
  }
}

TEST_F(SignedLogTest, DetectsATailRewrittenPastTheNewestCheckpoint) {
  RewriteFrom(path_, 8);
  RawSql(path_, "DELETE FROM checkpoints WHERE size = 12");
  EXPECT_TRUE(VerifySqliteLogFile(path_).ok());  // consistent in itself
  EXPECT_EQ(Verify().message(),
            "entry 6: entries 6..11 are not covered by any signature: the "
            "newest checkpoint is of size 6 (entries after it were changed "
            "or added without the key, or the log was copied while it was "
            "being written)");
}

TEST_F(SignedLogTest, CountsAnUnsignedTailOnlyWhenAskedToAcceptIt) {
  RawSql(path_, "DELETE FROM checkpoints WHERE size = 12");
  VerifyOptions options = options_;
  options.unsigned_tail_ok = true;
  auto report = VerifySqliteLog(path_, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->entries, 12u);
  EXPECT_EQ(report->latest_checkpoint_size, 6u);
  EXPECT_EQ(report->unsigned_entries, 6u);
  auto signed_in_full = VerifySqliteLog(path_, options_);
  EXPECT_EQ(signed_in_full.status().code(), absl::StatusCode::kDataLoss);
}

// A log left by a crash ends past its newest checkpoint; opened again, it
// is signed to its end before anything else.
TEST_F(SignedLogTest, OpeningSignsWhatACrashLeftUnsigned) {
  RawSql(path_, "DELETE FROM checkpoints WHERE size = 12");
  auto store = SqliteLogStore::Open(path_, SignedBy(signer_));
  ASSERT_TRUE(store.ok()) << store.status();
  auto report = VerifySqliteLog(path_, options_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->latest_checkpoint_size, 12u);
  EXPECT_EQ(report->unsigned_entries, 0u);
}

// A signer that counts what it signs, for tests that must see nothing
// signed.
SqliteLogStore::Options CountingSigner(const NoteSigner& signer,
                                       std::atomic<int>& signatures) {
  SqliteLogStore::Options options = SignedBy(signer);
  options.signer = [signer, &signatures](uint64_t size,
                                         absl::string_view root) {
    ++signatures;
    return signer.Sign(
        FormatCheckpointBody({signer.name(), size, std::string(root)}));
  };
  return options;
}

// Whoever can write the file must not get the key to sign a tree that
// contradicts the checkpoints it signed before: opening checks the stored
// tree against the newest one, and the last entry's leaf hash against its
// bytes, before anything is signed.
TEST_F(SignedLogTest, RefusesToOpenWithALeafHashChangedUnderTheCheckpoint) {
  RawSql(path_, "UPDATE entries SET leaf_hash = zeroblob(32) WHERE idx = 11");
  std::atomic<int> signatures{0};
  auto store = SqliteLogStore::Open(path_, CountingSigner(signer_, signatures));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(),
              HasSubstr("checkpoint of size 12: the stored tree gives another "
                        "root than it signs"));
  EXPECT_EQ(signatures.load(), 0);
}

// Appends `count` entries to a new log at `path` and closes it, which
// checkpoints them all.
void WriteSignedLog(const std::string& path, const NoteSigner& signer,
                    int count) {
  auto store = *SqliteLogStore::Open(path, SignedBy(signer));
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(store->Append(Entry("acme", "anna", absl::StrCat(i))).ok());
  }
}

// 16 entries: the checkpoint's root is the stored node over all of them,
// which no leaf hash is read for; the last one's is checked all the same,
// since the next entry would link to it.
TEST(TamperedLogTest, RefusesToOpenWithTheLastLeafHashChanged) {
  const std::string path = TempPath("last-leaf");
  const NoteSigner signer = *NoteSigner::Generate("custos.test/log");
  WriteSignedLog(path, signer, 16);
  RawSql(path, "UPDATE entries SET leaf_hash = zeroblob(32) WHERE idx = 15");
  std::atomic<int> signatures{0};
  auto store = SqliteLogStore::Open(path, CountingSigner(signer, signatures));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(),
              HasSubstr("entry 15: stored leaf hash does not match its bytes"));
  EXPECT_EQ(signatures.load(), 0);
}

TEST(TamperedLogTest, RefusesToOpenWithATreeNodeChangedUnderTheCheckpoint) {
  const std::string path = TempPath("changed-node");
  const NoteSigner signer = *NoteSigner::Generate("custos.test/log");
  WriteSignedLog(path, signer, 40);
  RawSql(path,
         "UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 5 AND "
         "last_leaf = 31");
  std::atomic<int> signatures{0};
  auto store = SqliteLogStore::Open(path, CountingSigner(signer, signatures));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(),
              HasSubstr("checkpoint of size 40: the stored tree gives another "
                        "root than it signs"));
  EXPECT_EQ(signatures.load(), 0);
}

// With the signer's verifier key, the newest checkpoint's note must be
// signed by it: a note signed by another key of the same name, as whoever
// rewrote the tree to fit it could make, keeps the store from opening.
TEST(TamperedLogTest, RefusesANewestCheckpointSignedByAnotherKey) {
  const std::string path = TempPath("other-key");
  const NoteSigner signer = *NoteSigner::Generate("custos.test/log");
  WriteSignedLog(path, signer, 12);
  const NoteSigner other = *NoteSigner::Generate("custos.test/log");
  std::string note;
  {
    auto db = *sqlite::Open(path, SQLITE_OPEN_READONLY);
    auto stmt = *sqlite::Prepare(
        db.get(), "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1");
    ASSERT_EQ(sqlite3_step(stmt.get()), SQLITE_ROW);
    note = sqlite::ColumnBytes(stmt.get(), 0);
  }
  const std::string forged = *other.Sign(note.substr(0, note.find("\n\n") + 1));
  RawSql(path, absl::StrCat("UPDATE checkpoints SET note = '", forged,
                            "' WHERE size = 12"));
  std::atomic<int> signatures{0};
  SqliteLogStore::Options options = CountingSigner(signer, signatures);
  options.verifier_key = signer.verifier_key();
  auto store = SqliteLogStore::Open(path, options);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(),
              HasSubstr("checkpoint of size 12: its note is not signed by "
                        "custos.test/log's key"));
  EXPECT_EQ(signatures.load(), 0);
  // Without the key to check it by, the store takes the note as stored.
  EXPECT_TRUE(
      SqliteLogStore::Open(path, CountingSigner(signer, signatures)).ok());
}

// Entries past the newest checkpoint (12) are hashed from their bytes before
// a signer signs them: a changed node over both parts (entries 0..15) is
// found there, not signed into the checkpoint of 20.
TEST_F(SignedLogTest, RefusesToSignAChangedTreeOverAnUnsignedTail) {
  {
    auto unsigned_store = *SqliteLogStore::Open(path_);
    for (int i = 12; i < 20; ++i) {
      ASSERT_TRUE(
          unsigned_store->Append(Entry("acme", "anna", absl::StrCat("T-", i)))
              .ok());
    }
  }
  std::string node;
  {
    auto db = *sqlite::Open(path_, SQLITE_OPEN_READONLY);
    auto stmt = *sqlite::Prepare(
        db.get(),
        "SELECT hash FROM tree_nodes WHERE level = 4 AND last_leaf = 15");
    ASSERT_EQ(sqlite3_step(stmt.get()), SQLITE_ROW);
    node = sqlite::ColumnBytes(stmt.get(), 0);
  }
  RawSql(path_,
         "UPDATE tree_nodes SET hash = zeroblob(32) WHERE level = 4 AND "
         "last_leaf = 15");
  std::atomic<int> signatures{0};
  auto store = SqliteLogStore::Open(path_, CountingSigner(signer_, signatures));
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(store.status().message(),
              HasSubstr("entry 15: does not match the stored Merkle tree "
                        "(node 4/0)"));
  EXPECT_EQ(signatures.load(), 0);

  // The node as it was: the tail is signed at open, and the log verifies.
  {
    auto db = *sqlite::Open(path_, SQLITE_OPEN_READWRITE);
    auto stmt = *sqlite::Prepare(
        db.get(),
        "UPDATE tree_nodes SET hash = ?1 WHERE level = 4 AND last_leaf = 15");
    sqlite::BindBlob(stmt.get(), 1, node);
    ASSERT_EQ(sqlite3_step(stmt.get()), SQLITE_DONE);
  }
  store = SqliteLogStore::Open(path_, CountingSigner(signer_, signatures));
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(signatures.load(), 1);
  EXPECT_EQ((*store)->LatestCheckpoint()->size, 20u);
  store->reset();
  auto report = VerifySqliteLog(path_, options_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->entries, 20u);
}

// Replaces the note held in entry `idx`'s row with another.
void ForgeNote(const std::string& path, int idx) {
  auto db = *sqlite::Open(path, SQLITE_OPEN_READWRITE);
  auto read = *sqlite::Prepare(
      db.get(), absl::StrCat("SELECT personal FROM entries WHERE idx = ", idx));
  ASSERT_EQ(sqlite3_step(read.get()), SQLITE_ROW);
  auto values = *sqlite::DecodeRowValues(sqlite::ColumnBytes(read.get(), 0));
  read.reset();
  ASSERT_EQ(values.size(), 3u);
  for (auto& value : values) {
    if (value.field == "note") value.value = "forged";
  }
  const std::string forged = sqlite::EncodeRowValues(values);
  auto write = *sqlite::Prepare(
      db.get(),
      absl::StrCat("UPDATE entries SET personal = ?1 WHERE idx = ", idx));
  sqlite::BindBlob(write.get(), 1, forged);
  ASSERT_EQ(sqlite3_step(write.get()), SQLITE_DONE);
}

TEST_F(SignedLogTest, DetectsAChangedPersonalValue) {
  ForgeNote(path_, 3);
  EXPECT_EQ(Verify().message(),
            "entry 3: the stored note does not match the entry's commitment");
}

// Held values are checked beside the reading, ahead of the chain; what is
// reported is still the first problem in the log's order.
TEST_F(SignedLogTest, NamesAnEarlierProblemBeforeALaterChangedValue) {
  ForgeNote(path_, 9);
  RawSql(path_,
         "UPDATE entries SET entry = CAST(replace(CAST(entry AS TEXT), 'T-4', "
         "'T-5') AS BLOB) WHERE idx = 4");
  for (size_t batch_size : {size_t{1}, size_t{3}, size_t{8192}}) {
    VerifyOptions options = options_;
    options.batch_size = batch_size;
    EXPECT_EQ(VerifySqliteLog(path_, options).status().message(),
              "entry 4: stored leaf hash does not match its bytes")
        << "in batches of " << batch_size;
  }
}

// A value whose subject is not the entry's actor cannot be found through
// the actor's listing keys, so the entry's values are kept beside it; erasure,
// reading and verification cover both places.
// Appends anna's entry with her note and the name of bob, a customer's
// user: bob's name is another subject's value, kept beside the entry.
void AppendNoteAboutBob(SqliteLogStore& store) {
  ASSERT_TRUE(store
                  .Append(Entry("acme", "anna", "X-1"),
                          {{"note", "about bob", "anna"},
                           {"customer_user", "Bob Jansen", "bob"}})
                  .ok());
}

TEST(SqliteLogStoreTest, KeepsAnotherSubjectsValuesBesideTheEntry) {
  const std::string path = TempPath("beside");
  auto store = *SqliteLogStore::Open(path);
  AppendNoteAboutBob(*store);
  ASSERT_TRUE(
      store->Append(Entry("acme", "anna", "X-2"), {{"note", "mine", "anna"}})
          .ok());
  auto beside = *store->PersonalValues(0);
  ASSERT_EQ(beside.size(), 2u);
  EXPECT_EQ(beside[0].field, "customer_user");
  EXPECT_EQ(beside[1].value, "about bob");
  EXPECT_EQ(store->PersonalValues(1)->size(), 1u);

  auto erased = store->Erase("bob", absl::InfinitePast());
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->values_erased, 1u);
  EXPECT_EQ(erased->entries_touched, 1u);
  EXPECT_EQ(store->PersonalValues(0)->size(), 1u);
  EXPECT_FALSE(SqliteFilesHold(path, "Bob Jansen"));

  erased = store->Erase("anna", absl::InfinitePast());
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->values_erased, 2u);
  EXPECT_EQ(erased->entries_touched, 2u);
  store.reset();
  auto report = VerifySqliteLog(path, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->values_checked, 0u);
}

// A value kept beside its entry (another subject's) is checked against the
// entry's commitment too: it verifies as written, and not once changed.
TEST(SqliteLogStoreTest, ChecksValuesKeptBesideTheEntry) {
  const std::string path = TempPath("beside-forged");
  AppendNoteAboutBob(**SqliteLogStore::Open(path));
  auto report = VerifySqliteLog(path, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->values_checked, 2u);
  RawSql(path,
         "UPDATE personal_values SET value = 'Eve Forged' WHERE field = "
         "'customer_user'");
  EXPECT_EQ(VerifySqliteLog(path, {}).status().message(),
            "entry 0: the stored customer_user does not match the entry's "
            "commitment");
}

// A value kept beside its entry is checked with the entry, so a changed
// one is named before a later changed entry (the log's order), as a value
// in the entry's row is.
TEST_F(SignedLogTest, NamesAChangedValueBesideAnEntryBeforeALaterEntry) {
  {
    auto store = *SqliteLogStore::Open(path_, SignedBy(signer_));
    AppendNoteAboutBob(*store);  // entry 12
    ASSERT_TRUE(store->Append(Entry("acme", "anna", "T-13")).ok());
  }
  RawSql(path_,
         "UPDATE personal_values SET value = 'Eve Forged' WHERE idx = 12 AND "
         "field = 'customer_user'");
  RawSql(path_,
         "UPDATE entries SET entry = CAST(replace(CAST(entry AS TEXT), "
         "'T-13', 'T-14') AS BLOB) WHERE idx = 13");
  for (size_t batch_size : {size_t{1}, size_t{3}, size_t{8192}}) {
    VerifyOptions options = options_;
    options.batch_size = batch_size;
    EXPECT_EQ(VerifySqliteLog(path_, options).status().message(),
              "entry 12: the stored customer_user does not match the entry's "
              "commitment")
        << "in batches of " << batch_size;
  }
}

// A value kept under an index the log holds no entry at commits to
// nothing.
TEST(SqliteLogStoreTest, DetectsAValueKeptPastTheLog) {
  const std::string path = TempPath("beside-orphan");
  AppendNoteAboutBob(**SqliteLogStore::Open(path));
  RawSql(path,
         "UPDATE personal_values SET idx = 7 WHERE field = 'customer_user'");
  EXPECT_EQ(VerifySqliteLog(path, {}).status().message(),
            "entry 7: the stored customer_user does not match the entry's "
            "commitment");
  // Or under no index at all, which no lookup by entry finds.
  RawSql(path,
         "UPDATE personal_values SET idx = 0.5 WHERE field = 'customer_user'");
  EXPECT_EQ(VerifySqliteLog(path, {}).status().message(),
            "entry 0: a stored customer_user is kept under index 0.5, which "
            "is no entry's (the row was changed)");
}

// A value's subject stored as a blob is never equal to the text erasure
// looks for: that value would outlive the erasure of its subject.
TEST(SqliteLogStoreTest, DetectsASubjectStoredAsAnotherType) {
  const std::string path = TempPath("subject-blob");
  AppendNoteAboutBob(**SqliteLogStore::Open(path));
  RawSql(path,
         "UPDATE personal_values SET subject = CAST(subject AS BLOB) WHERE "
         "field = 'customer_user'");
  EXPECT_EQ(VerifySqliteLog(path, {}).status().message(),
            "entry 0: the stored customer_user's subject column is stored as "
            "blob, not text (the row was changed: erasing that subject would "
            "not find the value)");
  auto store = *SqliteLogStore::Open(path);
  auto erased = store->Erase("bob", absl::InfinitePast());
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->values_erased, 0u);  // Indeed hidden from it.
}

// An erasure folds the WAL into the file and truncates it, since old page
// images there hold the values; a reader holding an old snapshot (a verify
// on the live file) blocks that, and the erasure (committed all the same)
// says so. Once the reader is done, erasing again clears it.
TEST(SqliteLogStoreTest, SaysWhenAReaderKeepsErasedValuesInTheWal) {
  const std::string path = TempPath("erase-busy");
  auto store = *SqliteLogStore::Open(path);
  ASSERT_TRUE(store
                  ->Append(Entry("acme", "anna", "W-1"),
                           {{"note", "a secret note", "anna"}})
                  .ok());
  sqlite3* reader = nullptr;
  ASSERT_EQ(
      sqlite3_open_v2(path.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM entries;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  const auto blocked = store->Erase("anna", absl::InfinitePast());
  ASSERT_TRUE(blocked.ok()) << blocked.status();
  EXPECT_EQ(blocked->values_erased, 1u);
  EXPECT_TRUE(blocked->old_copies_remain);
  EXPECT_TRUE(store->PersonalValues(0)->empty());
  sqlite3_exec(reader, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(reader);
  const auto again = store->Erase("anna", absl::InfinitePast());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->old_copies_remain);
  store.reset();
  EXPECT_FALSE(SqliteFilesHold(path, "a secret note"));
}

// Only masking keeps a value without its salt, and only a source address in
// masked form: any other value without one, in the entry's row or beside
// it, is reported, since its commitment no longer checks it.
TEST(SqliteLogStoreTest, OnlyAMaskedAddressGoesWithoutASalt) {
  const std::string path = TempPath("unsalted");
  {
    auto store = *SqliteLogStore::Open(path);
    ASSERT_TRUE(store
                    ->Append(Entry("acme", "anna", "U-1"),
                             {{"source_ip", "192.0.2.10", "anna"},
                              {"note", "mine", "anna"}})
                    .ok());
    AppendNoteAboutBob(*store);
    ASSERT_TRUE(store->MaskSourceAddresses(absl::Now() + absl::Hours(1)).ok());
  }
  ASSERT_TRUE(VerifySqliteLog(path, {}).ok());

  // The note in entry 0's row, changed and its salt emptied.
  std::string row;
  {
    auto db = *sqlite::Open(path, SQLITE_OPEN_READWRITE);
    auto select = *sqlite::Prepare(
        db.get(), "SELECT personal FROM entries WHERE idx = 0");
    ASSERT_EQ(sqlite3_step(select.get()), SQLITE_ROW);
    auto values =
        *sqlite::DecodeRowValues(sqlite::ColumnBytes(select.get(), 0));
    select.reset();
    for (auto& value : values) {
      if (value.field == "note") {
        value.value = "forged";
        value.salt.clear();
      }
    }
    auto update = *sqlite::Prepare(
        db.get(), "UPDATE entries SET personal = ?1 WHERE idx = 0");
    const std::string forged = sqlite::EncodeRowValues(values);
    sqlite::BindBlob(update.get(), 1, forged);
    ASSERT_EQ(sqlite3_step(update.get()), SQLITE_DONE);
  }
  EXPECT_EQ(VerifySqliteLog(path, {}).status().message(),
            "entry 0: the stored note has no salt (only a masked source_ip or "
            "erased address is kept without one)");
}

// The same for a value kept beside its entry.
TEST(SqliteLogStoreTest, OnlyAMaskedAddressGoesWithoutASaltBesideTheEntry) {
  const std::string path = TempPath("unsalted-beside");
  AppendNoteAboutBob(**SqliteLogStore::Open(path));
  RawSql(path,
         "UPDATE personal_values SET value = 'Eve Forged', salt = x'' WHERE "
         "field = 'customer_user'");
  EXPECT_EQ(VerifySqliteLog(path, {}).status().message(),
            "entry 0: the stored customer_user has no salt (only a masked "
            "source_ip or erased address is kept without one)");
}

// A masked address needs no salt, but only in place of a value the entry
// committed to: one planted on an entry without such a commitment, beside
// it or in its row, is reported.
TEST(SqliteLogStoreTest, AMaskedAddressNeedsTheEntrysCommitment) {
  const std::string path = TempPath("planted-mask");
  {
    auto store = *SqliteLogStore::Open(path);
    ASSERT_TRUE(store
                    ->Append(Entry("acme", "anna", "P-0"),
                             {{"source_ip", "192.0.2.10", "anna"}})
                    .ok());
    AppendNoteAboutBob(*store);
    ASSERT_TRUE(store->MaskSourceAddresses(absl::Now() + absl::Hours(1)).ok());
  }
  ASSERT_TRUE(VerifySqliteLog(path, {}).ok());

  RawSql(path,
         "INSERT INTO personal_values VALUES(1, 'source_ip', 'x', x'', "
         "'10.9.0.0', 0)");
  EXPECT_EQ(VerifySqliteLog(path, {}).status().message(),
            "entry 1: a masked source_ip is stored, but the entry commits to "
            "no source_ip (a value was added by hand)");
  RawSql(path, "DELETE FROM personal_values WHERE field = 'source_ip'");
  ASSERT_TRUE(VerifySqliteLog(path, {}).ok());

  // In the row of an entry with a note only.
  {
    auto store = *SqliteLogStore::Open(path);
    ASSERT_TRUE(
        store->Append(Entry("acme", "anna", "P-2"), {{"note", "n", "anna"}})
            .ok());
  }
  auto db = *sqlite::Open(path, SQLITE_OPEN_READWRITE);
  auto select =
      *sqlite::Prepare(db.get(), "SELECT personal FROM entries WHERE idx = 2");
  ASSERT_EQ(sqlite3_step(select.get()), SQLITE_ROW);
  auto values = *sqlite::DecodeRowValues(sqlite::ColumnBytes(select.get(), 0));
  select.reset();
  values.push_back({"source_ip", "anna", "", "10.9.0.0"});
  const std::string planted = sqlite::EncodeRowValues(values);
  auto update = *sqlite::Prepare(
      db.get(), "UPDATE entries SET personal = ?1 WHERE idx = 2");
  sqlite::BindBlob(update.get(), 1, planted);
  ASSERT_EQ(sqlite3_step(update.get()), SQLITE_DONE);
  EXPECT_EQ(VerifySqliteLog(path, {}).status().message(),
            "entry 2: a masked source_ip is stored, but the entry commits to "
            "no source_ip (a value was added by hand)");
}

// A log written before values moved into the entries' rows has no such
// column: it is added on open, and the old values still verify and erase.
TEST(SqliteLogStoreTest, OpensALogWithoutThePersonalColumn) {
  const std::string path = TempPath("older");
  {
    auto store = *SqliteLogStore::Open(path);
    ASSERT_TRUE(store
                    ->Append(Entry("acme", "anna", "O-1"),
                             {{"note", "old note", "anna"},
                              {"customer_user", "Old Bob", "bob"}})
                    .ok());
  }
  RawSql(path, "ALTER TABLE entries DROP COLUMN personal");
  auto old_report = VerifySqliteLog(path, {});
  ASSERT_TRUE(old_report.ok()) << old_report.status();
  EXPECT_EQ(old_report->values_checked, 2u);
  auto store = *SqliteLogStore::Open(path);
  ASSERT_TRUE(
      store->Append(Entry("acme", "anna", "O-2"), {{"note", "new", "anna"}})
          .ok());
  EXPECT_EQ(store->PersonalValues(0)->size(), 2u);
  EXPECT_EQ(store->PersonalValues(1)->size(), 1u);
  auto erased = store->Erase("anna", absl::InfinitePast());
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->values_erased, 2u);
  store.reset();
  auto report = VerifySqliteLog(path, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->values_checked, 1u);  // Old Bob's
}

TEST_F(SignedLogTest, ErasureLeavesAVerifiableLogAndNoCopyInTheFiles) {
  ASSERT_TRUE(SqliteFilesHold(path_, "secret-note-4"));
  auto store = *SqliteLogStore::Open(path_, SignedBy(signer_));
  auto erased = store->Erase("anna", absl::InfinitePast());
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->entries_touched, 12u);
  EXPECT_EQ(erased->values_erased, 36u);
  EXPECT_TRUE(store->PersonalValues(4)->empty());
  store.reset();
  for (int i = 0; i < 12; ++i) {
    EXPECT_FALSE(SqliteFilesHold(path_, absl::StrCat("secret-note-", i))) << i;
  }
  EXPECT_FALSE(SqliteFilesHold(path_, "Anna de Vries"));
  auto report = VerifySqliteLog(path_, options_);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->values_checked, 0u);
}

TEST_F(SignedLogTest, MasksOldSourceAddresses) {
  auto store = *SqliteLogStore::Open(path_, SignedBy(signer_));
  auto masked = store->MaskSourceAddresses(absl::Now() + absl::Hours(1));
  ASSERT_TRUE(masked.ok()) << masked.status();
  EXPECT_EQ(*masked, 12u);
  const auto values = *store->PersonalValues(2);
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[2].field, "source_ip");
  EXPECT_EQ(values[2].value, "203.0.0.0");
  EXPECT_EQ(values[2].salt, "");
  store.reset();
  EXPECT_FALSE(SqliteFilesHold(path_, "203.0.113.77"));
  EXPECT_TRUE(VerifySqliteLog(path_, options_).ok());
}

// Masking resumes where it stopped, across a restart: the entries it
// masked before are not read again (on a large log that read held every
// append back at each start). An old row made unreadable shows it.
TEST_F(SignedLogTest, MaskingAfterARestartStartsWhereItStopped) {
  {
    auto store = *SqliteLogStore::Open(path_, SignedBy(signer_));
    ASSERT_TRUE(store->MaskSourceAddresses(absl::Now() + absl::Hours(1)).ok());
  }
  RawSql(path_, "UPDATE entries SET personal = x'ff' WHERE idx = 3");
  auto store = *SqliteLogStore::Open(path_, SignedBy(signer_));
  ASSERT_TRUE(store
                  ->Append(Entry("acme", "anna", "M-12"),
                           {{"source_ip", "198.51.100.7", "anna"}})
                  .ok());
  auto masked = store->MaskSourceAddresses(absl::Now() + absl::Hours(1));
  ASSERT_TRUE(masked.ok()) << masked.status();
  EXPECT_EQ(*masked, 1u);
  EXPECT_EQ((*store->PersonalValues(12))[0].value, "198.51.0.0");
}

// An address that does not parse has no masked form: masking erases it,
// in the entry's row and beside it, and the log still verifies.
TEST_F(SignedLogTest, MaskingErasesAnAddressThatDoesNotParse) {
  auto store = *SqliteLogStore::Open(path_, SignedBy(signer_));
  ASSERT_TRUE(store
                  ->Append(Entry("acme", "anna", "M-12"),
                           {{"source_ip", "1.2.3", "anna"},
                            {"note", "in the row", "anna"}})
                  .ok());
  ASSERT_TRUE(
      store
          ->Append(Entry("acme", "anna", "M-13"),
                   {{"source_ip", "1.2.3", "bob"}, {"note", "beside", "anna"}})
          .ok());
  auto masked = store->MaskSourceAddresses(absl::Now() + absl::Hours(1));
  ASSERT_TRUE(masked.ok()) << masked.status();
  EXPECT_EQ(*masked, 14u);
  for (uint64_t index : {12, 13}) {
    const auto values = *store->PersonalValues(index);
    ASSERT_EQ(values.size(), 1u) << index;
    EXPECT_EQ(values[0].field, "note") << index;
  }
  store.reset();
  EXPECT_TRUE(VerifySqliteLog(path_, options_).ok())
      << VerifySqliteLog(path_, options_).status();
}

// Earlier versions' masking kept such an address as "" without a salt,
// which holds nothing: a log they masked still verifies.
TEST_F(SignedLogTest, AcceptsTheEmptyAddressEarlierMaskingLeft) {
  RawSql(path_,
         "INSERT INTO personal_values VALUES(3, 'source_ip', 'x', x'', '', 0)");
  ASSERT_TRUE(Verify().ok()) << Verify();
  // Only for the address: an empty note without a salt is reported.
  RawSql(path_, "UPDATE personal_values SET field = 'note2' WHERE idx = 3");
  EXPECT_THAT(Verify().message(),
              HasSubstr("entry 3: the stored note2 has no salt"));
}

// A caller without an identity (an unknown certificate) is known only by
// its address, which is then also the subject its values are kept under:
// masking masks that too, so no full address outlives the 14 days.
TEST_F(SignedLogTest, MasksTheAddressOfAnUnknownCallerAsItsSubject) {
  auto store = *SqliteLogStore::Open(path_, SignedBy(signer_));
  ASSERT_TRUE(store
                  ->Append(Entry("", "", "unknown"),
                           {{"note", "why-unknown", "198.51.100.23"},
                            {"source_ip", "198.51.100.23", "198.51.100.23"}})
                  .ok());
  // Young, it is erased by the address; the erasure's own entry commits to
  // the address as the erased subject, kept as the DPO's.
  ASSERT_TRUE(store
                  ->Append(Entry("", "", "unknown"),
                           {{"source_ip", "198.51.100.24", "198.51.100.24"}})
                  .ok());
  ASSERT_TRUE(store
                  ->Append(Entry("", "dirk", "erase"),
                           {{"erased_subject", "198.51.100.24", "dirk"},
                            {"source_ip", "192.0.2.8", "dirk"}})
                  .ok());
  EXPECT_EQ(store->Erase("198.51.100.24", absl::InfinitePast())->values_erased,
            1u);

  ASSERT_TRUE(store->MaskSourceAddresses(absl::Now() + absl::Hours(1)).ok());
  const auto values = *store->PersonalValues(12);
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0].value, "why-unknown");
  EXPECT_EQ(values[1].value, "198.51.0.0");
  const auto erasure = *store->PersonalValues(14);
  ASSERT_EQ(erasure.size(), 2u);
  EXPECT_EQ(erasure[0].value, "198.51.0.0");
  EXPECT_EQ(erasure[0].salt, "");
  // Masked, it is kept under the network it was masked to.
  EXPECT_EQ(store->Erase("198.51.100.23", absl::InfinitePast())->values_erased,
            0u);
  store.reset();
  EXPECT_FALSE(SqliteFilesHold(path_, "198.51.100.23"));
  EXPECT_FALSE(SqliteFilesHold(path_, "198.51.100.24"));
  EXPECT_TRUE(VerifySqliteLog(path_, options_).ok());

  // A log masked before masking reached the subjects: opening it masks
  // them.
  RawSql(path_,
         "UPDATE personal_values SET subject = '198.51.100.23' WHERE idx = "
         "12; DELETE FROM log_state WHERE name = 'masked_address_subjects'");
  ASSERT_TRUE(SqliteFilesHold(path_, "198.51.100.23"));
  store = *SqliteLogStore::Open(path_, SignedBy(signer_));
  // Nor in the WAL's old page images once it is open.
  EXPECT_FALSE(SqliteFilesHold(path_, "198.51.100.23"));
  EXPECT_EQ(store->Erase("198.51.0.0", absl::InfinitePast())->values_erased,
            2u);
  store.reset();
  EXPECT_FALSE(SqliteFilesHold(path_, "198.51.100.23"));
  EXPECT_TRUE(VerifySqliteLog(path_, options_).ok());
}

TEST(MaskAddressTest, KeepsTheNetworkPart) {
  EXPECT_EQ(MaskAddress("192.168.17.42"), "192.168.0.0");
  EXPECT_EQ(MaskAddress("2001:db8:85a3:8d3:1319:8a2e:370:7348"),
            "2001:db8:85a3::");
  EXPECT_EQ(MaskAddress("nonsense"), "");
}

}  // namespace
}  // namespace custos::audit
