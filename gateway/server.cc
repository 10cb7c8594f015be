#include "gateway/server.h"

#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "audit/checkpoint.h"
#include "audit/sqlite/sqlite_log_store.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "gateway/access_decision.h"
#include "gateway/data/demo_customer_data.h"
#include "gateway/demo_directory.h"
#include "gateway/event_log.h"
#include "gateway/log_signer.h"
#include "gateway/malformed_request.h"
#include "gateway/pki/dev_ca.h"
#include "gateway/references/sqlite_reference_directory.h"
#include "google/protobuf/util/time_util.h"
#include "policy/default_policy.h"

namespace custos::gateway {
namespace {

// The data directory, private to custosd: the files in it (customer data,
// the log, grants) are SQLite's, created with the process's umask, so the
// directory is what keeps other local users out. One made before by
// someone else's `mkdir` (mode 0755 under the usual umask) is narrowed.
absl::Status MakeDataDirectory(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, ": cannot create directory: ", std::strerror(errno)));
  }
  struct stat info;
  if (stat(path.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": expected a directory for custosd's data"));
  }
  if ((info.st_mode & 077) != 0) {
    if (chmod(path.c_str(), 0700) != 0) {
      return absl::PermissionDeniedError(
          absl::StrCat(path, ": other users can read it, and it cannot be ",
                       "made private (mode 0700): ", std::strerror(errno)));
    }
    LogEvent("warning", "data_dir_made_private",
             absl::StrCat(path, " was open to other users (mode ",
                          absl::StrFormat("%04o", info.st_mode & 07777),
                          "); it is 0700 now"));
  }
  return absl::OkStatus();
}

// Holds <data_dir>/custosd.lock for as long as the server runs: two custosd
// on one data directory would each make a development CA, signing key and
// tokens on a first start, and interleave them.
absl::StatusOr<int> LockDataDirectory(const std::string& data_dir) {
  const std::string path = absl::StrCat(data_dir, "/custosd.lock");
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          data_dir, ": another custosd is using this data directory"));
    }
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot lock: ", std::strerror(error)));
  }
  return fd;
}

absl::StatusOr<std::shared_ptr<const policy::Policy>> LoadPolicy(
    const std::string& file) {
  if (file.empty())
    return policy::Policy::Parse(kDefaultPolicy, "default policy");
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  return policy::Policy::Parse(text, file);
}

// CheckMaskedFields, naming the policy file.
absl::Status CheckPolicyMasks(const policy::Policy& policy,
                              const std::string& file,
                              const CustomerData& data) {
  const absl::Status checked = CheckMaskedFields(policy.file(), data);
  if (checked.ok()) return checked;
  return absl::InvalidArgumentError(absl::StrCat(
      file.empty() ? "default policy" : file, ": ", checked.message()));
}

// Gives each customer of the directory that has no API token one, on the
// first start and whenever the directory gains a customer. The token goes to
// <data_dir>/customer_tokens (mode 0600), the only place it is ever written,
// and then its hash to the approvals store: in that order, and the file
// whole (written beside and renamed), so that a start stopped in between
// leaves the customer without a hash, to be issued a token again next time,
// never with a hash whose token no file holds. Tokens issued before stay
// valid, and the file may be deleted once they are handed out.
absl::Status EnsureCustomerTokens(const Directory& directory,
                                  ApprovalStore& approvals,
                                  const std::string& data_dir) {
  CUSTOS_ASSIGN_OR_RETURN(const std::vector<std::string> with_tokens,
                          approvals.CustomersWithTokens());
  const absl::flat_hash_set<std::string> have(with_tokens.begin(),
                                              with_tokens.end());
  std::vector<std::pair<std::string, std::string>> issued;
  absl::flat_hash_set<std::string> issuing;
  for (const auto& customer : directory.proto().customers()) {
    if (have.contains(customer.customer_id())) continue;
    CUSTOS_ASSIGN_OR_RETURN(std::string token, NewId("ct_"));
    issued.emplace_back(customer.customer_id(), std::move(token));
    issuing.insert(customer.customer_id());
  }
  if (issued.empty()) return absl::OkStatus();
  const std::string path = absl::StrCat(data_dir, "/customer_tokens");
  // The lines of tokens issued before stay; those of a start stopped before
  // it stored their hashes give way to the new tokens.
  std::string lines;
  if (access(path.c_str(), F_OK) == 0) {
    CUSTOS_ASSIGN_OR_RETURN(const std::string before, ReadFile(path));
    for (absl::string_view line : absl::StrSplit(before, '\n')) {
      const absl::string_view customer = line.substr(0, line.find(' '));
      if (line.empty() || issuing.contains(customer)) continue;
      absl::StrAppend(&lines, line, "\n");
    }
  }
  for (const auto& [customer, token] : issued) {
    absl::StrAppend(&lines, customer, " ", token, "\n");
  }
  CUSTOS_RETURN_IF_ERROR(WriteFileAtomically(path, lines, 0600));
  for (const auto& [customer, token] : issued) {
    CUSTOS_RETURN_IF_ERROR(approvals.PutTokenHash(customer, Sha256(token)));
  }
  return absl::OkStatus();
}

