#include "gateway/auth.h"

#include "absl/strings/str_cat.h"

namespace custos::gateway {

Authenticator::Authenticator(const pki::ClientVerifier* verifier,
                             const Directory* directory)
    : verifier_(verifier), directory_(directory) {}

Caller Authenticator::Authenticate(const grpc::ServerContextBase& context,
                                   absl::Time now) const {
  Caller caller;
  caller.source_address = policy::AddressFromPeer(context.peer());

  std::string peer_pem;
  const auto auth_context = context.auth_context();
  if (auth_context != nullptr) {
    const auto values = auth_context->FindPropertyValues("x509_pem_cert");
    if (!values.empty())
      peer_pem.assign(values.front().data(), values.front().size());
  }
  absl::StatusOr<std::string> subject = verifier_->Verify(peer_pem, now);
  if (!subject.ok()) {
    caller.status = subject.status();
    return caller;
  }
  if (IsValidId(*subject)) caller.claimed_id = *subject;
  caller.staff = directory_->FindStaff(*subject);
  if (caller.staff == nullptr) {
    caller.status = absl::UnauthenticatedError(absl::StrCat(
        "certificate subject \"", caller.claimed_id.empty() ? "?" : *subject,
        "\" is not in the staff directory"));
  }
  return caller;
}

}  // namespace custos::gateway
