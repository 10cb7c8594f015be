#include "gateway/approvals_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/access_decision.h"
#include "gateway/audit_log_service.h"
#include "gateway/audited_call.h"
#include "gateway/directory.h"
#include "gateway/validate.h"
#include "google/protobuf/util/time_util.h"

namespace custos::gateway {
namespace {

using google::protobuf::util::TimeUtil;

absl::Status RequireStaff(const AuditedCall& call) {
  return call.caller().StaffStatus();
}

absl::Status RequireDpo(const AuditedCall& call, absl::string_view what) {
  if (auto s = RequireStaff(call); !s.ok()) return s;
  if (!IsDpo(*call.caller().staff)) {
    return absl::PermissionDeniedError(absl::StrCat("only the DPO may ", what));
  }
  return absl::OkStatus();
}

absl::Status RequestTrip(AuditedCall& call, const Gateway& gateway,
                         const custos::v1::RequestTripRequest& request,
                         custos::v1::RequestTripResponse& response) {
  if (auto s = RequireStaff(call); !s.ok()) return s;
  // A trip is asked for in order to work from abroad: someone whose
  // contract has ended has no work to do there.
  if (!call.caller().staff->active()) {
    return absl::PermissionDeniedError(
        absl::StrCat(call.caller().staff->staff_id(),
                     " is not active (contract ended); no trip to ask for"));
  }
  if (auto s = ValidateRequestTrip(request); !s.ok()) return s;
  auto trip_id = NewId("t_");
  if (!trip_id.ok()) return trip_id.status();
  custos::v1::Trip& trip = *response.mutable_trip();
  trip.set_trip_id(*trip_id);
  trip.set_staff_id(call.caller().staff->staff_id());
  trip.set_country(request.country());
  trip.set_first_day(request.first_day());
  trip.set_last_day(request.last_day());
  trip.set_device_id(request.device_id());
  trip.set_purpose(request.purpose());
  trip.set_state(custos::v1::TRIP_REQUESTED);
  call.entry().set_resource(absl::StrCat("trip/", *trip_id));
  call.AddPersonalValue("note", request.purpose());
  // Kept only once its entry is durable, so the DPO never decides a trip
  // that has no record of being asked for.
  call.AfterLogged([approvals = gateway.approvals, trip] {
    return approvals->PutTrip(trip);
  });
  return absl::OkStatus();
}

absl::Status DecideTrip(AuditedCall& call, const Gateway& gateway,
                        const custos::v1::DecideTripRequest& request,
                        custos::v1::DecideTripResponse& response) {
  if (auto s = RequireDpo(call, "decide trips"); !s.ok()) return s;
  if (auto s = ValidateDecideTrip(request); !s.ok()) return s;
  call.entry().set_resource(absl::StrCat("trip/", request.trip_id()));
  auto trip = gateway.approvals->GetTrip(request.trip_id());
  if (!trip.ok()) return trip.status();
  // The DPO's approval is a second person's check: a DPO who also works
  // with customer data asks another DPO about their own trip.
  if (trip->staff_id() == call.caller().staff->staff_id()) {
    return absl::PermissionDeniedError(
        absl::StrCat("trip_id: ", trip->trip_id(),
                     " is your own trip; another DPO decides it"));
  }
  if (trip->state() != custos::v1::TRIP_REQUESTED) {
    return absl::FailedPreconditionError(
        absl::StrCat("trip ", trip->trip_id(), " is ",
                     custos::v1::TripState_Name(trip->state()), " already"));
  }
  const custos::v1::Trip was = *trip;
  trip->set_state(request.approve() ? custos::v1::TRIP_APPROVED
                                    : custos::v1::TRIP_REFUSED);
  trip->set_decided_by(call.caller().staff->staff_id());
  *trip->mutable_decided_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(call.now()));
  trip->set_decision_note(request.note());
  call.AddPersonalValue("note", request.note());
  // Takes effect once its entry is durable: an approved trip lets the
  // engineer in from abroad, so it must never apply without its record.
  // Of two decisions racing, the first to be stored wins.
  call.AfterLogged([approvals = gateway.approvals, was, decided = *trip] {
    return approvals->ReplaceTrip(was, decided);
  });
  *response.mutable_trip() = *std::move(trip);
  return absl::OkStatus();
}

absl::Status ListTrips(AuditedCall& call, const Gateway& gateway,
                       const custos::v1::ListTripsRequest& request,
                       custos::v1::ListTripsResponse& response) {
  if (auto s = RequireStaff(call); !s.ok()) return s;
  if (auto s = ValidateListTrips(request); !s.ok()) return s;
  std::string staff_id = request.staff_id();
  if (!IsDpo(*call.caller().staff)) {
    if (!staff_id.empty() && staff_id != call.caller().staff->staff_id()) {
      return absl::PermissionDeniedError(
          "staff_id: only the DPO may list others' trips");
    }
    staff_id = call.caller().staff->staff_id();
  }
  call.entry().set_resource("trips");
  auto trips = gateway.approvals->ListTrips(
      staff_id, request.undecided_only(),
      PageSizeOrDefault(request.page_size()), request.page_token());
  if (!trips.ok()) return trips.status();
  for (auto& trip : trips->items) *response.add_trips() = std::move(trip);
  response.set_next_page_token(trips->next_page_token);
  return absl::OkStatus();
}

// When `pending`, if still waiting, lapses.
absl::Time LapsesAt(const Gateway& gateway,
                    const custos::v1::PendingRequest& pending) {
  return absl::FromUnixMicros(
             TimeUtil::TimestampToMicroseconds(pending.created_at())) +
         gateway.pending_request_lifetime;
}

absl::Status ListPending(AuditedCall& call, const Gateway& gateway,
                         const custos::v1::ListPendingRequestsRequest& request,
                         custos::v1::ListPendingRequestsResponse& response) {
  if (auto s = ValidateListPendingRequests(request); !s.ok()) return s;
  std::string customer_id = request.customer_id();
  std::string staff_id;
  if (call.caller().is_customer()) {
    if (!customer_id.empty() && customer_id != call.caller().customer_id) {
      return absl::PermissionDeniedError(
          "customer_id: a customer sees their own requests only");
    }
    customer_id = call.caller().customer_id;
  } else {
    if (auto s = RequireStaff(call); !s.ok()) return s;
    if (!IsDpo(*call.caller().staff))
      staff_id = call.caller().staff->staff_id();
  }
  call.entry().set_customer_id(customer_id);
  call.entry().set_resource("pending");
  auto pending = gateway.approvals->ListPending(
      customer_id, staff_id, request.waiting_only(),
      PageSizeOrDefault(request.page_size()), request.page_token());
  if (!pending.ok()) return pending.status();
  for (auto& p : pending->items) {
    // A request past its lifetime is shown as what it is: lapsed, no longer
    // waiting for anyone (a page of waiting ones may come out shorter).
    if (p.state() == custos::v1::PENDING_WAITING &&
        call.now() >= LapsesAt(gateway, p)) {
      if (request.waiting_only()) continue;
      p.set_state(custos::v1::PENDING_LAPSED);
    }
    *response.add_requests() = std::move(p);
  }
  response.set_next_page_token(pending->next_page_token);
  return absl::OkStatus();
}

bool Has(const google::protobuf::RepeatedField<int>& approvers,
         custos::v1::Approver a) {
  return std::find(approvers.begin(), approvers.end(), a) != approvers.end();
}

absl::Status DecidePending(
    AuditedCall& call, const Gateway& gateway,
    const custos::v1::DecidePendingRequestRequest& request,
    custos::v1::DecidePendingRequestResponse& response) {
  if (auto s = ValidateDecidePendingRequest(request); !s.ok()) return s;
  custos::v1::Approver as;
  if (call.caller().is_customer()) {
    as = custos::v1::APPROVER_CUSTOMER;
  } else {
    if (auto s = RequireDpo(call, "approve for the company"); !s.ok()) return s;
    as = custos::v1::APPROVER_DPO;
  }
  auto stored = gateway.approvals->GetPending(request.request_id());
  if (!stored.ok()) return stored.status();
  if (as == custos::v1::APPROVER_DPO &&
      stored->pending.staff_id() == call.caller().staff->staff_id()) {
    return absl::PermissionDeniedError(
        absl::StrCat("request_id: ", request.request_id(),
                     " is your own request; another DPO approves it"));
  }
  const StoredPendingRequest was = *stored;
  custos::v1::PendingRequest& pending = stored->pending;
  // Every change below takes effect once the entry is durable: an approval
  // without its record could complete a request later. Of two approvers
  // racing, the first to be stored wins and the other is told.
  auto store_when_logged = [&] {
    StoredPendingRequest now = *stored;
    // Approvers read the engineer's note while the request waits; once
    // decided, only the log's entry keeps it, where erasure reaches.
    if (now.pending.state() != custos::v1::PENDING_WAITING) {
      now.pending.mutable_justification()->clear_note();
      now.request.mutable_justification()->clear_note();
    }
    call.AfterLogged([approvals = gateway.approvals, was, now] {
      return approvals->ReplacePending(was, now);
    });
  };
  custos::v1::LogEntry& entry = call.entry();
  entry.set_resource(absl::StrCat("pending/", pending.request_id()));
  call.AddPersonalValue("note", request.note());
  // Another account's request stays out of the entry, which is filed under
  // the caller's own account (as for grants, EndOrRevoke).
  if (as == custos::v1::APPROVER_CUSTOMER &&
      pending.customer_id() != call.caller().customer_id) {
    return absl::PermissionDeniedError(
        "request_id: this request is not on your account");
  }
  entry.set_customer_id(pending.customer_id());
  entry.set_category(pending.justification().category());
  entry.set_reference(pending.justification().reference());
  entry.set_pending_request_id(pending.request_id());
  if (pending.state() != custos::v1::PENDING_WAITING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "request ", pending.request_id(), " is ",
        custos::v1::PendingState_Name(pending.state()), " already"));
  }
  // A request waits so long for its approvals: the need it was made for,
  // and the facts it was decided on, do not wait forever.
  const absl::Time lapses = LapsesAt(gateway, pending);
  if (call.now() >= lapses) {
    return absl::FailedPreconditionError(absl::StrCat(
        "request ", pending.request_id(), " lapsed at ",
        absl::FormatTime("%Y-%m-%d %H:%M UTC", lapses, absl::UTCTimeZone()),
        " undecided; the engineer asks again"));
  }
  if (!Has(pending.waiting_for(), as) || Has(pending.approved_by(), as)) {
    return absl::FailedPreconditionError(
        absl::StrCat("request ", pending.request_id(), " does not wait for ",
                     custos::v1::Approver_Name(as)));
  }
  if (!request.approve()) {
    pending.set_state(custos::v1::PENDING_REFUSED);
    *pending.mutable_decided_at() =
        TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(call.now()));
    store_when_logged();
    entry.set_outcome(custos::v1::OUTCOME_REFUSED);
    *response.mutable_request() = pending;
    return absl::OkStatus();
  }
  pending.add_approved_by(as);
  const bool complete = std::all_of(
      pending.waiting_for().begin(), pending.waiting_for().end(), [&](int a) {
        return Has(pending.approved_by(), static_cast<custos::v1::Approver>(a));
      });
  if (complete) {
    // Every approval is in: decide again, with today's facts and rules.
    const custos::v1::StaffMember* staff =
        gateway.directory->FindStaff(pending.staff_id());
    const custos::v1::Customer* customer =
        gateway.directory->FindCustomer(pending.customer_id());
    if (staff == nullptr || customer == nullptr) {
      return absl::FailedPreconditionError(
          "the staff member or customer no longer exists");
    }
    AccessQuestion question;
    question.call = &call;
    question.staff = staff;
    question.customer = customer;
    question.request = &stored->request;
    question.placement = {pending.country(), pending.network()};
    question.now = call.now();
    question.dpo_approved =
        Has(pending.approved_by(), custos::v1::APPROVER_DPO);
    question.customer_approved =
        Has(pending.approved_by(), custos::v1::APPROVER_CUSTOMER);
    auto decided = DecideAccess(gateway, call.policy(), question);
    if (!decided.ok()) return decided.status();
    const custos::v1::Decision* decision = &decided->decision;
    *entry.mutable_reasons() = decision->reasons();
    *pending.mutable_decided_at() =
        TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(call.now()));
    if (decision->verdict() == custos::v1::ALLOW) {
      // For where the request was made from, which the decision placed.
      auto grant =
          NewGrant(call, *staff, stored->request, *decided, pending.country());
      if (!grant.ok()) return grant.status();
      pending.set_state(custos::v1::PENDING_APPROVED);
      pending.set_grant_id(grant->grant_id());
      entry.set_grant_id(grant->grant_id());
      // The request is marked approved first: an approval that lost a race
      // issues no grant.
      store_when_logged();
      StoreGrantWhenLogged(gateway, call, *grant);
      *response.mutable_grant() = *std::move(grant);
      *response.mutable_request() = pending;
      return absl::OkStatus();
    } else {
      // The rules or facts changed since: the approvals do not override them.
      pending.set_state(custos::v1::PENDING_REFUSED);
      *pending.mutable_reasons() = decision->reasons();
      entry.set_outcome(custos::v1::OUTCOME_REFUSED);
    }
  } else {
    entry.set_outcome(custos::v1::OUTCOME_PENDING);
  }
  store_when_logged();
  *response.mutable_request() = pending;
  return absl::OkStatus();
}

