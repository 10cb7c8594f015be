#include "clients/report/report.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "audit/checkpoint.h"
#include "audit/note.h"
#include "audit/sqlite/sqlite_log_store.h"
#include "clients/report/known_log.h"
#include "clients/report/report_command.h"
#include "gateway/demo_directory.h"
#include "gateway/directory.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "policy/decide.h"
#include "policy/default_policy.h"

namespace custos::report {
namespace {

using custos::v1::LogEntry;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

class ReportBuilderTest : public ::testing::Test {
 protected:
  ReportBuilderTest()
      : policy_(*policy::Policy::Parse(kDefaultPolicy, "default")),
        directory_(*gateway::Directory::Parse(kDemoDirectory, "demo")) {
    absl::LoadTimeZone("Europe/Amsterdam", &options_.zone);
    absl::CivilDay from, to;
    absl::ParseCivilTime(testing::kFrom, &from);
    absl::ParseCivilTime(testing::kTo, &to);
    options_.from = absl::FromCivil(from, options_.zone);
    options_.to = absl::FromCivil(to + 1, options_.zone);
  }

  // The known log's report, entries numbered as the store would.
  Report Build() { return BuildFrom(testing::KnownEntries()); }

  // The report of a log of `entries`, numbered from 0.
  Report BuildFrom(std::vector<LogEntry> entries) {
    ReportBuilder builder(options_, *policy_, directory_->proto());
    uint64_t index = 0;
    for (auto& entry : entries) {
      entry.set_index(index++);
      builder.Add(entry);
    }
    return builder.Finish();
  }

  static std::vector<std::pair<std::string, uint64_t>> Pairs(
      const std::vector<Count>& counts) {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const Count& c : counts) out.emplace_back(c.label, c.value);
    return out;
  }

  std::vector<const Finding*> Findings(const Report& r,
                                       absl::string_view code) {
    std::vector<const Finding*> out;
    for (const Finding& f : r.findings) {
      if (f.code == code) out.push_back(&f);
    }
    return out;
  }

