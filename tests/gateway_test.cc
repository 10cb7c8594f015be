// A real custosd on a loopback port with real TLS, called with demo staff
// certificates, without one, and with one from another CA; then the audit
// log's rows and chain are checked in the SQLite file itself.
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <httplib.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "audit/checkpoint.h"
#include "audit/merkle.h"
#include "audit/note.h"
#include "audit/sqlite/offline_verifier.h"
#include "audit/sqlite/sqlite_log_store.h"
#include "common/sqlite_file_testing.h"
#include "gateway/pki/dev_ca.h"
#include "gateway/server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/default_policy.h"
#include "proto/custos/v1/access.grpc.pb.h"
#include "proto/custos/v1/approvals.grpc.pb.h"
#include "proto/custos/v1/audit.grpc.pb.h"
#include "proto/custos/v1/identity.grpc.pb.h"

namespace custos {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ =
        new std::string(absl::StrCat(std::getenv("TEST_TMPDIR"), "/custos"));
    gateway::GatewayOptions options;
    options.data_dir = *data_dir_;
    options.listen_address = "127.0.0.1:0";
    auto server = gateway::GatewayServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete data_dir_;
    data_dir_ = nullptr;
  }

  static std::string Pki(const std::string& file) {
    return absl::StrCat(*data_dir_, "/pki/", file);
  }

  // A channel presenting `cert_pem`/`key_pem`, or no certificate when empty.
  static std::shared_ptr<grpc::Channel> Channel(const std::string& cert_pem,
                                                const std::string& key_pem) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFile(Pki("ca.crt"));
    tls.pem_cert_chain = cert_pem;
    tls.pem_private_key = key_pem;
    return grpc::CreateChannel(absl::StrCat("localhost:", server_->port()),
                               grpc::SslCredentials(tls));
  }

  static std::shared_ptr<grpc::Channel> StaffChannel(
      const std::string& staff_id) {
    return Channel(ReadFile(Pki(absl::StrCat("clients/", staff_id, ".crt"))),
                   ReadFile(Pki(absl::StrCat("clients/", staff_id, ".key"))));
  }

  struct Answer {
    grpc::Status status;
    custos::v1::RequestAccessResponse response;
    std::string log_index;  // from trailing metadata, for refusals
  };

  static Answer RequestAccess(const std::shared_ptr<grpc::Channel>& channel,
                              const std::string& customer,
                              const std::string& category,
                              const std::string& reference) {
    custos::v1::RequestAccessRequest request;
    request.set_customer_id(customer);
    request.mutable_justification()->set_category(category);
    request.mutable_justification()->set_reference(reference);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    Answer answer;
    answer.status = custos::v1::StaffAccess::NewStub(channel)->RequestAccess(
        &context, request, &answer.response);
    const auto& trailers = context.GetServerTrailingMetadata();
    if (auto it = trailers.find("custos-log-index"); it != trailers.end()) {
      answer.log_index.assign(it->second.data(), it->second.size());
    }
    return answer;
  }

  static std::vector<custos::v1::LogEntry> AllEntries() {
    auto channel = StaffChannel("dirk.dpo");
    custos::v1::ListEntriesRequest request;
    request.set_page_size(1000);
    grpc::ClientContext context;
    custos::v1::ListEntriesResponse response;
    EXPECT_TRUE(custos::v1::AuditLog::NewStub(channel)
                    ->ListEntries(&context, request, &response)
                    .ok());
    return {response.entries().begin(), response.entries().end()};
  }

  // Expects every entry of `action` after entry `change` (a revocation, a
  // withdrawal) that `about` selects to be a refusal; returns how many
  // there are.
  static int RefusedAfter(
      uint64_t change, const std::string& action,
      const std::function<bool(const custos::v1::LogEntry&)>& about) {
    int refused = 0;
    for (const auto& e : AllEntries()) {
      if (e.action() != action || e.index() <= change || !about(e)) continue;
      EXPECT_EQ(e.outcome(), custos::v1::OUTCOME_REFUSED)
          << action << " #" << e.index() << " after #" << change;
      ++refused;
    }
    return refused;
  }

  static custos::v1::LogEntry EntryAt(const std::string& index) {
    for (const auto& e : AllEntries()) {
      if (absl::StrCat(e.index()) == index) return e;
    }
    ADD_FAILURE() << "no log entry " << index;
    return {};
  }

  // The entry that records a refused call, by the custos-log-index trailer
  // of its finished `context`.
  static custos::v1::LogEntry RefusalEntry(const grpc::ClientContext& context) {
    const auto& trailers = context.GetServerTrailingMetadata();
    const auto index = trailers.find("custos-log-index");
    if (index == trailers.end()) {
      ADD_FAILURE() << "no custos-log-index trailer";
      return {};
    }
    return EntryAt(std::string(index->second.data(), index->second.size()));
  }

  // Holds a database's write lock while it lives, so that writing to it
  // fails: the log's by default, so that appends fail.
  class DatabaseLock {
   public:
    explicit DatabaseLock(absl::string_view file = "audit.db") {
      EXPECT_EQ(sqlite3_open(absl::StrCat(*data_dir_, "/", file).c_str(), &db_),
                SQLITE_OK);
      // custosd may be committing (an earlier call's entry, a checkpoint it
      // signs each second): wait for that rather than fail to take the lock.
      sqlite3_busy_timeout(db_, 10000);
      EXPECT_EQ(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr),
                SQLITE_OK);
    }
    ~DatabaseLock() {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db_);
    }

   private:
    sqlite3* db_ = nullptr;
  };

  static std::string* data_dir_;
  static gateway::GatewayServer* server_;
};

std::string* GatewayTest::data_dir_ = nullptr;
gateway::GatewayServer* GatewayTest::server_ = nullptr;

TEST_F(GatewayTest, GrantsDutchSupportEngineerAndLogsIt) {
  const Answer answer = RequestAccess(StaffChannel("anna.support"), "acme",
                                      "support", "SUP-1042");
  ASSERT_TRUE(answer.status.ok()) << answer.status.error_message();
  const auto& grant = answer.response.grant();
  EXPECT_THAT(grant.grant_id(), ::testing::StartsWith("g_"));
  EXPECT_EQ(grant.staff_id(), "anna.support");
  EXPECT_EQ(grant.customer_id(), "acme");
  EXPECT_EQ(answer.response.decision().verdict(), custos::v1::ALLOW);
  EXPECT_TRUE(grant.obligations().read_only());

  const auto entry = EntryAt(absl::StrCat(answer.response.log_index()));
  EXPECT_EQ(entry.actor().id(), "anna.support");
  EXPECT_EQ(entry.actor().country(), "NL");
  EXPECT_EQ(entry.action(), "StaffAccess.RequestAccess");
  EXPECT_EQ(entry.customer_id(), "acme");
  EXPECT_EQ(entry.reference(), "SUP-1042");
  EXPECT_EQ(entry.grant_id(), grant.grant_id());
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_ALLOWED);
  EXPECT_EQ(entry.status_code(), 0);
}

TEST_F(GatewayTest, RefusesContractorWithReasonAndLogsIt) {
  const Answer answer =
      RequestAccess(StaffChannel("carl.contractor"), "acme", "bug", "BUG-7");
  EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(
      answer.status.error_message(),
      HasSubstr(
          "CONTRACT_NOT_DUTCH_EMPLOYMENT: carl.contractor has a CONTRACTOR"));
  ASSERT_FALSE(answer.log_index.empty());
  const auto entry = EntryAt(answer.log_index);
  EXPECT_EQ(entry.actor().id(), "carl.contractor");
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
  EXPECT_EQ(entry.status_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_EQ(entry.reasons_size(), 1);
  EXPECT_EQ(entry.reasons(0).code(), "CONTRACT_NOT_DUTCH_EMPLOYMENT");
}

TEST_F(GatewayTest, RefusesUnknownCategoryNamingTheFieldAndLogsIt) {
  const Answer answer =
      RequestAccess(StaffChannel("anna.support"), "acme", "curiosity", "SUP-1");
  EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(answer.status.error_message(),
            "justification.category: one of abuse, billing, bug, feature, "
            "prep, support");
  const auto entry = EntryAt(answer.log_index);
  EXPECT_EQ(entry.status_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
  EXPECT_EQ(entry.actor().id(), "anna.support");
  // The well-formed parts of a refused request are recorded, the rest not.
  EXPECT_EQ(entry.customer_id(), "acme");
  EXPECT_EQ(entry.reference(), "SUP-1");
  EXPECT_EQ(entry.category(), "");
}

TEST_F(GatewayTest, RefusesEmptyReferenceNamingTheFieldAndLogsIt) {
  const Answer answer =
      RequestAccess(StaffChannel("anna.support"), "acme", "support", "");
  EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(answer.status.error_message(), "justification.reference: required");
  EXPECT_EQ(EntryAt(answer.log_index).reasons(0).message(),
            "justification.reference: required");
}

TEST_F(GatewayTest, RefusesUnknownCustomer) {
  const Answer answer =
      RequestAccess(StaffChannel("anna.support"), "nobody", "support", "SUP-1");
  EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(EntryAt(answer.log_index).customer_id(), "nobody");
}

TEST_F(GatewayTest, RefusesCallerWithoutCertificateAndLogsIt) {
  const Answer answer =
      RequestAccess(Channel("", ""), "acme", "support", "SUP-1");
  EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(answer.status.error_message(),
              HasSubstr("no client certificate"));
  const auto entry = EntryAt(answer.log_index);
  EXPECT_EQ(entry.actor().kind(), custos::v1::ACTOR_UNKNOWN_CALLER);
  EXPECT_EQ(entry.status_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A refused caller's claims are not written as if they were facts.
  EXPECT_EQ(entry.customer_id(), "");
}

TEST_F(GatewayTest, RefusesCertificateFromAnotherCaAndLogsIt) {
  auto other_ca = pki::MakeCa("Mallory CA");
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  auto forged = pki::IssueClientCert(other_ca->cert_pem, other_ca->key_pem,
                                     "dirk.dpo", absl::Now() - absl::Hours(1),
                                     absl::Now() + absl::Hours(1));
  ASSERT_TRUE(forged.ok()) << forged.status();
  const Answer answer = RequestAccess(
      Channel(forged->cert_pem, forged->key_pem), "acme", "support", "SUP-1");
  EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(answer.status.error_message(),
              HasSubstr("not signed by the trusted CA"));
  const auto entry = EntryAt(answer.log_index);
  EXPECT_EQ(entry.actor().kind(), custos::v1::ACTOR_UNKNOWN_CALLER);
  EXPECT_EQ(entry.status_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// A certificate's subject names a person, and an entry's bytes can never be
// erased: the refusal of a certificate says what was wrong without naming
// it, and the entry commits to the subject, which is kept beside it.
TEST_F(GatewayTest, RefusesUnknownAndExpiredCertificatesKeepingTheSubjectOut) {
  const std::string ca_cert = ReadFile(Pki("ca.crt"));
  const std::string ca_key = ReadFile(Pki("ca.key"));
  const absl::Time now = absl::Now();
  struct Refusal {
    absl::Time not_before;
    absl::Time not_after;
    std::string why;
  };
  for (const Refusal& refusal :
       {Refusal{now - absl::Hours(1), now + absl::Hours(1),
                "not a staff id in the staff directory"},
        Refusal{now - absl::Hours(48), now - absl::Hours(24), "expired at"}}) {
    auto cert = pki::IssueClientCert(ca_cert, ca_key, "Nina Newcomer",
                                     refusal.not_before, refusal.not_after);
    ASSERT_TRUE(cert.ok()) << cert.status();
    const Answer answer = RequestAccess(Channel(cert->cert_pem, cert->key_pem),
                                        "acme", "support", "SUP-1");
    EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_THAT(answer.status.error_message(), HasSubstr(refusal.why));

    uint64_t index = 0;
    ASSERT_TRUE(absl::SimpleAtoi(answer.log_index, &index));
    custos::v1::GetInclusionProofRequest request;
    request.set_index(index);
    custos::v1::InclusionProof proof;
    grpc::ClientContext context;
    ASSERT_TRUE(custos::v1::AuditLog::NewStub(StaffChannel("dirk.dpo"))
                    ->GetInclusionProof(&context, request, &proof)
                    .ok());
    const custos::v1::LogEntry& entry = proof.entry();
    EXPECT_EQ(entry.actor().kind(), custos::v1::ACTOR_UNKNOWN_CALLER);
    ASSERT_EQ(entry.reasons_size(), 1);
    EXPECT_THAT(entry.reasons(0).message(), HasSubstr(refusal.why));
    EXPECT_THAT(proof.entry_bytes(), ::testing::Not(HasSubstr("Newcomer")));
    std::vector<std::string> committed;
    for (const auto& c : entry.commitments()) committed.push_back(c.field());
    EXPECT_THAT(committed, ::testing::Contains("certificate_subject"))
        << refusal.why;
  }
  EXPECT_TRUE(SqliteFilesHold(absl::StrCat(*data_dir_, "/audit.db"),
                              "CN=Nina Newcomer"));
}

TEST_F(GatewayTest, StaffSeeOnlyTheirOwnEntries) {
  ASSERT_TRUE(
      RequestAccess(StaffChannel("daan.developer"), "acme", "bug", "BUG-7")
          .status.ok());
  auto channel = StaffChannel("anna.support");
  ASSERT_TRUE(
      RequestAccess(channel, "acme", "support", "SUP-1042").status.ok());
  custos::v1::ListEntriesRequest request;
  request.set_page_size(1000);
  grpc::ClientContext context;
  custos::v1::ListEntriesResponse response;
  ASSERT_TRUE(custos::v1::AuditLog::NewStub(channel)
                  ->ListEntries(&context, request, &response)
                  .ok());
  ASSERT_GT(response.entries_size(), 0);
  for (const auto& e : response.entries())
    EXPECT_EQ(e.actor().id(), "anna.support");

  request.set_staff_id("daan.developer");
  grpc::ClientContext other;
  EXPECT_EQ(custos::v1::AuditLog::NewStub(channel)
                ->ListEntries(&other, request, &response)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(GatewayTest, ConcurrentClientsLeaveAnIntactChainWithoutGaps) {
  constexpr int kThreads = 8;
  constexpr int kRequests = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      auto channel = StaffChannel(t % 2 ? "anna.support" : "carl.contractor");
      for (int i = 0; i < kRequests; ++i) {
        RequestAccess(channel, "acme", "support", "SUP-1042");
      }
    });
  }
  for (auto& thread : threads) thread.join();

  // Read the SQLite file itself: every index from 0 up, chained.
  const std::string db = absl::StrCat(*data_dir_, "/audit.db");
  EXPECT_TRUE(audit::VerifySqliteLogFile(db).ok());
  const auto entries = AllEntries();
  ASSERT_GE(entries.size(), static_cast<size_t>(kThreads * kRequests));
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].index(), entries.size() - 1 - i);  // newest first
  }
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

// Proofs from the API verify against the signed checkpoint with nothing but
// the pinned verifier key.
TEST_F(GatewayTest, InclusionProofVerifiesAgainstTheSignedCheckpoint) {
  const Answer answer = RequestAccess(StaffChannel("anna.support"), "acme",
                                      "support", "SUP-1043");
  ASSERT_TRUE(answer.status.ok());
  const std::string pinned_key =
      ReadFile(absl::StrCat(*data_dir_, "/log_verifier_key"));
  auto verifier = audit::NoteVerifier::FromVerifierKey(
      std::string(absl::StripAsciiWhitespace(pinned_key)));
  ASSERT_TRUE(verifier.ok()) << verifier.status();

  auto stub = custos::v1::AuditLog::NewStub(StaffChannel("anna.support"));
  custos::v1::GetInclusionProofRequest request;
  request.set_index(answer.response.log_index());
  custos::v1::InclusionProof proof;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->GetInclusionProof(&context, request, &proof).ok());
  EXPECT_EQ(proof.entry().reference(), "SUP-1043");
  EXPECT_EQ(proof.leaf_hash(), audit::HashLeaf(proof.entry_bytes()));

  auto text = verifier->Open(proof.checkpoint().note());
  ASSERT_TRUE(text.ok()) << text.status();
  auto body = audit::ParseCheckpointBody(*text);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(body->size, proof.tree_size());
  std::vector<std::string> hashes(proof.hashes().begin(), proof.hashes().end());
  EXPECT_TRUE(audit::VerifyInclusion(proof.leaf_hash(), proof.index(),
                                     proof.tree_size(), hashes, body->root_hash)
                  .ok());
  // The entry commits to the note-free request; the address is committed.
  bool has_address_commitment = false;
  for (const auto& c : proof.entry().commitments()) {
    has_address_commitment |= c.field() == "source_ip";
  }
  EXPECT_TRUE(has_address_commitment);
}

TEST_F(GatewayTest, StaffCannotProveOthersEntries) {
  const Answer answer =
      RequestAccess(StaffChannel("daan.developer"), "acme", "bug", "BUG-7");
  ASSERT_TRUE(answer.status.ok());
  auto stub = custos::v1::AuditLog::NewStub(StaffChannel("anna.support"));
  custos::v1::GetInclusionProofRequest request;
  request.set_index(answer.response.log_index());
  custos::v1::InclusionProof proof;
  grpc::ClientContext context;
  EXPECT_EQ(stub->GetInclusionProof(&context, request, &proof).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(GatewayTest, ConsistencyProofLinksTwoCheckpoints) {
  auto stub = custos::v1::AuditLog::NewStub(StaffChannel("anna.support"));
  custos::v1::Checkpoint first;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->GetCheckpoint(&context, {}, &first).ok());
  }
  for (int i = 0; i < 3; ++i) {
    RequestAccess(StaffChannel("anna.support"), "acme", "support", "SUP-1042");
  }
  custos::v1::GetConsistencyProofRequest request;
  request.set_old_size(first.size());
  custos::v1::ConsistencyProof proof;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->GetConsistencyProof(&context, request, &proof).ok());
  ASSERT_GT(proof.new_size(), first.size());
  std::vector<std::string> hashes(proof.hashes().begin(), proof.hashes().end());
  EXPECT_TRUE(audit::VerifyConsistency(first.size(), proof.new_size(),
                                       first.root_hash(),
                                       proof.checkpoint().root_hash(), hashes)
                  .ok());
}

// A caller about to prove an entry it has just seen asks for a checkpoint
// that covers it, and gets one signed at once rather than waiting for the
// next second's; a size past the log's end is refused, naming the field.
TEST_F(GatewayTest, SignsACheckpointCoveringWhatTheCallerSaw) {
  const Answer granted = RequestAccess(StaffChannel("anna.support"), "acme",
                                       "support", "SUP-1042");
  ASSERT_TRUE(granted.status.ok());
  const uint64_t seen = granted.response.log_index() + 1;
  auto stub = custos::v1::AuditLog::NewStub(StaffChannel("anna.support"));
  custos::v1::GetCheckpointRequest request;
  request.set_min_size(seen);
  custos::v1::Checkpoint checkpoint;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub->GetCheckpoint(&context, request, &checkpoint).ok());
  }
  EXPECT_GE(checkpoint.size(), seen);
  auto opened = audit::NoteVerifier::FromVerifierKey(checkpoint.verifier_key());
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(opened->Open(checkpoint.note()).ok());

  request.set_min_size(checkpoint.size() + 1000000);
  grpc::ClientContext context;
  const grpc::Status refused =
      stub->GetCheckpoint(&context, request, &checkpoint);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(refused.error_message(), HasSubstr("min_size: the log has "));
}

TEST_F(GatewayTest, OnlyTheDpoErases) {
  custos::v1::EraseRequest request;
  request.set_subject("eva.former");
  custos::v1::EraseResponse response;
  {
    grpc::ClientContext context;
    EXPECT_EQ(custos::v1::AuditLog::NewStub(StaffChannel("anna.support"))
                  ->Erase(&context, request, &response)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  grpc::ClientContext context;
  EXPECT_TRUE(custos::v1::AuditLog::NewStub(StaffChannel("dirk.dpo"))
                  ->Erase(&context, request, &response)
                  .ok());
  request.set_older_than_days(3);
  grpc::ClientContext both;
  EXPECT_EQ(custos::v1::AuditLog::NewStub(StaffChannel("dirk.dpo"))
                ->Erase(&both, request, &response)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

// The policy file's rules, through the real gateway and its reference
// directory.
TEST_F(GatewayTest, CustomerRequiringApprovalGetsAPendingRequest) {
  const Answer answer = RequestAccess(StaffChannel("anna.support"),
                                      "bakkerij-jansen", "support", "SUP-2001");
  ASSERT_TRUE(answer.status.ok()) << answer.status.error_message();
  EXPECT_EQ(answer.response.decision().verdict(), custos::v1::NEEDS_APPROVAL);
  EXPECT_FALSE(answer.response.has_grant());
  EXPECT_THAT(answer.response.pending().request_id(),
              ::testing::StartsWith("p_"));
  EXPECT_EQ(answer.response.pending().waiting_for(0),
            custos::v1::APPROVER_CUSTOMER);
  const auto entry = EntryAt(absl::StrCat(answer.response.log_index()));
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_PENDING);
  EXPECT_EQ(entry.pending_request_id(), answer.response.pending().request_id());
  EXPECT_EQ(entry.reasons(0).code(), "CUSTOMER_APPROVAL_REQUIRED");
}

TEST_F(GatewayTest, ReferenceMustExistBeOpenAndBelongToTheCustomer) {
  const struct {
    std::string reference;
    std::string code;
  } cases[] = {{"SUP-9999", "REFERENCE_NOT_FOUND"},
               {"SUP-0917", "REFERENCE_CLOSED"},
               {"SUP-2001", "REFERENCE_OTHER_CUSTOMER"},
               {"MEET-2026-11-25", "REFERENCE_WRONG_KIND"}};
  for (const auto& c : cases) {
    const Answer answer = RequestAccess(StaffChannel("anna.support"), "acme",
                                        "support", c.reference);
    EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << c.reference;
    EXPECT_THAT(answer.status.error_message(), HasSubstr(c.code));
    EXPECT_EQ(EntryAt(answer.log_index).reasons(0).code(), c.code);
  }
}

TEST_F(GatewayTest, PartnerOnlyWithTheCustomersConsent) {
  EXPECT_TRUE(
      RequestAccess(StaffChannel("pia.partner"), "acme", "support", "SUP-1042")
          .status.ok());
  const Answer refused = RequestAccess(
      StaffChannel("pia.partner"), "fietsen-devries", "support", "SUP-4001");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("PARTNER_WITHOUT_CONSENT"));
}

TEST_F(GatewayTest, RandomChecksAreDrawnAndCounted) {
  const Answer answer = RequestAccess(StaffChannel("tess.tester"), "acme",
                                      "feature", "random-check");
  ASSERT_TRUE(answer.status.ok()) << answer.status.error_message();
  bool drawn = false;
  for (const auto& r : answer.response.decision().reasons()) {
    drawn |= r.code() == "RANDOM_CHECK_DRAWN";
  }
  EXPECT_TRUE(drawn);
}

TEST_F(GatewayTest, AccountantReachesBillingOnly) {
  EXPECT_TRUE(RequestAccess(StaffChannel("abel.accountant"), "acme", "billing",
                            "INV-2026-0042")
                  .status.ok());
  EXPECT_EQ(RequestAccess(StaffChannel("abel.accountant"), "acme", "support",
                          "SUP-1042")
                .status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

// Reading customer data under a grant: only the grant's kinds, masked as
// the obligations say, paged, counted, and logged with kind and count.
class DataBrokerTest : public GatewayTest {
 protected:
  static custos::v1::Grant Grant(const std::string& staff,
                                 const std::string& customer,
                                 const std::string& category,
                                 const std::string& reference) {
    const Answer answer =
        RequestAccess(StaffChannel(staff), customer, category, reference);
    EXPECT_TRUE(answer.status.ok()) << answer.status.error_message();
    return answer.response.grant();
  }

  static grpc::Status Read(const std::string& staff,
                           const std::string& grant_id,
                           custos::v1::DataKind kind,
                           custos::v1::ReadCustomerDataResponse* out,
                           const std::string& page_token = "",
                           int page_size = 0) {
    custos::v1::ReadCustomerDataRequest request;
    request.set_grant_id(grant_id);
    request.set_kind(kind);
    request.set_page_token(page_token);
    request.set_page_size(page_size);
    grpc::ClientContext context;
    return custos::v1::StaffAccess::NewStub(StaffChannel(staff))
        ->ReadCustomerData(&context, request, out);
  }

  // A read expected to be refused: its status, and in `entry` the entry
  // that records the refusal (from the custos-log-index trailer).
  static grpc::Status ReadRefused(const std::string& staff,
                                  const std::string& grant_id,
                                  custos::v1::DataKind kind,
                                  custos::v1::LogEntry* entry,
                                  int page_size = 0) {
    custos::v1::ReadCustomerDataRequest request;
    request.set_grant_id(grant_id);
    request.set_kind(kind);
    request.set_page_size(page_size);
    grpc::ClientContext context;
    custos::v1::ReadCustomerDataResponse response;
    const grpc::Status status =
        custos::v1::StaffAccess::NewStub(StaffChannel(staff))
            ->ReadCustomerData(&context, request, &response);
    EXPECT_FALSE(status.ok());
    *entry = RefusalEntry(context);
    return status;
  }

  // `grant_id` as `staff`'s grant list shows it now (one of their newest
  // 200); nullopt when it is not there.
  static std::optional<custos::v1::Grant> Listed(const std::string& staff,
                                                 const std::string& grant_id,
                                                 bool active_only = false) {
    custos::v1::ListGrantsRequest request;
    request.set_page_size(200);
    request.set_active_only(active_only);
    custos::v1::ListGrantsResponse list;
    grpc::ClientContext context;
    EXPECT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel(staff))
                    ->ListGrants(&context, request, &list)
                    .ok());
    for (const auto& g : list.grants()) {
      if (g.grant_id() == grant_id) return g;
    }
    return std::nullopt;
  }
};

// A read whose record count cannot be stored after its entry: logged as
// allowed, answered UNAVAILABLE with nothing served, recorded by a second
// entry. Its records stay counted against the grant (never the other way
// round), and reads are served again once the file can be written.
TEST_F(DataBrokerTest, RecordsAReadWhoseCountCouldNotBeStored) {
  const custos::v1::Grant grant =
      Grant("anna.support", "acme", "support", "SUP-1042");
  custos::v1::LogEntry entry;
  grpc::Status refused;
  {
    DatabaseLock lock("grants.db");
    refused = ReadRefused("anna.support", grant.grant_id(), custos::v1::ACCOUNT,
                          &entry);
  }
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(), HasSubstr("but nothing was served"));
  EXPECT_THAT(refused.error_message(), HasSubstr("records that"));
  EXPECT_EQ(entry.action(), "StaffAccess.ReadCustomerData");
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_ALLOWED);
  EXPECT_EQ(entry.grant_id(), grant.grant_id());
  ASSERT_GT(entry.record_count(), 0u);

  custos::v1::ReadCustomerDataResponse page;
  ASSERT_TRUE(
      Read("anna.support", grant.grant_id(), custos::v1::ACCOUNT, &page).ok());
  const auto listed = Listed("anna.support", grant.grant_id());
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->records_read(),
            entry.record_count() + static_cast<uint64_t>(page.records_size()));
}

