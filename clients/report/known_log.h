// A log with known accesses, for the report's tests: every finding the
// report can make is in it once, next to near misses that must not be
// findings, and entries just outside the period. Story writes it, and the
// entries a test adds to a log of its own.
#ifndef CUSTOS_CLIENTS_REPORT_KNOWN_LOG_H_
#define CUSTOS_CLIENTS_REPORT_KNOWN_LOG_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "audit/note.h"
#include "proto/custos/v1/audit.pb.h"

namespace custos::report::testing {

// The period the known log is about (Europe/Amsterdam), Monday to Sunday
// of two weeks.
inline constexpr char kFrom[] = "2026-11-02";
inline constexpr char kTo[] = "2026-11-15";

// Entries read as a story; each helper sets what the gateway would. Times
// are given as "2026-11-02 09:00" in UTC (Amsterdam is an hour later). An
// entry's place in the story is the index the store gives it in a log that
// starts with the story. A returned reference is valid until the next entry
// is added. Thread-compatible.
class Story {
 public:
  // A call of `staff` in `role` from the office, answered with `outcome`.
  custos::v1::LogEntry& Add(absl::string_view utc, absl::string_view staff,
                            absl::string_view role, absl::string_view action,
                            custos::v1::Outcome outcome);
  // An access request allowed, issuing `grant`.
  custos::v1::LogEntry& Grant(absl::string_view utc, absl::string_view staff,
                              absl::string_view role,
                              absl::string_view customer,
                              absl::string_view category,
                              absl::string_view reference,
                              absl::string_view grant);
  custos::v1::LogEntry& Read(absl::string_view utc, absl::string_view staff,
                             absl::string_view role, absl::string_view customer,
                             absl::string_view category,
                             absl::string_view reference,
                             absl::string_view grant, custos::v1::DataKind kind,
                             uint64_t records);
  // An access request the policy refused for `reason`.
  custos::v1::LogEntry& Refused(absl::string_view utc, absl::string_view staff,
                                absl::string_view role,
                                absl::string_view customer,
                                absl::string_view category,
                                absl::string_view reference,
                                absl::string_view reason);
  // A take-identity call in `session`, allowed.
  custos::v1::LogEntry& Session(
      absl::string_view utc, absl::string_view staff, absl::string_view role,
      absl::string_view action, absl::string_view customer,
      absl::string_view category, absl::string_view reference,
      absl::string_view grant, absl::string_view session);
  // `action` (StaffAccess.EndGrant or StaffAccess.RevokeGrant) on `grant`,
  // allowed.
  custos::v1::LogEntry& GrantEnd(absl::string_view utc, absl::string_view staff,
                                 absl::string_view role,
                                 absl::string_view action,
                                 absl::string_view customer,
                                 absl::string_view category,
                                 absl::string_view reference,
                                 absl::string_view grant);
  // An access request that waits for approvals as pending request `pending`
  // (`reason` says whose).
  custos::v1::LogEntry& Pending(absl::string_view utc, absl::string_view staff,
                                absl::string_view role,
                                absl::string_view customer,
                                absl::string_view category,
                                absl::string_view reference,
                                absl::string_view pending,
                                absl::string_view reason);
  // An approver's decision on the pending request of the entry at
  // `request`, answered OK: `approver` is the customer when `kind` is
  // ACTOR_CUSTOMER, else a DPO. ALLOWED issues a grant (set grant_id and the
  // decision's reasons on the entry), PENDING waits for another approver,
  // REFUSED is the approver's no (or, with the decision's reasons added,
  // the policy's when every approval was in).
  custos::v1::LogEntry& Decide(absl::string_view utc, size_t request,
                               custos::v1::ActorKind kind,
                               absl::string_view approver,
                               custos::v1::Outcome outcome);
  // The entry saying that the allowed entry at `logged` was not applied.
  custos::v1::LogEntry& NotApplied(absl::string_view utc, size_t logged,
                                   absl::string_view why);

  static void Justify(custos::v1::LogEntry& e, absl::string_view customer,
                      absl::string_view category, absl::string_view reference);
  static void Reason(custos::v1::LogEntry& e, absl::string_view code,
                     absl::string_view message);

  // The next entry's place.
  size_t size() const { return entries_.size(); }
  std::vector<custos::v1::LogEntry> Take() && { return std::move(entries_); }

 private:
  // An access request answered with `outcome`.
  custos::v1::LogEntry& Request(absl::string_view utc, absl::string_view staff,
                                absl::string_view role,
                                absl::string_view customer,
                                absl::string_view category,
                                absl::string_view reference,
                                custos::v1::Outcome outcome);

  std::vector<custos::v1::LogEntry> entries_;
};

// The entries, in log order, without index or prev_hash (the store sets
// them).
std::vector<custos::v1::LogEntry> KnownEntries();

// Writes KnownEntries() to a new log at `path`, with checkpoints signed by
// `signer`, and returns the number of entries.
absl::StatusOr<uint64_t> WriteKnownLog(const std::string& path,
                                       const audit::NoteSigner& signer);

}  // namespace custos::report::testing

#endif  // CUSTOS_CLIENTS_REPORT_KNOWN_LOG_H_