// A revoked serial as a line of the revocations file may give it: hex, with
// or without "serial=", "0x" or colons between bytes, and a comment after
// '#'. Empty for a line with no serial; INVALID_ARGUMENT for anything else,
// which would otherwise revoke nothing while counting as revoked.
absl::StatusOr<std::string> RevokedSerialOnLine(absl::string_view line) {
  line = line.substr(0, line.find('#'));
  line = absl::StripAsciiWhitespace(line);
  absl::ConsumePrefix(&line, "serial=");
  if (line.empty()) return std::string();
  absl::string_view digits = line;
  if (!absl::ConsumePrefix(&digits, "0x")) absl::ConsumePrefix(&digits, "0X");
  const bool hex =
      !digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
        return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == ':';
      });
  if (!hex) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a serial number in hex (as `openssl x509 "
                     "-noout -serial` prints it), got \"",
                     line, "\""));
  }
  return std::string(line);
}

}  // namespace

absl::StatusOr<int> GatewayServer::ReloadRevocations() {
  if (revoked_serials_file_.empty()) return 0;
  CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(revoked_serials_file_));
  // All of the file or none of it: a reload refused for one bad line keeps
  // what was revoked before (revocations are only ever added).
  std::vector<std::string> serials;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::StatusOr<std::string> serial = RevokedSerialOnLine(line);
    if (!serial.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(revoked_serials_file_, ":", line_number, ": ",
                       serial.status().message()));
    }
    if (!serial->empty()) serials.push_back(*std::move(serial));
  }
  for (const std::string& serial : serials) verifier_->Revoke(serial);
  return static_cast<int>(serials.size());
}

