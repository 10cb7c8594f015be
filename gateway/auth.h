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
  // The subject the certificate claimed, even when it did not verify (for
  // the log); sanitized to an id or empty.
  std::string claimed_id;
  std::string source_address;
  // Where the policy's networks place the source address (set by the
  // caller of Authenticate, with its policy snapshot).
  policy::Placement placement;

  // A customer, authenticated by API token ("authorization: Bearer ..."),
  // for the customer-facing calls; empty otherwise.
  std::string customer_id;

  // Whether the caller is a known staff member.
  // (Admitted, too: a staff member over their request rate is not.)
  bool authenticated() const { return staff != nullptr && status.ok(); }
  bool is_customer() const { return !customer_id.empty(); }

  // OK for an admitted staff member; otherwise why the call is not theirs:
  // the authentication or rate-limit error, or PERMISSION_DENIED for a
  // customer's token on a staff-only call.
  absl::Status StaffStatus() const {
    if (authenticated()) return absl::OkStatus();
    if (is_customer()) {
      return absl::PermissionDeniedError(
          "this call is for staff; a customer's API token does not open it");
    }
    return status;
  }
};

class Authenticator {
 public:
  // Maps SHA-256 of a customer's API token to the customer, or nullopt.
  using TokenLookup = std::function<absl::StatusOr<std::optional<std::string>>(
      absl::string_view token_hash)>;

  // Borrows both; they must outlive the Authenticator.
  Authenticator(const pki::ClientVerifier* verifier, const Directory* directory,
                TokenLookup customer_tokens = nullptr);

  // Identifies the caller of one RPC at time `now`. Never fails outright: an
  // unknown caller comes back with an UNAUTHENTICATED status.
  Caller Authenticate(const grpc::ServerContextBase& context,
                      absl::Time now) const;

 private:
  const pki::ClientVerifier* verifier_;
  const Directory* directory_;
  TokenLookup customer_tokens_;
};

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_AUTH_H_
