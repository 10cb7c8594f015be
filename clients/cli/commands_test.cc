#include "clients/cli/commands.h"

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
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
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/custos/v1/audit.grpc.pb.h"
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

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A log server that can fork. custosd cannot be made to show a caller a log
// other than the one it showed before; this one can: it holds its entries
// in memory, replaced whole by Hold, and answers GetCheckpoint,
// GetInclusionProof and GetConsistencyProof as custosd does, with
// checkpoints of any size signed by `signer`. Thread-safe.
class ForkableLogServer final : public custos::v1::AuditLog::Service {
 public:
  // Borrows `signer`, which must outlive the server.
  explicit ForkableLogServer(const audit::NoteSigner& signer)
      : signer_(signer) {}

  // The log becomes one entry for each of `references`, in order.
  void Hold(const std::vector<std::string>& references) {
    MutexLock lock(&mu_);
    bytes_.clear();
    leaves_.clear();
    for (size_t i = 0; i < references.size(); ++i) {
      custos::v1::LogEntry entry;
      entry.set_index(i);
      entry.set_reference(references[i]);
      bytes_.push_back(audit::SerializeEntry(entry));
      leaves_.push_back(audit::HashLeaf(bytes_.back()));
    }
  }

  // The signed note of the checkpoint of the first `size` entries.
  std::string Note(uint64_t size) {
    MutexLock lock(&mu_);
    auto checkpoint = Checkpoint(size);
    return checkpoint.ok() ? checkpoint->note()
                           : checkpoint.status().ToString();
  }

  grpc::Status GetCheckpoint(grpc::ServerContext*,
                             const custos::v1::GetCheckpointRequest*,
                             custos::v1::Checkpoint* response) override {
    MutexLock lock(&mu_);
    auto checkpoint = Checkpoint(leaves_.size());
    if (!checkpoint.ok()) return Internal(checkpoint.status());
    *response = *std::move(checkpoint);
    return grpc::Status::OK;
  }

  grpc::Status GetInclusionProof(
      grpc::ServerContext*, const custos::v1::GetInclusionProofRequest* request,
      custos::v1::InclusionProof* response) override {
    MutexLock lock(&mu_);
    const uint64_t size =
        request->tree_size() == 0 ? leaves_.size() : request->tree_size();
    if (request->index() >= size || size > leaves_.size())
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "no such entry");
    auto path = audit::InclusionProof(request->index(), size, Reader());
    if (!path.ok()) return Internal(path.status());
    auto checkpoint = Checkpoint(size);
    if (!checkpoint.ok()) return Internal(checkpoint.status());
    response->set_index(request->index());
    response->set_tree_size(size);
    response->set_entry_bytes(bytes_[request->index()]);
    response->set_leaf_hash(leaves_[request->index()]);
    for (const std::string& h : *path) response->add_hashes(h);
    *response->mutable_checkpoint() = *std::move(checkpoint);
    return grpc::Status::OK;
  }

  grpc::Status GetConsistencyProof(
      grpc::ServerContext*,
      const custos::v1::GetConsistencyProofRequest* request,
      custos::v1::ConsistencyProof* response) override {
    MutexLock lock(&mu_);
    const uint64_t size =
        request->new_size() == 0 ? leaves_.size() : request->new_size();
    if (request->old_size() > size || size > leaves_.size())
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "no such sizes");
    auto proof = audit::ConsistencyProof(request->old_size(), size, Reader());
    if (!proof.ok()) return Internal(proof.status());
    auto checkpoint = Checkpoint(size);
    if (!checkpoint.ok()) return Internal(checkpoint.status());
    response->set_old_size(request->old_size());
    response->set_new_size(size);
    for (const std::string& h : *proof) response->add_hashes(h);
    *response->mutable_checkpoint() = *std::move(checkpoint);
    return grpc::Status::OK;
  }

 private:
  static grpc::Status Internal(const absl::Status& status) {
    return grpc::Status(grpc::StatusCode::INTERNAL, status.ToString());
  }

  // The hash of a full subtree, from the leaves.
  absl::StatusOr<std::string> Node(int level, uint64_t index) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (level == 0) {
      if (index >= leaves_.size()) return absl::OutOfRangeError("no leaf");
      return leaves_[index];
    }
    auto left = Node(level - 1, 2 * index);
    if (!left.ok()) return left;
    auto right = Node(level - 1, 2 * index + 1);
    if (!right.ok()) return right;
    return audit::HashChildren(*left, *right);
  }
  std::function<absl::StatusOr<std::string>(int, uint64_t)> Reader() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return [this](int level, uint64_t index)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return Node(level, index); };
  }

  absl::StatusOr<custos::v1::Checkpoint> Checkpoint(uint64_t size) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto root = audit::RootHash(size, Reader());
    if (!root.ok()) return root.status();
    auto note = signer_.Sign(
        audit::FormatCheckpointBody({signer_.name(), size, *root}));
    if (!note.ok()) return note.status();
    custos::v1::Checkpoint checkpoint;
    checkpoint.set_note(*std::move(note));
    checkpoint.set_origin(signer_.name());
    checkpoint.set_size(size);
    checkpoint.set_root_hash(*root);
    checkpoint.set_verifier_key(signer_.verifier_key());
    return checkpoint;
  }

  const audit::NoteSigner& signer_;
  Mutex mu_;
  std::vector<std::string> bytes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> leaves_ ABSL_GUARDED_BY(mu_);
};