absl::Status GatewayServer::ReloadPolicy() {
  CUSTOS_ASSIGN_OR_RETURN(std::shared_ptr<const policy::Policy> policy,
                          LoadPolicy(policy_file_));
  CUSTOS_RETURN_IF_ERROR(
      CheckPolicyMasks(*policy, policy_file_, *customer_data_));
  const std::string old_version = policies_->current()->version();
  custos::v1::LogEntry entry;
  *entry.mutable_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
          absl::ToUnixMicros(absl::Now()));
  entry.mutable_actor()->set_kind(custos::v1::ACTOR_SYSTEM);
  entry.mutable_actor()->set_id("custosd");
  entry.set_action("Policy.Reload");
  entry.set_resource(absl::StrCat("policy/", old_version));
  entry.set_policy_version(policy->version());
  entry.set_outcome(custos::v1::OUTCOME_ALLOWED);
  // The change of rules is itself on the record before it takes effect.
  CUSTOS_RETURN_IF_ERROR(log_->Append(std::move(entry)).status());
  policies_->Replace(std::move(policy));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(
    const GatewayOptions& options) {
  // Debian's Abseil is built with absl::Mutex's deadlock detector on, and
  // gRPC's locks are absl::Mutex: every call paid for a lock-order graph
  // (Custos's own locks are common/mutex.h and never used it).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (options.pending_request_lifetime <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "pending_request_lifetime: expected a positive duration");
  }
  // NaN compares false both ways: `!(x >= 0)` refuses it with the negatives,
  // where `x < 0` would let it turn limiting off.
  if (!(options.staff_requests_per_second >= 0) ||
      std::isinf(options.staff_requests_per_second)) {
    return absl::InvalidArgumentError(
        "staff_requests_per_second: expected 0 (no limit) or a positive "
        "number");
  }
  if (options.staff_requests_per_second > 0 &&
      !(options.staff_request_burst >= 1 &&
        std::isfinite(options.staff_request_burst))) {
    return absl::InvalidArgumentError(
        "staff_request_burst: expected at least 1 (below it every staff "
        "request is refused)");
  }
  // The take-identity link is this followed by a fragment; anything but an
  // https address would hand the link's token to another scheme or host.
  if (!absl::StartsWith(options.web_base_url, "https://") ||
      options.web_base_url.size() == std::string("https://").size() ||
      options.web_base_url.find_first_of("#?\x20\t\r\n") != std::string::npos ||
      absl::EndsWith(options.web_base_url, "/")) {
    return absl::InvalidArgumentError(
        "web_base_url: expected https://host[:port][/path] without a query, "
        "fragment or trailing slash");
  }
  if (options.max_records_per_grant == 0) {
    return absl::InvalidArgumentError(
        "max_records_per_grant: expected at least 1 (no grant could serve a "
        "record)");
  }
  std::unique_ptr<GatewayServer> server(new GatewayServer());
  server->data_dir_ = options.data_dir;
  CUSTOS_RETURN_IF_ERROR(MakeDataDirectory(options.data_dir));
  CUSTOS_ASSIGN_OR_RETURN(server->data_dir_lock_,
                          LockDataDirectory(options.data_dir));

  if (options.directory_file.empty()) {
    CUSTOS_ASSIGN_OR_RETURN(server->directory_,
                            Directory::Parse(kDemoDirectory, "demo directory"));
  } else {
    CUSTOS_ASSIGN_OR_RETURN(std::string text, ReadFile(options.directory_file));
    CUSTOS_ASSIGN_OR_RETURN(server->directory_,
                            Directory::Parse(text, options.directory_file));
  }

  const pki::DevPkiPaths pki_paths{absl::StrCat(options.data_dir, "/pki")};
  std::vector<std::string> client_ids = server->directory_->StaffIds();
  client_ids.insert(client_ids.end(), options.extra_client_ids.begin(),
                    options.extra_client_ids.end());
  if (!options.web_service_id.empty()) {
    if (server->directory_->FindStaff(options.web_service_id) != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("web_service_id: \"", options.web_service_id,
                       "\" is a staff id; the front end needs its own"));
    }
    client_ids.push_back(options.web_service_id);
  }
  CUSTOS_RETURN_IF_ERROR(pki::EnsureDevPki(pki_paths, client_ids));
  CUSTOS_ASSIGN_OR_RETURN(std::string ca_pem, ReadFile(pki_paths.ca_cert()));
  CUSTOS_ASSIGN_OR_RETURN(std::string server_cert,
                          ReadFile(pki_paths.server_cert()));
  CUSTOS_ASSIGN_OR_RETURN(std::string server_key,
                          ReadFile(pki_paths.server_key()));
  CUSTOS_ASSIGN_OR_RETURN(server->verifier_,
                          pki::ClientVerifier::Create(ca_pem));

  server->policy_file_ = options.policy_file;
  server->revoked_serials_file_ = options.revoked_serials_file;
  CUSTOS_RETURN_IF_ERROR(server->ReloadRevocations().status());
  CUSTOS_ASSIGN_OR_RETURN(std::shared_ptr<const policy::Policy> policy,
                          LoadPolicy(options.policy_file));
  server->policies_ = std::make_unique<policy::PolicyHolder>(std::move(policy));
  CUSTOS_ASSIGN_OR_RETURN(server->references_,
                          SqliteReferenceDirectory::Open(absl::StrCat(
                              options.data_dir, "/references.db")));
  CUSTOS_ASSIGN_OR_RETURN(
      server->grants_,
      GrantStore::Open(absl::StrCat(options.data_dir, "/grants.db")));
  CUSTOS_ASSIGN_OR_RETURN(
      server->customer_data_,
      DemoCustomerData::Open(
          absl::StrCat(options.data_dir, "/customer_data.db"),
          server->directory_->proto()));
  CUSTOS_RETURN_IF_ERROR(CheckPolicyMasks(*server->policies_->current(),
                                          options.policy_file,
                                          *server->customer_data_));
  CUSTOS_ASSIGN_OR_RETURN(
      server->approvals_,
      ApprovalStore::Open(absl::StrCat(options.data_dir, "/approvals.db")));
  CUSTOS_ASSIGN_OR_RETURN(
      server->sessions_,
      SessionStore::Open(absl::StrCat(options.data_dir, "/sessions.db")));
  CUSTOS_RETURN_IF_ERROR(EnsureCustomerTokens(
      *server->directory_, *server->approvals_, options.data_dir));
  server->authenticator_ = std::make_unique<Authenticator>(
      server->verifier_.get(), server->directory_.get(),
      [approvals = server->approvals_.get()](absl::string_view token_hash) {
        return approvals->CustomerForTokenHash(token_hash);
      },
      options.web_service_id);
  CUSTOS_ASSIGN_OR_RETURN(audit::NoteSigner signer,
                          LoadOrCreateLogSigner(options.data_dir));
  server->log_signer_ = std::make_unique<audit::NoteSigner>(std::move(signer));
  if (options.staff_requests_per_second > 0) {
    server->rate_limiter_ = std::make_unique<RateLimiter>(
        options.staff_requests_per_second, options.staff_request_burst);
    server->gateway_.rate_limiter = server->rate_limiter_.get();
  }
  if (!options.metrics_listen.empty()) {
    CUSTOS_ASSIGN_OR_RETURN(server->metrics_,
                            GatewayMetrics::Serve(options.metrics_listen));
    server->gateway_.metrics = server->metrics_.get();
  }
  audit::SqliteLogStore::Options log_options;
  if (server->metrics_ != nullptr) {
    log_options.on_commit = [metrics = server->metrics_.get()](size_t entries,
                                                               uint64_t size) {
      metrics->ObserveCommit(entries, size);
    };
  }
  log_options.verifier_key = server->log_signer_->verifier_key();
  log_options.signer = [signer = server->log_signer_.get()](
                           uint64_t size, absl::string_view root) {
    return signer->Sign(
        audit::FormatCheckpointBody({signer->name(), size, std::string(root)}));
  };
  CUSTOS_ASSIGN_OR_RETURN(
      server->log_,
      audit::SqliteLogStore::Open(absl::StrCat(options.data_dir, "/audit.db"),
                                  log_options));
  // The log's size from the start, not from its first commit after it.
  if (server->metrics_ != nullptr)
    server->metrics_->SetLogSize(server->log_->Size());
  server->retention_ =
      std::thread([s = server.get(), lapse = options.pending_request_lifetime] {
        do {
          const absl::Duration keep =
              s->policies_->current()->keep_full_source_address();
          s->log_->MaskSourceAddresses(absl::Now() - keep).IgnoreError();
          // A request no one decided in time keeps no note: its approvers can
          // no longer read it, and the log holds the note where erasure
          // reaches it.
          s->approvals_->DropLapsedNotes(absl::Now() - lapse).IgnoreError();
        } while (
            !s->stop_retention_.WaitForNotificationWithTimeout(absl::Hours(1)));
      });

  server->gateway_.directory = server->directory_.get();
  server->gateway_.policies = server->policies_.get();
  server->gateway_.references = server->references_.get();
  server->gateway_.grants = server->grants_.get();
  server->gateway_.random_check_draws = &server->random_check_draws_;
  server->gateway_.approvals = server->approvals_.get();
  server->gateway_.sessions = server->sessions_.get();
  server->gateway_.web_base_url = options.web_base_url;
  server->gateway_.max_records_per_grant = options.max_records_per_grant;
  server->gateway_.pending_request_lifetime = options.pending_request_lifetime;
  server->gateway_.customer_data = server->customer_data_.get();
  server->gateway_.authenticator = server->authenticator_.get();
  server->gateway_.log = server->log_.get();
  server->gateway_.log_signer = server->log_signer_.get();
  server->staff_access_ =
      std::make_unique<StaffAccessService>(&server->gateway_);
  server->audit_log_ = std::make_unique<AuditLogService>(&server->gateway_);
  server->approvals_service_ =
      std::make_unique<ApprovalsService>(&server->gateway_);
  server->identity_service_ =
      std::make_unique<TakeIdentityService>(&server->gateway_);

  // TLS asks for a client certificate but leaves verifying it to the
  // Authenticator, so an unknown caller is refused (and logged) by Custos
  // rather than dropped in the handshake.
  grpc::SslServerCredentialsOptions tls(
      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  tls.pem_root_certs = ca_pem;
  tls.pem_key_cert_pairs.push_back({server_key, server_cert});

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address,
                           grpc::SslServerCredentials(tls), &server->port_);
  builder.RegisterService(server->staff_access_.get());
  builder.RegisterService(server->audit_log_.get());
  builder.RegisterService(server->approvals_service_.get());
  builder.RegisterService(server->identity_service_.get());
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<MalformedRequestLogging>(&server->gateway_));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen_address,
                     " (is another custosd running there?)"));
  }
  return server;
}

void GatewayServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMicroseconds(grace));
  server_->Wait();
  server_.reset();
}

GatewayServer::~GatewayServer() {
  Shutdown();
  if (retention_.joinable()) {
    stop_retention_.Notify();
    retention_.join();
  }
  // log_ is destroyed after the services' last calls: it drains its queue.
  // The data directory's lock goes last (DataDirectoryLock).
}

GatewayServer::DataDirectoryLock::~DataDirectoryLock() {
  if (fd >= 0) close(fd);
}

}  // namespace custos::gateway