// NOT_FOUND unless `request` names a partner organisation that staff work
// for, or withdraws the consent of one the customer gave it to before (and
// that has since left the directory). A mistyped name would otherwise be
// stored as consent for nobody, while the partner meant keeps its consent.
absl::Status CheckPartner(const Gateway& gateway, absl::string_view customer_id,
                          const custos::v1::SetPartnerConsentRequest& request) {
  const std::string& partner = request.partner_organisation();
  const std::vector<std::string>& partners =
      gateway.directory->PartnerOrganisations();
  if (std::binary_search(partners.begin(), partners.end(), partner)) {
    return absl::OkStatus();
  }
  const custos::v1::Customer* customer =
      gateway.directory->FindCustomer(customer_id);
  if (!request.consent() && customer != nullptr) {
    auto effective = EffectiveCustomer(gateway, *customer);
    if (!effective.ok()) return effective.status();
    const auto& consented = effective->consented_partners();
    if (std::find(consented.begin(), consented.end(), partner) !=
        consented.end()) {
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(
      absl::StrCat("partner_organisation: no partner organisation \"", partner,
                   "\"; expected one of: ", absl::StrJoin(partners, ", ")));
}

absl::Status SetConsent(AuditedCall& call, const Gateway& gateway,
                        const custos::v1::SetPartnerConsentRequest& request,
                        custos::v1::SetPartnerConsentResponse& response) {
  if (!call.caller().is_customer()) {
    // Staff, and custos-web calling for nobody, are known callers who may
    // not; anyone else is told why they are not known.
    return call.caller().authenticated() || call.caller().is_front_end()
               ? absl::PermissionDeniedError(
                     "only the customer gives or withdraws consent")
               : call.caller().StaffStatus();
  }
  if (auto s = ValidateSetPartnerConsent(request); !s.ok()) return s;
  call.entry().set_resource(
      absl::StrCat("consent/", request.partner_organisation()));
  if (auto s = CheckPartner(gateway, call.caller().customer_id, request);
      !s.ok()) {
    return s;
  }
  custos::v1::PartnerConsent& consent = *response.mutable_consent();
  consent.set_customer_id(call.caller().customer_id);
  consent.set_partner_organisation(request.partner_organisation());
  consent.set_consented(request.consent());
  *consent.mutable_changed_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(call.now()));
  // Consent given applies only once its entry is durable, as it lets a
  // partner in. A withdrawal applies before, as RevokeGrant does, or reads
  // would follow it into the log; it lapses with the step if not stored.
  std::shared_ptr<ApprovalStore::ConsentHold> withdrawing;
  if (!consent.consented()) {
    withdrawing = gateway.approvals->StartWithdrawal(
        consent.customer_id(), consent.partner_organisation());
  }
  call.AfterLogged([approvals = gateway.approvals, consent, withdrawing] {
    return approvals->PutConsent(consent);
  });
  return absl::OkStatus();
}

absl::Status ListConsents(AuditedCall& call, const Gateway& gateway,
                          const custos::v1::ListPartnerConsentsRequest& request,
                          custos::v1::ListPartnerConsentsResponse& response) {
  std::string customer_id = request.customer_id();
  if (call.caller().is_customer()) {
    customer_id = call.caller().customer_id;
  } else {
    if (auto s = RequireDpo(call, "list another customer's consents"); !s.ok())
      return s;
    if (auto s = ValidateId("customer_id", customer_id, true); !s.ok())
      return s;
  }
  const custos::v1::Customer* customer =
      gateway.directory->FindCustomer(customer_id);
  if (customer == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("customer_id: no customer \"", customer_id, "\""));
  }
  call.entry().set_customer_id(customer_id);
  call.entry().set_resource("consents");
  auto effective = EffectiveCustomer(gateway, *customer);
  if (!effective.ok()) return effective.status();
  for (const std::string& partner : effective->consented_partners()) {
    auto* consent = response.add_consents();
    consent->set_customer_id(customer_id);
    consent->set_partner_organisation(partner);
    consent->set_consented(true);
  }
  for (const std::string& partner : gateway.directory->PartnerOrganisations())
    response.add_partner_organisations(partner);
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* ApprovalsService::RequestTrip(
    grpc::CallbackServerContext* context,
    const custos::v1::RequestTripRequest* request,
    custos::v1::RequestTripResponse* response) {
  return Serve(gateway_, context, "Approvals.RequestTrip", *request, response,
               [&](AuditedCall& call) {
                 return custos::gateway::RequestTrip(call, *gateway_, *request,
                                                     *response);
               });
}

grpc::ServerUnaryReactor* ApprovalsService::DecideTrip(
    grpc::CallbackServerContext* context,
    const custos::v1::DecideTripRequest* request,
    custos::v1::DecideTripResponse* response) {
  return Serve(gateway_, context, "Approvals.DecideTrip", *request, response,
               [&](AuditedCall& call) {
                 return custos::gateway::DecideTrip(call, *gateway_, *request,
                                                    *response);
               });
}

grpc::ServerUnaryReactor* ApprovalsService::ListTrips(
    grpc::CallbackServerContext* context,
    const custos::v1::ListTripsRequest* request,
    custos::v1::ListTripsResponse* response) {
  return Serve(gateway_, context, "Approvals.ListTrips", *request, response,
               [&](AuditedCall& call) {
                 return custos::gateway::ListTrips(call, *gateway_, *request,
                                                   *response);
               });
}

grpc::ServerUnaryReactor* ApprovalsService::ListPendingRequests(
    grpc::CallbackServerContext* context,
    const custos::v1::ListPendingRequestsRequest* request,
    custos::v1::ListPendingRequestsResponse* response) {
  return Serve(gateway_, context, "Approvals.ListPendingRequests", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::ListPending(call, *gateway_, *request,
                                                     *response);
               });
}

