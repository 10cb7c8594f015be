// Feeds a report from the log's SQLite file and says whether that file is
// intact: the entries are scanned for the report while, on a second thread,
// the whole log is verified offline (chain, tree, checkpoints and their
// signatures) and checked against the previous report's checkpoint.
//
// Reads through read-only connections; the gateway may keep writing.
#ifndef CUSTOS_CLIENTS_REPORT_LOG_SOURCE_H_
#define CUSTOS_CLIENTS_REPORT_LOG_SOURCE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/report/report.h"

namespace custos::report {

struct SourceOptions {
  // The log's SQLite file (custosd's <data_dir>/audit.db or a copy).
  std::string db;
  // The pinned verifier key; without one signatures are not checked and the
  // report says so.
  std::string verifier_key;
  // The signed checkpoint the previous report kept; empty for a first report.
  std::string previous_note;
  // Called now and then with entries scanned, entries verified and the
  // log's size.
  std::function<void(uint64_t scanned, uint64_t verified, uint64_t total)>
      progress;
};

// Scans every entry into `builder`, verifies the log, and returns the
// finished report with its LogState. A log that fails verification still
// gives a report (LogState says what is wrong); an unreadable file or an
// entry that does not parse is UNAVAILABLE or DATA_LOSS.
absl::StatusOr<Report> BuildReport(const SourceOptions& options,
                                   ReportBuilder& builder);

// Calls `visit` with each entry whose index is in [first, last], in order.
absl::Status ForEachEntry(
    const std::string& db, uint64_t first, uint64_t last,
    absl::FunctionRef<void(const custos::v1::LogEntry&)> visit);

}  // namespace custos::report

#endif  // CUSTOS_CLIENTS_REPORT_LOG_SOURCE_H_
