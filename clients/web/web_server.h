// custos-web: the HTTPS front end of Custos. It is a gRPC client of custosd
// with its own certificate and holds no customer data and no rules: every
// page is an RPC, and custosd decides and logs it.
//
// It serves three kinds of browser session: an engineer's take-identity
// session (opened once by a single-use link), a customer signed in to their
// portal (access log, approvals, partner consents, verification in the
// browser), and the DPO (trips, live grants and sessions, revocation).
//
// Thread-safe: cpp-httplib calls the handlers from its worker threads.
#ifndef CUSTOS_CLIENTS_WEB_WEB_SERVER_H_
#define CUSTOS_CLIENTS_WEB_WEB_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace custos::web {

struct WebOptions {
  // host:port to serve HTTPS on; port 0 picks a free one.
  std::string listen = "127.0.0.1:8443";
  // PEM files for the HTTPS server.
  std::string tls_cert;
  std::string tls_key;
  // custosd's address, the CA that signed its certificate, and custos-web's
  // own client certificate and key.
  std::string gateway;
  std::string gateway_ca;
  std::string client_cert;
  std::string client_key;
  // Holds portal_accounts (Argon2id hashes), demo_logins (first run) and
  // pseudonym_secret; created 0700.
  std::string data_dir;
  // Whom the demo's first-run accounts act as.
  std::vector<std::string> demo_accounts;
  // The reverse proxies whose X-Forwarded-For names the browser's address:
  // comma-separated IP addresses and networks (see client_address.h). Empty
  // trusts no one, and each request's address is its TCP peer's.
  std::string trusted_proxies;
};

class WebServer {
 public:
  // Prepares the data directory and binds the port. Errors name the file or
  // setting at fault; a bad trusted_proxies is refused before anything is
  // made.
  static absl::StatusOr<std::unique_ptr<WebServer>> Create(
      const WebOptions& options);
  ~WebServer();

  int port() const;
  // Serves until Stop(); returns false if the server failed.
  bool Serve();
  void Stop();

  struct State;

 private:
  explicit WebServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace custos::web

#endif  // CUSTOS_CLIENTS_WEB_WEB_SERVER_H_
