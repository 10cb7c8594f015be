#include "clients/cli/commands.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audit/checkpoint.h"
#include "audit/entry.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "audit/sqlite/sqlite.h"
#include "audit/sqlite/sqlite_log_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/custos/v1/audit.pb.h"

namespace custos::cli {
namespace {

using ::testing::HasSubstr;

// A log of five entries held in memory, signed by `signer_`, and custosd's
// honest answers about it.
class InclusionAnswerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t i = 0; i < 5; ++i) {
      custos::v1::LogEntry entry;
      entry.set_index(i);
      entry.set_reference(absl::StrCat("T-", i));
      bytes_.push_back(audit::SerializeEntry(entry));
      leaves_.push_back(audit::HashLeaf(bytes_.back()));
    }
  }

  // The subtree at `level` and `index`, hashed from the leaves.
  absl::StatusOr<std::string> Node(int level, uint64_t index) const {
    if (level == 0) return leaves_[index];
    return audit::HashChildren(*Node(level - 1, 2 * index),
                               *Node(level - 1, 2 * index + 1));
  }

  // The answer to a request for entry `index` in the tree of `size`, with
  // a checkpoint that `signer` signs as `origin`.
  custos::v1::InclusionProof Answer(uint64_t index, uint64_t size,
                                    const audit::NoteSigner& signer,
                                    const std::string& origin) const {
    auto read = [this](int level, uint64_t i) { return Node(level, i); };
    custos::v1::InclusionProof proof;
    proof.set_index(index);
    proof.set_tree_size(size);
    proof.set_entry_bytes(bytes_[index]);
    proof.set_leaf_hash(leaves_[index]);
    const std::vector<std::string> path =
        *audit::InclusionProof(index, size, read);
    for (const std::string& h : path) proof.add_hashes(h);
    const std::string root = *audit::RootHash(size, read);
    proof.mutable_checkpoint()->set_note(
        *signer.Sign(audit::FormatCheckpointBody({origin, size, root})));
    return proof;
  }
  custos::v1::InclusionProof Answer(uint64_t index, uint64_t size) const {
    return Answer(index, size, signer_, signer_.name());
  }

  static custos::v1::GetInclusionProofRequest Request(uint64_t index,
                                                      uint64_t size) {
    custos::v1::GetInclusionProofRequest request;
    request.set_index(index);
    request.set_tree_size(size);
    return request;
  }

  const audit::NoteSigner signer_ =
      *audit::NoteSigner::Generate("custos.test/log");
  std::vector<std::string> bytes_;
  std::vector<std::string> leaves_;
};

TEST_F(InclusionAnswerTest, VerifiesAnHonestAnswer) {
  auto body = VerifyInclusionAnswer(Request(2, 5), Answer(2, 5),
                                    signer_.verifier_key());
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(body->size, 5u);
  // Size 0 asks for the latest, whatever its size.
  EXPECT_TRUE(
      VerifyInclusionAnswer(Request(2, 0), Answer(2, 4), signer_.verifier_key())
          .ok());
}

TEST_F(InclusionAnswerTest, RefusesAProofOfAnotherEntry) {
  const absl::Status status =
      VerifyInclusionAnswer(Request(2, 5), Answer(3, 5), signer_.verifier_key())
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(),
            "the proof is of entry 3, not of entry 2 as asked");
}

TEST_F(InclusionAnswerTest, RefusesAProofInAnotherTreeSize) {
  const absl::Status status =
      VerifyInclusionAnswer(Request(2, 4), Answer(2, 5), signer_.verifier_key())
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(),
            "the proof is in the tree of size 5, not of size 4 as asked");
}

TEST_F(InclusionAnswerTest, RefusesEntryBytesOfAnotherIndex) {
  // Entry 3's bytes and leaf, claimed to be entry 2.
  custos::v1::InclusionProof answer = Answer(2, 5);
  answer.set_entry_bytes(bytes_[3]);
  answer.set_leaf_hash(leaves_[3]);
  const absl::Status status =
      VerifyInclusionAnswer(Request(2, 5), answer, signer_.verifier_key())
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(),
            "the entry bytes are of entry 3, not of entry 2 as asked");
}

