#include "clients/report/report_command.h"

#include <unistd.h>

#include <cstdio>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/report/log_source.h"
#include "clients/report/render.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "gateway/demo_directory.h"
#include "gateway/directory.h"
#include "policy/default_policy.h"
#include "policy/policy.h"

namespace custos::report {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotVerified = 8;

// "HH:MM" as minutes after midnight.
bool ParseClock(absl::string_view text, int& minutes) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  int h, m;
  if (parts.size() != 2 || parts[0].size() != 2 || parts[1].size() != 2 ||
      !absl::SimpleAtoi(parts[0], &h) || !absl::SimpleAtoi(parts[1], &m) ||
      h < 0 || h > 24 || m < 0 || m > 59 || (h == 24 && m != 0)) {
    return false;
  }
  minutes = h * 60 + m;
  return true;
}

// Turns the command line into options, or says which flag is wrong.
absl::Status ParseOptions(const ReportCommand& c, ReportOptions& o) {
  if (!absl::LoadTimeZone(c.time_zone, &o.zone)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--time_zone: expected an IANA time zone such as Europe/Amsterdam, "
        "got \"",
        c.time_zone, "\""));
  }
  absl::CivilDay day;
  if (!c.from.empty()) {
    if (!absl::ParseCivilTime(c.from, &day) || c.from.size() != 10) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--from: expected a date YYYY-MM-DD, got \"", c.from, "\""));
    }
    o.from = absl::FromCivil(day, o.zone);
  }
  if (!c.to.empty()) {
    if (!absl::ParseCivilTime(c.to, &day) || c.to.size() != 10) {
      return absl::InvalidArgumentError(
          absl::StrCat("--to: expected a date YYYY-MM-DD, got \"", c.to, "\""));
    }
    // The whole of the last day is in.
    o.to = absl::FromCivil(day + 1, o.zone);
  }
  if (o.to <= o.from) {
    return absl::InvalidArgumentError("--to: must not be before --from");
  }
  std::vector<absl::string_view> hours = absl::StrSplit(c.working_hours, '-');
  if (hours.size() != 2 || !ParseClock(hours[0], o.work_start_minute) ||
      !ParseClock(hours[1], o.work_end_minute) ||
      o.work_end_minute <= o.work_start_minute) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--working_hours: expected HH:MM-HH:MM with the end after the "
        "start, got \"",
        c.working_hours, "\""));
  }
  if (c.top_staff < 1 || c.top_staff > 1000) {
    return absl::InvalidArgumentError("--top: expected 1 to 1000");
  }
  o.top_staff = c.top_staff;
  o.customer_id = c.customer;
  if (c.format != "html" && c.format != "csv" && c.format != "json") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--format: expected html, csv or json, got \"", c.format, "\""));
  }
  if (c.out.empty()) {
    return absl::InvalidArgumentError("--out: the report's file is required");
  }
  if (c.out == c.db || c.out == c.state_file) {
    return absl::InvalidArgumentError(
        "--out: must not be the log's file or the state file");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadOr(const std::string& path,
                                   absl::string_view built_in) {
  if (path.empty()) return std::string(built_in);
  return ReadFile(path);
}

// A bar on the terminal: scanned and verified entries of the log.
class ProgressBar {
 public:
  explicit ProgressBar(std::ostream& err) : err_(err) {}
  void Show(uint64_t scanned, uint64_t verified, uint64_t total) {
    const double share =
        total == 0 ? 1.0
                   : static_cast<double>(std::min(scanned, verified)) /
                         static_cast<double>(total);
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(share * kWidth);
    err_ << absl::StrFormat(
                "\r[%s%s] %3d%%  %d read, %d verified of %d",
                std::string(filled, '#'), std::string(kWidth - filled, '.'),
                static_cast<int>(share * 100), scanned, verified, total)
         << std::flush;
  }
  void Done() { err_ << "\n"; }

 private:
  std::ostream& err_;
};

absl::Status WriteReport(const ReportCommand& c, const Report& report,
                         absl::Time now) {
  // Private (0600): the report names staff and customers, and what was
  // read of whose data. Whoever may read it is the DPO's choice to make.
  CUSTOS_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file,
                          AtomicFile::Create(c.out, 0600));
  std::ostream& out = file->stream();
  if (c.format == "html") {
    RenderHtml(report, now, out);
    return file->Commit();
  }
  // The exports list every entry of the period, read again by index.
  const auto findings = FindingsByEntry(report);
  auto findings_of = [&](uint64_t index) -> absl::string_view {
    auto it = findings.find(index);
    return it == findings.end() ? absl::string_view() : it->second;
  };
  if (c.format == "csv") WriteCsvHeader(out);
  if (c.format == "json") WriteJsonHead(report, now, out);
  bool first = true;
  if (report.entries_in_period > 0) {
    CUSTOS_RETURN_IF_ERROR(ForEachEntry(
        c.db, report.first_index, report.last_index,
        [&](const custos::v1::LogEntry& entry) {
          if (!InReport(report.options, entry)) return;
          if (c.format == "csv") {
            WriteCsvRow(entry, findings_of(entry.index()), out);
          } else {
            WriteJsonEntry(entry, findings_of(entry.index()), first, out);
          }
          first = false;
        }));
  }
  if (c.format == "json") WriteJsonTail(out);
  return file->Commit();
}

}  // namespace

