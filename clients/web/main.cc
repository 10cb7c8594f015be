// custos-web: parses flags and serves; see web_server.h.
#include <signal.h>

#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "clients/web/web_server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8443",
          "HTTPS address, host:port (port 0 picks a free one)");
ABSL_FLAG(std::string, data_dir, ".custos",
          "custosd's data directory: custos-web uses its pki/ (the "
          "development CA, the server certificate for HTTPS, its own client "
          "certificate clients/custos-web.*) and keeps its own files in web/");
ABSL_FLAG(std::string, gateway, "localhost:7443", "custosd's address");
ABSL_FLAG(std::string, tls_cert, "",
          "HTTPS certificate (default: <data_dir>/pki/server.crt)");
ABSL_FLAG(std::string, tls_key, "",
          "HTTPS key (default: <data_dir>/pki/server.key)");
ABSL_FLAG(std::string, service_id, "custos-web",
          "the client certificate's id toward custosd");
ABSL_FLAG(std::string, demo_accounts,
          "customer:acme,customer:bakkerij-jansen,customer:fietsen-devries,"
          "customer:nordwind,staff:dirk.dpo",
          "portal accounts made on first run, with passwords written to "
          "<data_dir>/web/demo_logins");
ABSL_FLAG(std::string, trusted_proxies, "",
          "reverse proxies whose X-Forwarded-For names the browser's address "
          "(for the sign-in limit and custosd's placing of calls): "
          "comma-separated IP addresses and networks, e.g. "
          "127.0.0.1,10.0.0.0/8,2001:db8::/32; empty trusts none, and the "
          "header is ignored");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "custos-web: the browser front end of Custos (take identity, the "
      "customer portal, the DPO pages)");
  absl::ParseCommandLine(argc, argv);
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  const std::string pki = data_dir + "/pki";
  const std::string id = absl::GetFlag(FLAGS_service_id);
  custos::web::WebOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  if (options.tls_cert.empty()) options.tls_cert = pki + "/server.crt";
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  if (options.tls_key.empty()) options.tls_key = pki + "/server.key";
  options.gateway = absl::GetFlag(FLAGS_gateway);
  options.gateway_ca = pki + "/ca.crt";
  options.client_cert = pki + "/clients/" + id + ".crt";
  options.client_key = pki + "/clients/" + id + ".key";
  options.data_dir = data_dir + "/web";
  options.demo_accounts = absl::StrSplit(absl::GetFlag(FLAGS_demo_accounts),
                                         ',', absl::SkipEmpty());
  options.trusted_proxies = absl::GetFlag(FLAGS_trusted_proxies);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = custos::web::WebServer::Create(options);
  if (!server.ok()) {
    std::fprintf(stderr, "custos-web: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf("custos-web serving on port %d\n", (*server)->port());
  std::fflush(stdout);
  std::thread serving([&] { (*server)->Serve(); });
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  (*server)->Stop();
  serving.join();
  return 0;
}
