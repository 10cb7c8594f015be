// The development PKI that custosd makes on first start: a CA, a server
// certificate for localhost, and one client certificate per staff member,
// plus the issuing functions tests use to make expired or foreign ones.
//
// Keys are ECDSA P-256 in PKCS#8 PEM, written with mode 0600 through a
// temporary file, fsync and rename, so a crash never leaves half a key.
//
// Thread-safety: MakeCa and IssueClientCert are thread-safe (they touch no
// shared state). EnsureDevPki is thread-compatible per directory: do not run
// two at once on the same `dir`, in one process or in two.
#ifndef CUSTOS_GATEWAY_PKI_DEV_CA_H_
#define CUSTOS_GATEWAY_PKI_DEV_CA_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace custos::pki {

// Where the development PKI's files live, all under `dir`.
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

// Creates whatever is missing under `paths.dir` (the directory itself and
// `clients/` with mode 0700, and any missing parents):
//   - the CA: self-signed, CN "Custos development CA", basicConstraints
//     CA:TRUE and keyUsage keyCertSign, cRLSign (both critical), 10 years;
//   - the server certificate: CN "custosd", SAN DNS:localhost, IP:127.0.0.1,
//     IP:::1, extendedKeyUsage serverAuth, 2 years;
//   - for each of `client_ids`, a client certificate: CN = the id,
//     extendedKeyUsage clientAuth, 1 year.
// Serials are random 128-bit numbers. Keys are written 0600, certificates
// 0644, the key first.
//
// Existing files are kept while they can be used: a second call with the
// same ids changes nothing, and a new id gets a certificate signed by the
// existing CA. A server or client certificate is issued again, with a new
// key, when its key file is missing, does not parse (truncated) or is not
// the certificate's key (what a crash between writing a new key and its
// certificate leaves), or when the certificate is not yet valid or expires
// within 30 days (a start renews it a month ahead). One that the CA in
// ca.crt did not sign (the CA was replaced) is FAILED_PRECONDITION rather
// than kept silently or replaced.
//
// Errors (the first one met, its message naming the file): INVALID_ARGUMENT
// for an id that is not 1 to 64 of [a-z0-9._-] not starting with '.' (ids
// become file names); INVALID_ARGUMENT for a certificate, or the CA key,
// that does not parse; FAILED_PRECONDITION as above, or for a directory
// path that is a file; PERMISSION_DENIED, NOT_FOUND or UNAVAILABLE from the
// file system (a key file that exists but cannot be read is not replaced).
absl::Status EnsureDevPki(const DevPkiPaths& paths,
                          const std::vector<std::string>& client_ids);

// A certificate and its private key, both PEM (the key PKCS#8, unencrypted).
struct IssuedCert {
  std::string cert_pem;
  std::string key_pem;
};

// A fresh self-signed CA named `common_name` with a new P-256 key, valid from
// an hour ago for 10 years (for tests: "another CA"). INTERNAL if OpenSSL
// fails.
absl::StatusOr<IssuedCert> MakeCa(absl::string_view common_name);

// A client certificate for `common_name` (extendedKeyUsage clientAuth) with a
// new P-256 key, valid from `not_before` to `not_after` (not checked, so tests
// can make expired and not-yet-valid ones), signed by the CA whose
// certificate and key are given as PEM. INVALID_ARGUMENT when either PEM does
// not parse or the key is not the certificate's; INTERNAL if OpenSSL fails.
absl::StatusOr<IssuedCert> IssueClientCert(absl::string_view ca_cert_pem,
                                           absl::string_view ca_key_pem,
                                           absl::string_view common_name,
                                           absl::Time not_before,
                                           absl::Time not_after);

}  // namespace custos::pki

#endif  // CUSTOS_GATEWAY_PKI_DEV_CA_H_
