#include "gateway/staff_access_service.h"

#include <openssl/rand.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/openssl.h"
#include "gateway/access_decision.h"
#include "gateway/audit_log_service.h"
#include "gateway/audited_call.h"
#include "gateway/grant_reads.h"
#include "gateway/grpc_status.h"
#include "gateway/validate.h"
#include "google/protobuf/util/time_util.h"
#include "policy/decide.h"

namespace custos::gateway {
namespace {

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
  if (auto s = call.caller().StaffStatus(); !s.ok()) return s;
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
  if (ValidateReference("reference", request.justification().reference())
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

  AccessQuestion question;
  question.call = &call;
  question.staff = call.caller().staff;
  question.customer = customer;
  question.request = &request;
  question.placement = call.caller().placement;
  question.now = call.now();
  auto decided = DecideAccess(gateway, policy, question);
  if (!decided.ok()) return decided.status();
  custos::v1::Decision& decision = decided->decision;
  *entry.mutable_reasons() = decision.reasons();

  switch (decision.verdict()) {
    case custos::v1::ALLOW:
      break;
    case custos::v1::NEEDS_APPROVAL: {
      // Kept until the approvers decide (Approvals.DecidePendingRequest).
      auto request_id = NewId("p_");
      if (!request_id.ok()) return request_id.status();
      entry.set_outcome(custos::v1::OUTCOME_PENDING);
      entry.set_pending_request_id(*request_id);
      entry.set_resource(absl::StrCat("pending/", *request_id));
      StoredPendingRequest stored;
      custos::v1::PendingRequest& pending = stored.pending;
      pending.set_request_id(*request_id);
      pending.set_staff_id(call.caller().staff->staff_id());
      pending.set_customer_id(customer->customer_id());
      *pending.mutable_justification() = request.justification();
      *pending.mutable_waiting_for() = decision.approvals_needed();
      pending.set_state(custos::v1::PENDING_WAITING);
      *pending.mutable_created_at() =
          google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
              absl::ToUnixMicros(call.now()));
      *pending.mutable_reasons() = decision.reasons();
      pending.set_country(call.caller().placement.country);
      pending.set_network(call.caller().placement.label);
      pending.set_device_id(request.device_id());
      stored.request = request;
      // Kept only once its entry is durable, so approvers never see (and
      // grant) a request that has no record.
      call.AfterLogged([approvals = gateway.approvals, stored] {
        return approvals->PutPending(stored);
      });
      *response.mutable_pending() = pending;
      *response.mutable_decision() = std::move(decision);
      return absl::OkStatus();
    }
    default:
      return absl::PermissionDeniedError(DenialMessage(decision));
  }

