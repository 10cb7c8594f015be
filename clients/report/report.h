// The DPO's audit report: what staff did with customer data in a period,
// what stands out, and whether the log behind it is intact.
//
// ReportBuilder takes the log's entries one by one, in log order, and keeps
// only counts and the few facts its findings need, so a year of a busy
// company (tens of millions of entries) fits in memory. It judges nothing on
// its own: working hours, norms and limits come from ReportOptions and the
// policy file, and every finding lists the entries behind it.
//
// Thread-compatible.
#ifndef CUSTOS_CLIENTS_REPORT_REPORT_H_
#define CUSTOS_CLIENTS_REPORT_REPORT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "policy/policy.h"
#include "proto/custos/v1/audit.pb.h"
#include "proto/custos/v1/directory.pb.h"

namespace custos::report {

struct ReportOptions {
  // Entries with from <= time < to are reported.
  absl::Time from = absl::InfinitePast();
  absl::Time to = absl::InfiniteFuture();
  // Only this customer's entries when set.
  std::string customer_id;
  // Where weeks, days and working hours are counted.
  absl::TimeZone zone = absl::UTCTimeZone();
  // Working hours, Monday to Friday, as minutes after local midnight.
  int work_start_minute = 8 * 60;
  int work_end_minute = 18 * 60;
  // Staff members shown by name in the chart of accesses per staff member.
  int top_staff = 10;
  // Refusals of one actor within `repeat_window` that make a finding.
  int repeat_refusals = 3;
  absl::Duration repeat_window = absl::Hours(24);
  // A session at or above this share of its category's maximum is "near".
  double session_near_limit = 0.9;
  // A grant whose records read exceed this many times its category's median
  // (and at least `min_records_over_norm`) is over the norm.
  double read_norm_factor = 5.0;
  uint64_t min_records_over_norm = 100;
};

// One labelled number of a chart or table.
struct Count {
  std::string label;
  uint64_t value = 0;
};

// Something the DPO should look at, with the entries behind it.
struct Finding {
  // Stable, for filters and SIEM rules: "OUTSIDE_WORKING_HOURS", ...
  std::string code;
  // One line for people: who, what, how much.
  std::string summary;
  std::vector<uint64_t> entries;
};

// One take-identity session as the log shows it.
struct SessionRow {
  std::string session_id;
  std::string grant_id;
  std::string staff_id;
  std::string customer_id;
  std::string category;
  std::string reference;
  absl::Time start = absl::InfinitePast();
  // When it ended, or the last entry seen if it never did.
  absl::Time end = absl::InfinitePast();
  // "ended by staff", "ended by customer", "revoked by ...", "not ended".
  std::string how_ended;
  absl::Duration limit = absl::ZeroDuration();
  uint64_t page_views = 0;
  uint64_t actions = 0;
  std::vector<uint64_t> entries;
  absl::Duration length() const { return end - start; }
};

// An access from outside the home country, with what allowed it.
struct AbroadRow {
  uint64_t index = 0;
  absl::Time time;
  std::string staff_id;
  std::string country;
  std::string network;
  std::string customer_id;
  std::string category;
  std::string reference;
  std::string action;
  custos::v1::Outcome outcome = custos::v1::OUTCOME_UNSPECIFIED;
  // The policy's reasons (trip, approvals) and the approvals seen in the log.
  std::vector<std::string> approvals;
};

struct KindRow {
  custos::v1::DataKind kind = custos::v1::DATA_KIND_UNSPECIFIED;
  uint64_t reads = 0;
  uint64_t records = 0;
};

// The log's integrity as checked when the report was made.
struct LogState {
  bool verified = false;
  // Why not, naming the first bad entry; empty when verified.
  std::string problem;
  bool signatures_checked = false;
  uint64_t entries = 0;
  // The entries this report reads: those the newest checkpoint signed when
  // it started. The rest of `entries` are left to the next report.
  uint64_t covered_entries = 0;
  uint64_t checkpoint_size = 0;
  std::string checkpoint_root_hex;
  // The newest signed checkpoint, byte for byte.
  std::string checkpoint_note;
  // The previous report's checkpoint and whether this log extends it.
  std::string previous_note;
  bool has_previous = false;
  bool consistent_with_previous = false;
  std::string consistency_detail;
};

struct Report {
  ReportOptions options;
  std::string policy_version;

  uint64_t entries_in_period = 0;
  uint64_t accesses = 0;
  uint64_t refused = 0;
  uint64_t pending = 0;
  uint64_t first_index = 0;
  uint64_t last_index = 0;

  // Week (its Monday) → category → accesses.
  std::map<absl::CivilDay, std::map<std::string, uint64_t>> weekly;
  std::vector<std::string> categories;
  std::vector<Count> by_role;
  // The top staff members, and the rest summed as "others".
  std::vector<Count> by_staff;
  std::vector<Count> refused_by_reason;
  std::vector<AbroadRow> abroad;
  std::vector<SessionRow> sessions;
  std::vector<KindRow> kinds;
  std::vector<Finding> findings;
  LogState log;
};

// The entry's actions that reach a customer's data.
bool IsDataAccess(const custos::v1::LogEntry& entry);

class ReportBuilder {
 public:
  // `policy` gives categories' limits, the random-check rate and the home
  // country; `directory` gives contracts as they stand now. Both outlive
  // the builder.
  ReportBuilder(ReportOptions options, const policy::Policy& policy,
                const custos::v1::Directory& directory);
  ~ReportBuilder();

  // Takes the next entry of the log (in index order). Entries outside the
  // period or of another customer are skipped.
  void Add(const custos::v1::LogEntry& entry);

  // Computes the findings. Call once, after the last Add.
  Report Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Finding codes, stable.
inline constexpr char kOutsideWorkingHours[] = "OUTSIDE_WORKING_HOURS";
inline constexpr char kRepeatedRefusals[] = "REPEATED_REFUSALS";
inline constexpr char kSessionNearLimit[] = "SESSION_NEAR_LIMIT";
inline constexpr char kSessionPastLimit[] = "SESSION_PAST_LIMIT";
inline constexpr char kReadsOverNorm[] = "READS_OVER_NORM";
inline constexpr char kRandomChecksOverRate[] = "RANDOM_CHECKS_OVER_RATE";
inline constexpr char kContractEnded[] = "CONTRACT_ENDED";
inline constexpr char kReferenceNotValid[] = "REFERENCE_NOT_VALID";
inline constexpr char kLoggedNotApplied[] = "LOGGED_NOT_APPLIED";

// Reasons in refused_by_reason for a pending request an approver refused
// (the policy's reasons are those of policy/decide.h), stable.
inline constexpr char kRefusedByCustomer[] = "REFUSED_BY_CUSTOMER";
inline constexpr char kRefusedByDpo[] = "REFUSED_BY_DPO";

// What a finding code means, for the report's legend.
const char* FindingTitle(absl::string_view code);

}  // namespace custos::report

#endif  // CUSTOS_CLIENTS_REPORT_REPORT_H_
