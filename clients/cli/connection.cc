#include "clients/cli/connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace custos::cli {
namespace {

std::string FirstOf(const std::string& value, const char* env_name,
                    const std::string& fallback) {
  if (!value.empty()) return value;
  const char* env = std::getenv(env_name);
  if (env != nullptr && *env != '\0') return env;
  return fallback;
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

ConnectionSettings ResolveSettings(const ConnectionSettings& explicit_settings,
                                   const std::string& staff_id,
                                   const std::string& pki_dir) {
  const std::string dir = FirstOf(pki_dir, "CUSTOS_PKI_DIR", ".custos/pki");
  const std::string who = FirstOf(staff_id, "CUSTOS_AS", "");
  ConnectionSettings s;
  s.server =
      FirstOf(explicit_settings.server, "CUSTOS_SERVER", "localhost:7443");
  s.ca_file = FirstOf(explicit_settings.ca_file, "CUSTOS_CA", dir + "/ca.crt");
  s.cert_file =
      FirstOf(explicit_settings.cert_file, "CUSTOS_CERT",
              who.empty() ? "" : absl::StrCat(dir, "/clients/", who, ".crt"));
  s.key_file =
      FirstOf(explicit_settings.key_file, "CUSTOS_KEY",
              who.empty() ? "" : absl::StrCat(dir, "/clients/", who, ".key"));
  return s;
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