TEST_F(DataBrokerTest, ServesTheGrantsKindsPagedAndLogsKindAndCount) {
  const auto grant = Grant("anna.support", "acme", "support", "SUP-1042");
  custos::v1::ReadCustomerDataResponse first;
  ASSERT_TRUE(Read("anna.support", grant.grant_id(), custos::v1::SUBSCRIBERS,
                   &first, "", 25)
                  .ok());
  EXPECT_EQ(first.records_size(), 25);
  EXPECT_THAT(first.records(0).fields().at("email"), HasSubstr("@"));
  EXPECT_FALSE(first.next_page_token().empty());
  custos::v1::ReadCustomerDataResponse second;
  ASSERT_TRUE(Read("anna.support", grant.grant_id(), custos::v1::SUBSCRIBERS,
                   &second, first.next_page_token(), 25)
                  .ok());
  EXPECT_NE(second.records(0).id(), first.records(0).id());

  const auto entry = EntryAt(absl::StrCat(first.log_index()));
  EXPECT_EQ(entry.action(), "StaffAccess.ReadCustomerData");
  EXPECT_EQ(entry.data_kind(), custos::v1::SUBSCRIBERS);
  EXPECT_EQ(entry.record_count(), 25u);
  EXPECT_EQ(entry.grant_id(), grant.grant_id());

  custos::v1::ReadCustomerDataResponse messages;
  const grpc::Status refused =
      Read("anna.support", grant.grant_id(), custos::v1::MESSAGES, &messages);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.error_message(), HasSubstr("does not reach MESSAGES"));
}

// One record by its id: that record alone, and none for an id the customer
// does not have.
TEST_F(DataBrokerTest, ReadsOneRecordByItsId) {
  const auto grant = Grant("anna.support", "acme", "support", "SUP-1042");
  custos::v1::ReadCustomerDataResponse page;
  ASSERT_TRUE(Read("anna.support", grant.grant_id(), custos::v1::SUBSCRIBERS,
                   &page, "", 5)
                  .ok());
  ASSERT_EQ(page.records_size(), 5);
  const custos::v1::Record wanted = page.records(3);
  auto stub = custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"));
  custos::v1::ReadCustomerDataRequest request;
  request.set_grant_id(grant.grant_id());
  request.set_kind(custos::v1::SUBSCRIBERS);
  request.set_record_id(wanted.id());
  {
    grpc::ClientContext context;
    custos::v1::ReadCustomerDataResponse one;
    ASSERT_TRUE(stub->ReadCustomerData(&context, request, &one).ok());
    ASSERT_EQ(one.records_size(), 1);
    EXPECT_EQ(one.records(0).id(), wanted.id());
    EXPECT_EQ(one.records(0).fields().at("email"), wanted.fields().at("email"));
    EXPECT_TRUE(one.next_page_token().empty());
  }
  request.set_record_id("sub-no-such-one");
  grpc::ClientContext context;
  custos::v1::ReadCustomerDataResponse none;
  ASSERT_TRUE(stub->ReadCustomerData(&context, request, &none).ok());
  EXPECT_EQ(none.records_size(), 0);
}

// A grant serves 5,000 records in all (custosd's default): the page that
// reaches the limit comes shorter, and reads after it are refused and
// logged. Reads side by side under one grant never take it past the limit.
TEST_F(DataBrokerTest, AGrantServesAtMostItsLimitOfRecords) {
  constexpr uint64_t kLimit = 5000;
  const auto records_read = [](const std::string& grant_id) {
    return Listed("anna.support", grant_id)
        .value_or(custos::v1::Grant())
        .records_read();
  };

  const auto grant = Grant("anna.support", "acme", "support", "SUP-1042");
  custos::v1::ReadCustomerDataResponse page;
  ASSERT_TRUE(Read("anna.support", grant.grant_id(), custos::v1::SUBSCRIBERS,
                   &page, "", 30)
                  .ok());
  uint64_t served = page.records_size();
  while (served + 50 <= kLimit) {
    page.Clear();
    ASSERT_TRUE(Read("anna.support", grant.grant_id(), custos::v1::SUBSCRIBERS,
                     &page, "", 50)
                    .ok());
    ASSERT_EQ(page.records_size(), 50);
    served += page.records_size();
  }
  ASSERT_EQ(served, kLimit - 20);
  page.Clear();
  ASSERT_TRUE(Read("anna.support", grant.grant_id(), custos::v1::SUBSCRIBERS,
                   &page, "", 50)
                  .ok());
  EXPECT_EQ(page.records_size(), 20);
  EXPECT_FALSE(page.next_page_token().empty());
  EXPECT_EQ(EntryAt(absl::StrCat(page.log_index())).record_count(), 20u);
  EXPECT_EQ(records_read(grant.grant_id()), kLimit);

  custos::v1::LogEntry entry;
  const grpc::Status refused = ReadRefused("anna.support", grant.grant_id(),
                                           custos::v1::SUBSCRIBERS, &entry);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("has served its limit of 5000 records"));
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
  EXPECT_EQ(entry.grant_id(), grant.grant_id());
  EXPECT_EQ(entry.record_count(), 0u);

  // Eight readers at once under a fresh grant, pages of 45 (which do not
  // divide the limit), each until it is refused for the limit.
  const auto shared = Grant("anna.support", "acme", "support", "SUP-1043");
  std::atomic<uint64_t> shared_served{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&] {
      for (;;) {
        custos::v1::ReadCustomerDataResponse mine;
        const grpc::Status status =
            Read("anna.support", shared.grant_id(), custos::v1::SUBSCRIBERS,
                 &mine, "", 45);
        if (status.ok()) {
          shared_served += mine.records_size();
          continue;
        }
        EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
            << status.error_message();
        // A read that lost the last records to another is refused too;
        // only the grant's own limit ends a reader.
        if (absl::StrContains(status.error_message(), "served its limit")) {
          return;
        }
      }
    });
  }
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(shared_served.load(), kLimit);
  EXPECT_EQ(records_read(shared.grant_id()), kLimit);
}

// A grant asked for one second serves until its expiry and nothing after:
// the read is refused and logged, the grant lists as expired, and it can no
// longer be ended.
TEST_F(DataBrokerTest, AGrantServesNothingPastItsExpiry) {
  custos::v1::RequestAccessRequest request;
  request.set_customer_id("acme");
  request.mutable_justification()->set_category("support");
  request.mutable_justification()->set_reference("SUP-1042");
  request.mutable_duration()->set_seconds(1);
  custos::v1::RequestAccessResponse granted;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"))
                    ->RequestAccess(&context, request, &granted)
                    .ok());
  }
  const custos::v1::Grant& grant = granted.grant();
  const absl::Time expires =
      absl::FromUnixSeconds(grant.obligations().expires_at().seconds()) +
      absl::Nanoseconds(grant.obligations().expires_at().nanos());
  const absl::Time created =
      absl::FromUnixSeconds(grant.created_at().seconds()) +
      absl::Nanoseconds(grant.created_at().nanos());
  EXPECT_EQ(expires - created, absl::Seconds(1));
  custos::v1::ReadCustomerDataResponse page;
  ASSERT_TRUE(
      Read("anna.support", grant.grant_id(), custos::v1::ACCOUNT, &page).ok());

  absl::SleepFor(expires - absl::Now() + absl::Milliseconds(50));
  custos::v1::LogEntry entry;
  const grpc::Status refused = ReadRefused("anna.support", grant.grant_id(),
                                           custos::v1::ACCOUNT, &entry);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("GRANT_EXPIRED"));
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
  EXPECT_EQ(entry.grant_id(), grant.grant_id());
  const auto listed = Listed("anna.support", grant.grant_id());
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->state(), custos::v1::GRANT_EXPIRED);
  EXPECT_FALSE(Listed("anna.support", grant.grant_id(), /*active_only=*/true)
                   .has_value());

  auto stub = custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"));
  custos::v1::EndGrantRequest end;
  end.set_grant_id(grant.grant_id());
  custos::v1::EndGrantResponse ended;
  grpc::ClientContext end_context;
  const grpc::Status not_ended = stub->EndGrant(&end_context, end, &ended);
  EXPECT_EQ(not_ended.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(not_ended.error_message(), HasSubstr("GRANT_EXPIRED"));
}

TEST_F(DataBrokerTest, MasksWhatTheCategorySays) {
  const auto grant = Grant("daan.developer", "acme", "bug", "BUG-7");
  custos::v1::ReadCustomerDataResponse page;
  ASSERT_TRUE(
      Read("daan.developer", grant.grant_id(), custos::v1::SUBSCRIBERS, &page)
          .ok());
  ASSERT_GT(page.records_size(), 0);
  EXPECT_THAT(page.masked_fields(),
              ::testing::ElementsAre("SUBSCRIBERS.email", "SUBSCRIBERS.name"));
  for (const auto& record : page.records()) {
    EXPECT_THAT(record.fields().at("email"),
                ::testing::MatchesRegex(".\\*\\*\\*@.*"));
    EXPECT_THAT(record.fields().at("name"),
                ::testing::MatchesRegex(".\\*\\*\\*"));
  }
}