TEST_F(InclusionAnswerTest, RefusesACheckpointOfAnotherOrigin) {
  // The pinned key signed it, but as another log's checkpoint.
  const absl::Status status =
      VerifyInclusionAnswer(Request(2, 5),
                            Answer(2, 5, signer_, "custos.test/other"),
                            signer_.verifier_key())
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(),
            "the checkpoint's origin \"custos.test/other\" is not the "
            "verifier key's name \"custos.test/log\"");
}

// verify --db --state: the log must extend the checkpoint seen last time.
class OfflineVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir =
        ::testing::TempDir() + "/offline_" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    options_.db = dir + "/audit.db";
    options_.state_file = dir + "/seen";
    options_.verifier_key = signer_.verifier_key();
  }

  // Appends entries `first` to `end` - 1, whose references start with
  // `prefix`, to the log (closing it signs them).
  void Append(const std::string& prefix, int first, int end) {
    audit::SqliteLogStore::Options options;
    options.signer = [this](uint64_t size, absl::string_view root) {
      return signer_.Sign(audit::FormatCheckpointBody(
          {signer_.name(), size, std::string(root)}));
    };
    auto store = audit::SqliteLogStore::Open(options_.db, options);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = first; i < end; ++i) {
      custos::v1::LogEntry entry;
      entry.set_reference(absl::StrCat(prefix, i));
      ASSERT_TRUE((*store)->Append(entry).ok());
    }
  }
  // The same key's log started over.
  void Remove() {
    for (const char* suffix : {"", "-wal", "-shm"})
      std::filesystem::remove(options_.db + suffix);
  }

  int Verify() {
    out_.str("");
    err_.str("");
    return RunCommand({"verify"}, options_, nullptr, out_, err_);
  }

  const audit::NoteSigner signer_ =
      *audit::NoteSigner::Generate("custos.test/log");
  CommandOptions options_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(OfflineVerifyTest, StateChecksTheLogExtendsTheCheckpointSeenBefore) {
  Append("T-", 0, 3);
  ASSERT_EQ(Verify(), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("first use of " + options_.state_file));
  Append("T-", 3, 5);
  ASSERT_EQ(Verify(), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(),
              HasSubstr("consistent with the checkpoint seen before (size 3)"));

  // Started over with the same key: it verifies on its own, but is not the
  // log seen before.
  Remove();
  Append("forged-", 0, 6);
  EXPECT_EQ(Verify(), kExitNotVerified);
  EXPECT_THAT(err_.str(),
              HasSubstr("the log's first 5 entries are not those of the "
                        "checkpoint seen before"));
  Remove();
  Append("T-", 0, 4);
  EXPECT_EQ(Verify(), kExitNotVerified);
  EXPECT_THAT(err_.str(), HasSubstr("the log shrank from 5 to 4 entries"));
}

// Checkpoints removed back past the one seen: the entries between would
// pass as an unsigned tail, and the state would move back with them.
TEST_F(OfflineVerifyTest, StateRefusesANewestCheckpointOlderThanTheOneSeen) {
  Append("T-", 0, 3);
  Append("T-", 3, 6);
  options_.allow_unsigned_tail = true;
  ASSERT_EQ(Verify(), kExitOk) << err_.str();
  {
    auto db = audit::sqlite::Open(options_.db, SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_EQ(sqlite3_exec(db->get(), "DELETE FROM checkpoints WHERE size > 3",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  EXPECT_EQ(Verify(), kExitNotVerified);
  EXPECT_THAT(err_.str(),
              HasSubstr("the newest checkpoint is of size 3, older than the "
                        "one seen before (size 6)"));
}

TEST_F(OfflineVerifyTest, StateThatHoldsNoCheckpointIsNoFirstUse) {
  Append("T-", 0, 3);
  for (const std::string contents : {"", "not a checkpoint"}) {
    {
      std::ofstream state(options_.state_file, std::ios::trunc);
      state << contents;
    }
    EXPECT_EQ(Verify(), kExitNotVerified) << "\"" << contents << "\"";
  }
}

// Scripts tell "try again later" and "not in a state for it" from other
// failures by the exit code alone.
TEST(ExitCodeTest, LimitsAndStatesHaveTheirOwnCodes) {
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::RESOURCE_EXHAUSTED),
            kExitLimitReached);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::FAILED_PRECONDITION),
            kExitNotInState);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::PERMISSION_DENIED), kExitRefused);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::ABORTED), kExitError);
}

