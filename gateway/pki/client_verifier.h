// Verifies a staff member's TLS client certificate against the company's CA,
// in Custos's own code rather than in the TLS handshake, so that a missing,
// foreign, expired or revoked certificate gets a clear UNAUTHENTICATED.
//
// Thread-safe: the trust store is read-only after Create; each Verify makes
// its own verification context; revocations are guarded by a mutex.
#ifndef CUSTOS_GATEWAY_PKI_CLIENT_VERIFIER_H_
#define CUSTOS_GATEWAY_PKI_CLIENT_VERIFIER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/openssl.h"

namespace custos::pki {

class ClientVerifier {
 public:
  // Trusts the CA certificates in `ca_pem`. INVALID_ARGUMENT if it holds none.
  static absl::StatusOr<std::unique_ptr<ClientVerifier>> Create(
      absl::string_view ca_pem);

  // Verifies `peer_pem`, the client's leaf certificate as PEM (empty when the
  // client sent none), at time `now`: chain to a trusted CA, signature,
  // validity window, the clientAuth purpose, not revoked. Returns the
  // subject's common name, the staff id. UNAUTHENTICATED saying why otherwise.
  absl::StatusOr<std::string> Verify(absl::string_view peer_pem,
                                     absl::Time now) const;

  // Refuses the certificate with this serial number (hex, as OpenSSL prints
  // it, case-insensitive) from now on.
  void Revoke(absl::string_view serial_hex);

 private:
  explicit ClientVerifier(X509StorePtr store) : store_(std::move(store)) {}

  // A certificate that verified once: its subject, serial and validity, so
  // a long-lived connection's calls skip the signature check.
  struct Verified {
    std::string common_name;
    std::string serial;
    absl::Time not_before;
    absl::Time not_after;
  };

  X509StorePtr store_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> revoked_ ABSL_GUARDED_BY(mu_);
  // Keyed by the certificate's PEM; bounded (cleared when full).
  mutable absl::flat_hash_map<std::string, Verified> verified_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace custos::pki

#endif  // CUSTOS_GATEWAY_PKI_CLIENT_VERIFIER_H_