  std::shared_ptr<const policy::Policy> policy_;
  std::unique_ptr<gateway::Directory> directory_;
  ReportOptions options_;
};

TEST_F(ReportBuilderTest, CountsTheKnownAccessesExactly) {
  const Report r = Build();
  EXPECT_EQ(r.entries_in_period, 53u);
  EXPECT_EQ(r.first_index, 1u);
  EXPECT_EQ(r.last_index, 53u);
  // 40 calls allowed, and the grant the customer's approval issued (g_11).
  EXPECT_EQ(r.accesses, 41u);
  EXPECT_EQ(r.refused, 7u);
  EXPECT_EQ(r.pending, 1u);

  ASSERT_EQ(r.weekly.size(), 2u);
  const auto& week1 = r.weekly.at(absl::CivilDay(2026, 11, 2));
  EXPECT_EQ(week1.at("support"), 11u);
  EXPECT_EQ(week1.at("bug"), 3u);
  EXPECT_EQ(week1.at("abuse"), 2u);
  const auto& week2 = r.weekly.at(absl::CivilDay(2026, 11, 9));
  EXPECT_EQ(week2.at("support"), 11u);
  EXPECT_EQ(week2.at("prep"), 3u);
  EXPECT_EQ(week2.at("feature"), 11u);
  EXPECT_EQ(week2.count("bug"), 0u);

  using P = std::pair<std::string, uint64_t>;
  EXPECT_THAT(
      Pairs(r.by_role),
      ElementsAre(P{"support", 22}, P{"tester", 11}, P{"account_manager", 3},
                  P{"developer", 3}, P{"deliverability", 2}));
  EXPECT_THAT(Pairs(r.by_staff),
              ElementsAre(P{"anna.support", 16}, P{"tess.tester", 11},
                          P{"cora.consultant", 5}, P{"daan.developer", 3},
                          P{"mila.accounts", 3}, P{"lars.deliverability", 2},
                          P{"eva.former", 1}));
  EXPECT_THAT(Pairs(r.refused_by_reason),
              ElementsAre(P{"CONTRACT_NOT_CURRENT", 3},
                          P{"NO_CONFIDENTIALITY_CLAUSE", 2},
                          P{"REFERENCE_CLOSED", 1}, P{"UNAUTHENTICATED", 1}));

  ASSERT_THAT(r.kinds, SizeIs(4));
  EXPECT_EQ(r.kinds[0].kind, custos::v1::ACCOUNT);
  EXPECT_EQ(r.kinds[0].records, 1u);
  EXPECT_EQ(r.kinds[1].kind, custos::v1::SUBSCRIBERS);
  EXPECT_EQ(r.kinds[1].reads, 5u);
  EXPECT_EQ(r.kinds[1].records, 1080u);
  EXPECT_EQ(r.kinds[2].kind, custos::v1::CAMPAIGNS);
  EXPECT_EQ(r.kinds[2].records, 8u);
  EXPECT_EQ(r.kinds[3].kind, custos::v1::ABUSE_COMPLAINTS);
  EXPECT_EQ(r.kinds[3].records, 12u);
}

TEST_F(ReportBuilderTest, TopStaffFoldsTheRestIntoOthers) {
  options_.top_staff = 2;
  const Report r = Build();
  ASSERT_THAT(r.by_staff, SizeIs(3));
  EXPECT_EQ(r.by_staff[2].label, "5 others");
  EXPECT_EQ(r.by_staff[2].value, 41u - 16 - 11);
}

TEST_F(ReportBuilderTest, SessionsWithTheirLengthAndEnd) {
  const Report r = Build();
  ASSERT_THAT(r.sessions, SizeIs(3));
  const SessionRow& s1 = r.sessions[0];
  EXPECT_EQ(s1.session_id, "s_1");
  EXPECT_EQ(s1.staff_id, "anna.support");
  EXPECT_EQ(s1.length(), absl::Minutes(30));
  EXPECT_EQ(s1.page_views, 3u);
  EXPECT_EQ(s1.how_ended, "ended by anna.support");
  EXPECT_EQ(s1.limit, absl::Hours(8));
  const SessionRow& s2 = r.sessions[1];
  EXPECT_EQ(s2.length(), absl::Minutes(455));
  EXPECT_EQ(s2.how_ended, "grant revoked by dirk.dpo");
  const SessionRow& s3 = r.sessions[2];
  EXPECT_EQ(s3.limit, absl::Hours(4));
  EXPECT_EQ(s3.how_ended, "not ended in the log");
  EXPECT_EQ(s3.length(), absl::Minutes(270));
}

TEST_F(ReportBuilderTest, AbroadAccessesNameTheirTripAndApprovals) {
  const Report r = Build();
  ASSERT_THAT(r.abroad, SizeIs(2));
  EXPECT_EQ(r.abroad[0].outcome, custos::v1::OUTCOME_PENDING);
  EXPECT_EQ(r.abroad[0].country, "DE");
  EXPECT_THAT(r.abroad[0].approvals,
              ElementsAre(HasSubstr("ABROAD_NEEDS_CUSTOMER_APPROVAL"),
                          "customer acme approved at 2026-11-12 10:10 "
                          "(entry 39)"));
  EXPECT_EQ(r.abroad[1].action, "StaffAccess.ReadCustomerData");
  EXPECT_THAT(r.abroad[1].approvals,
              ElementsAre(HasSubstr("on trip t_1"),
                          HasSubstr("customer acme approved")));
}

TEST_F(ReportBuilderTest, EveryFindingIsThereWithTheEntriesBehindIt) {
  const Report r = Build();
  std::vector<std::string> codes;
  for (const Finding& f : r.findings) codes.push_back(f.code);
  EXPECT_THAT(codes, ElementsAre(kOutsideWorkingHours, kOutsideWorkingHours,
                                 kRepeatedRefusals, kSessionNearLimit,
                                 kSessionPastLimit, kReadsOverNorm,
                                 kRandomChecksOverRate, kContractEnded,
                                 kLoggedNotApplied, kReferenceNotValid));

  auto outside = Findings(r, kOutsideWorkingHours);
  EXPECT_THAT(outside[0]->summary, HasSubstr("anna.support: 1 access"));
  EXPECT_THAT(outside[0]->entries, ElementsAre(22));
  EXPECT_THAT(outside[1]->summary, HasSubstr("daan.developer"));
  EXPECT_THAT(outside[1]->entries, ElementsAre(14));

  auto repeated = Findings(r, kRepeatedRefusals);
  EXPECT_THAT(repeated[0]->summary, HasSubstr("eva.former"));
  EXPECT_THAT(repeated[0]->entries, ElementsAre(15, 16, 17));

  EXPECT_THAT(Findings(r, kSessionNearLimit)[0]->summary,
              HasSubstr("cora.consultant as bakkerij-jansen"));
  EXPECT_THAT(Findings(r, kSessionPastLimit)[0]->summary,
              HasSubstr("mila.accounts as acme (prep MEET-2026-11-25): 1 "));

  auto over = Findings(r, kReadsOverNorm);
  EXPECT_THAT(over[0]->summary, HasSubstr("read 1000 records of acme on grant "
                                          "g_7"));
  EXPECT_THAT(over[0]->summary, HasSubstr("median grant reads 25"));
  EXPECT_THAT(over[0]->entries, ElementsAre(13));

  EXPECT_THAT(Findings(r, kRandomChecksOverRate)[0]->entries, SizeIs(11));
  auto contract = Findings(r, kContractEnded);
  EXPECT_THAT(contract[0]->summary,
              HasSubstr("eva.former (contract ended 2025-12-31): 1 accesses "
                        "allowed, 3 attempts refused"));
  EXPECT_THAT(contract[0]->entries, ElementsAre(15, 16, 17, 18));
  EXPECT_THAT(Findings(r, kReferenceNotValid)[0]->entries, ElementsAre(21));
  auto not_applied = Findings(r, kLoggedNotApplied);
  EXPECT_THAT(not_applied[0]->summary,
              HasSubstr("tess.tester: StaffAccess.EndGrant entry #52 is "
                        "logged as allowed, but was not applied"));
  EXPECT_THAT(not_applied[0]->entries, ElementsAre(52, 53));
}

// A read logged as allowed whose records were then not served (its
// Custos.NotApplied entry follows) adds no records to the counts by kind or
// by grant, and is listed among the calls logged but not applied.
TEST_F(ReportBuilderTest, AReadLoggedButNotServedCountsNoRecords) {
  const auto records_of = [](const Report& r, custos::v1::DataKind kind) {
    for (const KindRow& row : r.kinds) {
      if (row.kind == kind) return row.records;
    }
    return uint64_t{0};
  };
  std::vector<custos::v1::LogEntry> entries = testing::KnownEntries();
  const auto read = std::find_if(entries.begin(), entries.end(), [](auto& e) {
    return e.action() == "StaffAccess.ReadCustomerData" &&
           e.outcome() == custos::v1::OUTCOME_ALLOWED;
  });
  ASSERT_NE(read, entries.end());
  custos::v1::LogEntry unserved = *read;
  unserved.set_record_count(700);
  custos::v1::LogEntry not_applied = *read;
  not_applied.set_action("Custos.NotApplied");
  not_applied.set_outcome(custos::v1::OUTCOME_NOT_APPLIED);
  not_applied.set_record_count(0);

  const Report before = Build();
  ReportBuilder builder(options_, *policy_, directory_->proto());
  uint64_t index = 0;
  for (auto& entry : entries) {
    entry.set_index(index++);
    builder.Add(entry);
  }
  unserved.set_index(index++);
  builder.Add(unserved);
  not_applied.set_index(index++);
  not_applied.set_resource(absl::StrCat("entry/", unserved.index()));
  builder.Add(not_applied);
  const Report after = builder.Finish();
  EXPECT_EQ(records_of(after, unserved.data_kind()),
            records_of(before, unserved.data_kind()));
  bool listed = false;
  for (const Finding* f : Findings(after, kLoggedNotApplied)) {
    listed |= f->entries ==
              std::vector<uint64_t>{unserved.index(), not_applied.index()};
  }
  EXPECT_TRUE(listed);
}

// An approver who says no decides the staff member's request: the refusal
// says who refused, and is the staff member's, not a refused attempt of the
// customer's or the DPO's. A request waiting for two approvers is pending
// once, whatever approvals come in between.
TEST_F(ReportBuilderTest, AnApproversNoRefusesTheRequestNotTheApprover) {
  using custos::v1::ACTOR_CUSTOMER;
  using custos::v1::ACTOR_STAFF;
  testing::Story s;
  for (const char* hour : {"08", "09", "10"}) {
    const size_t request = s.size();
    s.Pending(absl::StrCat("2026-11-10 ", hour, ":00"), "anna.support",
              "support", "acme", "support", "SUP-1042",
              absl::StrCat("p_", hour),
              policy::reason::kCustomerApprovalRequired);
    s.Decide(absl::StrCat("2026-11-10 ", hour, ":30"), request, ACTOR_CUSTOMER,
             "acme", custos::v1::OUTCOME_REFUSED);
  }
  const size_t request = s.size();
  s.Pending("2026-11-11 09:00", "daan.developer", "developer", "acme", "bug",
            "BUG-7", "p_dpo", policy::reason::kAbroadNeedsCustomerApproval);
  s.Decide("2026-11-11 09:10", request, ACTOR_CUSTOMER, "acme",
           custos::v1::OUTCOME_PENDING);
  s.Decide("2026-11-11 09:20", request, ACTOR_STAFF, "dirk.dpo",
           custos::v1::OUTCOME_REFUSED);

  const Report r = BuildFrom(std::move(s).Take());
  EXPECT_EQ(r.refused, 4u);
  EXPECT_EQ(r.pending, 4u);
  using P = std::pair<std::string, uint64_t>;
  EXPECT_THAT(Pairs(r.refused_by_reason),
              ElementsAre(P{kRefusedByCustomer, 3}, P{kRefusedByDpo, 1}));
  ASSERT_THAT(Findings(r, kRepeatedRefusals), SizeIs(1));
  EXPECT_THAT(Findings(r, kRepeatedRefusals)[0]->summary,
              HasSubstr("staff anna.support: 3 refusals"));
  EXPECT_THAT(Findings(r, kRepeatedRefusals)[0]->entries, ElementsAre(1, 3, 5));
}

// When the last approval is in and the decision taken again refuses, its
// reasons are about the staff member who asked: an ended contract and a
// closed ticket are theirs, not the approver's.
TEST_F(ReportBuilderTest, ADecisionTakenAgainChargesItsReasonsToTheRequester) {
  testing::Story s;
  {
    LogEntry& e = s.Pending("2026-11-10 09:00", "eva.former", "support", "acme",
                            "support", "SUP-0917", "p_1",
                            policy::reason::kAbroadNeedsCustomerApproval);
    e.mutable_actor()->set_country("DE");
  }
  s.Decide("2026-11-10 09:10", 0, custos::v1::ACTOR_STAFF, "dirk.dpo",
           custos::v1::OUTCOME_PENDING);
  {
    LogEntry& e = s.Decide("2026-11-10 09:20", 0, custos::v1::ACTOR_CUSTOMER,
                           "acme", custos::v1::OUTCOME_REFUSED);
    testing::Story::Reason(e, policy::reason::kContractNotCurrent, "ended");
    testing::Story::Reason(e, policy::reason::kReferenceClosed, "closed");
  }

  const Report r = BuildFrom(std::move(s).Take());
  EXPECT_EQ(r.refused, 1u);
  EXPECT_EQ(r.pending, 1u);
  using P = std::pair<std::string, uint64_t>;
  EXPECT_THAT(
      Pairs(r.refused_by_reason),
      ElementsAre(P{"CONTRACT_NOT_CURRENT", 1}, P{"REFERENCE_CLOSED", 1}));
  std::vector<std::string> codes;
  for (const Finding& f : r.findings) codes.push_back(f.code);
  EXPECT_THAT(codes, ElementsAre(kContractEnded, kReferenceNotValid));
  EXPECT_THAT(Findings(r, kContractEnded)[0]->summary,
              HasSubstr("eva.former (contract ended 2025-12-31): 0 accesses "
                        "allowed, 1 attempts refused"));
  EXPECT_THAT(Findings(r, kContractEnded)[0]->entries, ElementsAre(2));
  EXPECT_THAT(Findings(r, kReferenceNotValid)[0]->summary,
              HasSubstr("eva.former: 1 requests"));
  ASSERT_THAT(r.abroad, SizeIs(1));
  EXPECT_THAT(r.abroad[0].approvals,
              ElementsAre(HasSubstr("ABROAD_NEEDS_CUSTOMER_APPROVAL"),
                          "DPO dirk.dpo approved at 2026-11-10 10:10 "
                          "(entry 1)",
                          "customer acme approved at 2026-11-10 10:20 "
                          "(entry 2); the policy then refused: "
                          "CONTRACT_NOT_CURRENT, REFERENCE_CLOSED"));
}

// The grant that the last approval of a pending request issues is the
// access of the staff member who asked, in their role, as a grant issued at
// once is; a random check it draws counts against them. The approver chose
// its time, so it is no access outside working hours.
TEST_F(ReportBuilderTest, AGrantAnApprovalIssuesIsTheRequestersAccessAndDraw) {
  testing::Story s;
  for (int i = 0; i < 10; ++i) {
    LogEntry& e = s.Grant(absl::StrCat("2026-11-13 09:", 10 + i * 4),
                          "tess.tester", "tester", "nordwind", "feature",
                          "random-check", absl::StrCat("g_rc", i));
    testing::Story::Reason(e, policy::reason::kRandomCheckDrawn, "drawn");
  }
  s.Pending("2026-11-13 11:00", "tess.tester", "tester", "nordwind", "feature",
            "random-check", "p_rc", policy::reason::kCustomerApprovalRequired);
  {
    // 23:00 in Amsterdam.
    LogEntry& e = s.Decide("2026-11-13 22:00", 10, custos::v1::ACTOR_CUSTOMER,
                           "nordwind", custos::v1::OUTCOME_ALLOWED);
    e.set_grant_id("g_rc10");
    testing::Story::Reason(e, policy::reason::kRandomCheckDrawn, "drawn");
  }

  const Report r = BuildFrom(std::move(s).Take());
  EXPECT_EQ(r.accesses, 11u);
  using P = std::pair<std::string, uint64_t>;
  EXPECT_THAT(Pairs(r.by_staff), ElementsAre(P{"tess.tester", 11}));
  EXPECT_THAT(Pairs(r.by_role), ElementsAre(P{"tester", 11}));
  std::vector<std::string> codes;
  for (const Finding& f : r.findings) codes.push_back(f.code);
  EXPECT_THAT(codes, ElementsAre(kRandomChecksOverRate));
  EXPECT_THAT(Findings(r, kRandomChecksOverRate)[0]->summary,
              HasSubstr("tess.tester: more than 10 random checks"));
  EXPECT_THAT(Findings(r, kRandomChecksOverRate)[0]->entries,
              ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11));
}

