// Who is calling: the staff member named by the TLS client certificate, and
// where the policy's networks place the connection.
//
// The gRPC server asks for a client certificate without letting TLS verify
// it, so that a missing or foreign certificate reaches this code, gets a
// clear UNAUTHENTICATED and is logged like any other refusal. Verification
// happens here, on every call. Thread-safe.
#ifndef CUSTOS_GATEWAY_AUTH_H_
#define CUSTOS_GATEWAY_AUTH_H_

#include <grpcpp/server_context.h>

#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/directory.h"
#include "gateway/pki/client_verifier.h"
#include "policy/networks.h"
#include "proto/custos/v1/directory.pb.h"

namespace custos::gateway {

struct Caller {
  // OK, or UNAUTHENTICATED saying why.
  absl::Status status;
  // The authenticated staff member; null unless status is OK.
  const custos::v1::StaffMember* staff = nullptr;
  // The subject common name of a certificate that verified, so one the
  // company's CA issued as a staff id, even when the staff directory does
  // not know it (for the log); an id or empty. A certificate that did not
  // verify leaves it empty: its subject is only committed to.
  std::string claimed_id;
  // The serial of the certificate that verified (normalized hex), for what
  // the call opens that outlives it.
  std::string certificate_serial;
  // The subject (distinguished name) of a client certificate that did not
  // make a caller: refused, or not in the staff directory. It names a
  // person, so the log only commits to it (see AuditedCall); empty
  // otherwise.
  std::string refused_certificate_subject;
  std::string source_address;
  // Where the policy's networks place the source address (set by the
  // caller of Authenticate, with its policy snapshot).
  policy::Placement placement;

  // A customer, authenticated by API token ("authorization: Bearer ..."),
  // or signed in to custos-web, for the customer-facing calls; empty
  // otherwise.
  std::string customer_id;

  // The front end (custos-web) that made this call, by its certificate's id;
  // empty for a direct call. The front end itself is not staff: it either
  // names the signed-in person it calls for (a customer, or the DPO), or
  // presents a take-identity link or session token, whose engineer becomes
  // the actor.
  std::string via;

  // Whether the caller is a known staff member.
  // (Admitted, too: a staff member over their request rate is not.)
  bool authenticated() const { return staff != nullptr && status.ok(); }
  bool is_customer() const { return !customer_id.empty(); }
  // The front end calling for nobody in particular (take-identity calls).
  bool is_front_end() const {
    return !via.empty() && staff == nullptr && customer_id.empty() &&
           status.ok();
  }

  // OK for an admitted staff member; otherwise why the call is not theirs:
  // the authentication or rate-limit error, or PERMISSION_DENIED for a
  // customer's token on a staff-only call.
  absl::Status StaffStatus() const {
    if (authenticated()) return absl::OkStatus();
    if (is_customer()) {
      return absl::PermissionDeniedError(
          "this call is for staff; a customer's API token does not open it");
    }
    if (is_front_end()) {
      return absl::PermissionDeniedError(
          "this call is for staff; custos-web reaches it only through a "
          "take-identity link or session");
    }
    // Never OK for a caller who is not staff, whatever set `status`.
    return status.ok() ? absl::UnauthenticatedError("not a known staff member")
                       : status;
  }
};

class Authenticator {
 public:
  // Maps SHA-256 of a customer's API token to the customer, or nullopt.
  using TokenLookup = std::function<absl::StatusOr<std::optional<std::string>>(
      absl::string_view token_hash)>;

  // Borrows both; they must outlive the Authenticator. `web_service_id` is
  // the certificate subject of custos-web (empty: no front end is trusted).
  Authenticator(const pki::ClientVerifier* verifier, const Directory* directory,
                TokenLookup customer_tokens = nullptr,
                std::string web_service_id = "");

  // Identifies the caller of one RPC at time `now`. Never fails outright: an
  // unknown caller comes back with an UNAUTHENTICATED status.
  Caller Authenticate(const grpc::ServerContextBase& context,
                      absl::Time now) const;

  // Whether the certificate with this serial (Caller::certificate_serial)
  // has been revoked since.
  bool CertificateRevoked(absl::string_view serial) const {
    return verifier_->IsRevoked(serial);
  }

 private:
  const pki::ClientVerifier* verifier_;
  const Directory* directory_;
  TokenLookup customer_tokens_;
  std::string web_service_id_;
};

// Metadata custos-web sends with its own certificate: whom it calls for
// ("customer:<id>" or "staff:<DPO's id>"), and the browser's address, which
// the policy's networks place instead of custos-web's own.
inline constexpr char kOnBehalfOfMetadata[] = "custos-on-behalf-of";
inline constexpr char kClientAddressMetadata[] = "custos-client-address";

// Whether `staff` is active and holds the DPO role, which sees the whole
// log.
bool IsDpo(const custos::v1::StaffMember& staff);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_AUTH_H_
