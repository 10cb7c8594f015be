#include "clients/cli/connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace custos::cli {
namespace {

// A setting as the strongest layer that sets it gives it.
struct Given {
  // The layer's place in `layers`, strongest first; layers.size() when no
  // layer sets it.
  size_t rank = 0;
  // The layer that sets it, or null.
  const SettingsLayer* layer = nullptr;
  std::string value;
  // The field's name, e.g. "cert".
  absl::string_view field;

  bool given() const { return layer != nullptr; }
  // How the user set it, e.g. "CUSTOS_CERT"; only when given().
  std::string name() const { return SettingName(*layer, field); }
};

Given Strongest(const std::vector<SettingsLayer>& layers,
                std::string SettingsLayer::*member, absl::string_view field) {
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!(layers[i].*member).empty())
      return {i, &layers[i], layers[i].*member, field};
  }
  return {layers.size(), nullptr, "", field};
}

std::string FromEnvironment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

absl::StatusOr<std::string> ReadPem(const std::string& what,
                                    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(what, " ", path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string SettingName(const SettingsLayer& layer, absl::string_view field) {
  switch (layer.source) {
    case SettingsLayer::Source::kCommandLine:
      return absl::StrCat("--", field);
    case SettingsLayer::Source::kEnvironment:
      return absl::StrCat("CUSTOS_", absl::AsciiStrToUpper(field));
    case SettingsLayer::Source::kConfigFile:
      return absl::StrCat(field, " in ", layer.file);
  }
  return std::string(field);
}

SettingsLayer SettingsFromEnvironment() {
  SettingsLayer layer;
  layer.source = SettingsLayer::Source::kEnvironment;
  layer.server = FromEnvironment("CUSTOS_SERVER");
  layer.as = FromEnvironment("CUSTOS_AS");
  layer.pki_dir = FromEnvironment("CUSTOS_PKI_DIR");
  layer.ca = FromEnvironment("CUSTOS_CA");
  layer.cert = FromEnvironment("CUSTOS_CERT");
  layer.key = FromEnvironment("CUSTOS_KEY");
  layer.token = FromEnvironment("CUSTOS_TOKEN");
  return layer;
}

absl::StatusOr<ConnectionSettings> ResolveSettings(
    const std::vector<SettingsLayer>& layers) {
  const Given server = Strongest(layers, &SettingsLayer::server, "server");
  const Given pki_dir = Strongest(layers, &SettingsLayer::pki_dir, "pki_dir");
  const Given ca = Strongest(layers, &SettingsLayer::ca, "ca");
  const Given as = Strongest(layers, &SettingsLayer::as, "as");
  const Given cert = Strongest(layers, &SettingsLayer::cert, "cert");
  const Given key = Strongest(layers, &SettingsLayer::key, "key");
  const Given token = Strongest(layers, &SettingsLayer::token, "token");

  const std::string dir = pki_dir.given() ? pki_dir.value : ".custos/pki";
  ConnectionSettings settings;
  settings.server = server.given() ? server.value : "localhost:7443";
  // A file named in a layer at least as strong as the one a path derives
  // from wins: `--pki_dir` beats CUSTOS_CA, CUSTOS_CERT loses to `--as`.
  settings.ca_file = ca.given() && ca.rank <= pki_dir.rank
                         ? ca.value
                         : absl::StrCat(dir, "/ca.crt");
  auto staff_file = [&](const Given& file, absl::string_view extension,
                        const Given** decided_by) -> std::string {
    if (file.given() && file.rank <= as.rank) {
      *decided_by = &file;
      return file.value;
    }
    if (!as.given()) return "";
    *decided_by = &as;
    return absl::StrCat(dir, "/clients/", as.value, extension);
  };
  const Given* cert_from = nullptr;
  const Given* key_from = nullptr;
  settings.cert_file = staff_file(cert, ".crt", &cert_from);
  settings.key_file = staff_file(key, ".key", &key_from);
  if (cert_from == nullptr && key_from != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_from->name(),
                     " gives a key without its certificate: give cert too"));
  }
  if (cert_from != nullptr && key_from == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_from->name(),
                     " gives a certificate without its key: give key too"));
  }
  // One identity: a certificate named outright with the key derived from
  // an `as` given elsewhere (or the other way round) would pair two
  // people's files. Given together, in one place, the file is meant to
  // replace the derived one.
  const Given* named = nullptr;
  if (cert_from != nullptr && key_from != nullptr &&
      (cert_from == &as) != (key_from == &as)) {
    named = cert_from == &as ? key_from : cert_from;
  }
  if (named != nullptr && named->rank != as.rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        named->name(), " names a ", named == cert_from ? "certificate" : "key",
        " but its ", named == cert_from ? "key" : "certificate",
        " would come from ", as.name(),
        ": give cert and key together, or "
        "neither"));
  }
  if (token.given() && cert_from != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a customer's token (", token.name(), ") and a staff identity (",
        cert_from->name(),
        ") are both given, and a call is made as one or the other: drop one"));
  }
  settings.without_certificate = token.given();
  settings.bearer_token = token.value;
  return settings;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(
    const ConnectionSettings& settings) {
  if (settings.without_certificate) {
    auto ca = ReadPem("CA certificate", settings.ca_file);
    if (!ca.ok()) return ca.status();
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = *ca;
    return grpc::CreateChannel(settings.server, grpc::SslCredentials(tls));
  }
  if (settings.cert_file.empty() || settings.key_file.empty()) {
    return absl::InvalidArgumentError(
        "no staff certificate: pass --as STAFF_ID (or set CUSTOS_AS), or "
        "--cert and --key");
  }
  grpc::SslCredentialsOptions tls;
  auto ca = ReadPem("CA certificate", settings.ca_file);
  if (!ca.ok()) return ca.status();
  auto cert = ReadPem("certificate", settings.cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadPem("key", settings.key_file);
  if (!key.ok()) return key.status();
  tls.pem_root_certs = *ca;
  tls.pem_cert_chain = *cert;
  tls.pem_private_key = *key;
  return grpc::CreateChannel(settings.server, grpc::SslCredentials(tls));
}

}  // namespace custos::cli
