// `custos report`: the DPO's report over a period, from the log's file.
#ifndef CUSTOS_CLIENTS_REPORT_REPORT_COMMAND_H_
#define CUSTOS_CLIENTS_REPORT_REPORT_COMMAND_H_

#include <ostream>
#include <string>

namespace custos::report {

struct ReportCommand {
  // Days, YYYY-MM-DD, both included; empty means from the start, up to now.
  std::string from;
  std::string to;
  std::string customer;
  // "html", "csv" or "json".
  std::string format = "html";
  // Where the report goes; written whole or not at all.
  std::string out;
  std::string db = ".custos/audit.db";
  std::string verifier_key;
  // Keeps the checkpoint of the last verified report, for the next one's
  // consistency check (the CLI's default: report-checkpoint beside `db`).
  std::string state_file = ".custos/report-checkpoint";
  // The policy and staff directory files custosd runs with; empty means the
  // ones built in.
  std::string policy_file;
  std::string directory_file;
  std::string time_zone = "Europe/Amsterdam";
  // "HH:MM-HH:MM", Monday to Friday.
  std::string working_hours = "08:00-18:00";
  int top_staff = 10;
  // Draw a progress bar on `err`.
  bool progress = false;
};

// Makes the report. Exit codes as the CLI's: 0 when written and the log
// verifies (and extends the previous report's checkpoint), 8 when written
// but the log does not, 2 for a bad option, 1 when no report could be made.
int RunReport(const ReportCommand& command, std::ostream& err);

}  // namespace custos::report

#endif  // CUSTOS_CLIENTS_REPORT_REPORT_COMMAND_H_