// An end of a session, or of its grant, logged but not applied left the
// session going: it ends at the first end that was applied, or is not
// ended, and its length runs on to its last entry.
TEST_F(ReportBuilderTest, AnEndLoggedButNotAppliedDoesNotEndTheSession) {
  testing::Story s;
  const auto in_s1 = [&s](absl::string_view utc, absl::string_view action) {
    s.Session(utc, "anna.support", "support", action, "acme", "support",
              "SUP-1042", "g_1", "s_1");
  };
  s.Grant("2026-11-10 07:59", "anna.support", "support", "acme", "support",
          "SUP-1042", "g_1");
  in_s1("2026-11-10 08:00", "TakeIdentity.StartSession");
  in_s1("2026-11-10 09:00", "TakeIdentity.EndSession");
  s.NotApplied("2026-11-10 09:00", 2, "database is locked");
  in_s1("2026-11-10 15:00", "TakeIdentity.ViewPage");
  in_s1("2026-11-10 15:30", "TakeIdentity.EndSession");

  const auto in_s2 = [&s](absl::string_view utc, absl::string_view action) {
    s.Session(utc, "cora.consultant", "support", action, "bakkerij-jansen",
              "support", "SUP-2001", "g_2", "s_2");
  };
  s.Grant("2026-11-11 07:59", "cora.consultant", "support", "bakkerij-jansen",
          "support", "SUP-2001", "g_2");
  in_s2("2026-11-11 08:00", "TakeIdentity.StartSession");
  s.GrantEnd("2026-11-11 09:00", "dirk.dpo", "dpo", "StaffAccess.RevokeGrant",
             "bakkerij-jansen", "support", "SUP-2001", "g_2");
  s.NotApplied("2026-11-11 09:00", 8, "database is locked");
  in_s2("2026-11-11 12:00", "TakeIdentity.ViewPage");

  const Report r = BuildFrom(std::move(s).Take());
  ASSERT_THAT(r.sessions, SizeIs(2));
  EXPECT_EQ(r.sessions[0].how_ended, "ended by anna.support");
  EXPECT_EQ(r.sessions[0].length(), absl::Minutes(450));
  EXPECT_THAT(r.sessions[0].entries, ElementsAre(1, 2, 3, 4, 5));
  EXPECT_EQ(r.sessions[1].how_ended, "not ended in the log");
  EXPECT_EQ(r.sessions[1].length(), absl::Minutes(240));
  EXPECT_THAT(r.sessions[1].entries, ElementsAre(7, 8, 10));
  // 450 of 480 minutes is near the limit.
  auto near = Findings(r, kSessionNearLimit);
  ASSERT_THAT(near, SizeIs(1));
  EXPECT_THAT(near[0]->summary,
              HasSubstr("anna.support as acme (support SUP-1042): 450 min of "
                        "480 min, ended by anna.support"));
}

