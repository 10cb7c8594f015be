// custos: the command line of support engineers and the DPO.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "clients/cli/command_line.h"
#include "clients/cli/commands.h"
#include "clients/cli/config_file.h"
#include "clients/cli/connection.h"

ABSL_FLAG(std::string, as, "",
          "Staff id whose development certificate to use (CUSTOS_AS).");
ABSL_FLAG(std::string, pki_dir, "",
          "Directory of ca.crt and clients/ (CUSTOS_PKI_DIR).");
ABSL_FLAG(std::string, server, "",
          "custosd address host:port (CUSTOS_SERVER).");
ABSL_FLAG(std::string, ca, "", "CA certificate PEM file (CUSTOS_CA).");
ABSL_FLAG(std::string, cert, "", "Client certificate PEM file (CUSTOS_CERT).");
ABSL_FLAG(std::string, key, "", "Client key PEM file (CUSTOS_KEY).");
ABSL_FLAG(std::string, output, "",
          "Output format: table or json (default: the config file's, else "
          "table).");
ABSL_FLAG(std::string, config, "",
          "Config file (CUSTOS_CONFIG; default: "
          "$XDG_CONFIG_HOME/custos/cli.conf, else ~/.config/custos/cli.conf, "
          "when it exists).");
ABSL_FLAG(std::string, customer, "", "Customer id.");
ABSL_FLAG(std::string, category, "",
          "Justification category: support, bug, feature, abuse, prep.");
ABSL_FLAG(std::string, ref, "",
          "Reference that backs the access (ticket, report, meeting).");
ABSL_FLAG(std::string, note, "",
          "Free-text note for the customer and the DPO.");
ABSL_FLAG(std::string, kinds, "",
          "Comma-separated data kinds to narrow a grant to.");
ABSL_FLAG(std::string, duration, "",
          "Grant length, e.g. 2h; default: the category's.");
ABSL_FLAG(std::string, staff, "", "Staff id filter.");
ABSL_FLAG(int, page_size, 0, "Entries per page (0: the server's default).");
ABSL_FLAG(std::string, page_token, "", "Continue a listing from this token.");
ABSL_FLAG(std::string, token, "",
          "Customer API token (CUSTOS_TOKEN), for customer calls.");
ABSL_FLAG(std::string, country, "", "Country code of a trip, e.g. DE.");
ABSL_FLAG(std::string, first_day, "", "First day of a trip, YYYY-MM-DD.");
ABSL_FLAG(std::string, last_day, "", "Last day of a trip, YYYY-MM-DD.");
ABSL_FLAG(std::string, device, "",
          "Device id (CUSTOS_DEVICE): the device you work from, such as its "
          "host name or asset tag (laptop-7): letters, digits and "
          ". _ : / # -, never a name or an e-mail address. A trip request "
          "names the device of the trip; from abroad, access request and "
          "identity start send it, so that the policy can match the call to "
          "your approved trip.");
ABSL_FLAG(std::string, trip, "", "Trip id (trip decide).");
ABSL_FLAG(std::string, request, "", "Pending request id (approval decide).");
ABSL_FLAG(std::string, partner, "", "Partner organisation (consent set).");
ABSL_FLAG(bool, approve, false,
          "Approve (trip decide, approval decide, consent set).");
ABSL_FLAG(bool, refuse, false,
          "Refuse (trip decide, approval decide, consent set).");
ABSL_FLAG(std::string, user, "", "The customer's user whose identity to take.");
ABSL_FLAG(std::string, session, "", "Take-identity session id.");
ABSL_FLAG(std::string, action, "",
          "An action the customer asked for, e.g. send_test_mail.");
ABSL_FLAG(std::string, action_ref, "",
          "The customer's reference for that request.");
ABSL_FLAG(std::string, grant, "", "Grant id (access read, end, revoke).");
ABSL_FLAG(std::string, kind, "", "Data kind to read, e.g. SUBSCRIBERS.");
ABSL_FLAG(std::string, record, "", "One record id to read.");
ABSL_FLAG(std::string, reason, "", "Why (access revoke).");
ABSL_FLAG(bool, active_only, false, "Only grants still active.");
ABSL_FLAG(uint64_t, index, 0, "Log entry index (log prove).");
ABSL_FLAG(uint64_t, size, 0,
          "Tree size of a checkpoint you hold; 0 means the latest.");
ABSL_FLAG(uint64_t, old, 0, "Older tree size (log consistency).");
ABSL_FLAG(std::string, subject, "",
          "Data subject whose personal values to erase: a staff or "
          "customer-user id, or the address of a caller with no identity.");
