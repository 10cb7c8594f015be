// The DPO report over a large log, against a bare scan of the same file.
//
//   report_bench --dir DIR --entries 10000000
//
// Fills DIR/audit.db with a year of a busy company's entries (a realistic
// mix of grants, reads, sessions and refusals by 1,000 staff on 10,000
// customers), unless a log of that size is there already, then times, in
// one process:
//   baseline  SELECT every entry and parse it (the least any report does);
//   report    `custos report` as HTML: scan, findings, and the whole log
//             verified with the pinned key beside the scan;
//   csv       the same with the CSV export of every entry of the period.
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "audit/checkpoint.h"
#include "audit/note.h"
#include "audit/sqlite/sqlite.h"
#include "audit/sqlite/sqlite_log_store.h"
#include "clients/report/report_command.h"
#include "proto/custos/v1/audit.pb.h"

ABSL_FLAG(std::string, dir, "/tmp/custos-report-bench", "Where the log goes.");
ABSL_FLAG(uint64_t, entries, 10000000, "Entries in the log.");

namespace {

using custos::v1::LogEntry;

constexpr const char* kCategories[] = {"support", "support", "support", "bug",
                                       "abuse",   "feature", "prep"};
constexpr const char* kRoles[] = {"support",        "support",        "support",
                                  "developer",      "deliverability", "tester",
                                  "account_manager"};

// The working days of 2026.
std::vector<absl::CivilDay> WorkingDays() {
  std::vector<absl::CivilDay> days;
  for (absl::CivilDay d(2026, 1, 1); d.year() == 2026; ++d) {
    const absl::Weekday w = absl::GetWeekday(d);
    if (w != absl::Weekday::saturday && w != absl::Weekday::sunday)
      days.push_back(d);
  }
  return days;
}

// Entry i of a year (2026) of traffic: working days, 08:00 to 18:00 UTC+1,
// and one entry in a hundred in the evening.
LogEntry SampleEntry(uint64_t i, uint64_t n) {
  static const std::vector<absl::CivilDay> days = WorkingDays();
  LogEntry e;
  const uint64_t per_day = n / days.size() + 1;
  const absl::CivilDay day = days[i / per_day];
  const double share = static_cast<double>(i % per_day) / per_day;
  const int64_t second_of_day =
      i % 100 == 0 ? 19 * 3600 : 7 * 3600 + static_cast<int64_t>(share * 36000);
  e.mutable_time()->set_seconds(
      absl::ToUnixSeconds(absl::FromCivil(day, absl::UTCTimeZone())) +
      second_of_day);
  const uint64_t staff = (i * 2654435761u) % 1000;
  const int kind = static_cast<int>(staff % 7);
  auto* actor = e.mutable_actor();
  actor->set_kind(custos::v1::ACTOR_STAFF);
  actor->set_id(absl::StrCat("staff-", staff));
  actor->add_roles(kRoles[kind]);
  actor->set_contract(custos::v1::DUTCH_EMPLOYMENT);
  actor->set_country(i % 500 == 0 ? "DE" : "NL");
  actor->set_network("office-amsterdam");
  e.set_customer_id(absl::StrCat("customer-", (i * 40503u) % 10000));
  e.set_category(kCategories[kind]);
  e.set_reference(absl::StrCat("SUP-", i / 20));
  e.set_grant_id(absl::StrCat("g_", i / 10));
  e.set_policy_version("sha256:0123456789abcdef");
  switch (i % 10) {
    case 0:
      e.set_action("StaffAccess.RequestAccess");
      e.set_resource(absl::StrCat("grant/g_", i / 10));
      e.set_outcome(custos::v1::OUTCOME_ALLOWED);
      e.add_reasons()->set_code("ALLOWED_FOR_CATEGORY");
      break;
    case 9:
      e.set_action("StaffAccess.RequestAccess");
      e.set_outcome(custos::v1::OUTCOME_REFUSED);
      e.set_status_code(7);
      e.add_reasons()->set_code("REFERENCE_CLOSED");
      break;
    case 5:
    case 6:
      e.set_action("TakeIdentity.ViewPage");
      e.set_session_id(absl::StrCat("s_", i / 10));
      e.set_resource("page/dashboard");
      e.set_outcome(custos::v1::OUTCOME_ALLOWED);
      break;
    default:
      e.set_action("StaffAccess.ReadCustomerData");
      e.set_data_kind(custos::v1::SUBSCRIBERS);
      e.set_record_count(1 + i % 50);
      e.set_outcome(custos::v1::OUTCOME_ALLOWED);
  }
  return e;
}

custos::audit::SqliteLogStore::Options SignedBy(
    const custos::audit::NoteSigner& signer) {
  custos::audit::SqliteLogStore::Options options;
  options.signer = [signer](uint64_t size, absl::string_view root) {
    return signer.Sign(custos::audit::FormatCheckpointBody(
        {signer.name(), size, std::string(root)}));
  };
  return options;
}

double Seconds(absl::Time since) {
  return absl::ToDoubleSeconds(absl::Now() - since);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  const uint64_t n = absl::GetFlag(FLAGS_entries);
  std::filesystem::create_directories(dir);
  const std::string db = dir + "/audit.db";
  const std::string key_file = dir + "/verifier_key";

  std::string verifier_key;
  uint64_t have = 0;
  if (std::filesystem::exists(key_file)) {
    auto store = custos::audit::SqliteLogStore::Open(db);
    if (store.ok()) have = (*store)->Size();
  }
  if (have != n) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto signer = *custos::audit::NoteSigner::Generate("custos.bench/report");
    const absl::Time start = absl::Now();
    {
      auto store = *custos::audit::SqliteLogStore::Open(db, SignedBy(signer));
      std::atomic<uint64_t> in_flight{0};
      for (uint64_t i = 0; i < n; ++i) {
        while (in_flight.load() > 8192) std::this_thread::yield();
        ++in_flight;
        store->AppendAsync(SampleEntry(i, n), {}, [&](auto) { --in_flight; });
        if (i % 1000000 == 0 && i > 0)
          std::fprintf(stderr, "  filled %lu entries\n", i);
      }
      while (in_flight.load() > 0) std::this_thread::yield();
      (void)store->CheckpointNow();
    }
    std::printf("fill     %lu entries in %.1f s\n", n, Seconds(start));
    std::FILE* f = std::fopen(key_file.c_str(), "w");
    std::fputs(signer.verifier_key().c_str(), f);
    std::fclose(f);
  }
  {
    std::ifstream in(key_file);
    std::getline(in, verifier_key);
  }