// `prefix`0, `prefix`1, ... : `n` references for ForkableLogServer::Hold.
std::vector<std::string> References(const std::string& prefix, int n) {
  std::vector<std::string> references;
  for (int i = 0; i < n; ++i) references.push_back(absl::StrCat(prefix, i));
  return references;
}

// log prove --state and verify --state online, against a log that forks.
class OnlineStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir =
        ::testing::TempDir() + "/online_" +
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    options_.state_file = dir + "/seen";
    options_.verifier_key = signer_.verifier_key();
    grpc::ServerBuilder builder;
    builder.RegisterService(&log_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = server_->InProcessChannel(grpc::ChannelArguments());
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // custos log prove --index `index` [--size `size`].
  int Prove(uint64_t index, uint64_t size = 0) {
    CommandOptions options = options_;
    options.index = index;
    options.size = size;
    options.flags_given.push_back("index");
    if (size != 0) options.flags_given.push_back("size");
    return Run({"log", "prove"}, options);
  }
  int Verify() { return Run({"verify"}, options_); }
  // Runs `args` with `options`, as the command line gives them.
  int Run(const std::vector<std::string>& args, CommandOptions options) {
    if (!options.verifier_key.empty())
      options.flags_given.push_back("verifier_key");
    if (!options.state_file.empty()) options.flags_given.push_back("state");
    std::ostringstream out, err;
    const int code = RunCommand(args, options, channel_, out, err);
    out_ = out.str();
    err_ = err.str();
    return code;
  }
  std::string Seen() const { return ReadText(options_.state_file); }

  const audit::NoteSigner signer_ =
      *audit::NoteSigner::Generate("custos.test/log");
  ForkableLogServer log_{signer_};
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  CommandOptions options_;
  std::string out_;
  std::string err_;
};

TEST_F(OnlineStateTest, ProveChecksTheTreeExtendsTheCheckpointSeenBefore) {
  log_.Hold(References("T-", 3));
  ASSERT_EQ(Prove(0), kExitOk) << err_;
  EXPECT_THAT(err_, HasSubstr("first use of " + options_.state_file));
  EXPECT_EQ(Seen(), log_.Note(3));

  log_.Hold(References("T-", 5));
  ASSERT_EQ(Prove(4), kExitOk) << err_;
  EXPECT_THAT(err_,
              HasSubstr("consistent with the checkpoint seen before (size 3)"));
  EXPECT_THAT(err_, HasSubstr("verified: entry #4 is in the tree of size 5"));
  EXPECT_EQ(Seen(), log_.Note(5));
}