TEST_F(DataBrokerTest, PrepSeesAggregatesOnly) {
  const auto grant = Grant("mila.accounts", "acme", "prep", "MEET-2026-11-25");
  custos::v1::ReadCustomerDataResponse page;
  ASSERT_TRUE(
      Read("mila.accounts", grant.grant_id(), custos::v1::AGGREGATES, &page)
          .ok());
  ASSERT_EQ(page.records_size(), 1);
  EXPECT_EQ(page.records(0).fields().at("SUBSCRIBERS_count"), "60");
  EXPECT_EQ(
      Read("mila.accounts", grant.grant_id(), custos::v1::SUBSCRIBERS, &page)
          .error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(DataBrokerTest, OnlyTheHolderReadsAndEndedOrRevokedGrantsServeNothing) {
  const auto grant = Grant("anna.support", "acme", "support", "SUP-1042");
  custos::v1::ReadCustomerDataResponse page;
  EXPECT_EQ(Read("pia.partner", grant.grant_id(), custos::v1::ACCOUNT, &page)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // The DPO revokes; the next read fails at once.
  custos::v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  revoke.set_reason("ticket was closed");
  custos::v1::RevokeGrantResponse revoked;
  {
    grpc::ClientContext context;
    EXPECT_EQ(custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"))
                  ->RevokeGrant(&context, revoke, &revoked)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  grpc::ClientContext context;
  ASSERT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel("dirk.dpo"))
                  ->RevokeGrant(&context, revoke, &revoked)
                  .ok());
  EXPECT_EQ(revoked.grant().state(), custos::v1::GRANT_REVOKED);
  EXPECT_EQ(revoked.grant().ended_by(), "dpo:dirk.dpo");
  const grpc::Status after =
      Read("anna.support", grant.grant_id(), custos::v1::ACCOUNT, &page);
  EXPECT_EQ(after.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(after.error_message(), HasSubstr("GRANT_REVOKED"));

  // The holder ends their own grant.
  const auto mine = Grant("anna.support", "acme", "support", "SUP-1043");
  custos::v1::EndGrantRequest end;
  end.set_grant_id(mine.grant_id());
  custos::v1::EndGrantResponse ended;
  grpc::ClientContext end_context;
  ASSERT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"))
                  ->EndGrant(&end_context, end, &ended)
                  .ok());
  EXPECT_EQ(ended.grant().state(), custos::v1::GRANT_ENDED);
  EXPECT_EQ(Read("anna.support", mine.grant_id(), custos::v1::ACCOUNT, &page)
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// Runs `attempt` on 8 threads (each its own calls, `attempt(thread)`
// giving the entry index of a call that was served, nullopt otherwise), and
// `change` once a few calls are done; each thread stops after a call that
// started once `change` returned. Returns the indexes of the calls served.
std::vector<uint64_t> ServedWhile(
    const std::function<std::optional<uint64_t>(int)>& attempt,
    const std::function<void()>& change) {
  constexpr int kThreads = 8;
  std::atomic<int> calls{0};
  std::atomic<bool> changed{false};
  std::vector<std::vector<uint64_t>> served(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const bool last = changed.load();
        if (const auto index = attempt(t)) served[t].push_back(*index);
        ++calls;
        if (last) break;
      }
    });
  }
  while (calls.load() < 2 * kThreads) absl::SleepFor(absl::Milliseconds(1));
  change();
  changed.store(true);
  for (std::thread& thread : threads) thread.join();
  std::vector<uint64_t> all;
  for (const auto& indexes : served) {
    all.insert(all.end(), indexes.begin(), indexes.end());
  }
  return all;
}

// ServedWhile reading `grant_id`'s ACCOUNT records a record at a time over
// `channel`.
std::vector<uint64_t> ReadWhile(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& grant_id,
                                const std::function<void()>& change) {
  auto stub = custos::v1::StaffAccess::NewStub(channel);
  custos::v1::ReadCustomerDataRequest request;
  request.set_grant_id(grant_id);
  request.set_kind(custos::v1::ACCOUNT);
  request.set_page_size(1);
  return ServedWhile(
      [&](int) -> std::optional<uint64_t> {
        grpc::ClientContext context;
        custos::v1::ReadCustomerDataResponse response;
        if (!stub->ReadCustomerData(&context, request, &response).ok()) {
          return std::nullopt;
        }
        return response.log_index();
      },
      change);
}

// Reads racing a revocation: none is logged as allowed, or served, after
// the revocation's entry. The revocation refuses reads from before its
// entry is appended, and waits for those counted before to be logged. A
// revocation that could not be logged takes nothing away.
TEST_F(DataBrokerTest, NoReadIsServedAfterTheRevocationsEntry) {
  const auto grant = Grant("anna.support", "acme", "support", "SUP-1042");
  auto dpo = custos::v1::StaffAccess::NewStub(StaffChannel("dirk.dpo"));
  custos::v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant.grant_id());
  revoke.set_reason("ticket was closed");
  {
    DatabaseLock lock;
    grpc::ClientContext context;
    custos::v1::RevokeGrantResponse refused;
    EXPECT_EQ(dpo->RevokeGrant(&context, revoke, &refused).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  custos::v1::ReadCustomerDataResponse page;
  ASSERT_TRUE(
      Read("anna.support", grant.grant_id(), custos::v1::ACCOUNT, &page).ok());

  custos::v1::RevokeGrantResponse revoked;
  grpc::Status revocation;
  const std::vector<uint64_t> served =
      ReadWhile(StaffChannel("anna.support"), grant.grant_id(), [&] {
        grpc::ClientContext context;
        revocation = dpo->RevokeGrant(&context, revoke, &revoked);
      });
  ASSERT_TRUE(revocation.ok()) << revocation.error_message();
  const uint64_t revoked_at = revoked.log_index();
  for (uint64_t index : served) EXPECT_LT(index, revoked_at);
  EXPECT_GT(RefusedAfter(revoked_at, "StaffAccess.ReadCustomerData",
                         [&](const custos::v1::LogEntry& e) {
                           return e.grant_id() == grant.grant_id();
                         }),
            0);
}

TEST_F(DataBrokerTest, ListsOwnGrantsAndTheDpoAll) {
  Grant("lars.deliverability", "fietsen-devries", "abuse", "SIG-88");
  custos::v1::ListGrantsRequest request;
  custos::v1::ListGrantsResponse mine;
  grpc::ClientContext context;
  ASSERT_TRUE(
      custos::v1::StaffAccess::NewStub(StaffChannel("lars.deliverability"))
          ->ListGrants(&context, request, &mine)
          .ok());
  ASSERT_GT(mine.grants_size(), 0);
  for (const auto& g : mine.grants())
    EXPECT_EQ(g.staff_id(), "lars.deliverability");
  request.set_staff_id("lars.deliverability");
  custos::v1::ListGrantsResponse dpo;
  grpc::ClientContext dpo_context;
  ASSERT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel("dirk.dpo"))
                  ->ListGrants(&dpo_context, request, &dpo)
                  .ok());
  EXPECT_EQ(dpo.grants_size(), mine.grants_size());
}

TEST_F(DataBrokerTest, RefusesMalformedReadsNamingTheField) {
  custos::v1::ReadCustomerDataResponse page;
  const grpc::Status bad_id =
      Read("anna.support", "g_../../etc", custos::v1::ACCOUNT, &page);
  EXPECT_EQ(bad_id.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad_id.error_message(),
            "grant_id: expected g_ and 32 lowercase hex digits");
  const auto grant = Grant("anna.support", "acme", "support", "SUP-1042");
  EXPECT_EQ(Read("anna.support", grant.grant_id(),
                 static_cast<custos::v1::DataKind>(77), &page)
                .error_message(),
            "kind: a known DataKind, got 77");
  EXPECT_EQ(Read("anna.support", "g_00000000000000000000000000000000",
                 custos::v1::ACCOUNT, &page)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  // A malformed read under a known grant names the grant and its customer
  // in its entry, so the customer's log shows the attempt.
  custos::v1::LogEntry entry;
  const grpc::Status too_big = ReadRefused(
      "anna.support", grant.grant_id(), custos::v1::SUBSCRIBERS, &entry, 5000);
  EXPECT_EQ(too_big.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(too_big.error_message(), "page_size: 0 to 500, got 5000");
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
  EXPECT_EQ(entry.grant_id(), grant.grant_id());
  EXPECT_EQ(entry.customer_id(), "acme");
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

// While another process holds the log's database locked, every request is
// refused with UNAVAILABLE and nothing is served; once the lock is gone the
// gateway serves again without a restart.
TEST_F(GatewayTest, FailsClosedWhileTheLogCannotBeWrittenAndRecovers) {
  const std::string db = absl::StrCat(*data_dir_, "/audit.db");
  // An entry of this test's own, so that it also runs alone.
  const Answer first = RequestAccess(StaffChannel("anna.support"), "acme",
                                     "support", "SUP-1042");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  const uint64_t before = first.response.log_index();
  const auto count_grants = [] {
    sqlite3* grants = nullptr;
    sqlite3_open(absl::StrCat(*data_dir_, "/grants.db").c_str(), &grants);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(grants, "SELECT count(*) FROM grants", -1, &stmt,
                       nullptr);
    const int count =
        sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(grants);
    return count;
  };
  const int grants_before = count_grants();
  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &locker), SQLITE_OK);
  sqlite3_busy_timeout(locker, 10000);  // As DatabaseLock.
  ASSERT_EQ(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr),
            SQLITE_OK);

  const Answer refused = RequestAccess(StaffChannel("anna.support"), "acme",
                                       "support", "SUP-1042");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(
      refused.status.error_message(),
      HasSubstr("the audit log cannot be written, so nothing was served"));
  EXPECT_FALSE(refused.response.has_grant());
  // Nor was a grant stored for it, which ListGrants would show.
  EXPECT_EQ(count_grants(), grants_before);

  sqlite3_exec(locker, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(locker);

  const Answer served = RequestAccess(StaffChannel("anna.support"), "acme",
                                      "support", "SUP-1042");
  ASSERT_TRUE(served.status.ok()) << served.status.error_message();
  // Nothing of the refused request reached the log; the chain goes on.
  EXPECT_GT(served.response.log_index(), before);
  EXPECT_EQ(count_grants(), grants_before + 1);
  EXPECT_TRUE(audit::VerifySqliteLogFile(db).ok());
}

// Lists come newest first in pages: following next_page_token reaches every
// grant once. A token the list did not give is refused, naming page_token,
// and the refusal is logged.
TEST_F(GatewayTest, ListsComeInPagesThatMissNothing) {
  std::vector<std::string> made;
  for (int i = 0; i < 5; ++i) {
    const Answer answer = RequestAccess(StaffChannel("anna.support"), "acme",
                                        "support", "SUP-1042");
    ASSERT_TRUE(answer.status.ok()) << answer.status.error_message();
    made.insert(made.begin(), answer.response.grant().grant_id());
  }
  auto stub = custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"));
  std::vector<std::string> listed;
  custos::v1::ListGrantsRequest request;
  request.set_page_size(2);
  int pages = 0;
  do {
    grpc::ClientContext context;
    custos::v1::ListGrantsResponse page;
    const grpc::Status status = stub->ListGrants(&context, request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_LE(page.grants_size(), 2);
    for (const auto& grant : page.grants()) listed.push_back(grant.grant_id());
    request.set_page_token(page.next_page_token());
    ++pages;
  } while (!request.page_token().empty());
  EXPECT_GE(pages, 3);
  ASSERT_GE(listed.size(), made.size());
  EXPECT_EQ(std::vector<std::string>(listed.begin(), listed.begin() + 5), made);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(),
            listed.size());

  custos::v1::ListTripsRequest trips;
  trips.set_page_token("g12");  // a grants page's token
  grpc::ClientContext context;
  custos::v1::ListTripsResponse none;
  const grpc::Status refused =
      custos::v1::Approvals::NewStub(StaffChannel("anna.support"))
          ->ListTrips(&context, trips, &none);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("page_token: expected"));
  const auto trailers = context.GetServerTrailingMetadata();
  const auto index = trailers.find("custos-log-index");
  ASSERT_NE(index, trailers.end());
  const auto entry =
      EntryAt(std::string(index->second.data(), index->second.size()));
  EXPECT_EQ(entry.action(), "Approvals.ListTrips");
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
}

// A grant that cannot be stored after its entry: the caller is told it was
// logged but not served, no grant exists, and a second entry records that
// the first was not applied, for the same actor, customer and grant.
TEST_F(GatewayTest, RecordsAnAllowedCallWhoseGrantCouldNotBeStored) {
  Answer refused;
  {
    DatabaseLock lock("grants.db");
    refused = RequestAccess(StaffChannel("anna.support"), "acme", "support",
                            "SUP-1042");
  }

  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_FALSE(refused.log_index.empty());
  const custos::v1::LogEntry allowed = EntryAt(refused.log_index);
  EXPECT_EQ(allowed.action(), "StaffAccess.RequestAccess");
  EXPECT_EQ(allowed.outcome(), custos::v1::OUTCOME_ALLOWED);
  ASSERT_FALSE(allowed.grant_id().empty());

  // The answer names the second entry, which points back at the first.
  const std::string message = refused.status.error_message();
  const std::string marker = " (entry #";
  const size_t at = message.find(marker);
  ASSERT_NE(at, std::string::npos) << message;
  const std::string second_index =
      message.substr(at + marker.size(), message.find(' ', at + marker.size()) -
                                             at - marker.size());
  const custos::v1::LogEntry not_applied = EntryAt(second_index);
  EXPECT_EQ(not_applied.action(), "Custos.NotApplied");
  EXPECT_EQ(not_applied.resource(), absl::StrCat("entry/", allowed.index()));
  EXPECT_EQ(not_applied.outcome(), custos::v1::OUTCOME_NOT_APPLIED);
  EXPECT_EQ(not_applied.status_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(not_applied.actor().id(), "anna.support");
  EXPECT_EQ(not_applied.customer_id(), "acme");
  EXPECT_EQ(not_applied.grant_id(), allowed.grant_id());
  ASSERT_EQ(not_applied.reasons_size(), 1);
  EXPECT_EQ(not_applied.reasons(0).code(), "NOT_APPLIED");
  EXPECT_THAT(not_applied.reasons(0).message(),
              HasSubstr(absl::StrCat("StaffAccess.RequestAccess entry #",
                                     allowed.index(),
                                     " is logged as allowed, but was not "
                                     "applied")));

  // No grant was stored, and the staff member's list does not show one.
  custos::v1::ListGrantsRequest list;
  grpc::ClientContext context;
  custos::v1::ListGrantsResponse grants;
  ASSERT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"))
                  ->ListGrants(&context, list, &grants)
                  .ok());
  for (const auto& grant : grants.grants())
    EXPECT_NE(grant.grant_id(), allowed.grant_id());
}

// Malformed requests: each refused with INVALID_ARGUMENT naming the field,
// each logged, and the gateway still serving.
TEST_F(GatewayTest, RefusesMalformedRequestsNamingTheField) {
  struct Case {
    std::function<void(custos::v1::RequestAccessRequest&)> change;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.clear_customer_id(); }, "customer_id"},
      {[](auto& r) { r.set_customer_id(std::string(65, 'a')); }, "customer_id"},
      {[](auto& r) { r.set_customer_id("acme' OR '1'='1"); }, "customer_id"},
      {[](auto& r) { r.set_customer_id("../../etc/passwd"); }, "customer_id"},
      {[](auto& r) { r.set_customer_id("ACME"); }, "customer_id"},
      {[](auto& r) { r.mutable_justification()->clear_category(); },
       "justification.category"},
      {[](auto& r) { r.mutable_justification()->set_category("SUPPORT"); },
       "justification.category"},
      {[](auto& r) {
         r.mutable_justification()->set_category("support; DROP TABLE");
       },
       "justification.category"},
      {[](auto& r) { r.mutable_justification()->clear_reference(); },
       "justification.reference"},
      {[](auto& r) {
         r.mutable_justification()->set_reference(std::string(200, 'x'));
       },
       "justification.reference"},
      {[](auto& r) {
         r.mutable_justification()->set_reference("SUP-1\r\nX-Injected: 1");
       },
       "justification.reference"},
      {[](auto& r) {
         r.mutable_justification()->set_reference(std::string("SUP\0-1", 6));
       },
       "justification.reference"},
      {[](auto& r) {
         r.mutable_justification()->set_note(std::string(2000, 'n'));
       },
       "justification.note"},
      {[](auto& r) { r.mutable_justification()->set_note("bell\a"); },
       "justification.note"},
      {[](auto& r) { r.add_data_kinds(custos::v1::DATA_KIND_UNSPECIFIED); },
       "data_kinds[0]"},
      {[](auto& r) { r.add_data_kinds(static_cast<custos::v1::DataKind>(-1)); },
       "data_kinds[0]"},
      {[](auto& r) {
         r.add_data_kinds(static_cast<custos::v1::DataKind>(1 << 20));
       },
       "data_kinds[0]"},
      {[](auto& r) {
         r.add_data_kinds(custos::v1::ACCOUNT);
         r.add_data_kinds(static_cast<custos::v1::DataKind>(42));
       },
       "data_kinds[1]"},
      {[](auto& r) { r.mutable_duration()->set_seconds(-1); }, "duration"},
      {[](auto& r) { r.mutable_duration()->set_seconds(0); }, "duration"},
      {[](auto& r) { r.mutable_duration()->set_seconds(INT64_MAX); },
       "duration"},
      {[](auto& r) {
         r.mutable_duration()->set_seconds(60);
         r.mutable_duration()->set_nanos(-5);
       },
       "duration"},
      {[](auto& r) { r.mutable_duration()->set_seconds(31 * 24 * 3600); },
       "duration"},
      {[](auto& r) { r.set_device_id(std::string(300, 'd')); }, "device_id"},
      {[](auto& r) { r.set_device_id("laptop\n7"); }, "device_id"},
      // Free text, which approvals.db and refusals would keep.
      {[](auto& r) { r.set_device_id("anna@example.nl"); }, "device_id"},
      {[](auto& r) { r.set_device_id("Anna de Vries"); }, "device_id"},
      {[](auto& r) { r.set_customer_id(" acme"); }, "customer_id"},
      {[](auto& r) { r.set_customer_id("acme\t"); }, "customer_id"},
      {[](auto& r) {
         r.mutable_justification()->set_category(std::string(10000, 'c'));
       },
       "justification.category"},
      {[](auto& r) { r.mutable_justification()->set_reference("\x7f"); },
       "justification.reference"},
      // Free text, which the log would keep in the clear.
      {[](auto& r) {
         r.mutable_justification()->set_reference("bel jan@example.nl");
       },
       "justification.reference"},
      {[](auto& r) { r.set_customer_id("%00"); }, "customer_id"},
      // Repeats would swell the grant and a refusal's reasons, one a kind.
      {[](auto& r) {
         for (int k = 0; k < 3; ++k) r.add_data_kinds(custos::v1::ACCOUNT);
       },
       "data_kinds[1]"},
      // Fields this build does not know would ride along into grants.db and
      // approvals.db (a justification, a pending request) unchecked.
      {[](auto& r) {
         r.GetReflection()
             ->MutableUnknownFields(r.mutable_justification())
             ->AddLengthDelimited(99, std::string(4096, 'x'));
       },
       "justification"},
      {[](auto& r) {
         r.GetReflection()->MutableUnknownFields(&r)->AddVarint(1000, 7);
       },
       "request"},
  };
  auto stub = custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"));
  for (size_t i = 0; i < cases.size(); ++i) {
    custos::v1::RequestAccessRequest request;
    request.set_customer_id("acme");
    request.mutable_justification()->set_category("support");
    request.mutable_justification()->set_reference("SUP-1042");
    cases[i].change(request);
    grpc::ClientContext context;
    custos::v1::RequestAccessResponse response;
    const grpc::Status status =
        stub->RequestAccess(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << "case " << i;
    EXPECT_THAT(status.error_message(),
                ::testing::StartsWith(cases[i].field + ": "))
        << "case " << i;
    EXPECT_NE(context.GetServerTrailingMetadata().count("custos-log-index"), 0u)
        << "case " << i << " was not logged";
    // A reference the log would keep in the clear only once it checks out.
    if (cases[i].field == "justification.reference") {
      EXPECT_EQ(RefusalEntry(context).reference(), "") << "case " << i;
    }
  }
  EXPECT_TRUE(
      RequestAccess(StaffChannel("anna.support"), "acme", "support", "SUP-1042")
          .status.ok());
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

std::string CustomerToken(const std::string& data_dir,
                          const std::string& customer) {
  std::istringstream lines(
      ReadFile(absl::StrCat(data_dir, "/customer_tokens")));
  std::string id, token;
  while (lines >> id >> token) {
    if (id == customer) return token;
  }
  return "";
}

class ApprovalsTest : public GatewayTest {
 protected:
  // A channel without a staff certificate: customers authenticate by token.
  static std::unique_ptr<custos::v1::Approvals::Stub> CustomerStub() {
    return custos::v1::Approvals::NewStub(Channel("", ""));
  }
  static void AsCustomer(grpc::ClientContext& context,
                         const std::string& customer) {
    context.AddMetadata(
        "authorization",
        absl::StrCat("Bearer ", CustomerToken(*data_dir_, customer)));
  }

  // `customer` gives or withdraws `partner`'s consent, in `context`.
  static grpc::Status SetConsent(const std::string& customer,
                                 const std::string& partner, bool consent,
                                 grpc::ClientContext& context) {
    custos::v1::SetPartnerConsentRequest request;
    request.set_partner_organisation(partner);
    request.set_consent(consent);
    custos::v1::SetPartnerConsentResponse changed;
    AsCustomer(context, customer);
    return CustomerStub()->SetPartnerConsent(&context, request, &changed);
  }
};

// Sessions are listed by their staff member, their customer, or the DPO:
// asking for someone else's is refused, naming the field, not quietly
// answered with one's own.
TEST_F(ApprovalsTest, SessionListsRefuseSomeoneElses) {
  custos::v1::ListSessionsRequest request;
  custos::v1::ListSessionsResponse response;
  {
    request.set_staff_id("cora.consultant");
    grpc::ClientContext context;
    const grpc::Status status =
        custos::v1::TakeIdentity::NewStub(StaffChannel("anna.support"))
            ->ListSessions(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(status.error_message(), HasSubstr("staff_id: only the DPO"));
  }
  {
    grpc::ClientContext context;
    EXPECT_TRUE(custos::v1::TakeIdentity::NewStub(StaffChannel("dirk.dpo"))
                    ->ListSessions(&context, request, &response)
                    .ok());
  }
  request.clear_staff_id();
  request.set_customer_id("bakkerij-jansen");
  {
    grpc::ClientContext context;
    AsCustomer(context, "acme");
    const grpc::Status status =
        custos::v1::TakeIdentity::NewStub(Channel("", ""))
            ->ListSessions(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(status.error_message(),
                HasSubstr("customer_id: a customer sees their own"));
  }
  request.set_customer_id("acme");
  grpc::ClientContext context;
  AsCustomer(context, "acme");
  EXPECT_TRUE(custos::v1::TakeIdentity::NewStub(Channel("", ""))
                  ->ListSessions(&context, request, &response)
                  .ok());
}

TEST_F(ApprovalsTest, CustomerApprovesAPendingRequestAndTheGrantIsMade) {
  const Answer answer = RequestAccess(StaffChannel("anna.support"),
                                      "bakkerij-jansen", "support", "SUP-2001");
  ASSERT_TRUE(answer.status.ok());
  const std::string request_id = answer.response.pending().request_id();

  // The customer sees it waiting.
  custos::v1::ListPendingRequestsRequest list;
  list.set_waiting_only(true);
  custos::v1::ListPendingRequestsResponse waiting;
  {
    grpc::ClientContext context;
    AsCustomer(context, "bakkerij-jansen");
    ASSERT_TRUE(
        CustomerStub()->ListPendingRequests(&context, list, &waiting).ok());
  }
  bool found = false;
  for (const auto& p : waiting.requests())
    found |= p.request_id() == request_id;
  EXPECT_TRUE(found);

  // Another customer may not approve it.
  custos::v1::DecidePendingRequestRequest decide;
  decide.set_request_id(request_id);
  decide.set_approve(true);
  custos::v1::DecidePendingRequestResponse decided;
  {
    grpc::ClientContext context;
    AsCustomer(context, "acme");
    EXPECT_EQ(CustomerStub()
                  ->DecidePendingRequest(&context, decide, &decided)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  grpc::ClientContext context;
  AsCustomer(context, "bakkerij-jansen");
  ASSERT_TRUE(
      CustomerStub()->DecidePendingRequest(&context, decide, &decided).ok());
  EXPECT_EQ(decided.request().state(), custos::v1::PENDING_APPROVED);
  EXPECT_THAT(decided.grant().grant_id(), ::testing::StartsWith("g_"));
  EXPECT_EQ(decided.grant().staff_id(), "anna.support");
  const auto entry = EntryAt(absl::StrCat(decided.log_index()));
  EXPECT_EQ(entry.actor().kind(), custos::v1::ACTOR_CUSTOMER);
  EXPECT_EQ(entry.actor().id(), "bakkerij-jansen");
  EXPECT_EQ(entry.grant_id(), decided.grant().grant_id());

  // Approving twice is refused.
  grpc::ClientContext again;
  AsCustomer(again, "bakkerij-jansen");
  EXPECT_EQ(CustomerStub()
                ->DecidePendingRequest(&again, decide, &decided)
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// A customer's call on another account's request, grant or session is
// refused and filed under the caller's own account, describing nothing of
// what it named: the other customer's log does not show who tried, and the
// caller's own does not show what the request or grant was for.
TEST_F(ApprovalsTest, AProbeOfAnotherAccountIsFiledUnderTheCallersOwn) {
  const Answer pending = RequestAccess(
      StaffChannel("anna.support"), "bakkerij-jansen", "support", "SUP-2001");
  ASSERT_TRUE(pending.status.ok());
  const Answer granted = RequestAccess(StaffChannel("anna.support"), "acme",
                                       "support", "SUP-1042");
  ASSERT_TRUE(granted.status.ok());
  const auto expect_filed_under_caller = [](const custos::v1::LogEntry& entry,
                                            const std::string& resource) {
    EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
    EXPECT_EQ(entry.actor().id(), "nordwind");
    EXPECT_EQ(entry.customer_id(), "nordwind");
    EXPECT_EQ(entry.resource(), resource);
    EXPECT_EQ(entry.category(), "");
    EXPECT_EQ(entry.reference(), "");
    EXPECT_EQ(entry.grant_id(), "");
    EXPECT_EQ(entry.pending_request_id(), "");
  };
  {
    custos::v1::DecidePendingRequestRequest decide;
    decide.set_request_id(pending.response.pending().request_id());
    decide.set_approve(true);
    custos::v1::DecidePendingRequestResponse decided;
    grpc::ClientContext context;
    AsCustomer(context, "nordwind");
    EXPECT_EQ(CustomerStub()
                  ->DecidePendingRequest(&context, decide, &decided)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    expect_filed_under_caller(
        RefusalEntry(context),
        absl::StrCat("pending/", pending.response.pending().request_id()));
  }
  {
    custos::v1::RevokeGrantRequest revoke;
    revoke.set_grant_id(granted.response.grant().grant_id());
    custos::v1::RevokeGrantResponse revoked;
    grpc::ClientContext context;
    AsCustomer(context, "nordwind");
    EXPECT_EQ(custos::v1::StaffAccess::NewStub(Channel("", ""))
                  ->RevokeGrant(&context, revoke, &revoked)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    expect_filed_under_caller(
        RefusalEntry(context),
        absl::StrCat("grant/", granted.response.grant().grant_id()));
  }
  // Neither account's own log shows the other's name.
  for (const auto& e : AllEntries()) {
    if (e.actor().id() != "nordwind") continue;
    EXPECT_EQ(e.customer_id(), "nordwind") << e.index();
  }
}

TEST_F(ApprovalsTest, WithdrawnConsentShutsThePartnerOut) {
  ASSERT_TRUE(
      RequestAccess(StaffChannel("pia.partner"), "acme", "support", "SUP-1042")
          .status.ok());
  {
    grpc::ClientContext context;
    ASSERT_TRUE(SetConsent("acme", "mailfix", false, context).ok());
  }
  const Answer refused =
      RequestAccess(StaffChannel("pia.partner"), "acme", "support", "SUP-1042");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("PARTNER_WITHOUT_CONSENT"));
  // Consent given again lets the partner back in.
  grpc::ClientContext context;
  ASSERT_TRUE(SetConsent("acme", "mailfix", true, context).ok());
  EXPECT_TRUE(
      RequestAccess(StaffChannel("pia.partner"), "acme", "support", "SUP-1042")
          .status.ok());
}

// A partner's reads racing the customer's withdrawal of consent: none is
// logged as allowed, or served, after the withdrawal's entry (as with a
// revocation, NoReadIsServedAfterTheRevocationsEntry).
TEST_F(ApprovalsTest, NoPartnerReadIsServedAfterTheWithdrawalsEntry) {
  const Answer granted =
      RequestAccess(StaffChannel("pia.partner"), "acme", "support", "SUP-1042");
  ASSERT_TRUE(granted.status.ok()) << granted.status.error_message();
  const std::string grant_id = granted.response.grant().grant_id();
  custos::v1::SetPartnerConsentRequest withdraw;
  withdraw.set_partner_organisation("mailfix");
  withdraw.set_consent(false);
  custos::v1::SetPartnerConsentResponse withdrawn;
  grpc::Status withdrawal;
  const std::vector<uint64_t> served =
      ReadWhile(StaffChannel("pia.partner"), grant_id, [&] {
        grpc::ClientContext context;
        AsCustomer(context, "acme");
        withdrawal =
            CustomerStub()->SetPartnerConsent(&context, withdraw, &withdrawn);
      });
  {
    grpc::ClientContext again;
    ASSERT_TRUE(SetConsent("acme", "mailfix", true, again).ok());
  }
  ASSERT_TRUE(withdrawal.ok()) << withdrawal.error_message();
  const uint64_t withdrawn_at = withdrawn.log_index();
  for (uint64_t index : served) EXPECT_LT(index, withdrawn_at);
  EXPECT_GT(RefusedAfter(withdrawn_at, "StaffAccess.ReadCustomerData",
                         [&](const custos::v1::LogEntry& e) {
                           return e.grant_id() == grant_id;
                         }),
            0);
}

// A partner's name mistyped is refused, naming the field and the partners
// there are, and logged: stored, it would be consent for nobody while the
// partner meant kept theirs.
TEST_F(ApprovalsTest, ConsentNamesAPartnerThatStaffWorkFor) {
  for (const bool consent : {false, true}) {
    grpc::ClientContext context;
    const grpc::Status status = SetConsent("acme", "mailfx", consent, context);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(status.error_message(),
              "partner_organisation: no partner organisation \"mailfx\"; "
              "expected one of: mailfix");
    const auto entry = RefusalEntry(context);
    EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
    EXPECT_EQ(entry.customer_id(), "acme");
    EXPECT_EQ(entry.resource(), "consent/mailfx");
  }
  // mailfix kept its consent.
  EXPECT_TRUE(
      RequestAccess(StaffChannel("pia.partner"), "acme", "support", "SUP-1042")
          .status.ok());
  // The list of consents names the partners there are to choose from.
  custos::v1::ListPartnerConsentsResponse listed;
  grpc::ClientContext context;
  AsCustomer(context, "acme");
  ASSERT_TRUE(CustomerStub()->ListPartnerConsents(&context, {}, &listed).ok());
  EXPECT_THAT(listed.partner_organisations(),
              ::testing::ElementsAre("mailfix"));
  ASSERT_EQ(listed.consents_size(), 1);
  EXPECT_EQ(listed.consents(0).partner_organisation(), "mailfix");
}

// A consent change whose entry cannot be written does not take effect: the
// customer is answered UNAVAILABLE and the partner's access stays as it was.
TEST_F(ApprovalsTest, ConsentStaysWhileTheLogCannotBeWritten) {
  ASSERT_TRUE(
      RequestAccess(StaffChannel("pia.partner"), "acme", "support", "SUP-1042")
          .status.ok());
  custos::v1::SetPartnerConsentRequest withdraw;
  withdraw.set_partner_organisation("mailfix");
  withdraw.set_consent(false);
  custos::v1::SetPartnerConsentResponse changed;
  grpc::Status status;
  {
    DatabaseLock lock;
    grpc::ClientContext context;
    AsCustomer(context, "acme");
    status = CustomerStub()->SetPartnerConsent(&context, withdraw, &changed);
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(
      RequestAccess(StaffChannel("pia.partner"), "acme", "support", "SUP-1042")
          .status.ok());
}

TEST_F(ApprovalsTest, RefusesUnknownTokensAndStaffSettingConsent) {
  custos::v1::SetPartnerConsentRequest request;
  request.set_partner_organisation("mailfix");
  custos::v1::SetPartnerConsentResponse response;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization",
                        "Bearer ct_00000000000000000000000000000000");
    EXPECT_EQ(CustomerStub()
                  ->SetPartnerConsent(&context, request, &response)
                  .error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  grpc::ClientContext context;
  EXPECT_EQ(custos::v1::Approvals::NewStub(StaffChannel("dirk.dpo"))
                ->SetPartnerConsent(&context, request, &response)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(ApprovalsTest, TheDpoDecidesTrips) {
  auto staff = custos::v1::Approvals::NewStub(StaffChannel("anna.support"));
  custos::v1::RequestTripRequest trip;
  trip.set_country("DE");
  trip.set_first_day("2026-11-20");
  trip.set_last_day("2026-11-30");
  trip.set_device_id("laptop-7");
  trip.set_purpose("conference");
  custos::v1::RequestTripResponse requested;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(staff->RequestTrip(&context, trip, &requested).ok());
  }
  custos::v1::DecideTripRequest decide;
  decide.set_trip_id(requested.trip().trip_id());
  decide.set_approve(true);
  custos::v1::DecideTripResponse decided;
  {
    grpc::ClientContext context;
    EXPECT_EQ(staff->DecideTrip(&context, decide, &decided).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  grpc::ClientContext context;
  ASSERT_TRUE(custos::v1::Approvals::NewStub(StaffChannel("dirk.dpo"))
                  ->DecideTrip(&context, decide, &decided)
                  .ok());
  EXPECT_EQ(decided.trip().state(), custos::v1::TRIP_APPROVED);
  EXPECT_EQ(decided.trip().decided_by(), "dirk.dpo");

  trip.set_last_day("2026-10-01");
  grpc::ClientContext bad;
  const grpc::Status status = staff->RequestTrip(&bad, trip, &requested);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), ::testing::StartsWith("last_day: "));
}

// A DPO's own trip is decided by another DPO: approving it oneself is
// refused and logged, and the trip stays undecided.
TEST_F(ApprovalsTest, TheDpoDoesNotDecideTheirOwnTrip) {
  auto dpo = custos::v1::Approvals::NewStub(StaffChannel("dirk.dpo"));
  custos::v1::RequestTripRequest trip;
  trip.set_country("BE");
  trip.set_first_day("2026-12-01");
  trip.set_last_day("2026-12-05");
  trip.set_device_id("laptop-9");
  trip.set_purpose("visiting the Brussels office");
  custos::v1::RequestTripResponse requested;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(dpo->RequestTrip(&context, trip, &requested).ok());
  }
  custos::v1::DecideTripRequest decide;
  decide.set_trip_id(requested.trip().trip_id());
  decide.set_approve(true);
  custos::v1::DecideTripResponse decided;
  grpc::ClientContext context;
  const grpc::Status refused = dpo->DecideTrip(&context, decide, &decided);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.error_message(), HasSubstr("your own trip"));
  EXPECT_EQ(RefusalEntry(context).outcome(), custos::v1::OUTCOME_REFUSED);
  custos::v1::ListTripsRequest list;
  list.set_staff_id("dirk.dpo");
  custos::v1::ListTripsResponse trips;
  grpc::ClientContext list_context;
  ASSERT_TRUE(dpo->ListTrips(&list_context, list, &trips).ok());
  bool undecided = false;
  for (const auto& t : trips.trips()) {
    if (t.trip_id() == requested.trip().trip_id()) {
      undecided = t.state() == custos::v1::TRIP_REQUESTED;
    }
  }
  EXPECT_TRUE(undecided);
}

// Trips asked for and decided, approvals, revocations and take-identity
// sessions take effect only once their entry is durable: while the log
// cannot be written each call is refused UNAVAILABLE and changes nothing,
// and afterwards the same call succeeds.
TEST_F(ApprovalsTest, StateChangesWaitForTheirEntry) {
  auto staff = custos::v1::Approvals::NewStub(StaffChannel("anna.support"));
  auto dpo = custos::v1::Approvals::NewStub(StaffChannel("dirk.dpo"));
  const auto trips_of_anna = [&] {
    custos::v1::ListTripsRequest list;
    list.set_staff_id("anna.support");
    custos::v1::ListTripsResponse listed;
    grpc::ClientContext context;
    EXPECT_TRUE(dpo->ListTrips(&context, list, &listed).ok());
    return std::vector<custos::v1::Trip>(listed.trips().begin(),
                                         listed.trips().end());
  };
  custos::v1::RequestTripRequest trip;
  trip.set_country("BE");
  trip.set_first_day("2026-12-07");
  trip.set_last_day("2026-12-09");
  trip.set_device_id("laptop-7");
  trip.set_purpose("customer visit");
  custos::v1::RequestTripResponse requested;
  const size_t trips_before = trips_of_anna().size();
  {
    DatabaseLock lock;
    grpc::ClientContext context;
    EXPECT_EQ(staff->RequestTrip(&context, trip, &requested).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_EQ(trips_of_anna().size(), trips_before);
  {
    grpc::ClientContext context;
    ASSERT_TRUE(staff->RequestTrip(&context, trip, &requested).ok());
  }
  custos::v1::DecideTripRequest decide_trip;
  decide_trip.set_trip_id(requested.trip().trip_id());
  decide_trip.set_approve(true);
  custos::v1::DecideTripResponse trip_decided;
  {
    DatabaseLock lock;
    grpc::ClientContext context;
    EXPECT_EQ(
        dpo->DecideTrip(&context, decide_trip, &trip_decided).error_code(),
        grpc::StatusCode::UNAVAILABLE);
  }
  for (const auto& t : trips_of_anna()) {
    if (t.trip_id() == requested.trip().trip_id()) {
      EXPECT_EQ(t.state(), custos::v1::TRIP_REQUESTED);
    }
  }
  {
    grpc::ClientContext context;
    ASSERT_TRUE(dpo->DecideTrip(&context, decide_trip, &trip_decided).ok());
    EXPECT_EQ(trip_decided.trip().state(), custos::v1::TRIP_APPROVED);
  }

  // The customer's approval of a pending request.
  const Answer pending = RequestAccess(
      StaffChannel("anna.support"), "bakkerij-jansen", "support", "SUP-2001");
  ASSERT_TRUE(pending.status.ok());
  custos::v1::DecidePendingRequestRequest approve;
  approve.set_request_id(pending.response.pending().request_id());
  approve.set_approve(true);
  custos::v1::DecidePendingRequestResponse approved;
  {
    DatabaseLock lock;
    grpc::ClientContext context;
    AsCustomer(context, "bakkerij-jansen");
    EXPECT_EQ(CustomerStub()
                  ->DecidePendingRequest(&context, approve, &approved)
                  .error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  {
    // Still waiting: approving now succeeds and makes the grant.
    grpc::ClientContext context;
    AsCustomer(context, "bakkerij-jansen");
    ASSERT_TRUE(CustomerStub()
                    ->DecidePendingRequest(&context, approve, &approved)
                    .ok());
    EXPECT_EQ(approved.request().state(), custos::v1::PENDING_APPROVED);
  }

  // The DPO's revocation of that grant.
  auto access = custos::v1::StaffAccess::NewStub(StaffChannel("dirk.dpo"));
  custos::v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(approved.grant().grant_id());
  revoke.set_reason("checking the log's outage");
  custos::v1::RevokeGrantResponse revoked;
  {
    DatabaseLock lock;
    grpc::ClientContext context;
    EXPECT_EQ(access->RevokeGrant(&context, revoke, &revoked).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  {
    // Still active: revoking now succeeds.
    grpc::ClientContext context;
    ASSERT_TRUE(access->RevokeGrant(&context, revoke, &revoked).ok());
    EXPECT_EQ(revoked.grant().state(), custos::v1::GRANT_REVOKED);
    EXPECT_EQ(revoked.grant().ended_by(), "dpo:dirk.dpo");
  }

  // A take-identity session.
  auto identity =
      custos::v1::TakeIdentity::NewStub(StaffChannel("anna.support"));
  const auto sessions_of_anna = [&] {
    custos::v1::ListSessionsRequest list;
    list.set_staff_id("anna.support");
    custos::v1::ListSessionsResponse listed;
    grpc::ClientContext context;
    EXPECT_TRUE(identity->ListSessions(&context, list, &listed).ok());
    return listed.sessions_size();
  };
  custos::v1::StartSessionRequest start;
  start.set_customer_id("acme");
  start.set_customer_user_id("acme.owner");
  start.mutable_justification()->set_category("support");
  start.mutable_justification()->set_reference("SUP-1042");
  custos::v1::StartSessionResponse started;
  const int sessions_before = sessions_of_anna();
  {
    DatabaseLock lock;
    grpc::ClientContext context;
    EXPECT_EQ(identity->StartSession(&context, start, &started).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  EXPECT_EQ(sessions_of_anna(), sessions_before);
  grpc::ClientContext context;
  ASSERT_TRUE(identity->StartSession(&context, start, &started).ok());
  EXPECT_EQ(sessions_of_anna(), sessions_before + 1);
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

class TakeIdentityTest : public GatewayTest {
 protected:
  static std::unique_ptr<custos::v1::TakeIdentity::Stub> Stub(
      const std::string& staff) {
    return custos::v1::TakeIdentity::NewStub(StaffChannel(staff));
  }

  // ServedWhile with, as the change, the DPO revoking `grant_id`; ends the
  // test unless the revocation was logged, and returns its entry's index.
  static uint64_t ServedWhileRevoking(
      const std::string& grant_id,
      const std::function<std::optional<uint64_t>(int)>& attempt,
      std::vector<uint64_t>& served) {
    custos::v1::RevokeGrantRequest revoke;
    revoke.set_grant_id(grant_id);
    revoke.set_reason("called off");
    custos::v1::RevokeGrantResponse revoked;
    grpc::Status revocation;
    served = ServedWhile(attempt, [&] {
      grpc::ClientContext context;
      revocation = custos::v1::StaffAccess::NewStub(StaffChannel("dirk.dpo"))
                       ->RevokeGrant(&context, revoke, &revoked);
    });
    EXPECT_TRUE(revocation.ok()) << revocation.error_message();
    return revoked.log_index();
  }

  // Starts a session for anna.support as acme.owner; returns its link token.
  static std::string StartLinkToken(
      std::vector<custos::v1::CustomerRequestedAction> actions = {}) {
    return LinkToken(Start(std::move(actions)));
  }

  // The token of the link a session was started with.
  static std::string LinkToken(
      const custos::v1::StartSessionResponse& started) {
    EXPECT_THAT(started.link(), HasSubstr("/identity/start#lt_"));
    return started.link().substr(started.link().find('#') + 1);
  }

  // Starts a session for anna.support as acme.owner.
  static custos::v1::StartSessionResponse Start(
      std::vector<custos::v1::CustomerRequestedAction> actions = {}) {
    custos::v1::StartSessionRequest start;
    start.set_customer_id("acme");
    start.set_customer_user_id("acme.owner");
    start.mutable_justification()->set_category("support");
    start.mutable_justification()->set_reference("SUP-1042");
    for (auto& a : actions) *start.add_customer_requested_actions() = a;
    custos::v1::StartSessionResponse started;
    {
      grpc::ClientContext context;
      const grpc::Status status =
          Stub("anna.support")->StartSession(&context, start, &started);
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
    return started;
  }

  // Starts a session for anna.support as acme.owner and exchanges its link.
  static custos::v1::ExchangeLinkResponse Open(
      std::vector<custos::v1::CustomerRequestedAction> actions = {}) {
    custos::v1::ExchangeLinkRequest exchange;
    exchange.set_link_token(StartLinkToken(std::move(actions)));
    custos::v1::ExchangeLinkResponse opened;
    grpc::ClientContext context;
    EXPECT_TRUE(
        Stub("anna.support")->ExchangeLink(&context, exchange, &opened).ok());
    return opened;
  }

  static grpc::Status View(const std::string& token, const std::string& page,
                           custos::v1::ViewPageResponse* out) {
    custos::v1::ViewPageRequest request;
    request.set_session_token(token);
    request.set_page(page);
    grpc::ClientContext context;
    return Stub("anna.support")->ViewPage(&context, request, out);
  }
};

// custos-web calls with its own certificate: it exchanges an engineer's link
// (the engineer stays the actor, the entry records the front end), and calls
// for a signed-in customer or the DPO, never for other staff.
class FrontEndTest : public TakeIdentityTest {
 protected:
  // A context from custos-web: for `on_behalf_of` (none when empty) and a
  // browser at `address`.
  static std::unique_ptr<grpc::ClientContext> WebContext(
      const std::string& on_behalf_of, const std::string& address = "") {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!on_behalf_of.empty())
      context->AddMetadata("custos-on-behalf-of", on_behalf_of);
    if (!address.empty())
      context->AddMetadata("custos-client-address", address);
    return context;
  }
  static std::shared_ptr<grpc::Channel> Web() {
    return StaffChannel("custos-web");
  }
};

// A browser whose call names no one (a link that opens nothing) is known by
// its address: its values are erased by that address, as README says of a
// caller with no identity, and not filed under custos-web.
TEST_F(FrontEndTest, AnUnnamedBrowsersValuesAreErasedByItsAddress) {
  custos::v1::ExchangeLinkRequest exchange;
  exchange.set_link_token("lt_00000000000000000000000000000000");
  custos::v1::ExchangeLinkResponse opened;
  auto context = WebContext("", "203.0.113.99");
  EXPECT_EQ(custos::v1::TakeIdentity::NewStub(Web())
                ->ExchangeLink(context.get(), exchange, &opened)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  custos::v1::EraseRequest erase;
  erase.set_subject("203.0.113.99");
  custos::v1::EraseResponse erased;
  grpc::ClientContext by_dpo;
  ASSERT_TRUE(custos::v1::AuditLog::NewStub(StaffChannel("dirk.dpo"))
                  ->Erase(&by_dpo, erase, &erased)
                  .ok());
  // The refused exchange's source_ip (the erasure's own entry keeps the
  // address it erased until masking, audit/FORMAT.md §5).
  EXPECT_GE(erased.values_erased(), 1u);
}

TEST_F(FrontEndTest, ExchangesAnEngineersLinkOnceWithTheEngineerAsActor) {
  auto identity = custos::v1::TakeIdentity::NewStub(Web());
  custos::v1::ExchangeLinkRequest exchange;
  exchange.set_link_token(StartLinkToken());
  custos::v1::ExchangeLinkResponse opened;
  ASSERT_TRUE(
      identity->ExchangeLink(WebContext("").get(), exchange, &opened).ok());
  EXPECT_EQ(opened.session().staff_id(), "anna.support");
  EXPECT_EQ(opened.staff_display_name(), "Anna de Vries");
  custos::v1::ExchangeLinkResponse again;
  EXPECT_EQ(identity->ExchangeLink(WebContext("").get(), exchange, &again)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  custos::v1::ViewPageRequest view;
  view.set_session_token(opened.session_token());
  view.set_page("dashboard");
  custos::v1::ViewPageResponse page;
  // The browser's address places the call: the session's grant was issued
  // for the Netherlands (the engineer's loopback), so a browser in a Berlin
  // hotel is refused, and logged; one in the Amsterdam office is served.
  {
    auto elsewhere = WebContext("", "198.51.100.7");
    const grpc::Status refused =
        identity->ViewPage(elsewhere.get(), view, &page);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(refused.error_message(),
                HasSubstr("LOCATION_CHANGED: grant g_"));
    EXPECT_THAT(refused.error_message(),
                HasSubstr("issued for access from NL; this call comes from "
                          "DE"));
    EXPECT_EQ(RefusalEntry(*elsewhere).actor().country(), "DE");
  }
  ASSERT_TRUE(
      identity->ViewPage(WebContext("", "192.0.2.7").get(), view, &page).ok());
  const auto entry = EntryAt(absl::StrCat(page.log_index()));
  EXPECT_EQ(entry.actor().kind(), custos::v1::ACTOR_STAFF);
  EXPECT_EQ(entry.actor().id(), "anna.support");
  EXPECT_EQ(entry.actor().via(), "custos-web");
  EXPECT_EQ(entry.session_id(), opened.session().session_id());

  custos::v1::EndSessionRequest end;
  end.set_session_token(opened.session_token());
  custos::v1::EndSessionResponse ended;
  ASSERT_TRUE(identity->EndSession(WebContext("").get(), end, &ended).ok());
  EXPECT_EQ(ended.session().state(), custos::v1::SESSION_ENDED);
  EXPECT_EQ(ended.session().ended_by(), "staff:anna.support");
  EXPECT_EQ(EntryAt(absl::StrCat(ended.log_index())).actor().id(),
            "anna.support");
}

TEST_F(FrontEndTest, EndsSessionsOnlyByToken) {
  const auto opened = Open();
  custos::v1::EndSessionRequest end;
  end.set_session_id(opened.session().session_id());
  custos::v1::EndSessionResponse ended;
  EXPECT_EQ(custos::v1::TakeIdentity::NewStub(Web())
                ->EndSession(WebContext("").get(), end, &ended)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(FrontEndTest, IsNotStaffOnItsOwn) {
  const Answer answer = RequestAccess(Web(), "acme", "support", "SUP-1042");
  EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(EntryAt(answer.log_index).actor().via(), "custos-web");
}

TEST_F(FrontEndTest, CallsForACustomerOrTheDpoButNoOtherStaff) {
  ASSERT_TRUE(
      RequestAccess(StaffChannel("anna.support"), "acme", "support", "SUP-1042")
          .status.ok());
  auto audit = custos::v1::AuditLog::NewStub(Web());
  custos::v1::ListEntriesRequest list;
  custos::v1::ListEntriesResponse entries;
  ASSERT_TRUE(
      audit->ListEntries(WebContext("customer:acme").get(), list, &entries)
          .ok());
  ASSERT_GT(entries.entries_size(), 0);
  for (const auto& e : entries.entries()) EXPECT_EQ(e.customer_id(), "acme");

  for (const char* who :
       {"staff:anna.support", "customer:nobody", "acme", "staff:custos-web",
        // Neither a customer nor the DPO, though it ends in the DPO's name.
        "customer:staff:dirk.dpo"}) {
    EXPECT_EQ(
        audit->ListEntries(WebContext(who).get(), list, &entries).error_code(),
        grpc::StatusCode::UNAUTHENTICATED)
        << who;
  }
  custos::v1::WhoAmIResponse me;
  ASSERT_TRUE(custos::v1::StaffAccess::NewStub(Web())
                  ->WhoAmI(WebContext("staff:dirk.dpo", "192.0.2.7").get(),
                           custos::v1::WhoAmIRequest(), &me)
                  .ok());
  EXPECT_EQ(me.staff().staff_id(), "dirk.dpo");
  // The browser's address is what the policy's networks place.
  EXPECT_EQ(me.source_address(), "192.0.2.7");
  ASSERT_TRUE(custos::v1::StaffAccess::NewStub(Web())
                  ->WhoAmI(WebContext("staff:dirk.dpo", "2001:db8::7").get(),
                           custos::v1::WhoAmIRequest(), &me)
                  .ok());
  EXPECT_EQ(me.source_address(), "2001:db8::7");
  // Not addresses, though written in an address's characters: the log
  // could not mask them after 14 days.
  for (const char* address : {"1.2.3.4; x", "1.2.3", "1.2.3.4.5", ":::"}) {
    EXPECT_EQ(custos::v1::StaffAccess::NewStub(Web())
                  ->WhoAmI(WebContext("staff:dirk.dpo", address).get(),
                           custos::v1::WhoAmIRequest(), &me)
                  .error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << address;
  }
}

TEST_F(FrontEndTest, StaffCannotClaimTheFrontEndsPowers) {
  auto context = WebContext("customer:acme", "192.0.2.7");
  custos::v1::WhoAmIResponse me;
  ASSERT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"))
                  ->WhoAmI(context.get(), custos::v1::WhoAmIRequest(), &me)
                  .ok());
  EXPECT_EQ(me.staff().staff_id(), "anna.support");
  EXPECT_NE(me.source_address(), "192.0.2.7");
}

TEST_F(TakeIdentityTest, ShowsPagesLogsEachAndEnds) {
  const auto opened = Open();
  EXPECT_EQ(opened.session().state(), custos::v1::SESSION_LIVE);
  EXPECT_EQ(opened.staff_display_name(), "Anna de Vries");
  EXPECT_EQ(opened.customer_user_display_name(), "Sanne Koster");
  EXPECT_TRUE(opened.session().read_only());

  custos::v1::ViewPageResponse page;
  ASSERT_TRUE(View(opened.session_token(), "subscribers", &page).ok());
  EXPECT_EQ(page.kind(), custos::v1::SUBSCRIBERS);
  EXPECT_GT(page.records_size(), 0);
  const auto entry = EntryAt(absl::StrCat(page.log_index()));
  EXPECT_EQ(entry.action(), "TakeIdentity.ViewPage");
  EXPECT_EQ(entry.session_id(), opened.session().session_id());
  EXPECT_EQ(entry.resource(), "page/subscribers");
  EXPECT_EQ(entry.record_count(), static_cast<uint64_t>(page.records_size()));
  ASSERT_TRUE(View(opened.session_token(), "subscribers/s1003", &page).ok());
  EXPECT_EQ(page.records_size(), 1);
  EXPECT_EQ(page.session().page_views(), 2u);

  // Messages are outside a support grant; a nonsense page is refused.
  EXPECT_EQ(View(opened.session_token(), "messages", &page).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(View(opened.session_token(), "../admin", &page).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  custos::v1::PerformActionRequest action;
  action.set_session_token(opened.session_token());
  action.set_action("send_test_mail");
  custos::v1::PerformActionResponse done;
  {
    grpc::ClientContext context;
    EXPECT_EQ(Stub("anna.support")
                  ->PerformAction(&context, action, &done)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }

  custos::v1::EndSessionRequest end;
  end.set_session_token(opened.session_token());
  custos::v1::EndSessionResponse ended;
  grpc::ClientContext context;
  ASSERT_TRUE(Stub("anna.support")->EndSession(&context, end, &ended).ok());
  EXPECT_EQ(ended.session().state(), custos::v1::SESSION_ENDED);
  const grpc::Status after = View(opened.session_token(), "dashboard", &page);
  EXPECT_EQ(after.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(after.error_message(), HasSubstr("SESSION_ENDED"));
}

// A session asked for one second shows pages until its expiry and none
// after, and lists as expired.
TEST_F(TakeIdentityTest, ASessionShowsNothingPastItsExpiry) {
  custos::v1::StartSessionRequest start;
  start.set_customer_id("acme");
  start.set_customer_user_id("acme.owner");
  start.mutable_justification()->set_category("support");
  start.mutable_justification()->set_reference("SUP-1042");
  start.mutable_duration()->set_seconds(1);
  custos::v1::StartSessionResponse started;
  {
    grpc::ClientContext context;
    const grpc::Status status =
        Stub("anna.support")->StartSession(&context, start, &started);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  const auto& expires_at = started.session().expires_at();
  const absl::Time expires = absl::FromUnixSeconds(expires_at.seconds()) +
                             absl::Nanoseconds(expires_at.nanos());
  custos::v1::ExchangeLinkRequest exchange;
  exchange.set_link_token(started.link().substr(started.link().find('#') + 1));
  custos::v1::ExchangeLinkResponse opened;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(
        Stub("anna.support")->ExchangeLink(&context, exchange, &opened).ok());
  }
  custos::v1::ViewPageResponse page;
  ASSERT_TRUE(View(opened.session_token(), "dashboard", &page).ok());

  absl::SleepFor(expires - absl::Now() + absl::Milliseconds(50));
  const grpc::Status after = View(opened.session_token(), "dashboard", &page);
  EXPECT_EQ(after.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(after.error_message(), HasSubstr("SESSION_EXPIRED"));

  custos::v1::ListSessionsRequest list;
  list.set_staff_id("anna.support");
  list.set_page_size(200);
  custos::v1::ListSessionsResponse listed;
  grpc::ClientContext context;
  ASSERT_TRUE(Stub("anna.support")->ListSessions(&context, list, &listed).ok());
  bool found = false;
  for (const auto& session : listed.sessions()) {
    if (session.session_id() != started.session().session_id()) continue;
    found = true;
    EXPECT_EQ(session.state(), custos::v1::SESSION_EXPIRED);
  }
  EXPECT_TRUE(found);
}

TEST_F(TakeIdentityTest, TheLinkWorksOnce) {
  custos::v1::StartSessionRequest start;
  start.set_customer_id("acme");
  start.set_customer_user_id("acme.marketing");
  start.mutable_justification()->set_category("support");
  start.mutable_justification()->set_reference("SUP-1043");
  custos::v1::StartSessionResponse started;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(
        Stub("anna.support")->StartSession(&context, start, &started).ok());
  }
  custos::v1::ExchangeLinkRequest exchange;
  exchange.set_link_token(started.link().substr(started.link().find('#') + 1));
  custos::v1::ExchangeLinkResponse opened;
  {
    grpc::ClientContext context;
    EXPECT_EQ(Stub("daan.developer")
                  ->ExchangeLink(&context, exchange, &opened)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // Another's attempt did not burn the link: its engineer opens it, once.
  {
    grpc::ClientContext context;
    EXPECT_TRUE(
        Stub("anna.support")->ExchangeLink(&context, exchange, &opened).ok());
  }
  grpc::ClientContext again;
  const grpc::Status reused =
      Stub("anna.support")->ExchangeLink(&again, exchange, &opened);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(reused.error_message(), HasSubstr("already used"));
}

TEST_F(TakeIdentityTest, ActionsOnlyWhenTheCustomerAsked) {
  custos::v1::CustomerRequestedAction asked;
  asked.set_action("send_test_mail");
  asked.set_customer_request_ref("SUP-1042");
  const auto opened = Open({asked});
  EXPECT_FALSE(opened.session().read_only());
  custos::v1::PerformActionRequest action;
  action.set_session_token(opened.session_token());
  action.set_action("send_test_mail");
  (*action.mutable_parameters())["to"] = "sanne@acme-webshop.example";
  custos::v1::PerformActionResponse done;
  grpc::ClientContext context;
  ASSERT_TRUE(
      Stub("anna.support")->PerformAction(&context, action, &done).ok());
  const custos::v1::LogEntry performed =
      EntryAt(absl::StrCat(done.log_index()));
  EXPECT_EQ(performed.resource(), "action/send_test_mail/SUP-1042");
  // What it was given is committed to, held beside the log, never in it.
  std::vector<std::string> committed;
  for (const auto& c : performed.commitments()) committed.push_back(c.field());
  EXPECT_THAT(committed, ::testing::Contains("action_parameters"));
  EXPECT_THAT(performed.SerializeAsString(),
              ::testing::Not(HasSubstr("sanne@acme-webshop.example")));
  EXPECT_TRUE(SqliteFilesHold(absl::StrCat(*data_dir_, "/audit.db"),
                              "to=sanne@acme-webshop.example"));
  action.set_action("delete_account");
  grpc::ClientContext other;
  EXPECT_EQ(
      Stub("anna.support")->PerformAction(&other, action, &done).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);

  // The customer's request is a ticket of theirs that is open, not any
  // reference the engineer types: another customer's, a closed one and an
  // unknown one are refused, naming the field, and logged.
  for (const std::string ref : {"SUP-2001", "SUP-0917", "SUP-9999"}) {
    custos::v1::StartSessionRequest start;
    start.set_customer_id("acme");
    start.set_customer_user_id("acme.owner");
    start.mutable_justification()->set_category("support");
    start.mutable_justification()->set_reference("SUP-1042");
    auto* claimed = start.add_customer_requested_actions();
    claimed->set_action("send_test_mail");
    claimed->set_customer_request_ref(ref);
    custos::v1::StartSessionResponse started;
    grpc::ClientContext context;
    const grpc::Status refused =
        Stub("anna.support")->StartSession(&context, start, &started);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << ref;
    EXPECT_THAT(
        refused.error_message(),
        HasSubstr("customer_requested_actions[0].customer_request_ref: " + ref +
                  " is not an open support ticket of acme"));
    EXPECT_EQ(RefusalEntry(context).outcome(), custos::v1::OUTCOME_REFUSED);
  }
}

TEST_F(TakeIdentityTest, RevocationByTheDpoOrCustomerStopsTheNextClick) {
  const auto by_dpo = Open();
  custos::v1::EndSessionRequest end;
  end.set_session_id(by_dpo.session().session_id());
  custos::v1::EndSessionResponse ended;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(Stub("dirk.dpo")->EndSession(&context, end, &ended).ok());
  }
  EXPECT_EQ(ended.session().state(), custos::v1::SESSION_REVOKED);
  custos::v1::ViewPageResponse page;
  EXPECT_EQ(View(by_dpo.session_token(), "dashboard", &page).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  const auto by_customer = Open();
  end.set_session_id(by_customer.session().session_id());
  {
    // Another customer may not, and its attempt is filed under its own
    // account, naming nothing of the session but its id.
    grpc::ClientContext other;
    other.AddMetadata(
        "authorization",
        absl::StrCat("Bearer ", CustomerToken(*data_dir_, "nordwind")));
    EXPECT_EQ(custos::v1::TakeIdentity::NewStub(Channel("", ""))
                  ->EndSession(&other, end, &ended)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    const custos::v1::LogEntry refused = RefusalEntry(other);
    EXPECT_EQ(refused.customer_id(), "nordwind");
    EXPECT_EQ(refused.session_id(), "");
    EXPECT_EQ(refused.grant_id(), "");
    EXPECT_EQ(refused.category(), "");
  }
  grpc::ClientContext context;
  context.AddMetadata(
      "authorization",
      absl::StrCat("Bearer ", CustomerToken(*data_dir_, "acme")));
  ASSERT_TRUE(custos::v1::TakeIdentity::NewStub(Channel("", ""))
                  ->EndSession(&context, end, &ended)
                  .ok());
  EXPECT_EQ(ended.session().ended_by(), "customer:acme");
  EXPECT_EQ(View(by_customer.session_token(), "dashboard", &page).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  // Revoking the grant ends its session too.
  const auto by_grant = Open();
  custos::v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(by_grant.session().grant_id());
  custos::v1::RevokeGrantResponse revoked;
  grpc::ClientContext revoke_context;
  ASSERT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel("dirk.dpo"))
                  ->RevokeGrant(&revoke_context, revoke, &revoked)
                  .ok());
  EXPECT_THAT(
      View(by_grant.session_token(), "dashboard", &page).error_message(),
      HasSubstr("GRANT_REVOKED"));
}

// A session takes the grant `identity start` issued for it along when it
// ends: that grant then serves no read and starts no session. A revocation
// by the customer or the DPO also revokes an engineer's own grant the
// session ran under (a new session under it would undo the revocation at
// once); the engineer ending their session leaves their own grant alone.
// Reads under a session's grant racing the customer's revocation of the
// session: the grant is taken out of use with the session, before the
// revocation's entry is appended, so no read under it is logged as allowed,
// or served, after that entry.
TEST_F(TakeIdentityTest,
       NoReadUnderTheSessionsGrantIsServedAfterItsRevocation) {
  const auto opened = Open();
  const std::string grant_id = opened.session().grant_id();
  ASSERT_FALSE(grant_id.empty());
  custos::v1::EndSessionRequest end;
  end.set_session_id(opened.session().session_id());
  custos::v1::EndSessionResponse ended;
  grpc::Status revocation;
  const std::vector<uint64_t> served =
      ReadWhile(StaffChannel("anna.support"), grant_id, [&] {
        grpc::ClientContext context;
        context.AddMetadata(
            "authorization",
            absl::StrCat("Bearer ", CustomerToken(*data_dir_, "acme")));
        revocation = custos::v1::TakeIdentity::NewStub(Channel("", ""))
                         ->EndSession(&context, end, &ended);
      });
  ASSERT_TRUE(revocation.ok()) << revocation.error_message();
  const uint64_t revoked_at = ended.log_index();
  ASSERT_FALSE(served.empty());
  for (uint64_t index : served) EXPECT_LT(index, revoked_at);
  EXPECT_GT(RefusedAfter(revoked_at, "StaffAccess.ReadCustomerData",
                         [&](const custos::v1::LogEntry& e) {
                           return e.grant_id() == grant_id;
                         }),
            0);
}

// Actions racing a revocation of their session's grant: none is logged as
// allowed, or done, after the revocation's entry (the session itself is
// not ended by it, only its grant).
TEST_F(TakeIdentityTest, NoActionIsDoneAfterItsGrantsRevocation) {
  custos::v1::CustomerRequestedAction asked;
  asked.set_action("send_test_mail");
  asked.set_customer_request_ref("SUP-1042");
  const auto opened = Open({asked});
  const std::string grant_id = opened.session().grant_id();
  ASSERT_FALSE(grant_id.empty());
  auto stub = Stub("anna.support");
  custos::v1::PerformActionRequest action;
  action.set_session_token(opened.session_token());
  action.set_action("send_test_mail");
  std::vector<uint64_t> done;
  const uint64_t revoked_at = ServedWhileRevoking(
      grant_id,
      [&](int) -> std::optional<uint64_t> {
        grpc::ClientContext context;
        custos::v1::PerformActionResponse response;
        if (!stub->PerformAction(&context, action, &response).ok()) {
          return std::nullopt;
        }
        return response.log_index();
      },
      done);
  ASSERT_FALSE(done.empty());
  for (uint64_t index : done) EXPECT_LT(index, revoked_at);
  EXPECT_GT(RefusedAfter(revoked_at, "TakeIdentity.PerformAction",
                         [&](const custos::v1::LogEntry& e) {
                           return e.session_id() ==
                                  opened.session().session_id();
                         }),
            0);
}

// Links exchanged while their grant is revoked: none opens a session, or is
// logged as allowed, after the revocation's entry (the exchange holds the
// grant as a page's use does). An exchange that did not check the grant
// fails this at once; the narrower race the hold closes (a revocation
// stored between the check and the exchange's entry) is too rare to show.
TEST_F(TakeIdentityTest, NoLinkOpensAfterItsGrantsRevocation) {
  const Answer granted = RequestAccess(StaffChannel("anna.support"), "acme",
                                       "support", "SUP-1042");
  ASSERT_TRUE(granted.status.ok()) << granted.status.error_message();
  const std::string grant_id = granted.response.grant().grant_id();
  std::vector<std::string> links;
  for (int i = 0; i < 120; ++i) {
    custos::v1::StartSessionRequest start;
    start.set_customer_id("acme");
    start.set_customer_user_id("acme.owner");
    start.set_grant_id(grant_id);
    custos::v1::StartSessionResponse started;
    grpc::ClientContext context;
    ASSERT_TRUE(
        Stub("anna.support")->StartSession(&context, start, &started).ok());
    links.push_back(LinkToken(started));
  }
  std::atomic<size_t> next{0};
  auto stub = Stub("anna.support");
  std::vector<uint64_t> opened;
  const uint64_t revoked_at = ServedWhileRevoking(
      grant_id,
      [&](int) -> std::optional<uint64_t> {
        const size_t i = next++;
        if (i >= links.size()) return std::nullopt;
        custos::v1::ExchangeLinkRequest exchange;
        exchange.set_link_token(links[i]);
        custos::v1::ExchangeLinkResponse response;
        grpc::ClientContext context;
        if (!stub->ExchangeLink(&context, exchange, &response).ok()) {
          return std::nullopt;
        }
        return uint64_t{0};  // The entries are checked below.
      },
      opened);
  ASSERT_FALSE(opened.empty());
  EXPECT_GT(RefusedAfter(revoked_at, "TakeIdentity.ExchangeLink",
                         [&](const custos::v1::LogEntry& e) {
                           return e.grant_id() == grant_id;
                         }),
            0);
}

// A link opens no session once the grant it was made under is revoked:
// the opening is refused and logged so, not logged as allowed after the
// revocation.
TEST_F(TakeIdentityTest, ALinkOpensNothingOnceItsGrantIsRevoked) {
  const custos::v1::StartSessionResponse started = Start();
  custos::v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(started.session().grant_id());
  revoke.set_reason("opened by mistake");
  custos::v1::RevokeGrantResponse revoked;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel("dirk.dpo"))
                    ->RevokeGrant(&context, revoke, &revoked)
                    .ok());
  }
  custos::v1::ExchangeLinkRequest exchange;
  exchange.set_link_token(started.link().substr(started.link().find('#') + 1));
  custos::v1::ExchangeLinkResponse opened;
  grpc::ClientContext context;
  const grpc::Status refused =
      Stub("anna.support")->ExchangeLink(&context, exchange, &opened);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("GRANT_REVOKED"));
  EXPECT_EQ(RefusalEntry(context).outcome(), custos::v1::OUTCOME_REFUSED);
}

TEST_F(TakeIdentityTest, EndingASessionEndsTheGrantItRanUnder) {
  const auto read = [](const std::string& grant_id) {
    custos::v1::ReadCustomerDataRequest request;
    request.set_grant_id(grant_id);
    request.set_kind(custos::v1::ACCOUNT);
    custos::v1::ReadCustomerDataResponse response;
    grpc::ClientContext context;
    return custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"))
        ->ReadCustomerData(&context, request, &response);
  };
  const auto start_under = [](const std::string& grant_id,
                              custos::v1::StartSessionResponse* started) {
    custos::v1::StartSessionRequest start;
    start.set_customer_id("acme");
    start.set_customer_user_id("acme.owner");
    start.set_grant_id(grant_id);
    grpc::ClientContext context;
    return Stub("anna.support")->StartSession(&context, start, started);
  };
  custos::v1::StartSessionResponse started;
  const auto end_by_customer = [](const std::string& session_id) {
    custos::v1::EndSessionRequest end;
    end.set_session_id(session_id);
    custos::v1::EndSessionResponse ended;
    grpc::ClientContext context;
    context.AddMetadata(
        "authorization",
        absl::StrCat("Bearer ", CustomerToken(*data_dir_, "acme")));
    return custos::v1::TakeIdentity::NewStub(Channel("", ""))
        ->EndSession(&context, end, &ended);
  };
  const auto end_by_engineer = [](const std::string& session_id) {
    custos::v1::EndSessionRequest end;
    end.set_session_id(session_id);
    custos::v1::EndSessionResponse ended;
    grpc::ClientContext context;
    return Stub("anna.support")->EndSession(&context, end, &ended);
  };

  const auto revoked = Open();
  EXPECT_TRUE(revoked.session().grant_issued_for_session());
  const std::string revoked_grant = revoked.session().grant_id();
  ASSERT_TRUE(read(revoked_grant).ok());
  ASSERT_TRUE(end_by_customer(revoked.session().session_id()).ok());
  grpc::Status refused = read(revoked_grant);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("GRANT_REVOKED"));
  refused = start_under(revoked_grant, &started);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("GRANT_REVOKED"));

  const auto ended = Open();
  ASSERT_TRUE(end_by_engineer(ended.session().session_id()).ok());
  refused = read(ended.session().grant_id());
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("GRANT_ENDED"));

  const Answer own = RequestAccess(StaffChannel("anna.support"), "acme",
                                   "support", "SUP-1042");
  ASSERT_TRUE(own.status.ok()) << own.status.error_message();
  const std::string own_grant = own.response.grant().grant_id();
  for (const bool by_customer : {false, true}) {
    ASSERT_TRUE(start_under(own_grant, &started).ok());
    EXPECT_FALSE(started.session().grant_issued_for_session());
    const std::string id = started.session().session_id();
    ASSERT_TRUE(by_customer ? end_by_customer(id).ok()
                            : end_by_engineer(id).ok());
    EXPECT_EQ(read(own_grant).ok(), !by_customer) << by_customer;
  }
  EXPECT_EQ(start_under(own_grant, &started).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// The ticket an action rests on is looked up again at every action, as
// everything else a session relies on: once it is closed, or is no longer
// the customer's, the action is refused and the refusal logged.
TEST_F(TakeIdentityTest, AnActionIsRefusedOnceItsTicketIsClosedOrMoved) {
  // A ticket of this test's own, changed as the ticket system would.
  const auto set_ticket = [](const std::string& customer, bool open) {
    sqlite3* db = nullptr;
    ASSERT_EQ(
        sqlite3_open(absl::StrCat(*data_dir_, "/references.db").c_str(), &db),
        SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    const std::string sql = absl::StrCat(
        "INSERT OR REPLACE INTO refs(id, kind, customer_id, open, title) "
        "VALUES('SUP-5101', ",
        custos::v1::SUPPORT_TICKET, ", '", customer, "', ", open ? 1 : 0,
        ", 'Test mail does not arrive')");
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  };
  set_ticket("acme", true);
  custos::v1::CustomerRequestedAction asked;
  asked.set_action("send_test_mail");
  asked.set_customer_request_ref("SUP-5101");
  const auto opened = Open({asked});
  custos::v1::PerformActionRequest action;
  action.set_session_token(opened.session_token());
  action.set_action("send_test_mail");
  custos::v1::PerformActionResponse done;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(
        Stub("anna.support")->PerformAction(&context, action, &done).ok());
  }
  for (const auto& [customer, open] : std::vector<std::pair<std::string, bool>>{
           {"acme", false}, {"bakkerij-jansen", true}}) {
    set_ticket(customer, open);
    grpc::ClientContext context;
    const grpc::Status refused =
        Stub("anna.support")->PerformAction(&context, action, &done);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << customer;
    EXPECT_THAT(refused.error_message(),
                HasSubstr("customer_requested_actions[0].customer_request_ref: "
                          "SUP-5101 is not an open support ticket of acme"));
    const custos::v1::LogEntry entry = RefusalEntry(context);
    EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
    EXPECT_EQ(entry.resource(), "action/send_test_mail/SUP-5101");
  }
}

// An end refuses the session's pages from before its entry is written; an
// end that cannot be logged changed nothing, and the session serves again.
TEST_F(TakeIdentityTest, AnEndThatCannotBeLoggedLeavesTheSessionServing) {
  const auto opened = Open();
  custos::v1::EndSessionRequest end;
  end.set_session_id(opened.session().session_id());
  custos::v1::EndSessionResponse ended;
  {
    DatabaseLock lock;
    grpc::ClientContext context;
    EXPECT_EQ(Stub("dirk.dpo")->EndSession(&context, end, &ended).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  custos::v1::ViewPageResponse page;
  const grpc::Status served = View(opened.session_token(), "dashboard", &page);
  EXPECT_TRUE(served.ok()) << served.error_message();
  grpc::ClientContext context;
  ASSERT_TRUE(Stub("dirk.dpo")->EndSession(&context, end, &ended).ok());
  EXPECT_EQ(View(opened.session_token(), "dashboard", &page).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// A link is spent only once the exchange is on record: an exchange the log
// cannot take opens nothing and leaves the link good for the next try.
TEST_F(TakeIdentityTest, AnExchangeThatCannotBeLoggedLeavesTheLinkUnspent) {
  custos::v1::ExchangeLinkRequest exchange;
  exchange.set_link_token(StartLinkToken());
  custos::v1::ExchangeLinkResponse opened;
  {
    DatabaseLock lock;
    grpc::ClientContext context;
    const grpc::Status refused =
        Stub("anna.support")->ExchangeLink(&context, exchange, &opened);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(refused.error_message(),
                HasSubstr("the audit log cannot be written"));
  }
  grpc::ClientContext context;
  const grpc::Status exchanged =
      Stub("anna.support")->ExchangeLink(&context, exchange, &opened);
  ASSERT_TRUE(exchanged.ok()) << exchanged.error_message();
  EXPECT_EQ(opened.session().state(), custos::v1::SESSION_LIVE);
  custos::v1::ViewPageResponse page;
  EXPECT_TRUE(View(opened.session_token(), "dashboard", &page).ok());
}

TEST_F(TakeIdentityTest, RefusedWhereTheCategoryDoesNotAllowIt) {
  custos::v1::StartSessionRequest start;
  start.set_customer_id("acme");
  start.set_customer_user_id("acme.owner");
  start.mutable_justification()->set_category("prep");
  start.mutable_justification()->set_reference("MEET-2026-11-25");
  custos::v1::StartSessionResponse started;
  grpc::ClientContext context;
  const grpc::Status status =
      Stub("mila.accounts")->StartSession(&context, start, &started);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("TAKE_IDENTITY_NOT_ALLOWED"));
  start.set_customer_user_id("nobody");
  start.mutable_justification()->set_category("support");
  grpc::ClientContext unknown;
  EXPECT_EQ(Stub("anna.support")
                ->StartSession(&unknown, start, &started)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

// Options for a gateway of a test's own, with its data under `name` in the
// test's directory, on a free loopback port.
gateway::GatewayOptions OwnGatewayOptions(const std::string& name) {
  gateway::GatewayOptions options;
  options.data_dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  options.listen_address = "127.0.0.1:0";
  return options;
}

// A support request for acme under its demo ticket SUP-1042.
custos::v1::RequestAccessRequest AcmeSupportRequest() {
  custos::v1::RequestAccessRequest request;
  request.set_customer_id("acme");
  request.mutable_justification()->set_category("support");
  request.mutable_justification()->set_reference("SUP-1042");
  return request;
}

// OwnGatewayOptions with a staff directory of its own: an active DPO
// (dora.dpo) and `entries` (textproto of more staff and customers).
gateway::GatewayOptions OwnGatewayOptionsWithDirectory(
    const std::string& name, const std::string& entries) {
  gateway::GatewayOptions options = OwnGatewayOptions(name);
  options.directory_file = options.data_dir + "-directory.textproto";
  std::ofstream directory(options.directory_file);
  directory << R"pb(
        staff {
          staff_id: "dora.dpo"
          display_name: "Dora de Jong"
          roles: "dpo"
          contract: DUTCH_EMPLOYMENT
          confidentiality_clause: true
          contract_start: "2020-01-01"
          active: true
        }
      )pb" << entries;
  return options;
}

// Authorizes `context` as `customer` of a gateway of a test's own.
void AsCustomerOf(const gateway::GatewayOptions& options,
                  grpc::ClientContext& context, const std::string& customer) {
  context.AddMetadata(
      "authorization",
      absl::StrCat("Bearer ", CustomerToken(options.data_dir, customer)));
}

// A channel to a gateway of a test's own (started with `options`), as `id`
// with the client certificate its development CA issued, or with none when
// `id` is empty (a customer's token, or no one).
std::shared_ptr<grpc::Channel> OwnGatewayChannel(
    const gateway::GatewayOptions& options,
    const gateway::GatewayServer& server, const std::string& id = "") {
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(options.data_dir + "/pki/ca.crt");
  if (!id.empty()) {
    tls.pem_cert_chain =
        ReadFile(absl::StrCat(options.data_dir, "/pki/clients/", id, ".crt"));
    tls.pem_private_key =
        ReadFile(absl::StrCat(options.data_dir, "/pki/clients/", id, ".key"));
  }
  return grpc::CreateChannel(absl::StrCat("localhost:", server.port()),
                             grpc::SslCredentials(tls));
}

// `customer` decides pending request `request_id` (approves it, or
// refuses), through a gateway of the test's own.
grpc::Status DecideAsCustomer(const gateway::GatewayOptions& options,
                              const gateway::GatewayServer& server,
                              const std::string& customer,
                              const std::string& request_id, bool approve,
                              custos::v1::DecidePendingRequestResponse& out) {
  custos::v1::DecidePendingRequestRequest decide;
  decide.set_request_id(request_id);
  decide.set_approve(approve);
  grpc::ClientContext context;
  AsCustomerOf(options, context, customer);
  return custos::v1::Approvals::NewStub(OwnGatewayChannel(options, server))
      ->DecidePendingRequest(&context, decide, &out);
}

// A partner that has left the staff directory keeps the consents customers
// gave it: the customer can still withdraw one, but no one can give it anew.
TEST(PartnerConsentTest, ADepartedPartnersConsentCanStillBeWithdrawn) {
  gateway::GatewayOptions options =
      OwnGatewayOptionsWithDirectory("departed", R"pb(
        customers {
          customer_id: "acme"
          name: "Acme Webshop B.V."
          consented_partners: "oldpartner"
          users { user_id: "acme.owner" display_name: "Sanne Koster" }
        }
      )pb");
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto approvals =
      custos::v1::Approvals::NewStub(OwnGatewayChannel(options, **server));
  const auto set = [&](bool consent) {
    custos::v1::SetPartnerConsentRequest request;
    request.set_partner_organisation("oldpartner");
    request.set_consent(consent);
    custos::v1::SetPartnerConsentResponse changed;
    grpc::ClientContext context;
    AsCustomerOf(options, context, "acme");
    return approvals->SetPartnerConsent(&context, request, &changed);
  };
  const grpc::Status withdrawn = set(false);
  EXPECT_TRUE(withdrawn.ok()) << withdrawn.error_message();
  // Withdrawn, the name is unknown: neither giving nor withdrawing again is
  // taken.
  EXPECT_EQ(set(true).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(set(false).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A limit no grant could serve under is a mistake in the settings: custosd
// does not start, and says which setting.
TEST(GatewayOptionsTest, RefusesARecordLimitOfZero) {
  gateway::GatewayOptions options = OwnGatewayOptions("no-records");
  options.max_records_per_grant = 0;
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(),
              HasSubstr("max_records_per_grant: expected at least 1"));
}

// Whether `customer`'s token in the gateway's customer_tokens file opens a
// customer call.
bool CustomerTokenWorks(const gateway::GatewayOptions& options,
                        const gateway::GatewayServer& server,
                        const std::string& customer) {
  grpc::ClientContext context;
  AsCustomerOf(options, context, customer);
  custos::v1::ListPendingRequestsResponse waiting;
  return custos::v1::Approvals::NewStub(OwnGatewayChannel(options, server))
      ->ListPendingRequests(&context, custos::v1::ListPendingRequestsRequest(),
                            &waiting)
      .ok();
}

// Two custosd on one data directory would each make a CA, signing key and
// tokens on a first start; the second is refused until the first is gone.
TEST(GatewayDataDirectoryTest, HoldsOneGatewayAtATime) {
  const gateway::GatewayOptions options = OwnGatewayOptions("one-at-a-time");
  auto first = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = gateway::GatewayServer::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(),
              HasSubstr("another custosd is using this data directory"));
  first->reset();
  auto again = gateway::GatewayServer::Start(options);
  EXPECT_TRUE(again.ok()) << again.status();
}

// The stores' files are made with the process's umask; the directory keeps
// other users out, even one a `mkdir` made open to them before.
TEST(GatewayDataDirectoryTest, IsPrivate) {
  const gateway::GatewayOptions options = OwnGatewayOptions("private");
  ASSERT_EQ(mkdir(options.data_dir.c_str(), 0755), 0);
  ASSERT_EQ(chmod(options.data_dir.c_str(), 0755), 0);
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat info;
  ASSERT_EQ(stat(options.data_dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0700u);
}

// A token's hash is stored only once the file holds the token: a first
// start that could not write the file leaves no customer locked out, and
// the next start issues the tokens. Tokens outlive their file.
TEST(GatewayCustomerTokensTest, AreWrittenBeforeTheirHashesAreStored) {
  const gateway::GatewayOptions options = OwnGatewayOptions("token-order");
  const std::string tokens = options.data_dir + "/customer_tokens";
  ASSERT_EQ(mkdir(options.data_dir.c_str(), 0700), 0);
  // A directory where the file goes: the file cannot be written.
  ASSERT_EQ(mkdir(tokens.c_str(), 0700), 0);
  auto refused = gateway::GatewayServer::Start(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("customer_tokens"));
  ASSERT_EQ(rmdir(tokens.c_str()), 0);
  {
    auto server = gateway::GatewayServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_TRUE(CustomerTokenWorks(options, **server, "acme"));
    EXPECT_TRUE(CustomerTokenWorks(options, **server, "bakkerij-jansen"));
  }
  // Handed out and deleted: the tokens keep working, and none is issued
  // again.
  const std::string handed_out = ReadFile(tokens);
  ASSERT_EQ(unlink(tokens.c_str()), 0);
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_NE(access(tokens.c_str(), F_OK), 0);
  { std::ofstream(tokens) << handed_out; }
  EXPECT_TRUE(CustomerTokenWorks(options, **server, "acme"));
}

// A customer added to the directory later gets a token of its own; the
// others keep theirs.
TEST(GatewayCustomerTokensTest, AreIssuedToCustomersAddedLater) {
  gateway::GatewayOptions options =
      OwnGatewayOptionsWithDirectory("token-later", R"pb(
        customers { customer_id: "acme" name: "Acme" }
      )pb");
  std::string acme;
  {
    auto server = gateway::GatewayServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    acme = CustomerToken(options.data_dir, "acme");
    ASSERT_FALSE(acme.empty());
    EXPECT_EQ(CustomerToken(options.data_dir, "zeilmakerij"), "");
  }
  {
    std::ofstream(options.directory_file, std::ios::app) << R"pb(
      customers { customer_id: "zeilmakerij" name: "Zeilmakerij" }
    )pb";
  }
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(CustomerToken(options.data_dir, "acme"), acme);
  EXPECT_NE(CustomerToken(options.data_dir, "zeilmakerij"), "");
  EXPECT_TRUE(CustomerTokenWorks(options, **server, "acme"));
  EXPECT_TRUE(CustomerTokenWorks(options, **server, "zeilmakerij"));
}

// The verifier key file is what everyone pins: one that names another key
// than the signing key's keeps custosd from starting, naming both files.
TEST(GatewayDataDirectoryTest, RefusesAVerifierKeyOfAnotherSigningKey) {
  const gateway::GatewayOptions options = OwnGatewayOptions("verifier-key");
  const std::string verifier = options.data_dir + "/log_verifier_key";
  {
    auto server = gateway::GatewayServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
  }
  const std::string pinned = ReadFile(verifier);
  {
    auto other = audit::NoteSigner::Generate("custos.local/log/other");
    ASSERT_TRUE(other.ok());
    std::ofstream(verifier) << other->verifier_key() << "\n";
  }
  auto refused = gateway::GatewayServer::Start(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("log_verifier_key: names another key than"));
  // Deleted, it is public, and made again.
  ASSERT_EQ(unlink(verifier.c_str()), 0);
  auto restored = gateway::GatewayServer::Start(options);
  EXPECT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(ReadFile(verifier), pinned);
}

// A lost signing key is not made anew over a log it signed: that would
// overwrite the origin and verifier key everyone pinned, and the log's
// checkpoints would not verify by the new one. Restored, it serves again.
TEST(GatewayDataDirectoryTest, RefusesToReplaceTheKeyOfASignedLog) {
  const gateway::GatewayOptions options = OwnGatewayOptions("lost-key");
  const std::string key = options.data_dir + "/log_signing_key.pem";
  {
    auto server = gateway::GatewayServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
  }
  const std::string pem = ReadFile(key);
  const std::string origin = ReadFile(options.data_dir + "/log_origin");
  const std::string pinned = ReadFile(options.data_dir + "/log_verifier_key");
  ASSERT_EQ(unlink(key.c_str()), 0);
  auto refused = gateway::GatewayServer::Start(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("log_signing_key.pem is missing"));
  EXPECT_EQ(ReadFile(options.data_dir + "/log_origin"), origin);
  EXPECT_EQ(ReadFile(options.data_dir + "/log_verifier_key"), pinned);
  {
    std::ofstream restored(key);
    restored << pem;
  }
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);
  auto server = gateway::GatewayServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
}

// A line of the revocations file that is not a serial would revoke nothing
// while counting as revoked: custosd does not start, naming the line. A
// comment after a serial is allowed.
TEST(GatewayRevocationTest, RefusesALineThatIsNotASerial) {
  gateway::GatewayOptions options = OwnGatewayOptions("revocation-lines");
  options.revoked_serials_file = options.data_dir + "-revoked";
  {
    std::ofstream(options.revoked_serials_file)
        << "# stolen laptops\n0A1B  # anna's\nserial=0C:2D\n\n"
        << "Serial Number: 0E3F\n";
  }
  auto refused = gateway::GatewayServer::Start(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("-revoked:5: expected a serial number in hex"));
  {
    std::ofstream(options.revoked_serials_file)
        << "# stolen laptops\n0A1B  # anna's\nserial=0C:2D\n";
  }
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto reloaded = (*server)->ReloadRevocations();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(*reloaded, 2);
}

// Settings that would quietly turn the rate limit off, refuse every staff
// request, or hand a take-identity link to another scheme: custosd does
// not start, and says which setting.
TEST(GatewayOptionsTest, RefusesRateLimitsAndLinkBasesThatCannotWork) {
  struct Case {
    std::function<void(gateway::GatewayOptions&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& o) { o.staff_requests_per_second = -1; },
       "staff_requests_per_second: expected 0"},
      {[](auto& o) { o.staff_requests_per_second = std::nan(""); },
       "staff_requests_per_second: expected 0"},
      {[](auto& o) {
         o.staff_requests_per_second = 50;
         o.staff_request_burst = 0.5;
       },
       "staff_request_burst: expected at least 1"},
      {[](auto& o) {
         o.staff_requests_per_second = 50;
         o.staff_request_burst = std::nan("");
       },
       "staff_request_burst: expected at least 1"},
      {[](auto& o) { o.web_base_url = "http://localhost:8443"; },
       "web_base_url: expected https://"},
      {[](auto& o) { o.web_base_url = "https://"; },
       "web_base_url: expected https://"},
      {[](auto& o) { o.web_base_url = "https://portal.example/?x="; },
       "web_base_url: expected https://"},
      {[](auto& o) { o.web_base_url = "https://portal.example/"; },
       "web_base_url: expected https://"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    gateway::GatewayOptions options =
        OwnGatewayOptions(absl::StrCat("bad-options-", i));
    cases[i].change(options);
    auto server = gateway::GatewayServer::Start(options);
    ASSERT_FALSE(server.ok()) << "case " << i;
    EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument)
        << "case " << i;
    EXPECT_THAT(server.status().message(), HasSubstr(cases[i].message))
        << "case " << i;
  }
  gateway::GatewayOptions fine = OwnGatewayOptions("good-options");
  fine.staff_requests_per_second = 50;
  fine.staff_request_burst = 1;
  fine.web_base_url = "https://portal.example:8443/custos";
  EXPECT_TRUE(gateway::GatewayServer::Start(fine).ok());
}

// The metric text of a gateway of a test's own.
std::string ScrapeMetrics(const gateway::GatewayServer& server) {
  httplib::Client client("127.0.0.1", server.metrics_port());
  const auto response = client.Get("/metrics");
  EXPECT_TRUE(response) << "no answer from /metrics";
  return response ? response->body : "";
}

// The value of the sample `series` (name and labels, as printed), or -1.
double MetricValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, series + " ")) continue;
    double value;
    return absl::SimpleAtod(line, &value) ? value : -1;
  }
  return -1;
}

// Requests are counted by the answer their callers got: an allowed call
// whose grant could not be stored was answered UNAVAILABLE, not OK. The
// log's size shows from the start, not from the first commit after it.
TEST(GatewayMetricsTest, CountAnswersGivenAndTheLogSizeFromTheStart) {
  gateway::GatewayOptions options = OwnGatewayOptions("metrics");
  options.metrics_listen = "127.0.0.1:0";
  const std::string series =
      "custos_requests_total{category=\"support\",method=\"StaffAccess."
      "RequestAccess\",outcome=\"";
  double log_size = 0;
  {
    auto server = gateway::GatewayServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    auto staff = custos::v1::StaffAccess::NewStub(
        OwnGatewayChannel(options, **server, "anna.support"));
    const auto request_access = [&] {
      const custos::v1::RequestAccessRequest request = AcmeSupportRequest();
      custos::v1::RequestAccessResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(10));
      return staff->RequestAccess(&context, request, &response);
    };
    ASSERT_TRUE(request_access().ok());
    {
      // Holds grants.db's write lock: the grant cannot be stored.
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open((options.data_dir + "/grants.db").c_str(), &db),
                SQLITE_OK);
      sqlite3_busy_timeout(db, 10000);
      ASSERT_EQ(sqlite3_exec(db, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr),
                SQLITE_OK);
      EXPECT_EQ(request_access().error_code(), grpc::StatusCode::UNAVAILABLE);
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db);
    }
    const std::string text = ScrapeMetrics(**server);
    EXPECT_EQ(MetricValue(text, series + "OK\"}"), 1) << text;
    EXPECT_EQ(MetricValue(text, series + "UNAVAILABLE\"}"), 1) << text;
    log_size = MetricValue(text, "custos_log_entries");
    // Two RequestAccess entries and the entry saying one was not applied.
    EXPECT_GE(log_size, 3) << text;
  }
  auto restarted = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EXPECT_EQ(MetricValue(ScrapeMetrics(**restarted), "custos_log_entries"),
            log_size);
}

// A staff member connecting over IPv6 is placed by their address: gRPC
// names such a peer "ipv6:%5B::1%5D:port", percent-encoded, and an address
// read wrongly from it would place every IPv6 caller abroad.
TEST(GatewayPlacementTest, PlacesAnIpv6Caller) {
  gateway::GatewayOptions options = OwnGatewayOptions("ipv6");
  options.listen_address = "[::1]:0";
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = ReadFile(options.data_dir + "/pki/ca.crt");
  tls.pem_cert_chain =
      ReadFile(options.data_dir + "/pki/clients/anna.support.crt");
  tls.pem_private_key =
      ReadFile(options.data_dir + "/pki/clients/anna.support.key");
  grpc::ChannelArguments args;
  // The server's certificate names localhost.
  args.SetSslTargetNameOverride("localhost");
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("ipv6:[::1]:", (*server)->port()),
                                grpc::SslCredentials(tls), args);
  custos::v1::WhoAmIResponse me;
  grpc::ClientContext context;
  const grpc::Status status = custos::v1::StaffAccess::NewStub(channel)->WhoAmI(
      &context, custos::v1::WhoAmIRequest(), &me);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(me.source_address(), "::1");
  EXPECT_EQ(me.country(), "NL");
  EXPECT_EQ(me.network(), "loopback");
}

// A customer's reading of the log is filed under their own account, where
// they see it: a look at another account's entries, refused, is not filed
// under that account (which would show it who asked).
TEST(CustomerLogTest, FilesACustomersReadsUnderTheirOwnAccount) {
  gateway::GatewayOptions options = OwnGatewayOptions("customer-log");
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto audit =
      custos::v1::AuditLog::NewStub(OwnGatewayChannel(options, **server));
  const auto list = [&](const std::string& customer_id) {
    custos::v1::ListEntriesRequest request;
    request.set_customer_id(customer_id);
    custos::v1::ListEntriesResponse response;
    grpc::ClientContext context;
    AsCustomerOf(options, context, "acme");
    return audit->ListEntries(&context, request, &response);
  };
  ASSERT_TRUE(list("").ok());
  EXPECT_EQ(list("bakkerij-jansen").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  custos::v1::ListEntriesRequest all;
  all.set_page_size(1000);
  custos::v1::ListEntriesResponse entries;
  grpc::ClientContext context;
  ASSERT_TRUE(custos::v1::AuditLog::NewStub(
                  OwnGatewayChannel(options, **server, "dirk.dpo"))
                  ->ListEntries(&context, all, &entries)
                  .ok());
  std::vector<std::string> filed_under;
  for (const auto& e : entries.entries()) {
    if (e.action() == "AuditLog.ListEntries" && e.actor().id() == "acme")
      filed_under.push_back(e.customer_id());
  }
  EXPECT_THAT(filed_under, ::testing::ElementsAre("acme", "acme"));
}

// A DPO whose contract has ended has no DPO powers left, though the role
// is still in the directory and the certificate not yet revoked.
// A grant serves only while its holder still meets the policy's staff
// side: the directory can change under a live grant (a contract changed,
// a role gone), and each read checks again.
TEST(GrantHolderTest, AGrantStopsServingWhenItsHolderNoLongerQualifies) {
  const auto staff_entry = [](const std::string& contract,
                              const std::string& role) {
    return absl::StrCat(R"pb(
                          staff { staff_id: "cas.support"
                                  display_name: "Cas Smit"
                                  roles: ")pb",
                        role, R"pb("
                                   contract:)pb",
                        contract, R"pb(
                            confidentiality_clause: true
                            contract_start: "2021-03-01"
                            active: true
                          }
                                  customers {
                            customer_id: "acme"
                            name: "Acme Webshop B.V."
                            users {
                              user_id: "acme.owner"
                              display_name: "Sanne Koster"
                            }
                          }
                        )pb");
  };
  const auto read = [](const gateway::GatewayOptions& options,
                       const gateway::GatewayServer& server,
                       const std::string& grant_id) {
    custos::v1::ReadCustomerDataRequest request;
    request.set_grant_id(grant_id);
    request.set_kind(custos::v1::ACCOUNT);
    custos::v1::ReadCustomerDataResponse response;
    grpc::ClientContext context;
    return custos::v1::StaffAccess::NewStub(
               OwnGatewayChannel(options, server, "cas.support"))
        ->ReadCustomerData(&context, request, &response);
  };
  gateway::GatewayOptions options = OwnGatewayOptionsWithDirectory(
      "holder-changes", staff_entry("DUTCH_EMPLOYMENT", "support"));
  std::string grant_id;
  {
    auto server = gateway::GatewayServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    const custos::v1::RequestAccessRequest request = AcmeSupportRequest();
    custos::v1::RequestAccessResponse response;
    grpc::ClientContext context;
    const grpc::Status granted =
        custos::v1::StaffAccess::NewStub(
            OwnGatewayChannel(options, **server, "cas.support"))
            ->RequestAccess(&context, request, &response);
    ASSERT_TRUE(granted.ok()) << granted.error_message();
    grant_id = response.grant().grant_id();
    const grpc::Status served = read(options, **server, grant_id);
    EXPECT_TRUE(served.ok()) << served.error_message();
  }
  const struct {
    std::string contract, role, reason;
  } changes[] = {
      {"CONTRACTOR", "support", "CONTRACT_NOT_DUTCH_EMPLOYMENT: "},
      {"DUTCH_EMPLOYMENT", "marketing", "CATEGORY_NOT_FOR_ROLE: "},
      {"DUTCH_EMPLOYMENT", "support", ""},
  };
  for (const auto& change : changes) {
    // The same data, under a directory changed since the grant.
    gateway::GatewayOptions changed = OwnGatewayOptionsWithDirectory(
        "holder-changes", staff_entry(change.contract, change.role));
    auto server = gateway::GatewayServer::Start(changed);
    ASSERT_TRUE(server.ok()) << server.status();
    const grpc::Status status = read(changed, **server, grant_id);
    if (change.reason.empty()) {
      EXPECT_TRUE(status.ok()) << status.error_message();
      continue;
    }
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << change.contract << " " << change.role;
    EXPECT_THAT(status.error_message(), HasSubstr(change.reason))
        << status.error_message();
  }
}

TEST(InactiveStaffTest, AnInactiveDpoHasNoDpoPowers) {
  gateway::GatewayOptions options =
      OwnGatewayOptionsWithDirectory("inactive-dpo", R"pb(
        staff {
          staff_id: "otto.dpo"
          display_name: "Otto Visser"
          roles: "dpo"
          contract: DUTCH_EMPLOYMENT
          confidentiality_clause: true
          contract_start: "2019-01-01"
          contract_end: "2025-12-31"
          active: false
        }
        customers {
          customer_id: "acme"
          name: "Acme Webshop B.V."
          users { user_id: "acme.owner" display_name: "Sanne Koster" }
        }
      )pb");
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const auto erase = [&](const std::string& dpo) {
    custos::v1::EraseRequest request;
    request.set_subject("someone.gone");
    custos::v1::EraseResponse response;
    grpc::ClientContext context;
    return custos::v1::AuditLog::NewStub(
               OwnGatewayChannel(options, **server, dpo))
        ->Erase(&context, request, &response);
  };
  const grpc::Status by_active = erase("dora.dpo");
  EXPECT_TRUE(by_active.ok()) << by_active.error_message();
  EXPECT_EQ(erase("otto.dpo").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  custos::v1::ListEntriesRequest others;
  others.set_staff_id("dora.dpo");
  custos::v1::ListEntriesResponse response;
  grpc::ClientContext context;
  EXPECT_EQ(custos::v1::AuditLog::NewStub(
                OwnGatewayChannel(options, **server, "otto.dpo"))
                ->ListEntries(&context, others, &response)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // Nor does anyone inactive ask for a trip.
  custos::v1::RequestTripRequest trip;
  trip.set_country("DE");
  trip.set_first_day("2026-12-07");
  trip.set_last_day("2026-12-09");
  trip.set_device_id("laptop-otto");
  trip.set_purpose("customer visit");
  custos::v1::RequestTripResponse asked;
  grpc::ClientContext trip_context;
  const grpc::Status refused =
      custos::v1::Approvals::NewStub(
          OwnGatewayChannel(options, **server, "otto.dpo"))
          ->RequestTrip(&trip_context, trip, &asked);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.error_message(), HasSubstr("otto.dpo is not active"));
}

// A staff member over their request rate is refused with
// RESOURCE_EXHAUSTED, and the refusal is logged under their name.
TEST(GatewayRateLimitTest, RefusesAndLogsRequestsOverTheRate) {
  gateway::GatewayOptions options = OwnGatewayOptions("rate");
  options.staff_requests_per_second = 0.5;
  options.staff_request_burst = 3;
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = custos::v1::StaffAccess::NewStub(
      OwnGatewayChannel(options, **server, "anna.support"));
  const custos::v1::RequestAccessRequest request = AcmeSupportRequest();
  std::vector<grpc::StatusCode> codes;
  std::string limited_index;
  std::string grant_id;
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext context;
    custos::v1::RequestAccessResponse response;
    codes.push_back(
        stub->RequestAccess(&context, request, &response).error_code());
    if (codes.back() == grpc::StatusCode::OK) {
      grant_id = response.grant().grant_id();
    }
    if (codes.back() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
        limited_index.empty()) {
      auto it = context.GetServerTrailingMetadata().find("custos-log-index");
      ASSERT_NE(it, context.GetServerTrailingMetadata().end());
      limited_index.assign(it->second.data(), it->second.size());
    }
  }
  EXPECT_THAT(codes,
              ::testing::ElementsAre(grpc::StatusCode::OK, grpc::StatusCode::OK,
                                     grpc::StatusCode::OK,
                                     grpc::StatusCode::RESOURCE_EXHAUSTED,
                                     grpc::StatusCode::RESOURCE_EXHAUSTED));
  // Over the rate, access can still be taken away: by the engineer, and by
  // the DPO (whose own rate is used up too).
  custos::v1::EndGrantRequest end;
  end.set_grant_id(grant_id);
  custos::v1::EndGrantResponse ended;
  grpc::ClientContext end_context;
  const grpc::Status end_status = stub->EndGrant(&end_context, end, &ended);
  EXPECT_TRUE(end_status.ok()) << end_status.error_message();
  auto dpo = custos::v1::StaffAccess::NewStub(
      OwnGatewayChannel(options, **server, "dirk.dpo"));
  for (int i = 0; i < 4; ++i) {
    custos::v1::ListGrantsResponse listed;
    grpc::ClientContext context;
    dpo->ListGrants(&context, custos::v1::ListGrantsRequest(), &listed)
        .IgnoreError();
  }
  custos::v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant_id);
  revoke.set_reason("over the rate, still revoked");
  custos::v1::RevokeGrantResponse revoked;
  grpc::ClientContext revoke_context;
  // Ended already: refused for that, not for the rate.
  EXPECT_EQ(dpo->RevokeGrant(&revoke_context, revoke, &revoked).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  (*server)->Shutdown();
  auto store = audit::SqliteLogStore::Open(options.data_dir + "/audit.db");
  ASSERT_TRUE(store.ok());
  uint64_t index = 0;
  ASSERT_TRUE(absl::SimpleAtoi(limited_index, &index));
  custos::v1::LogEntry entry;
  ASSERT_TRUE(entry.ParseFromString(*(*store)->ReadEntryBytes(index)));
  EXPECT_EQ(entry.actor().id(), "anna.support");
  EXPECT_EQ(entry.status_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// The policy's ten random checks a window: a draw the customer's approval
// completed counts (its entry is the customer's, not the tester's), and
// requests made side by side cannot all pass on one count.
TEST(GatewayRandomCheckTest, ApprovedAndParallelDrawsStopAtTheLimit) {
  gateway::GatewayOptions options = OwnGatewayOptions("draws");
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto staff = custos::v1::StaffAccess::NewStub(
      OwnGatewayChannel(options, **server, "tess.tester"));
  custos::v1::RequestAccessRequest ask;
  ask.set_customer_id("bakkerij-jansen");  // approves every access
  ask.mutable_justification()->set_category("feature");
  ask.mutable_justification()->set_reference("random-check");
  custos::v1::RequestAccessResponse asked;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(staff->RequestAccess(&context, ask, &asked).ok());
  }
  ASSERT_FALSE(asked.pending().request_id().empty());
  custos::v1::DecidePendingRequestResponse approved;
  ASSERT_TRUE(DecideAsCustomer(options, **server, "bakkerij-jansen",
                               asked.pending().request_id(), true, approved)
                  .ok());
  ASSERT_FALSE(approved.grant().grant_id().empty());

  ask.set_customer_id("acme");
  std::atomic<int> allowed{0};
  std::atomic<int> over_limit{0};
  std::vector<std::thread> askers;
  for (int i = 0; i < 16; ++i) {
    askers.emplace_back([&] {
      grpc::ClientContext context;
      custos::v1::RequestAccessResponse response;
      const grpc::Status status =
          staff->RequestAccess(&context, ask, &response);
      if (status.ok()) ++allowed;
      if (absl::StrContains(status.error_message(),
                            "RANDOM_CHECK_RATE_EXCEEDED")) {
        ++over_limit;
      }
    });
  }
  for (std::thread& asker : askers) asker.join();
  EXPECT_EQ(allowed.load(), 9);
  EXPECT_EQ(over_limit.load(), 7);
  (*server)->Shutdown();
}

// The engineer's note is personal data the log only commits to: grants keep
// none, and an erasure also reaches the notes approvals keep.
TEST(GatewayErasureTest, ReachesTheNotesKeptOutsideTheLog) {
  gateway::GatewayOptions options = OwnGatewayOptions("erase-notes");
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto anna = custos::v1::StaffAccess::NewStub(
      OwnGatewayChannel(options, **server, "anna.support"));
  const auto ask = [&](const std::string& customer, const std::string& ref,
                       const std::string& note) {
    custos::v1::RequestAccessRequest request;
    request.set_customer_id(customer);
    request.mutable_justification()->set_category("support");
    request.mutable_justification()->set_reference(ref);
    request.mutable_justification()->set_note(note);
    custos::v1::RequestAccessResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(anna->RequestAccess(&context, request, &response).ok());
    return response;
  };
  const auto granted = ask("acme", "SUP-1042", "granted-note-7f3a");
  ASSERT_FALSE(granted.grant().grant_id().empty());
  EXPECT_TRUE(granted.grant().justification().note().empty());
  EXPECT_FALSE(
      SqliteFilesHold(options.data_dir + "/grants.db", "granted-note-7f3a"));

  const auto waiting = ask("bakkerij-jansen", "SUP-2001", "waiting-note-9c1e");
  ASSERT_FALSE(waiting.pending().request_id().empty());
  const std::string approvals_db = options.data_dir + "/approvals.db";
  // The approvers read it while the request waits.
  EXPECT_TRUE(SqliteFilesHold(approvals_db, "waiting-note-9c1e"));

  custos::v1::EraseRequest erase;
  erase.set_subject("anna.support");
  custos::v1::EraseResponse erased;
  grpc::ClientContext context;
  ASSERT_TRUE(custos::v1::AuditLog::NewStub(
                  OwnGatewayChannel(options, **server, "dirk.dpo"))
                  ->Erase(&context, erase, &erased)
                  .ok());
  EXPECT_EQ(erased.approval_notes_erased(), 1u);
  EXPECT_FALSE(SqliteFilesHold(approvals_db, "waiting-note-9c1e"));

  // Once decided, a request keeps no note: the log's entry has it.
  const auto refused = ask("bakkerij-jansen", "SUP-2001", "decided-note-4b2d");
  custos::v1::DecidePendingRequestResponse decided;
  ASSERT_TRUE(DecideAsCustomer(options, **server, "bakkerij-jansen",
                               refused.pending().request_id(), false, decided)
                  .ok());
  EXPECT_EQ(decided.request().state(), custos::v1::PENDING_REFUSED);
  custos::v1::ListPendingRequestsResponse listed;
  grpc::ClientContext list_context;
  AsCustomerOf(options, list_context, "bakkerij-jansen");
  ASSERT_TRUE(
      custos::v1::Approvals::NewStub(OwnGatewayChannel(options, **server))
          ->ListPendingRequests(&list_context, {}, &listed)
          .ok());
  ASSERT_EQ(listed.requests_size(), 2);
  for (const auto& request : listed.requests()) {
    EXPECT_TRUE(request.justification().note().empty()) << request.request_id();
  }
  (*server)->Shutdown();
}

// A pending request waits so long for its approvals: approving it after
// it lapsed is refused, and logged, and makes no grant.
TEST(GatewayPendingTest, ARequestLapsesUndecided) {
  gateway::GatewayOptions options = OwnGatewayOptions("lapse");
  options.pending_request_lifetime = absl::Seconds(1);
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  custos::v1::RequestAccessRequest ask;
  ask.set_customer_id("bakkerij-jansen");
  ask.mutable_justification()->set_category("support");
  ask.mutable_justification()->set_reference("SUP-2001");
  ask.mutable_justification()->set_note("lapsing-note-5d2b");
  custos::v1::RequestAccessResponse asked;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(custos::v1::StaffAccess::NewStub(
                    OwnGatewayChannel(options, **server, "anna.support"))
                    ->RequestAccess(&context, ask, &asked)
                    .ok());
  }
  ASSERT_FALSE(asked.pending().request_id().empty());
  const std::string approvals_db = options.data_dir + "/approvals.db";
  ASSERT_TRUE(SqliteFilesHold(approvals_db, "lapsing-note-5d2b"));
  absl::SleepFor(absl::Milliseconds(1100));
  custos::v1::DecidePendingRequestResponse decided;
  const grpc::Status refused =
      DecideAsCustomer(options, **server, "bakkerij-jansen",
                       asked.pending().request_id(), true, decided);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("lapsed at "));
  EXPECT_TRUE(decided.grant().grant_id().empty());
  // It lists as lapsed, and no longer among the waiting ones.
  auto approvals =
      custos::v1::Approvals::NewStub(OwnGatewayChannel(options, **server));
  for (const bool waiting_only : {false, true}) {
    custos::v1::ListPendingRequestsRequest list;
    list.set_waiting_only(waiting_only);
    custos::v1::ListPendingRequestsResponse listed;
    grpc::ClientContext list_context;
    AsCustomerOf(options, list_context, "bakkerij-jansen");
    ASSERT_TRUE(
        approvals->ListPendingRequests(&list_context, list, &listed).ok());
    if (waiting_only) {
      EXPECT_EQ(listed.requests_size(), 0);
    } else {
      ASSERT_EQ(listed.requests_size(), 1);
      EXPECT_EQ(listed.requests(0).state(), custos::v1::PENDING_LAPSED);
    }
  }
  (*server)->Shutdown();
  server->reset();
  // Lapsed, it keeps no note: custosd drops it at start and hourly.
  auto restarted = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  (*restarted)->Shutdown();
  restarted->reset();
  EXPECT_FALSE(SqliteFilesHold(approvals_db, "lapsing-note-5d2b"));
}

// A policy file masking a field the data has not (a typo) would serve the
// data in clear: custosd refuses to start on it, naming the file and the
// field, and a reload keeps the policy in force.
TEST(GatewayPolicyFileTest, RefusesAMaskOfAFieldTheDataHasNot) {
  const std::string dir =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/policy-masks");
  const std::string good = dir + "-good.textproto";
  const std::string typo = dir + "-typo.textproto";
  { std::ofstream(good) << kDefaultPolicy; }
  {
    std::ofstream(typo) << absl::StrReplaceAll(
        kDefaultPolicy, {{"\"SUBSCRIBERS.email\"", "\"SUBSCRIBERS.e_mail\""}});
  }
  gateway::GatewayOptions options;
  options.data_dir = dir;
  options.listen_address = "127.0.0.1:0";
  options.policy_file = typo;
  const auto refused = gateway::GatewayServer::Start(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              HasSubstr(typo + ": categories[bug].masked_fields: SUBSCRIBERS "
                               "records have no field \"e_mail\""));

  options.policy_file = good;
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  { std::ofstream(good) << std::ifstream(typo).rdbuf(); }
  EXPECT_EQ((*server)->ReloadPolicy().code(),
            absl::StatusCode::kInvalidArgument);
  (*server)->Shutdown();
}

// A partner's grant rests on the customer's consent it was issued under: a
// policy reloaded since, whose category of that name is now one of the
// company's own data, does not free it from that consent (the grant keeps
// the customer data kinds it was issued for).
TEST(GatewayPolicyFileTest, APartnersGrantKeepsNeedingTheConsentItWasIssuedOn) {
  gateway::GatewayOptions options = OwnGatewayOptions("consent-reload");
  options.policy_file = options.data_dir + "-policy.textproto";
  { std::ofstream(options.policy_file) << kDefaultPolicy; }
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto staff = custos::v1::StaffAccess::NewStub(
      OwnGatewayChannel(options, **server, "pia.partner"));
  const custos::v1::RequestAccessRequest ask = AcmeSupportRequest();
  custos::v1::RequestAccessResponse granted;
  {
    grpc::ClientContext context;
    const grpc::Status status = staff->RequestAccess(&context, ask, &granted);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(granted.grant().consent_of(), "mailfix");

  const std::string support_block =
      R"(  data_kinds: [ACCOUNT, CUSTOMER_USERS, SUBSCRIBERS, CAMPAIGNS]
  default_duration: "4h")";
  ASSERT_THAT(std::string(kDefaultPolicy), HasSubstr(support_block));
  {
    std::ofstream(options.policy_file) << absl::StrReplaceAll(
        kDefaultPolicy,
        {{support_block,
          "  data_kinds: [INVOICES]\n  company_data: true\n  contracts: "
          "[PARTNER, DUTCH_EMPLOYMENT]\n  default_duration: \"4h\""}});
  }
  {
    const absl::Status reloaded = (*server)->ReloadPolicy();
    ASSERT_TRUE(reloaded.ok()) << reloaded;
  }

  custos::v1::SetPartnerConsentRequest withdraw;
  withdraw.set_partner_organisation("mailfix");
  withdraw.set_consent(false);
  custos::v1::SetPartnerConsentResponse withdrawn;
  grpc::ClientContext by_customer;
  AsCustomerOf(options, by_customer, "acme");
  ASSERT_TRUE(
      custos::v1::Approvals::NewStub(OwnGatewayChannel(options, **server))
          ->SetPartnerConsent(&by_customer, withdraw, &withdrawn)
          .ok());

  custos::v1::ReadCustomerDataRequest read;
  read.set_grant_id(granted.grant().grant_id());
  read.set_kind(custos::v1::ACCOUNT);
  custos::v1::ReadCustomerDataResponse page;
  grpc::ClientContext context;
  const grpc::Status refused = staff->ReadCustomerData(&context, read, &page);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.error_message(), HasSubstr("PARTNER_WITHOUT_CONSENT"));
  (*server)->Shutdown();
}

// custos-web carries a take-identity session on without the engineer's
// certificate: once the certificate they started it with is revoked, the
// session shows nothing more there either (it can still be ended).
TEST(GatewayRevocationTest, ARevokedCertificateEndsWhatItOpenedInTheFrontEnd) {
  gateway::GatewayOptions options = OwnGatewayOptions("revoked-web");
  options.revoked_serials_file = options.data_dir + "-revoked";
  { std::ofstream(options.revoked_serials_file) << ""; }
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const auto channel = [&](const std::string& id) {
    return OwnGatewayChannel(options, **server, id);
  };
  custos::v1::StartSessionRequest start;
  start.set_customer_id("acme");
  start.set_customer_user_id("acme.owner");
  start.mutable_justification()->set_category("support");
  start.mutable_justification()->set_reference("SUP-1042");
  custos::v1::StartSessionResponse started;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(custos::v1::TakeIdentity::NewStub(channel("anna.support"))
                    ->StartSession(&context, start, &started)
                    .ok());
  }
  ASSERT_FALSE(started.session().staff_certificate_serial().empty());
  auto web = custos::v1::TakeIdentity::NewStub(channel("custos-web"));
  custos::v1::ExchangeLinkRequest exchange;
  exchange.set_link_token(started.link().substr(started.link().find('#') + 1));
  custos::v1::ExchangeLinkResponse opened;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(web->ExchangeLink(&context, exchange, &opened).ok());
  }
  custos::v1::ViewPageRequest view;
  view.set_session_token(opened.session_token());
  view.set_page("dashboard");
  custos::v1::ViewPageResponse page;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(web->ViewPage(&context, view, &page).ok());
  }
  {
    std::ofstream(options.revoked_serials_file)
        << started.session().staff_certificate_serial() << "\n";
  }
  ASSERT_TRUE((*server)->ReloadRevocations().ok());
  {
    grpc::ClientContext context;
    const grpc::Status refused = web->ViewPage(&context, view, &page);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(refused.error_message(), HasSubstr("is revoked"));
  }
  custos::v1::EndSessionRequest end;
  end.set_session_token(opened.session_token());
  custos::v1::EndSessionResponse ended;
  grpc::ClientContext context;
  EXPECT_TRUE(web->EndSession(&context, end, &ended).ok());
  EXPECT_EQ(ended.session().state(), custos::v1::SESSION_ENDED);
  (*server)->Shutdown();
}

// Pages an engineer views through custos-web count against the engineer's
// rate as their direct calls do; ending the session is never held back.
TEST(GatewayRateLimitTest, CountsTakeIdentityCallsThroughTheFrontEnd) {
  gateway::GatewayOptions options = OwnGatewayOptions("rate-web");
  options.staff_requests_per_second = 0.1;
  options.staff_request_burst = 3;
  auto server = gateway::GatewayServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const auto channel = [&](const std::string& id) {
    return OwnGatewayChannel(options, **server, id);
  };
  // One of anna's three.
  custos::v1::StartSessionRequest start;
  start.set_customer_id("acme");
  start.set_customer_user_id("acme.owner");
  start.mutable_justification()->set_category("support");
  start.mutable_justification()->set_reference("SUP-1042");
  custos::v1::StartSessionResponse started;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(custos::v1::TakeIdentity::NewStub(channel("anna.support"))
                    ->StartSession(&context, start, &started)
                    .ok());
  }
  auto web = custos::v1::TakeIdentity::NewStub(channel("custos-web"));
  // The second: the exchange.
  custos::v1::ExchangeLinkRequest exchange;
  exchange.set_link_token(started.link().substr(started.link().find('#') + 1));
  custos::v1::ExchangeLinkResponse opened;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(web->ExchangeLink(&context, exchange, &opened).ok());
  }
  custos::v1::ViewPageRequest view;
  view.set_session_token(opened.session_token());
  view.set_page("dashboard");
  std::vector<grpc::StatusCode> codes;
  for (int i = 0; i < 2; ++i) {
    custos::v1::ViewPageResponse page;
    grpc::ClientContext context;
    codes.push_back(web->ViewPage(&context, view, &page).error_code());
  }
  EXPECT_THAT(codes,
              ::testing::ElementsAre(grpc::StatusCode::OK,
                                     grpc::StatusCode::RESOURCE_EXHAUSTED));
  custos::v1::EndSessionRequest end;
  end.set_session_token(opened.session_token());
  custos::v1::EndSessionResponse ended;
  grpc::ClientContext context;
  EXPECT_TRUE(web->EndSession(&context, end, &ended).ok());
  EXPECT_EQ(ended.session().state(), custos::v1::SESSION_ENDED);
  (*server)->Shutdown();
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

TEST_F(ApprovalsTest, TheCustomerRevokesAGrantOnTheirAccount) {
  const Answer answer = RequestAccess(StaffChannel("anna.support"), "acme",
                                      "support", "SUP-1042");
  ASSERT_TRUE(answer.status.ok());
  custos::v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(answer.response.grant().grant_id());
  custos::v1::RevokeGrantResponse revoked;
  {
    grpc::ClientContext context;
    context.AddMetadata(
        "authorization",
        absl::StrCat("Bearer ", CustomerToken(*data_dir_, "nordwind")));
    EXPECT_EQ(custos::v1::StaffAccess::NewStub(Channel("", ""))
                  ->RevokeGrant(&context, revoke, &revoked)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  grpc::ClientContext context;
  context.AddMetadata(
      "authorization",
      absl::StrCat("Bearer ", CustomerToken(*data_dir_, "acme")));
  ASSERT_TRUE(custos::v1::StaffAccess::NewStub(Channel("", ""))
                  ->RevokeGrant(&context, revoke, &revoked)
                  .ok());
  EXPECT_EQ(revoked.grant().state(), custos::v1::GRANT_REVOKED);
  EXPECT_EQ(revoked.grant().ended_by(), "customer:acme");
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

TEST_F(ApprovalsTest, ACustomerTokenDoesNotOpenStaffCalls) {
  custos::v1::RequestAccessRequest request;
  request.set_customer_id("acme");
  request.mutable_justification()->set_category("support");
  request.mutable_justification()->set_reference("SUP-1042");
  custos::v1::RequestAccessResponse response;
  grpc::ClientContext context;
  context.AddMetadata(
      "authorization",
      absl::StrCat("Bearer ", CustomerToken(*data_dir_, "acme")));
  const grpc::Status status = custos::v1::StaffAccess::NewStub(Channel("", ""))
                                  ->RequestAccess(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_FALSE(response.has_grant());
  grpc::ClientContext who;
  who.AddMetadata("authorization",
                  absl::StrCat("Bearer ", CustomerToken(*data_dir_, "acme")));
  custos::v1::WhoAmIResponse me;
  EXPECT_EQ(custos::v1::StaffAccess::NewStub(Channel("", ""))
                ->WhoAmI(&who, {}, &me)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Refused, it is logged, under the customer who asked.
  const custos::v1::LogEntry refused = RefusalEntry(who);
  EXPECT_EQ(refused.action(), "StaffAccess.WhoAmI");
  EXPECT_EQ(refused.actor().id(), "acme");
  EXPECT_EQ(refused.status_code(), grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

// A customer reads every entry about their account, and proves them.
TEST_F(ApprovalsTest, TheCustomerReadsAndProvesTheirOwnLog) {
  const Answer mine = RequestAccess(StaffChannel("anna.support"), "acme",
                                    "support", "SUP-1042");
  const Answer theirs = RequestAccess(StaffChannel("lars.deliverability"),
                                      "fietsen-devries", "abuse", "SIG-88");
  ASSERT_TRUE(mine.status.ok());
  ASSERT_TRUE(theirs.status.ok());
  auto stub = custos::v1::AuditLog::NewStub(Channel("", ""));
  const std::string token =
      absl::StrCat("Bearer ", CustomerToken(*data_dir_, "acme"));

  custos::v1::ListEntriesRequest list;
  list.set_page_size(1000);
  custos::v1::ListEntriesResponse entries;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", token);
    ASSERT_TRUE(stub->ListEntries(&context, list, &entries).ok());
  }
  bool saw_mine = false;
  for (const auto& e : entries.entries()) {
    EXPECT_EQ(e.customer_id(), "acme");
    saw_mine |= e.index() == mine.response.log_index();
  }
  EXPECT_TRUE(saw_mine);
  {
    list.set_customer_id("fietsen-devries");
    grpc::ClientContext context;
    context.AddMetadata("authorization", token);
    EXPECT_EQ(stub->ListEntries(&context, list, &entries).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }

  custos::v1::GetInclusionProofRequest prove;
  prove.set_index(mine.response.log_index());
  custos::v1::InclusionProof proof;
  {
    grpc::ClientContext context;
    context.AddMetadata("authorization", token);
    ASSERT_TRUE(stub->GetInclusionProof(&context, prove, &proof).ok());
  }
  std::vector<std::string> hashes(proof.hashes().begin(), proof.hashes().end());
  EXPECT_TRUE(audit::VerifyInclusion(proof.leaf_hash(), proof.index(),
                                     proof.tree_size(), hashes,
                                     proof.checkpoint().root_hash())
                  .ok());
  prove.set_index(theirs.response.log_index());
  grpc::ClientContext context;
  context.AddMetadata("authorization", token);
  EXPECT_EQ(stub->GetInclusionProof(&context, prove, &proof).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

}  // namespace
}  // namespace custos

namespace custos {
namespace {

// Hostile and malformed input across the other services: each refused with
// the expected code, and the gateway still serving after all of them.
// Hostile input to every service: oversized fields, invalid UTF-8, control
// characters, negative and overflowing numbers, unknown enum values, SQL,
// path traversal, forged and replayed tokens, callers who may not. Each is
// refused with the right code, naming the field where one is at fault, and
// logged; the gateway serves a good request afterwards.
// (RefusesMalformedRequestsNamingTheField covers RequestAccess the same way.)
TEST_F(TakeIdentityTest, RefusesHostileInputAcrossServices) {
  auto staff = custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"));
  auto audit = custos::v1::AuditLog::NewStub(StaffChannel("anna.support"));
  auto approvals = custos::v1::Approvals::NewStub(StaffChannel("anna.support"));
  auto dpo_audit = custos::v1::AuditLog::NewStub(StaffChannel("dirk.dpo"));
  auto dpo_approvals = custos::v1::Approvals::NewStub(StaffChannel("dirk.dpo"));
  auto customer = custos::v1::Approvals::NewStub(Channel("", ""));
  auto identity = Stub("anna.support");
  auto web_audit = custos::v1::AuditLog::NewStub(StaffChannel("custos-web"));
  const std::string acme_token =
      absl::StrCat("Bearer ", CustomerToken(*data_dir_, "acme"));
  const std::string session_token = Open().session_token();
  const std::string used_link = StartLinkToken();
  {
    custos::v1::ExchangeLinkRequest r;
    r.set_link_token(used_link);
    custos::v1::ExchangeLinkResponse out;
    grpc::ClientContext c;
    ASSERT_TRUE(identity->ExchangeLink(&c, r, &out).ok());
  }

  struct Case {
    std::string name;
    std::function<grpc::Status(grpc::ClientContext&)> call;
    grpc::StatusCode want;
    std::string field;  // the message starts with "<field>: " when not empty
  };
  using grpc::StatusCode;
  const std::vector<Case> cases = {
      // AuditLog.ListEntries
      {"page token is SQL",
       [&](grpc::ClientContext& c) {
         custos::v1::ListEntriesRequest r;
         r.set_page_token("1; DROP TABLE entries");
         custos::v1::ListEntriesResponse out;
         return audit->ListEntries(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "page_token"},
      {"negative page size",
       [&](grpc::ClientContext& c) {
         custos::v1::ListEntriesRequest r;
         r.set_page_size(-5);
         custos::v1::ListEntriesResponse out;
         return audit->ListEntries(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "page_size"},
      {"unknown outcome",
       [&](grpc::ClientContext& c) {
         custos::v1::ListEntriesRequest r;
         r.set_outcome(static_cast<custos::v1::Outcome>(99));
         custos::v1::ListEntriesResponse out;
         return audit->ListEntries(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "outcome"},
      // AuditLog.GetInclusionProof, GetConsistencyProof
      {"proof of an entry past the end",
       [&](grpc::ClientContext& c) {
         custos::v1::GetInclusionProofRequest r;
         r.set_index(UINT64_MAX);
         custos::v1::InclusionProof out;
         return dpo_audit->GetInclusionProof(&c, r, &out);
       },
       StatusCode::OUT_OF_RANGE, "index"},
      {"proof against a size never checkpointed",
       [&](grpc::ClientContext& c) {
         custos::v1::GetInclusionProofRequest r;
         r.set_index(0);
         r.set_tree_size(UINT64_MAX);
         custos::v1::InclusionProof out;
         return dpo_audit->GetInclusionProof(&c, r, &out);
       },
       StatusCode::NOT_FOUND, "tree_size"},
      {"consistency backwards",
       [&](grpc::ClientContext& c) {
         custos::v1::GetConsistencyProofRequest r;
         r.set_old_size(10);
         r.set_new_size(3);
         custos::v1::ConsistencyProof out;
         return audit->GetConsistencyProof(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "old_size"},
      {"consistency from a size past the end",
       [&](grpc::ClientContext& c) {
         custos::v1::GetConsistencyProofRequest r;
         r.set_old_size(UINT64_MAX);
         custos::v1::ConsistencyProof out;
         return audit->GetConsistencyProof(&c, r, &out);
       },
       StatusCode::OUT_OF_RANGE, "old_size"},
      // AuditLog.Erase
      {"erase with a control character",
       [&](grpc::ClientContext& c) {
         custos::v1::EraseRequest r;
         r.set_subject(std::string("anna\0x", 6));
         custos::v1::EraseResponse out;
         return dpo_audit->Erase(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "subject"},
      {"erase of an oversized subject",
       [&](grpc::ClientContext& c) {
         custos::v1::EraseRequest r;
         r.set_subject(std::string(300, 's'));
         custos::v1::EraseResponse out;
         return dpo_audit->Erase(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "subject"},
      {"erase of an absurd age",
       [&](grpc::ClientContext& c) {
         custos::v1::EraseRequest r;
         r.set_older_than_days(4000000000u);
         custos::v1::EraseResponse out;
         return dpo_audit->Erase(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "older_than_days"},
      {"erase by staff who are not the DPO",
       [&](grpc::ClientContext& c) {
         custos::v1::EraseRequest r;
         r.set_subject("eva.former");
         custos::v1::EraseResponse out;
         return audit->Erase(&c, r, &out);
       },
       StatusCode::PERMISSION_DENIED, ""},
      // StaffAccess.EndGrant, ReadCustomerData, ListGrants
      {"grant id traversal",
       [&](grpc::ClientContext& c) {
         custos::v1::EndGrantRequest r;
         r.set_grant_id("../../../etc/passwd");
         custos::v1::EndGrantResponse out;
         return staff->EndGrant(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "grant_id"},
      {"grant id in upper case",
       [&](grpc::ClientContext& c) {
         custos::v1::EndGrantRequest r;
         r.set_grant_id("g_0000000000000000000000000000000A");
         custos::v1::EndGrantResponse out;
         return staff->EndGrant(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "grant_id"},
      {"read page size overflow",
       [&](grpc::ClientContext& c) {
         custos::v1::ReadCustomerDataRequest r;
         r.set_grant_id("g_00000000000000000000000000000000");
         r.set_kind(custos::v1::ACCOUNT);
         r.set_page_size(INT32_MAX);
         custos::v1::ReadCustomerDataResponse out;
         return staff->ReadCustomerData(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "page_size"},
      {"read of a negative kind",
       [&](grpc::ClientContext& c) {
         custos::v1::ReadCustomerDataRequest r;
         r.set_grant_id("g_00000000000000000000000000000000");
         r.set_kind(static_cast<custos::v1::DataKind>(-3));
         custos::v1::ReadCustomerDataResponse out;
         return staff->ReadCustomerData(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "kind"},
      {"read of a record id with CR/LF",
       [&](grpc::ClientContext& c) {
         custos::v1::ReadCustomerDataRequest r;
         r.set_grant_id("g_00000000000000000000000000000000");
         r.set_kind(custos::v1::SUBSCRIBERS);
         r.set_record_id("sub-1\r\nX-Injected: 1");
         custos::v1::ReadCustomerDataResponse out;
         return staff->ReadCustomerData(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "record_id"},
      {"read with an oversized page token",
       [&](grpc::ClientContext& c) {
         custos::v1::ReadCustomerDataRequest r;
         r.set_grant_id("g_00000000000000000000000000000000");
         r.set_kind(custos::v1::SUBSCRIBERS);
         r.set_page_token(std::string(100000, 'r'));
         custos::v1::ReadCustomerDataResponse out;
         return staff->ReadCustomerData(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "page_token"},
      {"list grants for another staff member",
       [&](grpc::ClientContext& c) {
         custos::v1::ListGrantsRequest r;
         r.set_staff_id("dirk.dpo");
         custos::v1::ListGrantsResponse out;
         return staff->ListGrants(&c, r, &out);
       },
       StatusCode::PERMISSION_DENIED, "staff_id"},
      {"list grants of a customer id that is SQL",
       [&](grpc::ClientContext& c) {
         custos::v1::ListGrantsRequest r;
         r.set_customer_id("acme' OR '1'='1");
         custos::v1::ListGrantsResponse out;
         return staff->ListGrants(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "customer_id"},
      // Approvals: trips
      {"trip with an impossible date",
       [&](grpc::ClientContext& c) {
         custos::v1::RequestTripRequest r;
         r.set_country("DE");
         r.set_first_day("2026-02-30");
         r.set_last_day("2026-03-02");
         r.set_device_id("laptop-7");
         custos::v1::RequestTripResponse out;
         return approvals->RequestTrip(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "first_day"},
      {"trip starting in a negative year",
       [&](grpc::ClientContext& c) {
         custos::v1::RequestTripRequest r;
         r.set_country("DE");
         r.set_first_day("-2026-01-01");
         r.set_last_day("2026-01-02");
         r.set_device_id("laptop-7");
         custos::v1::RequestTripResponse out;
         return approvals->RequestTrip(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "first_day"},
      {"trip to a country that is not a code",
       [&](grpc::ClientContext& c) {
         custos::v1::RequestTripRequest r;
         r.set_country("Germany");
         custos::v1::RequestTripResponse out;
         return approvals->RequestTrip(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "country"},
      {"trip to a country with CR/LF",
       [&](grpc::ClientContext& c) {
         custos::v1::RequestTripRequest r;
         r.set_country("DE\r\n");
         custos::v1::RequestTripResponse out;
         return approvals->RequestTrip(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "country"},
      {"trip of a year",
       [&](grpc::ClientContext& c) {
         custos::v1::RequestTripRequest r;
         r.set_country("DE");
         r.set_first_day("2026-01-01");
         r.set_last_day("2026-12-31");
         r.set_device_id("laptop-7");
         custos::v1::RequestTripResponse out;
         return approvals->RequestTrip(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "last_day"},
      {"trip purpose oversized",
       [&](grpc::ClientContext& c) {
         custos::v1::RequestTripRequest r;
         r.set_country("DE");
         r.set_first_day("2026-11-20");
         r.set_last_day("2026-11-30");
         r.set_device_id("laptop-7");
         r.set_purpose(std::string(5000, 'p'));
         custos::v1::RequestTripResponse out;
         return approvals->RequestTrip(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "purpose"},
      {"trip device that is an e-mail address",
       [&](grpc::ClientContext& c) {
         custos::v1::RequestTripRequest r;
         r.set_country("DE");
         r.set_first_day("2026-11-20");
         r.set_last_day("2026-11-30");
         r.set_device_id("anna@example.nl");
         custos::v1::RequestTripResponse out;
         return approvals->RequestTrip(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "device_id"},
      {"staff deciding a trip",
       [&](grpc::ClientContext& c) {
         custos::v1::DecideTripRequest r;
         r.set_trip_id("t_whatever");
         custos::v1::DecideTripResponse out;
         return approvals->DecideTrip(&c, r, &out);
       },
       StatusCode::PERMISSION_DENIED, ""},
      {"the DPO deciding a trip id that is a path",
       [&](grpc::ClientContext& c) {
         custos::v1::DecideTripRequest r;
         r.set_trip_id("t_../../trips");
         custos::v1::DecideTripResponse out;
         return dpo_approvals->DecideTrip(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "trip_id"},
      {"the DPO deciding a trip with a control character in the note",
       [&](grpc::ClientContext& c) {
         custos::v1::DecideTripRequest r;
         r.set_trip_id("t_00000000000000000000000000000000");
         r.set_note("ok\x1b[2J");
         custos::v1::DecideTripResponse out;
         return dpo_approvals->DecideTrip(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "note"},
      {"list trips of a staff id that is SQL",
       [&](grpc::ClientContext& c) {
         custos::v1::ListTripsRequest r;
         r.set_staff_id("x' UNION SELECT * FROM trips --");
         custos::v1::ListTripsResponse out;
         return dpo_approvals->ListTrips(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "staff_id"},
      // Approvals: pending requests and consent
      {"staff approving for a customer",
       [&](grpc::ClientContext& c) {
         custos::v1::DecidePendingRequestRequest r;
         r.set_request_id("p_00000000000000000000000000000000");
         r.set_approve(true);
         custos::v1::DecidePendingRequestResponse out;
         return approvals->DecidePendingRequest(&c, r, &out);
       },
       StatusCode::PERMISSION_DENIED, ""},
      {"customer deciding a request id that is SQL",
       [&](grpc::ClientContext& c) {
         c.AddMetadata("authorization", acme_token);
         custos::v1::DecidePendingRequestRequest r;
         r.set_request_id("p_' OR 1=1 --");
         r.set_approve(true);
         custos::v1::DecidePendingRequestResponse out;
         return customer->DecidePendingRequest(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "request_id"},
      {"list pending of a traversal customer id",
       [&](grpc::ClientContext& c) {
         custos::v1::ListPendingRequestsRequest r;
         r.set_customer_id("../../acme");
         custos::v1::ListPendingRequestsResponse out;
         return approvals->ListPendingRequests(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "customer_id"},
      {"consent for a partner that is SQL",
       [&](grpc::ClientContext& c) {
         c.AddMetadata("authorization", acme_token);
         custos::v1::SetPartnerConsentRequest r;
         r.set_partner_organisation("mailfix'; DROP TABLE consents; --");
         r.set_consent(true);
         custos::v1::SetPartnerConsentResponse out;
         return customer->SetPartnerConsent(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "partner_organisation"},
      {"consent with a forged customer token",
       [&](grpc::ClientContext& c) {
         c.AddMetadata("authorization",
                       "Bearer ct_00000000000000000000000000000000");
         custos::v1::SetPartnerConsentRequest r;
         r.set_partner_organisation("mailfix");
         custos::v1::SetPartnerConsentResponse out;
         return customer->SetPartnerConsent(&c, r, &out);
       },
       StatusCode::UNAUTHENTICATED, ""},
      {"consent set by staff",
       [&](grpc::ClientContext& c) {
         custos::v1::SetPartnerConsentRequest r;
         r.set_partner_organisation("mailfix");
         custos::v1::SetPartnerConsentResponse out;
         return approvals->SetPartnerConsent(&c, r, &out);
       },
       StatusCode::PERMISSION_DENIED, ""},
      {"the DPO listing consents of a customer id in upper case",
       [&](grpc::ClientContext& c) {
         custos::v1::ListPartnerConsentsRequest r;
         r.set_customer_id("ACME");
         custos::v1::ListPartnerConsentsResponse out;
         return dpo_approvals->ListPartnerConsents(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "customer_id"},
      // TakeIdentity.StartSession
      {"session as a user the customer does not have",
       [&](grpc::ClientContext& c) {
         custos::v1::StartSessionRequest r;
         r.set_customer_id("acme");
         r.set_customer_user_id("root");
         r.mutable_justification()->set_category("support");
         r.mutable_justification()->set_reference("SUP-1042");
         custos::v1::StartSessionResponse out;
         return identity->StartSession(&c, r, &out);
       },
       StatusCode::NOT_FOUND, "customer_user_id"},
      {"session of negative length",
       [&](grpc::ClientContext& c) {
         custos::v1::StartSessionRequest r;
         r.set_customer_id("acme");
         r.set_customer_user_id("acme.owner");
         r.mutable_duration()->set_seconds(-60);
         custos::v1::StartSessionResponse out;
         return identity->StartSession(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "duration"},
      {"session as a user id that is SQL",
       [&](grpc::ClientContext& c) {
         custos::v1::StartSessionRequest r;
         r.set_customer_id("acme");
         r.set_customer_user_id("acme.owner' OR '1'='1");
         custos::v1::StartSessionResponse out;
         return identity->StartSession(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "customer_user_id"},
      {"session for a customer id with CR/LF",
       [&](grpc::ClientContext& c) {
         custos::v1::StartSessionRequest r;
         r.set_customer_id("acme\r\nX-Injected: 1");
         r.set_customer_user_id("acme.owner");
         custos::v1::StartSessionResponse out;
         return identity->StartSession(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "customer_id"},
      {"session with an unknown category",
       [&](grpc::ClientContext& c) {
         custos::v1::StartSessionRequest r;
         r.set_customer_id("acme");
         r.set_customer_user_id("acme.owner");
         r.mutable_justification()->set_category("root");
         r.mutable_justification()->set_reference("SUP-1042");
         custos::v1::StartSessionResponse out;
         return identity->StartSession(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "justification.category"},
      {"session with a requested action that is a shell command",
       [&](grpc::ClientContext& c) {
         custos::v1::StartSessionRequest r;
         r.set_customer_id("acme");
         r.set_customer_user_id("acme.owner");
         auto* a = r.add_customer_requested_actions();
         a->set_action("send_test_mail; rm -rf /");
         a->set_customer_request_ref("SUP-1042");
         custos::v1::StartSessionResponse out;
         return identity->StartSession(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "customer_requested_actions[0].action"},
      // TakeIdentity.ExchangeLink
      {"oversized link token",
       [&](grpc::ClientContext& c) {
         custos::v1::ExchangeLinkRequest r;
         r.set_link_token(std::string(100000, 'a'));
         custos::v1::ExchangeLinkResponse out;
         return identity->ExchangeLink(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "link_token"},
      {"forged link token",
       [&](grpc::ClientContext& c) {
         custos::v1::ExchangeLinkRequest r;
         r.set_link_token("lt_00000000000000000000000000000000");
         custos::v1::ExchangeLinkResponse out;
         return identity->ExchangeLink(&c, r, &out);
       },
       StatusCode::PERMISSION_DENIED, "link_token"},
      {"replayed link token",
       [&](grpc::ClientContext& c) {
         custos::v1::ExchangeLinkRequest r;
         r.set_link_token(used_link);
         custos::v1::ExchangeLinkResponse out;
         return identity->ExchangeLink(&c, r, &out);
       },
       StatusCode::PERMISSION_DENIED, "link_token"},
      // TakeIdentity.ViewPage, PerformAction, EndSession, ListSessions
      {"page path traversal",
       [&](grpc::ClientContext& c) {
         custos::v1::ViewPageRequest r;
         r.set_session_token(session_token);
         r.set_page("subscribers/../../admin");
         custos::v1::ViewPageResponse out;
         return identity->ViewPage(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "page"},
      {"page record id that is SQL",
       [&](grpc::ClientContext& c) {
         custos::v1::ViewPageRequest r;
         r.set_session_token(session_token);
         r.set_page("subscribers/x' OR '1'='1");
         custos::v1::ViewPageResponse out;
         return identity->ViewPage(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "page"},
      {"page token oversized",
       [&](grpc::ClientContext& c) {
         custos::v1::ViewPageRequest r;
         r.set_session_token(session_token);
         r.set_page("subscribers");
         r.set_page_token("r" + std::string(100000, 'z'));
         custos::v1::ViewPageResponse out;
         return identity->ViewPage(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "page_token"},
      {"forged session token",
       [&](grpc::ClientContext& c) {
         custos::v1::ViewPageRequest r;
         r.set_session_token("st_forged");
         r.set_page("dashboard");
         custos::v1::ViewPageResponse out;
         return identity->ViewPage(&c, r, &out);
       },
       StatusCode::NOT_FOUND, "session_token"},
      {"action that is a shell command",
       [&](grpc::ClientContext& c) {
         custos::v1::PerformActionRequest r;
         r.set_session_token(session_token);
         r.set_action("send_test_mail; rm -rf /");
         custos::v1::PerformActionResponse out;
         return identity->PerformAction(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "action"},
      {"action parameter with CR/LF",
       [&](grpc::ClientContext& c) {
         custos::v1::PerformActionRequest r;
         r.set_session_token(session_token);
         r.set_action("send_test_mail");
         (*r.mutable_parameters())["to"] = "a@example.com\r\nBcc: all@x";
         custos::v1::PerformActionResponse out;
         return identity->PerformAction(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "parameters[to]"},
      {"action the customer did not ask for",
       [&](grpc::ClientContext& c) {
         custos::v1::PerformActionRequest r;
         r.set_session_token(session_token);
         r.set_action("delete_account");
         custos::v1::PerformActionResponse out;
         return identity->PerformAction(&c, r, &out);
       },
       StatusCode::PERMISSION_DENIED, "action"},
      {"end a session id that is SQL",
       [&](grpc::ClientContext& c) {
         custos::v1::EndSessionRequest r;
         r.set_session_id("s_' OR 1=1 --");
         custos::v1::EndSessionResponse out;
         return identity->EndSession(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "session_id"},
      {"end a session with an oversized reason",
       [&](grpc::ClientContext& c) {
         custos::v1::EndSessionRequest r;
         r.set_session_token(session_token);
         r.set_reason(std::string(5000, 'r'));
         custos::v1::EndSessionResponse out;
         return identity->EndSession(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "reason"},
      {"list sessions of a traversal staff id",
       [&](grpc::ClientContext& c) {
         custos::v1::ListSessionsRequest r;
         r.set_staff_id("../anna.support");
         custos::v1::ListSessionsResponse out;
         return identity->ListSessions(&c, r, &out);
       },
       StatusCode::INVALID_ARGUMENT, "staff_id"},
      // Authentication
      {"malformed bearer token",
       [&](grpc::ClientContext& c) {
         c.AddMetadata("authorization", "Basic YWRtaW46YWRtaW4=");
         custos::v1::ListEntriesRequest r;
         custos::v1::ListEntriesResponse out;
         return custos::v1::AuditLog::NewStub(Channel("", ""))
             ->ListEntries(&c, r, &out);
       },
       StatusCode::UNAUTHENTICATED, ""},
      {"oversized bearer token",
       [&](grpc::ClientContext& c) {
         c.AddMetadata("authorization",
                       absl::StrCat("Bearer ct_", std::string(4000, 'f')));
         custos::v1::ListEntriesRequest r;
         custos::v1::ListEntriesResponse out;
         return custos::v1::AuditLog::NewStub(Channel("", ""))
             ->ListEntries(&c, r, &out);
       },
       StatusCode::UNAUTHENTICATED, ""},
      {"the front end calling for a traversal customer",
       [&](grpc::ClientContext& c) {
         c.AddMetadata("custos-on-behalf-of", "customer:../../acme");
         custos::v1::ListEntriesRequest r;
         custos::v1::ListEntriesResponse out;
         return web_audit->ListEntries(&c, r, &out);
       },
       StatusCode::UNAUTHENTICATED, ""},
  };
  for (const Case& c : cases) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    const grpc::Status status = c.call(context);
    EXPECT_EQ(status.error_code(), c.want)
        << c.name << ": " << status.error_message();
    if (!c.field.empty()) {
      EXPECT_THAT(status.error_message(), ::testing::StartsWith(c.field + ": "))
          << c.name;
    }
    EXPECT_NE(context.GetServerTrailingMetadata().count("custos-log-index"), 0u)
        << c.name << " was not logged";
  }
  RecordProperty("hostile_cases", static_cast<int>(cases.size()));
  EXPECT_TRUE(
      RequestAccess(StaffChannel("anna.support"), "acme", "support", "SUP-1042")
          .status.ok());
}

// A string field in invalid UTF-8 makes the request unparseable (proto3),
// so gRPC refuses it before any handler runs; the gateway still logs the
// refusal and answers INVALID_ARGUMENT naming the request, and serves on.
TEST_F(TakeIdentityTest, InvalidUtf8IsRefusedAndLogged) {
  auto staff = custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"));
  auto audit = custos::v1::AuditLog::NewStub(StaffChannel("anna.support"));
  auto approvals = custos::v1::Approvals::NewStub(StaffChannel("anna.support"));
  auto customer = custos::v1::Approvals::NewStub(Channel("", ""));
  auto identity = Stub("anna.support");
  const std::string acme_token =
      absl::StrCat("Bearer ", CustomerToken(*data_dir_, "acme"));
  const std::string bad_utf8 = "SUP-\xff\xfe";
  const std::string overlong_slash = "\xc0\xaf";  // '/' in an overlong form
  const std::string surrogate = "\xed\xa0\x80";   // U+D800
  struct Case {
    std::string name;
    std::function<grpc::Status(grpc::ClientContext&)> call;
  };
  const std::vector<Case> cases = {
      {
          "log filter category in invalid UTF-8",
          [&](grpc::ClientContext& c) {
            custos::v1::ListEntriesRequest r;
            r.set_category(bad_utf8);
            custos::v1::ListEntriesResponse out;
            return audit->ListEntries(&c, r, &out);
          },
      },
      {
          "customer revoking with a reason in a surrogate",
          [&](grpc::ClientContext& c) {
            c.AddMetadata("authorization", acme_token);
            custos::v1::RevokeGrantRequest r;
            r.set_grant_id("g_00000000000000000000000000000000");
            r.set_reason(surrogate);
            custos::v1::RevokeGrantResponse out;
            return custos::v1::StaffAccess::NewStub(Channel("", ""))
                ->RevokeGrant(&c, r, &out);
          },
      },
      {
          "trip device in invalid UTF-8",
          [&](grpc::ClientContext& c) {
            custos::v1::RequestTripRequest r;
            r.set_country("DE");
            r.set_first_day("2026-11-20");
            r.set_last_day("2026-11-30");
            r.set_device_id(bad_utf8);
            custos::v1::RequestTripResponse out;
            return approvals->RequestTrip(&c, r, &out);
          },
      },
      {
          "consent for a partner in an overlong UTF-8 form",
          [&](grpc::ClientContext& c) {
            c.AddMetadata("authorization", acme_token);
            custos::v1::SetPartnerConsentRequest r;
            r.set_partner_organisation("mailfix" + overlong_slash);
            custos::v1::SetPartnerConsentResponse out;
            return customer->SetPartnerConsent(&c, r, &out);
          },
      },
      {
          "session with a reference in invalid UTF-8",
          [&](grpc::ClientContext& c) {
            custos::v1::StartSessionRequest r;
            r.set_customer_id("acme");
            r.set_customer_user_id("acme.owner");
            r.mutable_justification()->set_category("support");
            r.mutable_justification()->set_reference(bad_utf8);
            custos::v1::StartSessionResponse out;
            return identity->StartSession(&c, r, &out);
          },
      },
      {
          "link token in invalid UTF-8",
          [&](grpc::ClientContext& c) {
            custos::v1::ExchangeLinkRequest r;
            r.set_link_token("lt_\xff\xff");
            custos::v1::ExchangeLinkResponse out;
            return identity->ExchangeLink(&c, r, &out);
          },
      },
  };
  const Answer before = RequestAccess(StaffChannel("anna.support"), "acme",
                                      "support", "SUP-1042");
  ASSERT_TRUE(before.status.ok());
  uint64_t last_index = before.response.log_index();
  for (const Case& c : cases) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    const grpc::Status status = c.call(context);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.name;
    EXPECT_THAT(status.error_message(), ::testing::StartsWith("request: "))
        << c.name;
    const auto logged =
        context.GetServerTrailingMetadata().find("custos-log-index");
    ASSERT_NE(logged, context.GetServerTrailingMetadata().end())
        << c.name << " was not logged";
    uint64_t index = 0;
    ASSERT_TRUE(absl::SimpleAtoi(
        absl::string_view(logged->second.data(), logged->second.size()),
        &index));
    EXPECT_EQ(index, last_index + 1) << c.name;
    last_index = index;
  }
  // One entry for each refusal and nothing served; the gateway serves on.
  const Answer after = RequestAccess(StaffChannel("anna.support"), "acme",
                                     "support", "SUP-1042");
  ASSERT_TRUE(after.status.ok());
  EXPECT_EQ(after.response.log_index(), last_index + 1);
}

// Starts a take-identity session as `customer_user` under `grant_id` (a new
// grant when empty, for `category` and `reference`) and exchanges its link;
// the exchange's answer, or the first failure's status.
struct OpenedSession {
  grpc::Status status;
  std::string log_index;  // of a refusal, from the trailer
  custos::v1::ExchangeLinkResponse opened;
};
OpenedSession StartAndOpen(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& customer,
                           const std::string& customer_user,
                           const std::string& grant_id,
                           const std::string& category = "",
                           const std::string& reference = "") {
  auto stub = custos::v1::TakeIdentity::NewStub(channel);
  custos::v1::StartSessionRequest start;
  start.set_customer_id(customer);
  start.set_customer_user_id(customer_user);
  start.set_grant_id(grant_id);
  start.mutable_justification()->set_category(category);
  start.mutable_justification()->set_reference(reference);
  start.mutable_justification()->set_note("checking the bounce settings");
  custos::v1::StartSessionResponse started;
  OpenedSession out;
  {
    grpc::ClientContext context;
    out.status = stub->StartSession(&context, start, &started);
    const auto& trailers = context.GetServerTrailingMetadata();
    if (auto it = trailers.find("custos-log-index"); it != trailers.end()) {
      out.log_index.assign(it->second.data(), it->second.size());
    }
    if (!out.status.ok()) return out;
  }
  custos::v1::ExchangeLinkRequest exchange;
  exchange.set_link_token(started.link().substr(started.link().find('#') + 1));
  grpc::ClientContext context;
  out.status = stub->ExchangeLink(&context, exchange, &out.opened);
  return out;
}

grpc::Status ViewAs(const std::shared_ptr<grpc::Channel>& channel,
                    const std::string& token, const std::string& page,
                    custos::v1::ViewPageResponse* out,
                    grpc::ClientContext* context) {
  custos::v1::ViewPageRequest request;
  request.set_session_token(token);
  request.set_page(page);
  return custos::v1::TakeIdentity::NewStub(channel)->ViewPage(context, request,
                                                              out);
}

// Records shown in a take-identity session count against the grant's limit
// as reads do: whichever door they leave by, a grant serves at most its
// limit, and the session's last page is shorter.
TEST_F(DataBrokerTest, TakeIdentityPagesCountAgainstTheSameLimit) {
  constexpr uint64_t kLimit = 5000;
  const auto session = StartAndOpen(StaffChannel("anna.support"), "acme",
                                    "acme.owner", "", "support", "SUP-1042");
  ASSERT_TRUE(session.status.ok()) << session.status.error_message();
  const std::string grant_id = session.opened.session().grant_id();
  const std::string token = session.opened.session_token();

  custos::v1::ViewPageResponse page;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(ViewAs(StaffChannel("anna.support"), token, "subscribers",
                       &page, &context)
                    .ok());
  }
  uint64_t served = page.records_size();
  ASSERT_EQ(served, 50u);
  EXPECT_EQ(Listed("anna.support", grant_id)->records_read(), served);
  // Reads under the same grant take it to 20 records short of its limit.
  while (served + 50 <= kLimit - 20) {
    custos::v1::ReadCustomerDataResponse read;
    ASSERT_TRUE(
        Read("anna.support", grant_id, custos::v1::SUBSCRIBERS, &read, "", 50)
            .ok());
    served += read.records_size();
  }
  custos::v1::ReadCustomerDataResponse read;
  ASSERT_TRUE(Read("anna.support", grant_id, custos::v1::SUBSCRIBERS, &read, "",
                   static_cast<int>(kLimit - 20 - served))
                  .ok());
  served += read.records_size();
  ASSERT_EQ(served, kLimit - 20);

  {
    grpc::ClientContext context;
    ASSERT_TRUE(ViewAs(StaffChannel("anna.support"), token, "subscribers",
                       &page, &context)
                    .ok());
  }
  EXPECT_EQ(page.records_size(), 20);
  EXPECT_EQ(EntryAt(absl::StrCat(page.log_index())).record_count(), 20u);
  EXPECT_EQ(Listed("anna.support", grant_id)->records_read(), kLimit);

  grpc::ClientContext context;
  const grpc::Status refused = ViewAs(StaffChannel("anna.support"), token,
                                      "subscribers", &page, &context);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("has served its limit of 5000 records"));
  const auto entry = RefusalEntry(context);
  EXPECT_EQ(entry.action(), "TakeIdentity.ViewPage");
  EXPECT_EQ(entry.outcome(), custos::v1::OUTCOME_REFUSED);
  EXPECT_EQ(entry.record_count(), 0u);
  EXPECT_EQ(Listed("anna.support", grant_id)->records_read(), kLimit);
}

// A session whose grant was issued for it but which could not itself be
// stored: the engineer is told nothing was served, and the grant made for
// it serves nothing either.
TEST_F(DataBrokerTest, AGrantMadeForASessionNotStoredIsEnded) {
  custos::v1::StartSessionRequest start;
  start.set_customer_id("acme");
  start.set_customer_user_id("acme.owner");
  start.mutable_justification()->set_category("support");
  start.mutable_justification()->set_reference("SUP-1042");
  custos::v1::StartSessionResponse started;
  grpc::ClientContext context;
  grpc::Status refused;
  {
    DatabaseLock lock("sessions.db");
    refused = custos::v1::TakeIdentity::NewStub(StaffChannel("anna.support"))
                  ->StartSession(&context, start, &started);
  }
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  const auto entry = RefusalEntry(context);
  EXPECT_EQ(entry.action(), "TakeIdentity.StartSession");
  ASSERT_FALSE(entry.grant_id().empty());
  const auto grant = Listed("anna.support", entry.grant_id());
  ASSERT_TRUE(grant.has_value());
  EXPECT_EQ(grant->state(), custos::v1::GRANT_ENDED);
  EXPECT_EQ(grant->ended_by(), "custosd:session-not-stored");
}

// Consent withdrawn takes effect on what the partner already holds: reads
// under an earlier grant, a session open under it and a new session on it
// are refused and logged; consent given again lets the grant serve again.
TEST_F(ApprovalsTest, WithdrawnConsentStopsTheGrantsAndSessionsHeld) {
  const auto pia = StaffChannel("pia.partner");
  const Answer granted = RequestAccess(pia, "acme", "support", "SUP-1042");
  ASSERT_TRUE(granted.status.ok()) << granted.status.error_message();
  const std::string grant_id = granted.response.grant().grant_id();
  const auto read = [&](grpc::ClientContext& context) {
    custos::v1::ReadCustomerDataRequest request;
    request.set_grant_id(grant_id);
    request.set_kind(custos::v1::ACCOUNT);
    custos::v1::ReadCustomerDataResponse response;
    return custos::v1::StaffAccess::NewStub(pia)->ReadCustomerData(
        &context, request, &response);
  };
  {
    grpc::ClientContext context;
    ASSERT_TRUE(read(context).ok());
  }
  const auto session = StartAndOpen(pia, "acme", "acme.owner", grant_id);
  ASSERT_TRUE(session.status.ok()) << session.status.error_message();
  {
    grpc::ClientContext context;
    ASSERT_TRUE(SetConsent("acme", "mailfix", false, context).ok());
  }

  grpc::ClientContext read_context;
  const grpc::Status refused_read = read(read_context);
  EXPECT_EQ(refused_read.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused_read.error_message(),
              HasSubstr("PARTNER_WITHOUT_CONSENT"));
  const auto read_entry = RefusalEntry(read_context);
  EXPECT_EQ(read_entry.outcome(), custos::v1::OUTCOME_REFUSED);
  EXPECT_EQ(read_entry.grant_id(), grant_id);

  custos::v1::ViewPageResponse page;
  grpc::ClientContext view_context;
  const grpc::Status refused_view = ViewAs(pia, session.opened.session_token(),
                                           "dashboard", &page, &view_context);
  EXPECT_EQ(refused_view.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused_view.error_message(),
              HasSubstr("PARTNER_WITHOUT_CONSENT"));
  EXPECT_EQ(RefusalEntry(view_context).outcome(), custos::v1::OUTCOME_REFUSED);

  const auto refused_start = StartAndOpen(pia, "acme", "acme.owner", grant_id);
  EXPECT_EQ(refused_start.status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(EntryAt(refused_start.log_index).outcome(),
            custos::v1::OUTCOME_REFUSED);

  {
    grpc::ClientContext context;
    ASSERT_TRUE(SetConsent("acme", "mailfix", true, context).ok());
  }
  grpc::ClientContext again;
  EXPECT_TRUE(read(again).ok());
}

// A random check is a draw whichever call makes it: sessions started
// without a grant count against the policy's draws as grants asked for do,
// and a session started under a drawn grant is not a second draw.
TEST_F(TakeIdentityTest, RandomChecksThroughSessionsAreCounted) {
  const auto tess = StaffChannel("tess.tester");
  const auto first =
      StartAndOpen(tess, "acme", "acme.owner", "", "feature", "random-check");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  // Sessions under the drawn grant draw nothing: the policy's ten draws
  // (fewer left if other tests drew) still end the loop below.
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(StartAndOpen(tess, "acme", "acme.owner",
                             first.opened.session().grant_id())
                    .status.ok());
  }
  int drawn = 1;
  grpc::Status refused;
  for (; drawn <= 10; ++drawn) {
    refused =
        StartAndOpen(tess, "acme", "acme.owner", "", "feature", "random-check")
            .status;
    if (!refused.ok()) break;
  }
  // Ten draws in the window, one of them perhaps by an earlier test: had the
  // sessions under the first grant counted, the loop would end at once.
  EXPECT_GE(drawn, 9);
  EXPECT_LE(drawn, 10);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.error_message(), HasSubstr("RANDOM_CHECK_RATE_EXCEEDED"));
  // Counted across both calls.
  const Answer asked = RequestAccess(tess, "acme", "feature", "random-check");
  EXPECT_EQ(asked.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(asked.status.error_message(),
              HasSubstr("RANDOM_CHECK_RATE_EXCEEDED"));
}

// The engineer's stated reason for taking identity is committed to in the
// session's entry, as a grant's is.
TEST_F(TakeIdentityTest, CommitsToTheSessionsNote) {
  const auto session = StartAndOpen(StaffChannel("anna.support"), "acme",
                                    "acme.owner", "", "support", "SUP-1042");
  ASSERT_TRUE(session.status.ok());
  bool committed = false;
  for (const auto& e : AllEntries()) {
    if (e.action() != "TakeIdentity.StartSession" ||
        e.session_id() != session.opened.session().session_id()) {
      continue;
    }
    for (const auto& c : e.commitments()) committed |= c.field() == "note";
  }
  EXPECT_TRUE(committed);
}

// custos-web calling for nobody may not revoke, consent or list: each is
// refused and logged, not answered OK with nothing done.
TEST_F(FrontEndTest, ChangesNothingForNobody) {
  const Answer granted = RequestAccess(StaffChannel("anna.support"), "acme",
                                       "support", "SUP-1042");
  ASSERT_TRUE(granted.status.ok());
  const std::string grant_id = granted.response.grant().grant_id();
  {
    custos::v1::RevokeGrantRequest revoke;
    revoke.set_grant_id(grant_id);
    revoke.set_reason("not asked by anyone");
    custos::v1::RevokeGrantResponse revoked;
    auto context = WebContext("");
    const grpc::Status status =
        custos::v1::StaffAccess::NewStub(Web())->RevokeGrant(context.get(),
                                                             revoke, &revoked);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(RefusalEntry(*context).outcome(), custos::v1::OUTCOME_REFUSED);
  }
  {
    custos::v1::SetPartnerConsentRequest consent;
    consent.set_partner_organisation("mailfix");
    consent.set_consent(false);
    custos::v1::SetPartnerConsentResponse changed;
    auto context = WebContext("");
    EXPECT_EQ(custos::v1::Approvals::NewStub(Web())
                  ->SetPartnerConsent(context.get(), consent, &changed)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(RefusalEntry(*context).outcome(), custos::v1::OUTCOME_REFUSED);
  }
  {
    custos::v1::ListSessionsRequest list;
    custos::v1::ListSessionsResponse sessions;
    auto context = WebContext("");
    EXPECT_EQ(custos::v1::TakeIdentity::NewStub(Web())
                  ->ListSessions(context.get(), list, &sessions)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // The grant was not revoked.
  custos::v1::ReadCustomerDataRequest read;
  read.set_grant_id(grant_id);
  read.set_kind(custos::v1::ACCOUNT);
  custos::v1::ReadCustomerDataResponse data;
  grpc::ClientContext context;
  EXPECT_TRUE(custos::v1::StaffAccess::NewStub(StaffChannel("anna.support"))
                  ->ReadCustomerData(&context, read, &data)
                  .ok());
}

}  // namespace
}  // namespace custos