TEST_F(ReportBuilderTest, NearMissesAreNoFindings) {
  // Wider hours, a higher norm and a laxer repeat rule: those findings go.
  options_.work_start_minute = 0;
  options_.work_end_minute = 24 * 60;
  options_.read_norm_factor = 50;
  options_.repeat_refusals = 4;
  options_.session_near_limit = 0.99;
  const Report r = Build();
  for (const Finding& f : r.findings) {
    EXPECT_NE(f.code, kReadsOverNorm);
    EXPECT_NE(f.code, kRepeatedRefusals);
    EXPECT_NE(f.code, kSessionNearLimit);
    if (f.code == kOutsideWorkingHours) {
      // Only the Saturday remains.
      EXPECT_THAT(f.entries, ElementsAre(22));
    }
  }
}

TEST_F(ReportBuilderTest, OneCustomer) {
  options_.customer_id = "acme";
  const Report r = Build();
  EXPECT_EQ(r.accesses, 23u);
  EXPECT_EQ(r.refused, 6u);
  for (const SessionRow& s : r.sessions) EXPECT_EQ(s.customer_id, "acme");
  for (const Finding& f : r.findings) {
    EXPECT_NE(f.code, kRandomChecksOverRate);  // nordwind's
  }
}

// Through the command, on a real log file.
class ReportCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/report_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    command_.db = dir_ + "/audit.db";
    command_.from = testing::kFrom;
    command_.to = testing::kTo;
    command_.state_file = dir_ + "/report-checkpoint";
    command_.verifier_key = signer_.verifier_key();
    ASSERT_TRUE(testing::WriteKnownLog(command_.db, signer_).ok());
  }

  int Run(absl::string_view format) {
    command_.format = std::string(format);
    command_.out = absl::StrCat(dir_, "/report.", format);
    err_.str("");
    return RunReport(command_, err_);
  }

  std::string Output() {
    std::ifstream in(command_.out);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  void Exec(const std::string& sql) {
    sqlite3* db;
    ASSERT_EQ(sqlite3_open(command_.db.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  // Rewrites entry `index` with `from` replaced by `to`, as an attacker with
  // the file but not the key could.
  void ChangeEntry(int index, const std::string& from, const std::string& to) {
    sqlite3* db;
    ASSERT_EQ(sqlite3_open(command_.db.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* read;
    sqlite3_prepare_v2(db, "SELECT entry FROM entries WHERE idx = ?", -1, &read,
                       nullptr);
    sqlite3_bind_int(read, 1, index);
    ASSERT_EQ(sqlite3_step(read), SQLITE_ROW);
    std::string bytes(static_cast<const char*>(sqlite3_column_blob(read, 0)),
                      sqlite3_column_bytes(read, 0));
    sqlite3_finalize(read);
    const size_t at = bytes.find(from);
    ASSERT_NE(at, std::string::npos);
    bytes.replace(at, from.size(), to);
    sqlite3_stmt* write;
    sqlite3_prepare_v2(db, "UPDATE entries SET entry = ? WHERE idx = ?", -1,
                       &write, nullptr);
    sqlite3_bind_blob(write, 1, bytes.data(), static_cast<int>(bytes.size()),
                      SQLITE_TRANSIENT);
    sqlite3_bind_int(write, 2, index);
    ASSERT_EQ(sqlite3_step(write), SQLITE_DONE);
    sqlite3_finalize(write);
    sqlite3_close(db);
  }

  const audit::NoteSigner signer_ =
      *audit::NoteSigner::Generate("custos.test/report");
  std::string dir_;
  ReportCommand command_;
  std::ostringstream err_;
};

TEST_F(ReportCommandTest, HtmlReportShowsFindingsChartsAndTheVerifiedLog) {
  ASSERT_EQ(Run("html"), 0) << err_.str();
  const std::string html = Output();
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("The log verifies"));
  EXPECT_THAT(html, HasSubstr("checked against the pinned verifier key"));
  EXPECT_THAT(html, HasSubstr("custos.test/report\n55\n"));
  for (const char* code :
       {kOutsideWorkingHours, kRepeatedRefusals, kSessionNearLimit,
        kSessionPastLimit, kReadsOverNorm, kRandomChecksOverRate,
        kContractEnded, kLoggedNotApplied, kReferenceNotValid}) {
    EXPECT_THAT(html, HasSubstr(code));
  }
  EXPECT_THAT(html, HasSubstr("aria-label=\"accesses per week by category\""));
  EXPECT_THAT(html, HasSubstr("<b>41</b>accesses"));
  // Self-contained: nothing is fetched.
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("http://")));
  EXPECT_THAT(html, Not(HasSubstr("https://")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(err_.str(),
              HasSubstr("41 accesses, 10 findings; the log verifies"));
}

// The report names staff and customers: only its writer may read it,
// whatever the umask.
TEST_F(ReportCommandTest, TheReportFileIsPrivate) {
  for (const char* format : {"html", "csv", "json"}) {
    ASSERT_EQ(Run(format), 0) << err_.str();
    struct stat info;
    ASSERT_EQ(stat(command_.out.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u) << format;
  }
}

TEST_F(ReportCommandTest, CsvHasEveryEntryOfThePeriodWithItsFindings) {
  ASSERT_EQ(Run("csv"), 0) << err_.str();
  std::vector<std::string> lines =
      absl::StrSplit(Output(), "\r\n", absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(1 + 53));
  EXPECT_TRUE(absl::StartsWith(lines[0], "index,time,actor_kind,actor"));
  EXPECT_TRUE(absl::StartsWith(lines[1], "1,2026-11-02T09:00:00.000000Z,"));
  // Entry 18: eva.former's allowed access, behind one finding.
  EXPECT_THAT(lines[18], HasSubstr("eva.former"));
  EXPECT_TRUE(absl::EndsWith(lines[18], ",CONTRACT_ENDED")) << lines[18];
  // Entry 15: a refusal behind two.
  EXPECT_TRUE(absl::EndsWith(lines[15], ",REPEATED_REFUSALS;CONTRACT_ENDED"))
      << lines[15];
}

TEST_F(ReportCommandTest, JsonIsOneDocumentWithTheSameRows) {
  ASSERT_EQ(Run("json"), 0) << err_.str();
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(Output(), &doc).ok());
  const auto& report = doc.fields().at("report").struct_value().fields();
  EXPECT_EQ(report.at("accesses").number_value(), 41);
  EXPECT_EQ(report.at("findings").list_value().values_size(), 10);
  EXPECT_TRUE(
      report.at("log").struct_value().fields().at("verified").bool_value());
  const auto& entries = doc.fields().at("entries").list_value();
  ASSERT_EQ(entries.values_size(), 53);
  EXPECT_EQ(
      entries.values(0).struct_value().fields().at("index").number_value(), 1);
}

TEST_F(ReportCommandTest, ATamperedLogIsReportedAndNotKept) {
  ChangeEntry(4, "BUG-7", "BUG-8");
  EXPECT_EQ(Run("html"), 8);
  EXPECT_THAT(Output(), HasSubstr("THE LOG DOES NOT VERIFY"));
  EXPECT_THAT(Output(), HasSubstr("entry 4"));
  EXPECT_THAT(err_.str(), HasSubstr("DOES NOT VERIFY"));
  // Nothing kept for the next report from a log that does not verify.
  EXPECT_FALSE(std::filesystem::exists(command_.state_file));
}

TEST_F(ReportCommandTest, TheNextReportChecksTheLogExtendsThisOne) {
  ASSERT_EQ(Run("html"), 0) << err_.str();
  ASSERT_TRUE(std::filesystem::exists(command_.state_file));
  ASSERT_EQ(Run("html"), 0) << err_.str();
  EXPECT_THAT(Output(), HasSubstr("extends the previous report's checkpoint"));

  // The same key, a log one entry shorter that verifies on its own:
  // someone started it over.
  std::filesystem::remove_all(command_.db);
  std::filesystem::remove(command_.db + "-wal");
  std::filesystem::remove(command_.db + "-shm");
  ASSERT_TRUE(testing::WriteKnownLog(command_.db, signer_).ok());
  Exec("DELETE FROM entries WHERE idx = 54");
  Exec("DELETE FROM listing WHERE idx = 54");
  Exec("DELETE FROM checkpoints WHERE size = 55");
  {
    // Opened with the key, the store signs its new end.
    audit::SqliteLogStore::Options options;
    options.signer = [this](uint64_t size, absl::string_view root) {
      return signer_.Sign(audit::FormatCheckpointBody(
          {signer_.name(), size, std::string(root)}));
    };
    ASSERT_TRUE(audit::SqliteLogStore::Open(command_.db, options).ok());
  }
  EXPECT_EQ(Run("html"), 8);
  EXPECT_THAT(err_.str(), HasSubstr("NOT CONSISTENT"));
  EXPECT_THAT(Output(), HasSubstr("entries were removed"));
}

// A log still being written ends past its newest checkpoint, where no
// signature covers the entries yet: the report reads the entries that
// checkpoint signs, verifies the whole log, and leaves the rest to the next
// report, saying how many.
TEST_F(ReportCommandTest, ALogBeingWrittenIsReportedUpToItsNewestCheckpoint) {
  {
    // Without a signer, nothing signs what is appended now.
    auto store = audit::SqliteLogStore::Open(command_.db,
                                             audit::SqliteLogStore::Options());
    ASSERT_TRUE(store.ok()) << store.status();
    std::vector<custos::v1::LogEntry> more = testing::KnownEntries();
    more.resize(3);
    for (custos::v1::LogEntry& entry : more)
      ASSERT_TRUE((*store)->Append(std::move(entry)).ok());
  }
  ASSERT_EQ(Run("json"), 0) << err_.str();
  google::protobuf::Struct doc;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(Output(), &doc).ok());
  const auto& log = doc.fields()
                        .at("report")
                        .struct_value()
                        .fields()
                        .at("log")
                        .struct_value()
                        .fields();
  EXPECT_TRUE(log.at("verified").bool_value());
  EXPECT_EQ(log.at("entries").number_value(), 58);
  EXPECT_EQ(log.at("covered_entries").number_value(), 55);
  // The period's rows are the known log's, not the three appended since.
  EXPECT_EQ(doc.fields().at("entries").list_value().values_size(), 53);
  ASSERT_EQ(Run("html"), 0) << err_.str();
  EXPECT_THAT(Output(), HasSubstr("left to the next report</th><td>3 entries"));
}

TEST_F(ReportCommandTest, BadOptionsNameTheFlag) {
  command_.to = "2026-13-01";
  EXPECT_EQ(Run("html"), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--to: expected a date YYYY-MM-DD"));
  command_.to = "2026-10-01";
  EXPECT_EQ(Run("html"), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--to: must not be before --from"));
  command_.to = testing::kTo;
  EXPECT_EQ(Run("pdf"), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--format: expected html, csv or json"));
  command_.working_hours = "18:00-08:00";
  EXPECT_EQ(Run("html"), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--working_hours"));
  command_.working_hours = "08:00-18:00";
  command_.time_zone = "Mars/Olympus";
  EXPECT_EQ(Run("html"), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--time_zone"));
  command_.time_zone = "Europe/Amsterdam";
  command_.db = dir_ + "/missing.db";
  EXPECT_EQ(Run("html"), 2);
  EXPECT_THAT(err_.str(), HasSubstr("--db: cannot read"));
  // No report file was left behind by any of them.
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/report.html"));
}

TEST_F(ReportCommandTest, AnUnwritableOutputLeavesNothing) {
  command_.format = "html";
  command_.out = dir_ + "/no/such/dir/report.html";
  EXPECT_EQ(RunReport(command_, err_), 1);
  EXPECT_THAT(err_.str(), HasSubstr("cannot create"));
}

}  // namespace
}  // namespace custos::report
