#include "gateway/auth.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/openssl.h"

namespace custos::gateway {

Authenticator::Authenticator(const pki::ClientVerifier* verifier,
                             const Directory* directory,
                             TokenLookup customer_tokens)
    : verifier_(verifier),
      directory_(directory),
      customer_tokens_(std::move(customer_tokens)) {}

Caller Authenticator::Authenticate(const grpc::ServerContextBase& context,
                                   absl::Time now) const {
  Caller caller;
  caller.source_address = policy::AddressFromPeer(context.peer());

  // A customer presents an API token; it is only ever compared as a hash.
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization");
      it != metadata.end() && customer_tokens_) {
    absl::string_view value(it->second.data(), it->second.size());
    if (!absl::ConsumePrefix(&value, "Bearer ") || value.size() < 16 ||
        value.size() > 256) {
      caller.status = absl::UnauthenticatedError(
          "authorization: expected \"Bearer <customer API token>\"");
      return caller;
    }
    auto customer = customer_tokens_(Sha256(value));
    if (!customer.ok()) {
      caller.status = customer.status();
    } else if (!customer->has_value()) {
      caller.status = absl::UnauthenticatedError(
          "authorization: unknown customer API token");
    } else {
      caller.customer_id = **customer;
    }
    return caller;
  }
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