  // Baseline: every entry read and parsed, nothing else.
  double baseline;
  {
    const absl::Time start = absl::Now();
    auto conn = *custos::audit::sqlite::Open(db, SQLITE_OPEN_READONLY);
    auto select = *custos::audit::sqlite::Prepare(
        conn.get(), "SELECT entry FROM entries ORDER BY idx");
    LogEntry entry;
    uint64_t parsed = 0;
    while (sqlite3_step(select.get()) == SQLITE_ROW) {
      parsed += entry.ParseFromArray(sqlite3_column_blob(select.get(), 0),
                                     sqlite3_column_bytes(select.get(), 0));
    }
    baseline = Seconds(start);
    std::printf("baseline %lu entries read and parsed in %.1f s (%.0f/s)\n",
                parsed, baseline, parsed / baseline);
  }

  // The staff directory the log's staff are in.
  const std::string directory = dir + "/directory.textproto";
  {
    std::ofstream out(directory);
    for (int s = 0; s < 1000; ++s) {
      out << "staff { staff_id: \"staff-" << s << "\" display_name: \"Staff "
          << s << "\" roles: \"" << kRoles[s % 7]
          << "\" contract: DUTCH_EMPLOYMENT confidentiality_clause: true "
             "contract_start: \"2020-01-01\" active: true }\n";
    }
    out << "customers { customer_id: \"customer-0\" name: \"Customer\" }\n";
  }

  custos::report::ReportCommand command;
  command.directory_file = directory;
  command.db = db;
  command.verifier_key = verifier_key;
  command.from = "2026-01-01";
  command.to = "2026-12-31";
  command.state_file = "";
  for (const char* format : {"html", "csv"}) {
    command.format = format;
    command.out = absl::StrCat(dir, "/report.", format);
    std::ostringstream err;
    const absl::Time start = absl::Now();
    const int rc = custos::report::RunReport(command, err);
    const double took = Seconds(start);
    std::printf(
        "report   --format %-4s %lu entries in %.1f s (%.0f/s), %.2f x the "
        "baseline's time, exit %d, %.0f MB\n",
        format, n, took, n / took, took / baseline, rc,
        std::filesystem::file_size(command.out) / 1e6);
    std::printf("         %s", err.str().c_str());
  }
  return 0;
}
