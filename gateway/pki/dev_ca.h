// The development PKI that custosd makes on first start: a CA, a server
// certificate for localhost, and one client certificate per staff member.
//
// Keys are ECDSA P-256 in PKCS#8 PEM, written with mode 0600 through a
// temporary file and a rename, so a crash never leaves half a key. Functions
// are thread-compatible: do not run two EnsureDevPki on one directory at once.
#ifndef CUSTOS_GATEWAY_PKI_DEV_CA_H_
#define CUSTOS_GATEWAY_PKI_DEV_CA_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace custos::pki {

// Where the files live, all under `dir`.
struct DevPkiPaths {
  std::string dir;

  std::string ca_cert() const { return dir + "/ca.crt"; }
  std::string ca_key() const { return dir + "/ca.key"; }
  std::string server_cert() const { return dir + "/server.crt"; }
  std::string server_key() const { return dir + "/server.key"; }
  std::string client_cert(absl::string_view id) const {
    return dir + "/clients/" + std::string(id) + ".crt";
  }
  std::string client_key(absl::string_view id) const {
    return dir + "/clients/" + std::string(id) + ".key";
  }
};

// Creates whatever is missing: the CA (10 years), the server certificate
// (CN custosd, SAN localhost, 127.0.0.1, ::1; 2 years) and a client
// certificate (CN = id, clientAuth; 1 year) for each of `client_ids`.
// Existing files are kept, so a second call changes nothing and a new id
// gets a certificate from the existing CA. Errors name the file.
absl::Status EnsureDevPki(const DevPkiPaths& paths,
                          const std::vector<std::string>& client_ids);

struct IssuedCert {
  std::string cert_pem;
  std::string key_pem;
};

// A fresh self-signed CA named `common_name`.
absl::StatusOr<IssuedCert> MakeCa(absl::string_view common_name);

// A client certificate for `common_name`, valid from `not_before` to
// `not_after`, signed by the CA given as PEM. INVALID_ARGUMENT when the CA's
// PEM does not parse.
absl::StatusOr<IssuedCert> IssueClientCert(absl::string_view ca_cert_pem,
                                           absl::string_view ca_key_pem,
                                           absl::string_view common_name,
                                           absl::Time not_before,
                                           absl::Time not_after);

}  // namespace custos::pki

#endif  // CUSTOS_GATEWAY_PKI_DEV_CA_H_
