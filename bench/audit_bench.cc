// Audit log benchmarks, each against a baseline run in the same process:
//   1. durable appends/s at concurrency 1, 8, 64: SqliteLogStore against a
//      bare SQLite insert of the same bytes with the same durability (WAL,
//      synchronous=FULL) and the same group commit;
//   2. offline verification entries/s against bare SHA-256 over the same
//      entry bytes in memory;
//   3. inclusion-proof latency p50/p99 on a log of --proof_log_entries.
// Prints one line per figure. Not a test: figures, no assertions.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "audit/checkpoint.h"
#include "audit/entry.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "audit/sqlite/offline_verifier.h"
#include "audit/sqlite/sqlite.h"
#include "audit/sqlite/sqlite_log_store.h"
#include "bench/in_turns.h"
#include "bench/process_cpu.h"
#include "common/mutex.h"
#include "common/openssl.h"

ABSL_FLAG(std::string, dir, "/tmp/custos-bench",
          "Directory for the benchmark's files.");
ABSL_FLAG(double, seconds, 3, "Seconds per append measurement.");
ABSL_FLAG(std::vector<std::string>, append_concurrency,
          std::vector<std::string>({"1", "8", "64"}),
          "Appending threads of each append measurement.");
ABSL_FLAG(int, rounds, 3,
          "Measurements of each figure, Custos and its baseline taking turns "
          "(which goes first alternates), so that a change in the machine's "
          "speed shows in the spread instead of in one ratio.");
ABSL_FLAG(uint64_t, verify_entries, 200000,
          "Entries in the verification benchmark's log.");
ABSL_FLAG(uint64_t, proof_log_entries, 1000000,
          "Entries in the proof benchmark's log.");
ABSL_FLAG(int, proofs, 20000, "Inclusion proofs to time.");

namespace custos::audit {
namespace {

custos::v1::LogEntry SampleEntry(uint64_t i) {
  custos::v1::LogEntry entry;
  entry.mutable_time()->set_seconds(1795000000 + i);
  entry.mutable_actor()->set_kind(custos::v1::ACTOR_STAFF);
  entry.mutable_actor()->set_id("anna.support");
  entry.mutable_actor()->add_roles("support");
  entry.mutable_actor()->set_contract(custos::v1::DUTCH_EMPLOYMENT);
  entry.mutable_actor()->set_country("NL");
  entry.set_customer_id("acme");
  entry.set_category("support");
  entry.set_reference(absl::StrCat("SUP-", i));
  entry.set_action("StaffAccess.RequestAccess");
  entry.set_outcome(custos::v1::OUTCOME_ALLOWED);
  entry.set_policy_version("sha256:0123456789abcdef");
  return entry;
}

// The bytes Custos stores for SampleEntry(i) appended with one personal
// value: the entry with its format version, index, previous hash and the
// value's commitment. Filler stands in for the two hashes; the baseline
// inserts these bytes, so that both sides write entries of the same size.
std::string StoredSampleBytes(uint64_t i) {
  static const std::string kFillerHash(kHashSize, '\x5a');
  custos::v1::LogEntry entry = SampleEntry(i);
  entry.set_format_version(kFormatVersion);
  entry.set_index(i);
  entry.set_prev_hash(kFillerHash);
  custos::v1::Commitment* commitment = entry.add_commitments();
  commitment->set_field("source_ip");
  commitment->set_digest(kFillerHash);
  return SerializeEntry(entry);
}

void Remove(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"})
    unlink((path + suffix).c_str());
}

// The baseline: the same group commit, inserting entries of the same
// bytes (StoredSampleBytes), without hashing, chaining, tree nodes,
// commitments, lookup columns, listing keys or held values.
class BareSqliteLog {
 public:
  explicit BareSqliteLog(const std::string& path) {
    Remove(path);
    db_ = *sqlite::Open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    (void)sqlite::Exec(db_.get(), "PRAGMA journal_mode=WAL");
    (void)sqlite::Exec(db_.get(), "PRAGMA synchronous=FULL");
    (void)sqlite::Exec(db_.get(),
                       "CREATE TABLE t(idx INTEGER PRIMARY KEY, entry BLOB)");
    insert_ =
        *sqlite::Prepare(db_.get(), "INSERT INTO t(idx, entry) VALUES(?1, ?2)");
    writer_ = std::thread([this] { Loop(); });
  }
  ~BareSqliteLog() {
    {
      MutexLock lock(&mu_);
      stopping_ = true;
    }
    writer_.join();
  }
  void Append(std::string bytes) {
    Notification done;
    {
      MutexLock lock(&mu_);
      queue_.push_back({std::move(bytes), &done});
    }
    done.WaitForNotification();
  }