grpc::ServerUnaryReactor* ApprovalsService::DecidePendingRequest(
    grpc::CallbackServerContext* context,
    const custos::v1::DecidePendingRequestRequest* request,
    custos::v1::DecidePendingRequestResponse* response) {
  return Serve(gateway_, context, "Approvals.DecidePendingRequest", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::DecidePending(call, *gateway_,
                                                       *request, *response);
               });
}

grpc::ServerUnaryReactor* ApprovalsService::SetPartnerConsent(
    grpc::CallbackServerContext* context,
    const custos::v1::SetPartnerConsentRequest* request,
    custos::v1::SetPartnerConsentResponse* response) {
  return Serve(gateway_, context, "Approvals.SetPartnerConsent", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::SetConsent(call, *gateway_, *request,
                                                    *response);
               });
}

grpc::ServerUnaryReactor* ApprovalsService::ListPartnerConsents(
    grpc::CallbackServerContext* context,
    const custos::v1::ListPartnerConsentsRequest* request,
    custos::v1::ListPartnerConsentsResponse* response) {
  return Serve(gateway_, context, "Approvals.ListPartnerConsents", *request,
               response, [&](AuditedCall& call) {
                 return custos::gateway::ListConsents(call, *gateway_, *request,
                                                      *response);
               });
}

}  // namespace custos::gateway