ABSL_FLAG(uint32_t, older_than_days, 0,
          "Erase personal values older than this.");
ABSL_FLAG(std::string, db, "", "The log's SQLite file, to verify offline.");
ABSL_FLAG(std::string, verifier_key, "",
          "Pinned checkpoint verifier key NAME+ID+KEY (CUSTOS_VERIFIER_KEY).");
ABSL_FLAG(bool, allow_unsigned_tail, false,
          "verify --db: accept entries after the newest checkpoint (a copy of "
          "a live log), reported as unsigned.");
ABSL_FLAG(std::string, state, "",
          "File keeping the last verified checkpoint (verify, log prove; "
          "report: default report-checkpoint beside --db).");
ABSL_FLAG(std::string, from, "",
          "First day of the report, YYYY-MM-DD; log list: the first day "
          "(UTC) or an RFC 3339 time.");
ABSL_FLAG(std::string, to, "",
          "Last day of the report, YYYY-MM-DD; log list: the last day (UTC) "
          "or an RFC 3339 time, excluded.");
ABSL_FLAG(std::string, format, "html", "Report format: html, csv or json.");
ABSL_FLAG(std::string, out, "", "The report's file.");
ABSL_FLAG(std::string, policy, "",
          "The policy file custosd runs with (report); default: built in.");
ABSL_FLAG(std::string, directory, "",
          "The staff directory custosd runs with (report); default: built in.");
ABSL_FLAG(std::string, time_zone, "Europe/Amsterdam",
          "Time zone of the report's days, weeks and working hours.");
ABSL_FLAG(std::string, working_hours, "08:00-18:00",
          "Working hours, Monday to Friday (report).");
ABSL_FLAG(int, top, 10, "Staff members shown by name in the report.");

namespace {

// `custos --help` and `custos help`: every command, then every flag.
std::string FullHelp() {
  return absl::StrCat(custos::cli::Usage(), "\nflags:\n",
                      custos::cli::FlagsHelp());
}

// The help `custos WORDS --help` asks for: a command's (the first one or two
// words), else all of it.
std::string HelpFor(std::vector<std::string> words) {
  if (words.size() > 2) words.resize(2);
  std::string text = custos::cli::CommandHelp(words);
  if (text.empty() && words.size() == 2)
    text = custos::cli::CommandHelp({words[0]});
  return text.empty() ? FullHelp() : text;
}

// The values of the command's flags; the connection's are resolved apart.
custos::cli::CommandOptions OptionsFromFlags(
    const custos::cli::CommandLine& line) {
  custos::cli::CommandOptions options;
  options.flags_given = line.flags_given;
  options.customer = absl::GetFlag(FLAGS_customer);
  options.category = absl::GetFlag(FLAGS_category);
  options.reference = absl::GetFlag(FLAGS_ref);
  options.note = absl::GetFlag(FLAGS_note);
  options.kinds = absl::GetFlag(FLAGS_kinds);
  options.duration = absl::GetFlag(FLAGS_duration);
  options.staff = absl::GetFlag(FLAGS_staff);
  options.page_size = absl::GetFlag(FLAGS_page_size);
  options.page_token = absl::GetFlag(FLAGS_page_token);
  options.country = absl::GetFlag(FLAGS_country);
  options.first_day = absl::GetFlag(FLAGS_first_day);
  options.last_day = absl::GetFlag(FLAGS_last_day);
  options.device = absl::GetFlag(FLAGS_device);
  if (options.device.empty() && std::getenv("CUSTOS_DEVICE") != nullptr) {
    options.device = std::getenv("CUSTOS_DEVICE");
  }
  options.trip = absl::GetFlag(FLAGS_trip);
  options.request = absl::GetFlag(FLAGS_request);
  options.partner = absl::GetFlag(FLAGS_partner);
  options.approve = absl::GetFlag(FLAGS_approve);
  options.refuse = absl::GetFlag(FLAGS_refuse);
  options.grant = absl::GetFlag(FLAGS_grant);
  options.user = absl::GetFlag(FLAGS_user);
  options.session = absl::GetFlag(FLAGS_session);
  options.action = absl::GetFlag(FLAGS_action);
  options.action_ref = absl::GetFlag(FLAGS_action_ref);
  options.kind = absl::GetFlag(FLAGS_kind);
  options.record = absl::GetFlag(FLAGS_record);
  options.reason = absl::GetFlag(FLAGS_reason);
  options.active_only = absl::GetFlag(FLAGS_active_only);
  if (std::find(line.flags_given.begin(), line.flags_given.end(), "index") !=
      line.flags_given.end()) {
    options.index = absl::GetFlag(FLAGS_index);
  }
  options.size = absl::GetFlag(FLAGS_size);
  options.old_size = absl::GetFlag(FLAGS_old);
  options.subject = absl::GetFlag(FLAGS_subject);
  options.older_than_days = absl::GetFlag(FLAGS_older_than_days);
  options.db = absl::GetFlag(FLAGS_db);
  options.verifier_key = absl::GetFlag(FLAGS_verifier_key);
  if (options.verifier_key.empty() &&
      std::getenv("CUSTOS_VERIFIER_KEY") != nullptr) {
    options.verifier_key = std::getenv("CUSTOS_VERIFIER_KEY");
  }
  options.state_file = absl::GetFlag(FLAGS_state);
  options.allow_unsigned_tail = absl::GetFlag(FLAGS_allow_unsigned_tail);
  options.from = absl::GetFlag(FLAGS_from);
  options.to = absl::GetFlag(FLAGS_to);
  options.format = absl::GetFlag(FLAGS_format);
  options.out = absl::GetFlag(FLAGS_out);
  options.policy_file = absl::GetFlag(FLAGS_policy);
  options.directory_file = absl::GetFlag(FLAGS_directory);
  options.time_zone = absl::GetFlag(FLAGS_time_zone);
  options.working_hours = absl::GetFlag(FLAGS_working_hours);
  options.top = absl::GetFlag(FLAGS_top);
  options.progress = isatty(STDERR_FILENO) == 1;
  return options;
}

custos::cli::SettingsLayer SettingsFromFlags() {
  custos::cli::SettingsLayer flags;
  flags.source = custos::cli::SettingsLayer::Source::kCommandLine;
  flags.server = absl::GetFlag(FLAGS_server);
  flags.as = absl::GetFlag(FLAGS_as);
  flags.pki_dir = absl::GetFlag(FLAGS_pki_dir);
  flags.ca = absl::GetFlag(FLAGS_ca);
  flags.cert = absl::GetFlag(FLAGS_cert);
  flags.key = absl::GetFlag(FLAGS_key);
  flags.token = absl::GetFlag(FLAGS_token);
  return flags;
}

}  // namespace