 private:
  struct Item {
    std::string bytes;
    Notification* done;
  };
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_;
  }
  void Loop() {
    for (;;) {
      std::deque<Item> batch;
      {
        MutexLock lock(&mu_);
        mu_.Await([this]()
                      ABSL_NO_THREAD_SAFETY_ANALYSIS { return HasWork(); });
        if (queue_.empty()) return;
        while (!queue_.empty() && batch.size() < 1024) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      (void)sqlite::Exec(db_.get(), "BEGIN IMMEDIATE");
      for (Item& item : batch) {
        sqlite3_reset(insert_.get());
        sqlite3_bind_int64(insert_.get(), 1, next_++);
        sqlite::BindBlob(insert_.get(), 2, item.bytes);
        sqlite3_step(insert_.get());
      }
      (void)sqlite::Exec(db_.get(), "COMMIT");
      for (Item& item : batch) item.done->Notify();
    }
  }
  sqlite::Database db_;
  sqlite::Statement insert_;
  int64_t next_ = 0;
  Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
};

struct AppendRate {
  double per_second;
  // The whole process's processor time (user and system) per append.
  double cpu_us;
};

// Runs `append(thread, i)` from `threads` threads for `seconds`.
template <typename Append>
AppendRate Rate(int threads, double seconds, Append append) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> count{0};
  std::vector<std::thread> workers;
  const absl::Time start = absl::Now();
  const double cpu_start = bench::ProcessCpuSeconds();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        append(t, i);
        count.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  absl::SleepFor(absl::Seconds(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  const double cpu = bench::ProcessCpuSeconds() - cpu_start;
  return {count.load() / absl::ToDoubleSeconds(absl::Now() - start),
          cpu * 1e6 / count.load()};
}

SqliteLogStore::Options Signed(const NoteSigner& signer) {
  SqliteLogStore::Options options;
  options.signer = [&signer](uint64_t size, absl::string_view root) {
    return signer.Sign(
        FormatCheckpointBody({signer.name(), size, std::string(root)}));
  };
  return options;
}

void AppendBenchmark(const std::string& dir, const NoteSigner& signer) {
  const double seconds = absl::GetFlag(FLAGS_seconds);
  for (const std::string& concurrency :
       absl::GetFlag(FLAGS_append_concurrency)) {
    int threads = 1;
    if (!absl::SimpleAtoi(concurrency, &threads) || threads < 1) {
      std::fprintf(stderr,
                   "--append_concurrency: expected positive numbers, got %s\n",
                   concurrency.c_str());
      std::exit(2);
    }
    const auto bare = [&](int round) {
      BareSqliteLog bare_log(dir + "/bare.db");
      const AppendRate rate = Rate(threads, seconds, [&](int t, uint64_t i) {
        bare_log.Append(StoredSampleBytes(t * 1000000000ull + i));
      });
      std::printf(
          "append  concurrency %2d, round %d: bare sqlite %8.0f/s (%4.1f us "
          "cpu)\n",
          threads, round + 1, rate.per_second, rate.cpu_us);
      return rate.per_second;
    };
    const auto custos = [&](int round) {
      Remove(dir + "/append.db");
      auto store = *SqliteLogStore::Open(dir + "/append.db", Signed(signer));
      const AppendRate rate = Rate(threads, seconds, [&](int t, uint64_t i) {
        (void)store->Append(SampleEntry(t * 1000000000ull + i),
                            {{"source_ip", "192.0.2.10", "anna.support"}});
      });
      std::printf(
          "append  concurrency %2d, round %d: custos      %8.0f/s (%4.1f us "
          "cpu)\n",
          threads, round + 1, rate.per_second, rate.cpu_us);
      return rate.per_second;
    };
    const std::vector<double> ratios = bench::Ratios(
        bench::InTurns(absl::GetFlag(FLAGS_rounds), bare, custos));
    std::printf("append  concurrency %2d: custos / bare sqlite %s\n", threads,
                bench::RatioSummary(ratios).c_str());
    std::fflush(stdout);
  }
}

// The personal values the gateway commits to in a staff member's entry,
// held in the entry's row: verification checks each against its commitment.
std::vector<PersonalValue> StaffValues() {
  return {{"source_ip", "192.0.2.10", "anna.support"},
          {"actor_name", "Anna de Vries", "anna.support"}};
}

// Fills a log of `n` entries quickly, keeping a bounded number in flight,
// each with StaffValues(), as the gateway writes them.
void FillLog(const std::string& path, uint64_t n, const NoteSigner& signer) {
  Remove(path);
  auto store = *SqliteLogStore::Open(path, Signed(signer));
  std::atomic<uint64_t> in_flight{0};
  for (uint64_t i = 0; i < n; ++i) {
    while (in_flight.load() > 8192) std::this_thread::yield();
    ++in_flight;
    store->AppendAsync(SampleEntry(i), StaffValues(),
                       [&](auto) { --in_flight; });
    if (i % 1000000 == 0 && i > 0)
      std::fprintf(stderr, "  filled %lu entries\n", i);
  }
  while (in_flight.load() > 0) std::this_thread::yield();
  (void)store->CheckpointNow();
}

// Keeps the baseline's hashes from being optimized away.
volatile unsigned char benchmark_sink;

void VerifyBenchmark(const std::string& dir, const NoteSigner& signer) {
  const uint64_t n = absl::GetFlag(FLAGS_verify_entries);
  const std::string path = dir + "/verify.db";
  FillLog(path, n, signer);
  std::vector<std::string> bytes;
  bytes.reserve(n);
  auto store = *SqliteLogStore::Open(path);
  for (uint64_t i = 0; i < n; ++i) bytes.push_back(*store->ReadEntryBytes(i));
  store.reset();

  const auto bare = [&](int round) {
    const absl::Time start = absl::Now();
    // Into one buffer, as verification hashes: no allocation per hash.
    char digest[32];
    unsigned char folded = 0;
    for (const std::string& b : bytes) {
      Sha256ConcatTo({b}, digest);
      folded ^= static_cast<unsigned char>(digest[0]);
    }
    const double rate = n / absl::ToDoubleSeconds(absl::Now() - start);
    benchmark_sink = folded;
    std::printf("verify  %lu entries, round %d: bare sha-256  %9.0f/s\n", n,
                round + 1, rate);
    return rate;
  };
  VerifyOptions options;
  options.verifier_key = signer.verifier_key();
  const auto custos = [&](int round) {
    const absl::Time start = absl::Now();
    const double cpu_start = bench::ProcessCpuSeconds();
    auto report = VerifySqliteLog(path, options);
    const double wall = absl::ToDoubleSeconds(absl::Now() - start);
    // Verification reads on one thread and checks on another: processor
    // seconds per second says how much of the second core it used.
    std::printf(
        "verify  %lu entries, round %d: custos verify %9.0f/s (%s, %.2f "
        "cores)\n",
        n, round + 1, n / wall,
        report.ok() ? "ok" : std::string(report.status().message()).c_str(),
        (bench::ProcessCpuSeconds() - cpu_start) / wall);
    return n / wall;
  };
  const std::vector<double> ratios =
      bench::Ratios(bench::InTurns(absl::GetFlag(FLAGS_rounds), bare, custos));
  std::printf("verify  %lu entries: custos verify / bare sha-256 %s\n", n,
              bench::RatioSummary(ratios).c_str());
  std::fflush(stdout);
}

void ProofBenchmark(const std::string& dir, const NoteSigner& signer) {
  const uint64_t n = absl::GetFlag(FLAGS_proof_log_entries);
  const std::string path = dir + "/proofs.db";
  const absl::Time fill_start = absl::Now();
  FillLog(path, n, signer);
  std::printf(
      "fill    %lu entries in %.1f s (%.0f entries/s, async, bounded in "
      "flight)\n",
      n, absl::ToDoubleSeconds(absl::Now() - fill_start),
      n / absl::ToDoubleSeconds(absl::Now() - fill_start));
  auto store = *SqliteLogStore::Open(path, Signed(signer));
  const std::string root = *store->RootHash(n);
  std::mt19937_64 random(7);
  std::vector<double> micros;
  const int proofs = absl::GetFlag(FLAGS_proofs);
  int verified = 0;
  for (int i = 0; i < proofs; ++i) {
    const uint64_t index = random() % n;
    const absl::Time start = absl::Now();
    auto proof = store->InclusionProof(index, n);
    micros.push_back(absl::ToDoubleMicroseconds(absl::Now() - start));
    if (proof.ok() && i % 100 == 0) {
      auto leaf = HashLeaf(*store->ReadEntryBytes(index));
      verified += VerifyInclusion(leaf, index, n, *proof, root).ok();
    }
  }
  std::sort(micros.begin(), micros.end());
  std::printf(
      "proofs  log of %lu entries: inclusion proof p50 %.1f us  p99 %.1f us  "
      "(%d of %d "
      "sampled proofs verified)\n",
      n, micros[micros.size() / 2], micros[micros.size() * 99 / 100], verified,
      (proofs + 99) / 100);
}

}  // namespace
}  // namespace custos::audit

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  mkdir(dir.c_str(), 0700);
  auto signer = *custos::audit::NoteSigner::Generate("custos.bench/log");
  custos::audit::AppendBenchmark(dir, signer);
  custos::audit::VerifyBenchmark(dir, signer);
  custos::audit::ProofBenchmark(dir, signer);
  return 0;
}
