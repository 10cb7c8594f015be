#include "gateway/auth.h"

#include <arpa/inet.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/openssl.h"

namespace custos::gateway {

Authenticator::Authenticator(const pki::ClientVerifier* verifier,
                             const Directory* directory,
                             TokenLookup customer_tokens,
                             std::string web_service_id)
    : verifier_(verifier),
      directory_(directory),
      customer_tokens_(std::move(customer_tokens)),
      web_service_id_(std::move(web_service_id)) {}

bool IsDpo(const custos::v1::StaffMember& staff) {
  // A DPO whose contract has ended keeps the role in the directory until it
  // is edited, and a certificate until it is revoked; neither may keep the
  // DPO's powers (deciding trips and requests, erasing, reading every entry).
  return staff.active() && std::find(staff.roles().begin(), staff.roles().end(),
                                     "dpo") != staff.roles().end();
}

namespace {

std::string Metadata(const grpc::ServerContextBase& context,
                     absl::string_view key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(std::string(key));
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// custos-web, authenticated by its certificate, names whom it calls for.
// It may call for a customer or for the DPO (whom it signed in), never for
// other staff: engineers reach it only through their take-identity links.
void AuthenticateFrontEnd(const grpc::ServerContextBase& context,
                          const Directory& directory, Caller& caller) {
  const std::string address = Metadata(context, kClientAddressMetadata);
  if (!address.empty()) {
    // Parsed, not just checked for its characters: the log keeps the
    // address as a personal value and masks it after 14 days, which needs
    // an address ("1.2.3" would have no octets to mask).
    in6_addr parsed;
    if (address.size() > 64 ||
        (inet_pton(AF_INET, address.c_str(), &parsed) != 1 &&
         inet_pton(AF_INET6, address.c_str(), &parsed) != 1)) {
      caller.status = absl::InvalidArgumentError(absl::StrCat(
          kClientAddressMetadata, ": expected an IPv4 or IPv6 address"));
      return;
    }
    caller.source_address = address;
  }
  const std::string on_behalf = Metadata(context, kOnBehalfOfMetadata);
  if (on_behalf.empty()) return;
  // One prefix or the other, never both: "customer:staff:<the DPO>" is
  // neither a customer nor the DPO.
  absl::string_view who = on_behalf;
  if (absl::ConsumePrefix(&who, "customer:")) {
    if (directory.FindCustomer(who) != nullptr) {
      caller.customer_id = std::string(who);
      return;
    }
  } else if (absl::ConsumePrefix(&who, "staff:")) {
    const custos::v1::StaffMember* staff = directory.FindStaff(who);
    if (staff != nullptr && IsDpo(*staff)) {
      caller.staff = staff;
      return;
    }
  }
  caller.status = absl::UnauthenticatedError(
      absl::StrCat(kOnBehalfOfMetadata,
                   ": expected customer:<known customer> or staff:<a DPO>"));
}

}  // namespace

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
  std::string distinguished_name;
  absl::StatusOr<std::string> subject = verifier_->Verify(
      peer_pem, now, &caller.certificate_serial, &distinguished_name);
  if (!subject.ok()) {
    caller.status = subject.status();
    caller.refused_certificate_subject = std::move(distinguished_name);
    return caller;
  }
  if (IsValidId(*subject)) caller.claimed_id = *subject;
  if (!web_service_id_.empty() && *subject == web_service_id_) {
    caller.via = *subject;
    AuthenticateFrontEnd(context, *directory_, caller);
    return caller;
  }
  caller.staff = directory_->FindStaff(*subject);
  if (caller.staff == nullptr) {
    // Not quoted: the subject names a person, and this message is logged.
    caller.status = absl::UnauthenticatedError(
        "client certificate verified, but its subject common name is not a "
        "staff id in the staff directory");
    caller.refused_certificate_subject = std::move(distinguished_name);
  }
  return caller;
}

}  // namespace custos::gateway
