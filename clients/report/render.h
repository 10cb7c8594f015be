// The report's three forms: a self-contained HTML page (inline CSS, charts
// as SVG, no script and no network), and CSV and JSON exports of the
// period's entries, each with the findings it is behind, for a spreadsheet
// or a SIEM.
#ifndef CUSTOS_CLIENTS_REPORT_RENDER_H_
#define CUSTOS_CLIENTS_REPORT_RENDER_H_

#include <ostream>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "clients/report/report.h"

namespace custos::report {

// Writes the HTML report. `generated_at` is printed in its header.
void RenderHtml(const Report& report, absl::Time generated_at,
                std::ostream& out);

// Entry index → the codes of the findings it is behind, comma-separated.
absl::flat_hash_map<uint64_t, std::string> FindingsByEntry(
    const Report& report);

// Whether an entry belongs to the report's period and customer.
bool InReport(const ReportOptions& options, const custos::v1::LogEntry& entry);

// CSV: a header line, then one line per entry (RFC 4180 quoting).
void WriteCsvHeader(std::ostream& out);
void WriteCsvRow(const custos::v1::LogEntry& entry, absl::string_view findings,
                 std::ostream& out);

// JSON: {"report": {...}, "entries": [...]}, one entry per line. Call
// WriteJsonHead, WriteJsonEntry for each entry, then WriteJsonTail.
void WriteJsonHead(const Report& report, absl::Time generated_at,
                   std::ostream& out);
void WriteJsonEntry(const custos::v1::LogEntry& entry,
                    absl::string_view findings, bool first, std::ostream& out);
void WriteJsonTail(std::ostream& out);

}  // namespace custos::report

#endif  // CUSTOS_CLIENTS_REPORT_RENDER_H_
