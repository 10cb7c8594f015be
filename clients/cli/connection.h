// How the CLI reaches custosd: its address, and who calls, a staff member
// by TLS certificate or a customer by API token. Each setting comes from
// the command line, else the environment, else a config file, else a
// default.
//
// Thread-compatible value types; SettingsFromEnvironment reads the
// process's environment.
#ifndef CUSTOS_CLIENTS_CLI_CONNECTION_H_
#define CUSTOS_CLIENTS_CLI_CONNECTION_H_

#include <grpcpp/channel.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace custos::cli {

// Connection settings as one source gives them; an empty field is not set.
struct SettingsLayer {
  enum class Source { kCommandLine, kEnvironment, kConfigFile };
  Source source = Source::kCommandLine;
  // The config file's path, for kConfigFile.
  std::string file;

  // host:port of custosd.
  std::string server;
  // A staff id: its certificate and key are <pki_dir>/clients/<as>.crt and
  // .key, its CA <pki_dir>/ca.crt.
  std::string as;
  std::string pki_dir;
  // PEM files, each overriding the one derived from `as` or `pki_dir`.
  std::string ca;
  std::string cert;
  std::string key;
  // A customer's API token, sent as a bearer token instead of a staff
  // certificate. Never in a config file.
  std::string token;
};

// How `field` of `layer` is named to the user: "--as", "CUSTOS_AS" or
// "as in /home/u/.config/custos/cli.conf".
std::string SettingName(const SettingsLayer& layer, absl::string_view field);

// CUSTOS_SERVER, CUSTOS_AS, CUSTOS_PKI_DIR, CUSTOS_CA, CUSTOS_CERT,
// CUSTOS_KEY and CUSTOS_TOKEN.
SettingsLayer SettingsFromEnvironment();

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
  // The customer's API token for every call, or empty.
  std::string bearer_token;
};

// Resolves `layers`, strongest first (the command line, the environment,
// the config file). Each setting is the strongest layer's; a path derived
// from `as` or `pki_dir` counts as given where they are, and loses to a
// file given in a stronger layer, or in the same one. The staff identity
// is one: certificate and key both derive from the strongest `as`, unless
// `cert` or `key` is given in a layer at least as strong. Defaults: server
// localhost:7443, pki_dir .custos/pki.
//
// INVALID_ARGUMENT naming the settings when a token and a staff identity
// are both given (from any layers: a call is made as one or the other, and
// a leftover one must not decide which), or a certificate without its key
// or a key without its certificate.
absl::StatusOr<ConnectionSettings> ResolveSettings(
    const std::vector<SettingsLayer>& layers);

// Opens a TLS channel, mutual unless `without_certificate`. NOT_FOUND
// naming the file when a PEM file cannot be read; INVALID_ARGUMENT when no
// certificate is configured.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(
    const ConnectionSettings& settings);

}  // namespace custos::cli

#endif  // CUSTOS_CLIENTS_CLI_CONNECTION_H_
