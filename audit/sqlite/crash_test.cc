// Kills a process that appends from several threads with SIGKILL at random
// moments, many rounds over one file: after each, the log verifies and
// holds every entry whose append had returned.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "audit/checkpoint.h"
#include "audit/note.h"
#include "audit/sqlite/offline_verifier.h"
#include "audit/sqlite/sqlite_log_store.h"
#include "common/mutex.h"
#include "gtest/gtest.h"

namespace custos::audit {
namespace {

constexpr int kRounds = 12;
constexpr int kThreads = 4;

// The child: appends until killed, writing "index reference" to `acks`
// after each append returned.
[[noreturn]] void AppendUntilKilled(const std::string& db,
                                    const std::string& key_pem,
                                    const std::string& acks, int round) {
  auto signer = NoteSigner::FromPrivateKeyPem("custos.test/crash", key_pem);
  SqliteLogStore::Options options;
  options.signer = [&](uint64_t size, absl::string_view root) {
    return signer->Sign(
        FormatCheckpointBody({signer->name(), size, std::string(root)}));
  };
  options.checkpoint_interval = absl::Milliseconds(20);
  auto store = SqliteLogStore::Open(db, options);
  if (!store.ok()) _exit(2);
  std::ofstream out(acks, std::ios::app);
  Mutex out_mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        custos::v1::LogEntry entry;
        const std::string reference = absl::StrCat("r", round, "-t", t, "-", i);
        entry.set_reference(reference);
        auto stored = (*store)->Append(entry, {{"note", reference, "crash"}});
        if (!stored.ok()) _exit(3);
        MutexLock lock(&out_mu);
        out << stored->index() << " " << reference << "\n" << std::flush;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  _exit(0);
}

TEST(CrashTest, NothingAcknowledgedIsLostAndTheLogAlwaysVerifies) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string db = dir + "/crash.db";
  const std::string acks = dir + "/acks.txt";
  auto signer = NoteSigner::Generate("custos.test/crash");
  ASSERT_TRUE(signer.ok());
  const std::string key_pem = *signer->PrivateKeyPem();
  VerifyOptions verify;
  verify.verifier_key = signer->verifier_key();
  VerifyOptions killed = verify;
  killed.unsigned_tail_ok = true;
  SqliteLogStore::Options restarted;
  restarted.signer = [&](uint64_t size, absl::string_view root) {
    return signer->Sign(
        FormatCheckpointBody({signer->name(), size, std::string(root)}));
  };

  std::mt19937 random(20261122);
  uint64_t acknowledged_total = 0;
  for (int round = 0; round < kRounds; ++round) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) AppendUntilKilled(db, key_pem, acks, round);
    absl::SleepFor(absl::Milliseconds(50 + random() % 250));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "round " << round << " exited " << status;

    // Killed, the log may end past its newest checkpoint: it verifies up
    // to there, and the rest is unsigned until it is opened again.
    auto report = VerifySqliteLog(db, killed);
    ASSERT_TRUE(report.ok()) << "round " << round << ": " << report.status();

    // Every acknowledged append is there, at its index, with its content.
    auto store = SqliteLogStore::Open(db, restarted);
    ASSERT_TRUE(store.ok()) << store.status();
    auto signed_report = VerifySqliteLog(db, verify);
    ASSERT_TRUE(signed_report.ok())
        << "round " << round << ", opened again: " << signed_report.status();
    EXPECT_EQ(signed_report->unsigned_entries, 0u);
    std::ifstream in(acks);
    std::string line;
    uint64_t acknowledged = 0;
    while (std::getline(in, line)) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      uint64_t index = 0;
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &index))
        continue;  // torn line
      auto bytes = (*store)->ReadEntryBytes(index);
      ASSERT_TRUE(bytes.ok())
          << "acknowledged entry " << index << " lost: " << bytes.status();
      custos::v1::LogEntry entry;
      ASSERT_TRUE(entry.ParseFromString(*bytes));
      EXPECT_EQ(entry.reference(), parts[1]) << index;
      ++acknowledged;
    }
    EXPECT_GE(report->entries, acknowledged);
    std::cout << "round " << round << ": " << acknowledged
              << " appends acknowledged, " << report->entries << " entries, "
              << report->checkpoints << " checkpoints verify, "
              << report->unsigned_entries
              << " entries unsigned until opened again\n";
    acknowledged_total = acknowledged;
  }
  RecordProperty("acknowledged_appends", static_cast<int>(acknowledged_total));
  EXPECT_GT(acknowledged_total, 0u);
}

}  // namespace
}  // namespace custos::audit