  auto grant =
      IssueGrant(gateway, call, *call.caller().staff, request, *decided);
  if (!grant.ok()) return grant.status();
  entry.set_grant_id(grant->grant_id());
  entry.set_resource(absl::StrCat("grant/", grant->grant_id()));
  *response.mutable_grant() = *std::move(grant);
  *response.mutable_decision() = std::move(decision);
  return absl::OkStatus();
}

void RecordGrant(const custos::v1::Grant& grant, custos::v1::LogEntry& entry) {
  entry.set_customer_id(grant.customer_id());
  entry.set_category(grant.justification().category());
  entry.set_reference(grant.justification().reference());
  entry.set_grant_id(grant.grant_id());
}

absl::Status ReadData(const Gateway& gateway, AuditedCall& call,
                      const custos::v1::ReadCustomerDataRequest& request,
                      custos::v1::ReadCustomerDataResponse& response) {
  if (auto s = call.caller().StaffStatus(); !s.ok()) return s;
  const absl::Status valid = ValidateReadCustomerData(request);
  // A read refused for another field still names a known grant and its
  // customer in its entry, so the customer's log shows the attempt.
  absl::StatusOr<custos::v1::Grant> grant =
      ValidateMintedId("grant_id", request.grant_id(), "g_").ok()
          ? gateway.grants->Get(request.grant_id(), call.now())
          : absl::InvalidArgumentError("grant_id");
  custos::v1::LogEntry& entry = call.entry();
  if (grant.ok()) RecordGrant(*grant, entry);
  if (!valid.ok()) return valid;
  if (!grant.ok()) return grant.status();
  const auto data_kind = static_cast<custos::v1::DataKind>(request.kind());
  entry.set_data_kind(data_kind);
  entry.set_resource(
      absl::StrCat("data/", custos::v1::DataKind_Name(data_kind)));
  if (grant->staff_id() != call.caller().staff->staff_id()) {
    return absl::PermissionDeniedError(
        absl::StrCat("grant_id: ", grant->grant_id(), " is not ",
                     call.caller().staff->staff_id(), "'s grant"));
  }
  RecordsWanted wanted;
  wanted.kind = data_kind;
  wanted.page_size = PageSizeOrDefault(request.page_size());
  wanted.page_token = request.page_token();
  wanted.record_id = request.record_id();
  auto served = ServeUnderGrant(gateway, call, *grant, wanted);
  if (!served.ok()) return served.status();
  for (const std::string& field : served->masked_fields) {
    response.add_masked_fields(field);
  }
  for (auto& record : served->page.records)
    *response.add_records() = std::move(record);
  response.set_next_page_token(served->page.next_page_token);
  return absl::OkStatus();
}

absl::Status ListGrants(const Gateway& gateway, AuditedCall& call,
                        const custos::v1::ListGrantsRequest& request,
                        custos::v1::ListGrantsResponse& response) {
  if (auto s = call.caller().StaffStatus(); !s.ok()) return s;
  if (auto s = ValidateListGrants(request); !s.ok()) return s;
  const std::string& self = call.caller().staff->staff_id();
  std::string staff_id = request.staff_id();
  if (!IsDpo(*call.caller().staff)) {
    if (!staff_id.empty() && staff_id != self) {
      return absl::PermissionDeniedError(
          "staff_id: only the DPO may list another staff member's grants");
    }
    staff_id = self;
  }
  call.entry().set_customer_id(request.customer_id());
  call.entry().set_resource("grants");
  auto grants = gateway.grants->List(
      staff_id, request.customer_id(), request.active_only(), call.now(),
      PageSizeOrDefault(request.page_size()), request.page_token());
  if (!grants.ok()) return grants.status();
  for (auto& grant : grants->items) *response.add_grants() = std::move(grant);
  response.set_next_page_token(grants->next_page_token);
  call.entry().set_record_count(response.grants_size());
  return absl::OkStatus();
}

// `validation` is the request's (ValidateEndGrant or ValidateRevokeGrant),
// answered once the caller is known.
absl::Status EndOrRevoke(const Gateway& gateway, AuditedCall& call,
                         absl::string_view grant_id, bool revoke,
                         absl::string_view reason, absl::Status validation,
                         custos::v1::Grant& out) {
  const Caller& caller = call.caller();
  // The customer revokes with their API token; staff end or revoke with
  // their certificate.
  if (!caller.authenticated() && !(revoke && caller.is_customer())) {
    return caller.is_customer()
               ? absl::PermissionDeniedError(
                     "a customer revokes grants; ending is the engineer's")
               : caller.StaffStatus();
  }
  if (!validation.ok()) return validation;
  auto grant = gateway.grants->Get(grant_id, call.now());
  if (!grant.ok()) return grant.status();
  call.entry().set_resource(absl::StrCat("grant/", grant_id));
  call.AddPersonalValue("note", reason);
  // Another account's grant stays out of the entry, which is filed under
  // the caller's own account: that customer's log does not learn who
  // tried, nor the caller's what the grant was for.
  if (caller.is_customer() && grant->customer_id() != caller.customer_id) {
    return absl::PermissionDeniedError("grant_id: not a grant on your account");
  }
  RecordGrant(*grant, call.entry());
  std::string by;
  if (caller.is_customer()) {
    by = absl::StrCat("customer:", caller.customer_id);
  } else if (revoke) {
    if (!IsDpo(*caller.staff)) {
      return absl::PermissionDeniedError(
          "only the DPO (or the customer) may revoke a grant");
    }
    by = absl::StrCat("dpo:", caller.staff->staff_id());
  } else {
    if (grant->staff_id() != caller.staff->staff_id()) {
      return absl::PermissionDeniedError(
          absl::StrCat("grant_id: ", grant_id, " is not ",
                       caller.staff->staff_id(), "'s grant"));
    }
    by = absl::StrCat("staff:", caller.staff->staff_id());
  }
  if (grant->state() != custos::v1::GRANT_ACTIVE) {
    return absl::FailedPreconditionError(
        absl::StrCat("grant ", grant_id, " is ",
                     custos::v1::GrantState_Name(grant->state()), " already"));
  }
  const custos::v1::GrantState state =
      revoke ? custos::v1::GRANT_REVOKED : custos::v1::GRANT_ENDED;
  // Out of use before the entry is appended, or reads would follow the
  // revocation into the log for a group commit. An end not logged or not
  // stored gives the grant back, which no record would otherwise refuse.
  auto pending = gateway.grants->StartEnd(grant_id, state, call.now());
  if (!pending.ok()) return pending.status();
  // Of two ends racing, the store lets one win.
  call.AfterLogged(
      [grants = gateway.grants, id = std::string(grant_id), state, by,
       now = call.now(), out = &out,
       pending = std::shared_ptr<GrantStore::PendingEnd>(*std::move(pending))] {
        auto ended = grants->End(id, state, by, now);
        if (!ended.ok()) return ended.status();
        *out = *std::move(ended);
        return absl::OkStatus();
      });
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* StaffAccessService::RequestAccess(
    grpc::CallbackServerContext* context,
    const custos::v1::RequestAccessRequest* request,
    custos::v1::RequestAccessResponse* response) {
  return Serve(gateway_, context, "StaffAccess.RequestAccess", *request,
               response, [&](AuditedCall& call) {
                 return DecideRequestAccess(*gateway_, call, *request,
                                            *response);
               });
}

grpc::ServerUnaryReactor* StaffAccessService::WhoAmI(
    grpc::CallbackServerContext* context,
    const custos::v1::WhoAmIRequest* request,
    custos::v1::WhoAmIResponse* response) {
  // Reaches no customer data, so a staff member's is answered without a log
  // entry; it is also the no-op baseline for the gateway's benchmarks. A
  // refusal is logged, as every refusal is.
  const auto policy = gateway_->policies->current();
  Caller caller =
      gateway_->authenticator->Authenticate(*context, gateway_->clock());
  caller.placement = policy->networks().Place(caller.source_address);
  if (!caller.authenticated()) {
    return Serve(gateway_, context, "StaffAccess.WhoAmI", *request, response,
                 [](AuditedCall& call) { return call.caller().StaffStatus(); });
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  *response->mutable_staff() = *caller.staff;
  response->set_source_address(caller.source_address);
  response->set_country(caller.placement.country);
  response->set_network(caller.placement.label);
  response->set_policy_version(policy->version());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace custos::gateway

namespace custos::gateway {

grpc::ServerUnaryReactor* StaffAccessService::ReadCustomerData(
    grpc::CallbackServerContext* context,
    const custos::v1::ReadCustomerDataRequest* request,
    custos::v1::ReadCustomerDataResponse* response) {
  return Serve(gateway_, context, "StaffAccess.ReadCustomerData", *request,
               response, [&](AuditedCall& call) {
                 return ReadData(*gateway_, call, *request, *response);
               });
}

grpc::ServerUnaryReactor* StaffAccessService::ListGrants(
    grpc::CallbackServerContext* context,
    const custos::v1::ListGrantsRequest* request,
    custos::v1::ListGrantsResponse* response) {
  return Serve(gateway_, context, "StaffAccess.ListGrants", *request, response,
               [&](AuditedCall& call) {
                 return custos::gateway::ListGrants(*gateway_, call, *request,
                                                    *response);
               });
}

grpc::ServerUnaryReactor* StaffAccessService::EndGrant(
    grpc::CallbackServerContext* context,
    const custos::v1::EndGrantRequest* request,
    custos::v1::EndGrantResponse* response) {
  return Serve(gateway_, context, "StaffAccess.EndGrant", *request, response,
               [&](AuditedCall& call) {
                 return EndOrRevoke(*gateway_, call, request->grant_id(),
                                    /*revoke=*/false, "",
                                    ValidateEndGrant(*request),
                                    *response->mutable_grant());
               });
}

grpc::ServerUnaryReactor* StaffAccessService::RevokeGrant(
    grpc::CallbackServerContext* context,
    const custos::v1::RevokeGrantRequest* request,
    custos::v1::RevokeGrantResponse* response) {
  return Serve(gateway_, context, "StaffAccess.RevokeGrant", *request, response,
               [&](AuditedCall& call) {
                 return EndOrRevoke(*gateway_, call, request->grant_id(),
                                    /*revoke=*/true, request->reason(),
                                    ValidateRevokeGrant(*request),
                                    *response->mutable_grant());
               });
}

}  // namespace custos::gateway