// The same key signs another history for this caller: the entry's proof
// holds in it, but it is not the log seen before.
TEST_F(OnlineStateTest, ProveInALogInconsistentWithTheStateIsNotVerified) {
  log_.Hold(References("T-", 5));
  ASSERT_EQ(Prove(0), kExitOk) << err_;
  const std::string seen = Seen();

  log_.Hold(References("forked-", 6));
  EXPECT_EQ(Prove(0), kExitNotVerified);
  EXPECT_THAT(err_, HasSubstr("custos: NOT VERIFIED: the checkpoint of size 6 "
                              "is not consistent with the checkpoint seen "
                              "before (size 5): "));
  EXPECT_EQ(Seen(), seen);

  options_.output = "json";
  EXPECT_EQ(Prove(0), kExitNotVerified);
  EXPECT_THAT(out_, HasSubstr(R"("verified": false)"));
  EXPECT_THAT(out_, HasSubstr(R"("error": "the checkpoint of size 6 is not )"));

  // Shrunk back to fewer entries than seen, and the latest by its word.
  log_.Hold(References("T-", 4));
  EXPECT_EQ(Prove(0), kExitNotVerified);
  EXPECT_THAT(err_, HasSubstr("the log shrank from 5 to 4 entries"));
  EXPECT_EQ(Seen(), seen);
}

// An older tree, asked for with --size, is checked as a prefix of the one
// seen, which stays in the state: it never moves back.
TEST_F(OnlineStateTest, ProveInAnOlderTreeIsCheckedAgainstTheStateAndLeavesIt) {
  log_.Hold(References("T-", 5));
  ASSERT_EQ(Prove(0), kExitOk) << err_;
  const std::string seen = Seen();
  ASSERT_EQ(Prove(1, 3), kExitOk) << err_;
  EXPECT_THAT(err_,
              HasSubstr("consistent with the checkpoint seen before (size 5)"));
  EXPECT_EQ(Seen(), seen);

  log_.Hold(References("forked-", 5));
  EXPECT_EQ(Prove(1, 3), kExitNotVerified);
  EXPECT_THAT(err_, HasSubstr("NOT VERIFIED: the checkpoint of size 3 is not "
                              "consistent with the checkpoint seen before "
                              "(size 5)"));
  EXPECT_EQ(Seen(), seen);
}

TEST_F(OnlineStateTest, ProveStateNeedsAPinnedKey) {
  log_.Hold(References("T-", 3));
  options_.verifier_key.clear();
  EXPECT_EQ(Prove(0), kExitUsage);
  EXPECT_EQ(err_, "custos: log prove --state needs --verifier_key\n");
  EXPECT_FALSE(std::filesystem::exists(options_.state_file));
}

// Checked against the key the server names, a proof shows what was asked,
// but whoever runs the server could have made the key: not verified, as
// verify without a key is not.
TEST_F(OnlineStateTest, ProveWithoutAPinnedKeyShowsTheProofAndIsNotVerified) {
  log_.Hold(References("T-", 3));
  options_.verifier_key.clear();
  options_.state_file.clear();
  options_.output = "json";
  EXPECT_EQ(Prove(1), kExitNotVerified);
  EXPECT_THAT(err_, HasSubstr("custos: NOT VERIFIED: no --verifier_key: the "
                              "proof holds against the key the server names "
                              "(custos.test/log)"));
  EXPECT_THAT(out_, HasSubstr(R"("verified": false)"));
  EXPECT_THAT(out_, HasSubstr(R"("hashes_hex": [)"));

  options_.verifier_key = signer_.verifier_key();
  EXPECT_EQ(Prove(1), kExitOk) << err_;
  EXPECT_THAT(out_, HasSubstr(R"("verified": true)"));
}

// verify online shares the check: the same fork fails it.
TEST_F(OnlineStateTest, VerifyRefusesALogInconsistentWithTheState) {
  log_.Hold(References("T-", 3));
  ASSERT_EQ(Verify(), kExitOk) << err_;
  EXPECT_THAT(out_, HasSubstr("first use of " + options_.state_file));
  log_.Hold(References("T-", 5));
  ASSERT_EQ(Verify(), kExitOk) << err_;
  EXPECT_THAT(out_,
              HasSubstr("consistent with the checkpoint seen before (size 3)"));
  EXPECT_EQ(Seen(), log_.Note(5));

  log_.Hold(References("forked-", 6));
  EXPECT_EQ(Verify(), kExitNotVerified);
  EXPECT_THAT(err_, HasSubstr("custos: NOT VERIFIED: the checkpoint of size 6 "
                              "is not consistent with the checkpoint seen "
                              "before (size 5): "));
  log_.Hold(References("T-", 4));
  EXPECT_EQ(Verify(), kExitNotVerified);
  EXPECT_THAT(err_, HasSubstr("the log shrank from 5 to 4 entries"));
  log_.Hold(References("T-", 5));
  EXPECT_EQ(Verify(), kExitOk) << err_;
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
