// custosd: the gRPC gateway with every part wired together.
//
// Start() prepares the data directory on first use (development PKI, the
// audit log), loads the directory of staff and customers, and serves on the
// listen address. Thread-safe; Shutdown() may be called from any thread.
#ifndef CUSTOS_GATEWAY_SERVER_H_
#define CUSTOS_GATEWAY_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "audit/log_store.h"
#include "audit/note.h"
#include "common/mutex.h"
#include "gateway/approvals_service.h"
#include "gateway/audit_log_service.h"
#include "gateway/auth.h"
#include "gateway/directory.h"
#include "gateway/gateway.h"
#include "gateway/identity_service.h"
#include "gateway/pki/client_verifier.h"
#include "gateway/staff_access_service.h"
#include "policy/networks.h"
#include "policy/policy_holder.h"

namespace custos::gateway {

struct GatewayOptions {
  // Everything custosd keeps lives here: pki/, audit.db.
  std::string data_dir = ".custos";
  // host:port; port 0 picks a free port (see GatewayServer::port()).
  std::string listen_address = "127.0.0.1:7443";
  // A text-format custos.v1.Directory file; empty means the built-in demo.
  std::string directory_file;
  // Extra ids to issue development client certificates for, besides staff.
  std::vector<std::string> extra_client_ids;
  // A policy file (proto/custos/v1/policy.proto, text format); empty means
  // the built-in default policy.
  std::string policy_file;
  // Revoked staff certificates: a file of serial numbers in hex, one a line
  // (as `openssl x509 -serial` prints them, with or without "serial="),
  // '#' starting a comment. Read at start and on ReloadRevocations; a line
  // that is not a serial refuses the whole file, naming the line.
  std::string revoked_serials_file;
  // Where custos-web serves take-identity sessions (for the links).
  std::string web_base_url = "https://localhost:8443";
  // The certificate subject custos-web calls with; the development CA issues
  // it a client certificate. Empty trusts no front end. It must not be a
  // staff id.
  std::string web_service_id = "custos-web";
  // host:port for Prometheus metrics (/metrics); empty turns them off.
  std::string metrics_listen;
  // Requests a second per staff member, and the burst allowed; 0 means no
  // limit.
  double staff_requests_per_second = 0;
  double staff_request_burst = 100;
  // The most records one grant may serve, by reads and take-identity pages
  // together, against bulk export: reads past it are refused, and the staff
  // member asks for a new grant with a reason.
  uint64_t max_records_per_grant = 5000;
  // How long a pending request waits for its approvals: one not fully
  // approved by then lapses, and approving it is refused (the need it was
  // asked for is asked for again, with today's facts).
  absl::Duration pending_request_lifetime = absl::Hours(72);
};

class GatewayServer {
 public:
  // Prepares and starts the gateway. Errors name the file or setting at
  // fault: INVALID_ARGUMENT for a bad directory file, UNAVAILABLE when the
  // port cannot be bound, and whatever the PKI or log reported.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(
      const GatewayOptions& options);

  ~GatewayServer();

  // The bound port.
  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }

  // Stops taking calls, lets calls in flight (and their log appends)
  // finish within `grace`, then returns. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  // Reads the policy file again. On success the new policy decides every
  // call that starts from now on, and the reload is logged; on error the
  // old policy stays in force and the error (naming file, line and field)
  // is returned.
  absl::Status ReloadPolicy();
  std::string policy_version() const { return policies_->current()->version(); }

  // Reads the revoked serials file again; certificates listed there are
  // refused from the next call on. Returns how many serials it holds.
  absl::StatusOr<int> ReloadRevocations();
  // The metrics port, or 0 when metrics are off.
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }

 private:
  GatewayServer() = default;

  // Closes the data directory's lock file; first of the members, so that
  // it is let go of after every store in the directory is closed.
  struct DataDirectoryLock {
    DataDirectoryLock& operator=(int held) {
      fd = held;
      return *this;
    }
    ~DataDirectoryLock();
    int fd = -1;
  };
  DataDirectoryLock data_dir_lock_;
  std::string data_dir_;
  int port_ = 0;
  std::unique_ptr<Directory> directory_;
  std::string policy_file_;
  std::string revoked_serials_file_;
  std::unique_ptr<policy::PolicyHolder> policies_;
  std::unique_ptr<policy::ReferenceDirectory> references_;
  // Declared before the grant store, so destroyed after it: a call's
  // steps run on to the end, and release what they hold (a random check's
  // draw, a consent hold, a session's ending mark) or check the sessions,
  // on the store's writer thread, until the store is closed.
  RandomCheckDraws random_check_draws_;
  std::unique_ptr<ApprovalStore> approvals_;
  std::unique_ptr<SessionStore> sessions_;
  std::unique_ptr<GrantStore> grants_;
  std::unique_ptr<CustomerData> customer_data_;
  std::unique_ptr<pki::ClientVerifier> verifier_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<GatewayMetrics> metrics_;
  std::unique_ptr<RateLimiter> rate_limiter_;
  std::unique_ptr<audit::NoteSigner> log_signer_;
  std::unique_ptr<audit::LogStore> log_;
  // Masks full source addresses once they are older than the retention.
  std::thread retention_;
  Notification stop_retention_;
  Gateway gateway_;
  std::unique_ptr<StaffAccessService> staff_access_;
  std::unique_ptr<AuditLogService> audit_log_;
  std::unique_ptr<ApprovalsService> approvals_service_;
  std::unique_ptr<TakeIdentityService> identity_service_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_SERVER_H_