TEST(RunCommandTest, UsageErrorInJsonModeIsAnErrorObjectOnStdout) {
  CommandOptions options;
  options.output = "json";
  std::ostringstream out, err;
  EXPECT_EQ(RunCommand({"access", "request"}, options, nullptr, out, err),
            kExitUsage);
  EXPECT_EQ(err.str(), "custos: access request needs --customer\n");
  EXPECT_THAT(out.str(), HasSubstr(R"("code": "USAGE")"));
  // So does an unknown command.
  std::ostringstream unknown_out, unknown_err;
  EXPECT_EQ(
      RunCommand({"acces", "list"}, options, nullptr, unknown_out, unknown_err),
      kExitUsage);
  EXPECT_THAT(unknown_out.str(), HasSubstr(R"("code": "USAGE")"));
  EXPECT_THAT(unknown_out.str(), HasSubstr("unknown command"));
  EXPECT_THAT(out.str(),
              HasSubstr(R"("message": "access request needs --customer")"));
}

// The checks below all come before any call: no channel is needed.
int RunOffline(const std::vector<std::string>& args,
               const CommandOptions& options, std::string& err_text) {
  std::ostringstream out, err;
  const int code = RunCommand(args, options, nullptr, out, err);
  err_text = err.str();
  return code;
}

TEST(RunCommandTest, RefusesAFlagTheCommandDoesNotTake) {
  CommandOptions options;
  options.flags_given = {"as", "category"};
  std::string err;
  EXPECT_EQ(RunOffline({"access", "list"}, options, err), kExitUsage);
  EXPECT_EQ(err,
            "custos: access list does not take --category (custos access list "
            "--help lists what it does)\n");
}

TEST(RunCommandTest, TakesTheFlagsItsSynopsisNamesAndTheConnections) {
  CommandOptions options;
  options.flags_given = {"as",     "server", "token", "output",
                         "device", "kinds",  "note",  "duration"};
  std::string err;
  // Past the flags, to the first one it needs.
  EXPECT_EQ(RunOffline({"access", "request"}, options, err), kExitUsage);
  EXPECT_EQ(err, "custos: access request needs --customer\n");
}

TEST(RunCommandTest, LogProveNeedsAnIndex) {
  CommandOptions options;
  std::string err;
  EXPECT_EQ(RunOffline({"log", "prove"}, options, err), kExitUsage);
  EXPECT_EQ(err, "custos: log prove needs --index N\n");
}

TEST(RunCommandTest, LogListRefusesATimeItCannotRead) {
  CommandOptions options;
  options.from = "yesterday";
  std::string err;
  EXPECT_EQ(RunOffline({"log", "list"}, options, err), kExitUsage);
  EXPECT_EQ(err,
            "custos: --from: expected a day such as 2026-05-01 or an RFC 3339 "
            "time such as 2026-05-01T09:30:00Z, not \"yesterday\"\n");
  options.from = "2026-05-02";
  options.to = "2026-05-01T23:00:00+02:00";
  EXPECT_EQ(RunOffline({"log", "list"}, options, err), kExitUsage);
  EXPECT_EQ(err,
            "custos: log list: --from is not before --to: no time between\n");
}

}  // namespace
}  // namespace custos::cli
