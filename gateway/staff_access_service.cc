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
#include "policy/decide.h"

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

// Random checks this staff member drew within the policy's window, counted
// from the log itself so a restart forgets none.
absl::StatusOr<uint32_t> RandomChecksInWindow(const Gateway& gateway,
                                              const AuditedCall& call) {
  audit::LogStore::Filter filter;
  filter.actor_id = call.caller().staff->staff_id();
  filter.outcome = custos::v1::OUTCOME_ALLOWED;
  filter.from = call.now() - call.policy().random_check_window();
  uint32_t draws = 0;
  std::string token;
  do {
    auto page = gateway.log->List(filter, 1000, token);
    if (!page.ok()) return page.status();
    for (const auto& e : page->entries) {
      draws += e.reference() == policy::kRandomCheckReference &&
               e.action() == "StaffAccess.RequestAccess";
    }
    token = page->next_page_token;
  } while (!token.empty());
  return draws;
}

absl::Status DecideRequestAccess(
    const Gateway& gateway, AuditedCall& call,
    const custos::v1::RequestAccessRequest& request,
    custos::v1::RequestAccessResponse& response) {
  if (!call.caller().authenticated()) return call.caller().status;
  const policy::Policy& policy = call.policy();
  custos::v1::LogEntry& entry = call.entry();
  // Whatever is well-formed goes into the entry even when the request as a
  // whole is refused, so the customer sees attempts on their account too.
  if (ValidateId("customer_id", request.customer_id(), true).ok()) {
    entry.set_customer_id(request.customer_id());
  }
  if (policy.FindCategory(request.justification().category()) != nullptr) {
    entry.set_category(request.justification().category());
  }
  if (ValidateText("reference", request.justification().reference(), 128, true)
          .ok()) {
    entry.set_reference(request.justification().reference());
  }
  if (auto s = ValidateRequestAccess(request, policy); !s.ok()) return s;
  call.AddPersonalValue("note", request.justification().note());
  const custos::v1::Customer* customer =
      gateway.directory->FindCustomer(request.customer_id());
  if (customer == nullptr) {
    return absl::NotFoundError(absl::StrCat("customer_id: no customer \"",
                                            request.customer_id(), "\""));
  }

  policy::AccessFacts facts;
  facts.staff = call.caller().staff;
  facts.customer = customer;
  facts.category = request.justification().category();
  facts.reference = request.justification().reference();
  if (facts.reference == policy::kRandomCheckReference) {
    auto draws = RandomChecksInWindow(gateway, call);
    if (!draws.ok()) return draws.status();
    facts.random_checks_in_window = *draws;
  } else {
    auto found = gateway.references->Find(facts.reference);
    if (!found.ok()) return found.status();
    facts.found_reference = *std::move(found);
  }
  for (int kind : request.data_kinds()) {
    facts.data_kinds.push_back(static_cast<custos::v1::DataKind>(kind));
  }
  if (request.has_duration()) {
    facts.duration = absl::Seconds(request.duration().seconds()) +
                     absl::Nanoseconds(request.duration().nanos());
  }
  facts.device_id = request.device_id();
  facts.placement = call.caller().placement;
  facts.now = call.now();
  custos::v1::Decision decision = policy::Decide(policy, facts);
  *entry.mutable_reasons() = decision.reasons();

  switch (decision.verdict()) {
    case custos::v1::ALLOW:
      break;
    case custos::v1::NEEDS_APPROVAL: {
      // Recorded as pending; the Approvals service completes it.
      auto request_id = NewId("p_");
      if (!request_id.ok()) return request_id.status();
      entry.set_outcome(custos::v1::OUTCOME_PENDING);
      entry.set_pending_request_id(*request_id);
      entry.set_resource(absl::StrCat("pending/", *request_id));
      custos::v1::PendingRequest* pending = response.mutable_pending();
      pending->set_request_id(*request_id);
      pending->set_staff_id(call.caller().staff->staff_id());
      pending->set_customer_id(customer->customer_id());
      *pending->mutable_justification() = request.justification();
      *pending->mutable_waiting_for() = decision.approvals_needed();
      pending->set_state(custos::v1::PENDING_WAITING);
      *pending->mutable_created_at() =
          google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
              absl::ToUnixMicros(call.now()));
      *pending->mutable_reasons() = decision.reasons();
      *response.mutable_decision() = std::move(decision);
      return absl::OkStatus();
    }
    default:
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
  const auto policy = gateway_->policies->current();
  Caller caller =
      gateway_->authenticator->Authenticate(*context, gateway_->clock());
  caller.placement = policy->networks().Place(caller.source_address);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!caller.authenticated()) {
    reactor->Finish(ToGrpcStatus(caller.status));
    return reactor;
  }
  *response->mutable_staff() = *caller.staff;
  response->set_source_address(caller.source_address);
  response->set_country(caller.placement.country);
  response->set_network(caller.placement.label);
  response->set_policy_version(policy->version());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace custos::gateway
