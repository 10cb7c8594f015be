// How the CLI reaches custosd: address and the staff member's TLS identity,
// from flags, then environment variables, then defaults.
//
// Thread-compatible value types.
#ifndef CUSTOS_CLIENTS_CLI_CONNECTION_H_
#define CUSTOS_CLIENTS_CLI_CONNECTION_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace custos::cli {

struct ConnectionSettings {
  // host:port of custosd.
  std::string server;
  // PEM files: the CA that signed custosd's certificate, and the staff
  // member's certificate and key.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Connect with TLS but no client certificate (a customer's token calls).
  bool without_certificate = false;
};

// Resolves settings: an explicit value wins, then the environment
// (CUSTOS_SERVER, CUSTOS_CA, CUSTOS_CERT, CUSTOS_KEY), then paths derived
// from `staff_id` (or CUSTOS_AS) under `pki_dir` (or CUSTOS_PKI_DIR, default
// ".custos/pki"): <pki_dir>/ca.crt, <pki_dir>/clients/<staff_id>.crt/.key.
ConnectionSettings ResolveSettings(const ConnectionSettings& explicit_settings,
                                   const std::string& staff_id,
                                   const std::string& pki_dir);

// Opens a mutual-TLS channel. NOT_FOUND naming the file when a PEM file
// cannot be read; INVALID_ARGUMENT when no certificate is configured.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(
    const ConnectionSettings& settings);

}  // namespace custos::cli

#endif  // CUSTOS_CLIENTS_CLI_CONNECTION_H_
