// Verifies a staff member's TLS client certificate against the trusted CA in
// Custos's own code rather than in the TLS handshake. custosd runs TLS with
// GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY, so a missing, foreign,
// expired or revoked certificate still reaches the application, which answers
// it with a clear UNAUTHENTICATED (and logs it) instead of a failed handshake.
//
// Thread-safe after construction: the X509_STORE is shared read-only, each
// Verify makes its own X509_STORE_CTX, and the revocation set and the cache
// of certificates already verified are guarded by a mutex.
#ifndef CUSTOS_GATEWAY_PKI_CLIENT_VERIFIER_H_
#define CUSTOS_GATEWAY_PKI_CLIENT_VERIFIER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "common/openssl.h"

namespace custos::pki {

class ClientVerifier {
 public:
  // Trusts the CA certificate(s) in `ca_pem` (one or more PEM certificates).
  // INVALID_ARGUMENT if it holds none, if one does not parse, or if one is
  // not a CA certificate.
  static absl::StatusOr<std::unique_ptr<ClientVerifier>> Create(
      absl::string_view ca_pem);

  ClientVerifier(const ClientVerifier&) = delete;
  ClientVerifier& operator=(const ClientVerifier&) = delete;

  // Verifies `peer_pem`, the client's leaf certificate as PEM (as gRPC's auth
  // context property "x509_pem_cert" gives it; empty when the client sent
  // none), at time `now`: its chain to a trusted CA, the signatures, the
  // validity window of every certificate in the chain, extendedKeyUsage
  // clientAuth, and that its serial is not revoked. Returns the subject's
  // common name, the staff id.
  //
  // UNAUTHENTICATED in every failure, with a message a person can act on:
  // "no client certificate was presented", "client certificate is not a PEM
  // certificate", "client certificate is not signed by the trusted CA
  // (issuer CN=...)" (or "(it is self-signed)"), "client certificate expired
  // at 2026-01-02 03:04:05 UTC; ask for a new one", "client certificate is
  // not valid until ...", "client certificate is not for client
  // authentication ...", "client certificate has no subject common name
  // ...", "client certificate is revoked (serial ...)". INTERNAL only if
  // OpenSSL cannot allocate. Messages never quote the certificate's subject:
  // it names a person, and they are logged.
  //
  // A certificate that verified is remembered (up to 10,000), so later calls
  // with the same PEM skip the signature checks; the validity window and
  // revocation are still checked on every call.
  // With `serial`, also the certificate's serial (normalized, as Revoke
  // takes it). With `subject`, the subject's distinguished name (RFC 2253,
  // at most 200 bytes and "..."), set whenever the PEM parses, refused or
  // not, for a caller that keeps it as personal data.
  absl::StatusOr<std::string> Verify(absl::string_view peer_pem, absl::Time now,
                                     std::string* serial = nullptr,
                                     std::string* subject = nullptr) const;

  // Whether the certificate with this serial (as Verify gave it) has been
  // revoked: for what a certificate opened that outlives its connection (a
  // take-identity session custos-web carries on).
  bool IsRevoked(absl::string_view serial_hex) const;

  // Refuses the certificate with this serial number from the next Verify on.
  // `serial_hex` is hex as OpenSSL prints it: any case, with or without ':'
  // separators or leading zeros ("0A1B", "0a:1b" and "a1b" are the same).
  void Revoke(absl::string_view serial_hex);

 private:
  explicit ClientVerifier(X509StorePtr store) : store_(std::move(store)) {}

  // A certificate that verified once, so that the calls of a long-lived
  // connection skip the signature checks: what Verify returns, the serial to
  // check revocation against, and the window (the intersection of the
  // chain's) in which the result stands.
  struct Verified {
    std::string common_name;
    std::string subject;
    std::string serial;
    absl::Time not_before;
    absl::Time not_after;
  };

  // Verifies without the cache; on success fills `verified`, and its
  // `subject` whenever the PEM parses.
  absl::Status VerifyChain(absl::string_view peer_pem, absl::Time now,
                           Verified& verified) const;
  absl::Status RefuseIfRevoked(const Verified& verified) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const X509StorePtr store_;
  mutable Mutex mu_;
  absl::flat_hash_set<std::string> revoked_ ABSL_GUARDED_BY(mu_);
  // Keyed by the certificate's PEM; bounded (cleared when full).
  mutable absl::flat_hash_map<std::string, Verified> verified_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace custos::pki

#endif  // CUSTOS_GATEWAY_PKI_CLIENT_VERIFIER_H_
