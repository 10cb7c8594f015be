// custosd: the gateway every staff access to customer data goes through.
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/event_log.h"
#include "gateway/server.h"

ABSL_FLAG(std::string, data_dir, ".custos",
          "Directory for the audit log, the development PKI and other state.");
ABSL_FLAG(std::string, listen, "127.0.0.1:7443",
          "Address to serve gRPC on (host:port); port 0 picks a free one.");
ABSL_FLAG(std::string, directory, "",
          "Text-format custos.v1.Directory of staff and customers; empty means "
          "the built-in demo directory.");
ABSL_FLAG(std::string, policy, "",
          "Policy file (text-format custos.v1.PolicyFile); empty means the "
          "built-in default policy. SIGHUP reloads it.");
ABSL_FLAG(
    std::string, metrics_listen, "127.0.0.1:9464",
    "host:port for Prometheus metrics at /metrics; empty turns them off.");
ABSL_FLAG(std::string, web_base_url, "https://localhost:8443",
          "Where custos-web serves take-identity sessions (for their links).");
ABSL_FLAG(
    double, staff_requests_per_second, 50,
    "Requests a second each staff member may make on average; 0: no limit.");
ABSL_FLAG(double, staff_request_burst, 200,
          "Requests a staff member may make in a burst.");
ABSL_FLAG(absl::Duration, pending_request_lifetime, absl::Hours(72),
          "How long a pending access request waits for its approvals; "
          "approving it later is refused (it lapsed).");
ABSL_FLAG(uint64_t, max_records_per_grant, 5000,
          "Records one grant may serve in all (reads and take-identity "
          "pages together), against bulk export; reads past it are "
          "refused.");
ABSL_FLAG(std::string, revoked_serials, "",
          "File of revoked staff certificate serials (hex, one a line); SIGHUP "
          "rereads it.");
ABSL_FLAG(std::string, web_service_id, "custos-web",
          "certificate subject of custos-web, which may exchange take-identity "
          "links for engineers and call for signed-in customers and the DPO; "
          "empty trusts no front end");
ABSL_FLAG(std::string, extra_client_certs, "",
          "Comma-separated extra ids to issue development client certificates "
          "for (e.g. services such as custos-web).");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "custosd --data_dir DIR --listen HOST:PORT\n"
      "Serves the Custos gateway over gRPC with mutual TLS.");
  absl::ParseCommandLine(argc, argv);

  // Block the stop signals before gRPC starts its threads, so only sigwait
  // below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  custos::gateway::GatewayOptions options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.directory_file = absl::GetFlag(FLAGS_directory);
  options.policy_file = absl::GetFlag(FLAGS_policy);
  options.revoked_serials_file = absl::GetFlag(FLAGS_revoked_serials);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.staff_requests_per_second =
      absl::GetFlag(FLAGS_staff_requests_per_second);
  options.staff_request_burst = absl::GetFlag(FLAGS_staff_request_burst);
  options.web_base_url = absl::GetFlag(FLAGS_web_base_url);
  options.max_records_per_grant = absl::GetFlag(FLAGS_max_records_per_grant);
  options.pending_request_lifetime =
      absl::GetFlag(FLAGS_pending_request_lifetime);
  options.web_service_id = absl::GetFlag(FLAGS_web_service_id);
  for (absl::string_view id : absl::StrSplit(
           absl::GetFlag(FLAGS_extra_client_certs), ',', absl::SkipEmpty())) {
    options.extra_client_ids.emplace_back(id);
  }
  auto server = custos::gateway::GatewayServer::Start(options);
  if (!server.ok()) {
    custos::gateway::LogEvent(
        "error", "start_failed",
        absl::StrCat("custosd: ", server.status().message()));
    return 1;
  }
  custos::gateway::LogEvent("info", "serving",
                            absl::StrCat("serving on port ", (*server)->port(),
                                         ", data in ", options.data_dir),
                            {{"port", absl::StrCat((*server)->port())},
                             {"data_dir", options.data_dir}});

  custos::gateway::LogEvent(
      "info", "policy", absl::StrCat("policy ", (*server)->policy_version()),
      {{"policy_version", (*server)->policy_version()}});
  if ((*server)->metrics_port() != 0) {
    custos::gateway::LogEvent(
        "info", "metrics",
        absl::StrCat("metrics on port ", (*server)->metrics_port()),
        {{"port", absl::StrCat((*server)->metrics_port())}});
  }
  int signal_number = 0;
  for (;;) {
    sigwait(&stop_signals, &signal_number);
    if (signal_number != SIGHUP) break;
    if (auto revoked = (*server)->ReloadRevocations(); !revoked.ok()) {
      custos::gateway::LogEvent("warning", "revocations_not_reloaded",
                                absl::StrCat("revoked serials NOT reloaded: ",
                                             revoked.status().message()));
    } else if (*revoked > 0) {
      custos::gateway::LogEvent(
          "info", "revocations_reloaded",
          absl::StrCat(*revoked, " revoked certificate serials"));
    }
    // A bad file keeps the old policy running; the server says why.
    const absl::Status reloaded = (*server)->ReloadPolicy();
    if (reloaded.ok()) {
      custos::gateway::LogEvent(
          "info", "policy_reloaded",
          absl::StrCat("policy reloaded: ", (*server)->policy_version()),
          {{"policy_version", (*server)->policy_version()}});
    } else {
      custos::gateway::LogEvent(
          "warning", "policy_not_reloaded",
          absl::StrCat("policy NOT reloaded, keeping ",
                       (*server)->policy_version(), ": ", reloaded.message()),
          {{"policy_version", (*server)->policy_version()}});
    }
  }
  custos::gateway::LogEvent("info", "stopping",
                            absl::StrCat("stopping (signal ", signal_number,
                                         "), finishing calls in flight"));
  (*server)->Shutdown();
  return 0;
}
