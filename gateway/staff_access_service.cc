#include "gateway/staff_access_service.h"

#include <openssl/rand.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/openssl.h"
#include "gateway/audited_call.h"
#include "gateway/grpc_status.h"
#include "gateway/validate.h"
#include "google/protobuf/util/time_util.h"

namespace custos::gateway {
namespace {

// A fresh identifier: `prefix` and 128 random bits in hex.
absl::StatusOr<std::string> NewId(absl::string_view prefix) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return OpenSslError("RAND_bytes", absl::StatusCode::kUnavailable);
  }
  return absl::StrCat(
      prefix, HexEncode(absl::string_view(reinterpret_cast<char*>(bytes),
                                          sizeof(bytes))));
}

std::string DenialMessage(const custos::v1::Decision& decision) {
  std::vector<std::string> parts;
  for (const auto& reason : decision.reasons()) {
    parts.push_back(absl::StrCat(reason.code(), ": ", reason.message()));
  }
  return absl::StrCat("access refused: ", absl::StrJoin(parts, "; "));
}

absl::Status DecideRequestAccess(
    const Gateway& gateway, AuditedCall& call,
    const custos::v1::RequestAccessRequest& request,
    custos::v1::RequestAccessResponse& response) {
  if (!call.caller().authenticated()) return call.caller().status;
  custos::v1::LogEntry& entry = call.entry();
  // Whatever is well-formed goes into the entry even when the request as a
  // whole is refused, so the customer sees attempts on their account too.
  if (ValidateId("customer_id", request.customer_id(), true).ok()) {
    entry.set_customer_id(request.customer_id());
  }
  if (gateway.policy->IsKnownCategory(request.justification().category())) {
    entry.set_category(request.justification().category());
  }
  if (ValidateText("reference", request.justification().reference(), 128, true)
          .ok()) {
    entry.set_reference(request.justification().reference());
  }
  if (auto s = ValidateRequestAccess(request, *gateway.policy); !s.ok())
    return s;
  call.AddPersonalValue("note", request.justification().note());
  const custos::v1::Customer* customer =
      gateway.directory->FindCustomer(request.customer_id());
  if (customer == nullptr) {
    return absl::NotFoundError(absl::StrCat("customer_id: no customer \"",
                                            request.customer_id(), "\""));
  }

  std::vector<custos::v1::DataKind> kinds;
  for (int kind : request.data_kinds()) {
    kinds.push_back(static_cast<custos::v1::DataKind>(kind));
  }
  const absl::Duration duration =
      request.has_duration() ? absl::Seconds(request.duration().seconds()) +
                                   absl::Nanoseconds(request.duration().nanos())
                             : absl::ZeroDuration();
  custos::v1::Decision decision = gateway.policy->Decide(
      {*call.caller().staff, *customer, request.justification(),
       std::move(kinds), duration, call.now()});
  *entry.mutable_reasons() = decision.reasons();
  if (decision.verdict() != custos::v1::ALLOW) {
    return absl::PermissionDeniedError(DenialMessage(decision));
  }

  auto grant_id = NewId("g_");
  if (!grant_id.ok()) return grant_id.status();
  entry.set_grant_id(*grant_id);
  entry.set_resource(absl::StrCat("grant/", *grant_id));
  custos::v1::Grant* grant = response.mutable_grant();
  grant->set_grant_id(*grant_id);
  grant->set_staff_id(call.caller().staff->staff_id());
  grant->set_customer_id(customer->customer_id());
  *grant->mutable_justification() = request.justification();
  *grant->mutable_obligations() = decision.obligations();
  grant->set_state(custos::v1::GRANT_ACTIVE);
  *grant->mutable_created_at() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
          absl::ToUnixMicros(call.now()));
  *response.mutable_decision() = std::move(decision);
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* StaffAccessService::RequestAccess(
    grpc::CallbackServerContext* context,
    const custos::v1::RequestAccessRequest* request,
    custos::v1::RequestAccessResponse* response) {
  AuditedCall call(gateway_, context, "StaffAccess.RequestAccess");
  absl::Status answer =
      DecideRequestAccess(*gateway_, call, *request, *response);
  return call.Finish(std::move(answer), [response](uint64_t index) {
    response->set_log_index(index);
    if (response->has_grant()) response->mutable_grant()->set_log_index(index);
  });
}

grpc::ServerUnaryReactor* StaffAccessService::WhoAmI(
    grpc::CallbackServerContext* context, const custos::v1::WhoAmIRequest*,
    custos::v1::WhoAmIResponse* response) {
  // Reaches no customer data, so it is answered without a log entry; it is
  // also the no-op baseline for the gateway's benchmarks.
  const Caller caller =
      gateway_->authenticator->Authenticate(*context, gateway_->clock());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!caller.authenticated()) {
    reactor->Finish(ToGrpcStatus(caller.status));
    return reactor;
  }
  *response->mutable_staff() = *caller.staff;
  response->set_source_address(caller.source_address);
  response->set_country(caller.placement.country);
  response->set_network(caller.placement.label);
  response->set_policy_version(gateway_->policy->version());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace custos::gateway