int main(int argc, char** argv) {
  using custos::cli::ReportUsageError;
  const absl::StatusOr<custos::cli::CommandLine> line =
      custos::cli::ParseCommandLine({argv + 1, argv + argc});
  // Read even after a bad command line, which is then told in the output
  // the config file asks for.
  const absl::StatusOr<custos::cli::ConfigFile> config =
      custos::cli::ReadConfigFile(
          custos::cli::LocateConfigFile(absl::GetFlag(FLAGS_config)));
  std::string output = absl::GetFlag(FLAGS_output);
  if (output.empty()) output = config.ok() ? config->output : "";
  if (output.empty()) output = "table";
  if (!line.ok()) {
    return ReportUsageError(output, line.status().message(), std::cout,
                            std::cerr);
  }
  const std::vector<std::string>& args = line->words;
  if (line->help || (!args.empty() && args[0] == "help")) {
    std::cout << HelpFor(line->help ? args : std::vector<std::string>());
    return custos::cli::kExitOk;
  }
  if (!config.ok()) {
    return ReportUsageError(output, config.status().message(), std::cout,
                            std::cerr);
  }
  if (args.empty()) {
    std::cerr << custos::cli::Usage() << "\n";
    return ReportUsageError(output, "no command given", std::cout, std::cerr);
  }
  custos::cli::CommandOptions options = OptionsFromFlags(*line);
  options.output = output;
  // Checking a file offline, and the report, need no connection to custosd;
  // an unknown command is told without one.
  if (!custos::cli::IsKnownCommand(args) ||
      (!options.db.empty() && args[0] == "verify") || args[0] == "report") {
    return custos::cli::RunCommand(args, options, nullptr, std::cout,
                                   std::cerr);
  }
  const absl::StatusOr<custos::cli::ConnectionSettings> settings =
      custos::cli::ResolveSettings({SettingsFromFlags(),
                                    custos::cli::SettingsFromEnvironment(),
                                    config->settings});
  if (!settings.ok()) {
    return ReportUsageError(output, settings.status().message(), std::cout,
                            std::cerr);
  }
  options.token = settings->bearer_token;
  auto channel = custos::cli::Connect(*settings);
  if (!channel.ok()) {
    return ReportUsageError(output, channel.status().message(), std::cout,
                            std::cerr);
  }
  return custos::cli::RunCommand(args, options, *channel, std::cout, std::cerr);
}