int RunReport(const ReportCommand& c, std::ostream& err) {
  ReportOptions options;
  if (auto s = ParseOptions(c, options); !s.ok()) {
    err << "custos report: " << s.message() << "\n";
    return kExitUsage;
  }
  auto policy_text = ReadOr(c.policy_file, kDefaultPolicy);
  auto directory_text = ReadOr(c.directory_file, kDemoDirectory);
  if (!policy_text.ok() || !directory_text.ok()) {
    err << "custos report: "
        << (policy_text.ok() ? directory_text.status() : policy_text.status())
               .message()
        << "\n";
    return kExitUsage;
  }
  auto policy = policy::Policy::Parse(
      *policy_text, c.policy_file.empty() ? "built-in policy" : c.policy_file);
  if (!policy.ok()) {
    err << "custos report: --policy: " << policy.status().message() << "\n";
    return kExitUsage;
  }
  auto directory = gateway::Directory::Parse(
      *directory_text,
      c.directory_file.empty() ? "built-in directory" : c.directory_file);
  if (!directory.ok()) {
    err << "custos report: --directory: " << directory.status().message()
        << "\n";
    return kExitUsage;
  }
  if (access(c.db.c_str(), R_OK) != 0) {
    err << "custos report: --db: cannot read the log's file " << c.db << "\n";
    return kExitUsage;
  }

  SourceOptions source;
  source.db = c.db;
  source.verifier_key = c.verifier_key;
  if (!c.state_file.empty() && access(c.state_file.c_str(), F_OK) == 0) {
    auto previous = ReadFile(c.state_file);
    if (!previous.ok()) {
      err << "custos report: --state: " << previous.status().message() << "\n";
      return kExitError;
    }
    source.previous_note = *std::move(previous);
  }
  ProgressBar bar(err);
  if (c.progress) {
    source.progress = [&bar](uint64_t s, uint64_t v, uint64_t t) {
      bar.Show(s, v, t);
    };
  }
  ReportBuilder builder(options, **policy, (*directory)->proto());
  auto report = BuildReport(source, builder);
  if (c.progress) bar.Done();
  if (!report.ok()) {
    err << "custos report: " << report.status().message() << "\n";
    return kExitError;
  }
  if (auto s = WriteReport(c, *report, absl::Now()); !s.ok()) {
    err << "custos report: " << s.message() << "\n";
    return kExitError;
  }
  const LogState& log = report->log;
  err << "custos report: " << c.out << ": " << report->entries_in_period
      << " entries, " << report->accesses << " accesses, "
      << report->findings.size() << " findings; the log "
      << (log.verified ? "verifies" : "DOES NOT VERIFY: " + log.problem);
  if (log.has_previous) {
    err << (log.consistent_with_previous ? "; " : "; NOT CONSISTENT: ")
        << log.consistency_detail;
  }
  err << "\n";
  if (!log.verified || (log.has_previous && !log.consistent_with_previous)) {
    return kExitNotVerified;
  }
  // Kept for the next report, which checks that the log still extends it.
  if (!c.state_file.empty() && !log.checkpoint_note.empty()) {
    if (auto s = WriteFileAtomically(c.state_file, log.checkpoint_note, 0644);
        !s.ok()) {
      err << "custos report: --state: " << s.message() << "\n";
      return kExitError;
    }
  }
  return kExitOk;
}

}  // namespace custos::report
