// A log with known accesses, for the report's tests: every finding the
// report can make is in it once, next to near misses that must not be
// findings, and entries just outside the period.
#ifndef CUSTOS_CLIENTS_REPORT_KNOWN_LOG_H_
#define CUSTOS_CLIENTS_REPORT_KNOWN_LOG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "audit/note.h"
#include "proto/custos/v1/audit.pb.h"

namespace custos::report::testing {

// The period the known log is about (Europe/Amsterdam), Monday to Sunday
// of two weeks.
inline constexpr char kFrom[] = "2026-11-02";
inline constexpr char kTo[] = "2026-11-15";

// The entries, in log order, without index or prev_hash (the store sets
// them).
std::vector<custos::v1::LogEntry> KnownEntries();

// Writes KnownEntries() to a new log at `path`, with checkpoints signed by
// `signer`, and returns the number of entries.
absl::StatusOr<uint64_t> WriteKnownLog(const std::string& path,
                                       const audit::NoteSigner& signer);

}  // namespace custos::report::testing

#endif  // CUSTOS_CLIENTS_REPORT_KNOWN_LOG_H_
