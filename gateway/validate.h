// Request validation: one function per RPC, run before anything else.
//
// Each returns OK or INVALID_ARGUMENT whose message names the field and what
// was expected, e.g. `justification.reference: required`. Pure and
// thread-safe.
#ifndef CUSTOS_GATEWAY_VALIDATE_H_
#define CUSTOS_GATEWAY_VALIDATE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "policy/policy.h"
#include "proto/custos/v1/access.pb.h"
#include "proto/custos/v1/approvals.pb.h"
#include "proto/custos/v1/audit.pb.h"
#include "proto/custos/v1/identity.pb.h"

namespace custos::gateway {

// OK unless `request`, or a message within it, carries a field this build
// does not know (a newer client's, or bytes meant to ride along): stores
// keep whole parts of requests (a justification, a pending request), and
// what no one validated must not reach them. INVALID_ARGUMENT naming where
// and the field's number. Every RPC's request is checked (Serve).
absl::Status ValidateKnownFields(const google::protobuf::Message& request);

// At most this many customer-requested actions in one take-identity
// session: each is looked up in the ticket system as the session starts.
inline constexpr int kMostRequestedActions = 16;

absl::Status ValidateRequestAccess(
    const custos::v1::RequestAccessRequest& request,
    const policy::Policy& policy);

absl::Status ValidateListEntries(const custos::v1::ListEntriesRequest& request);

absl::Status ValidateDecideTrip(const custos::v1::DecideTripRequest& request);

absl::Status ValidateDecidePendingRequest(
    const custos::v1::DecidePendingRequestRequest& request);

// The page and page token; the session token is checked as the session is
// opened, so that the entry of a malformed page still names the session.
absl::Status ValidateViewPage(const custos::v1::ViewPageRequest& request);

absl::Status ValidateEndSession(const custos::v1::EndSessionRequest& request);

absl::Status ValidateReadCustomerData(
    const custos::v1::ReadCustomerDataRequest& request);
absl::Status ValidateListGrants(const custos::v1::ListGrantsRequest& request);
absl::Status ValidateEndGrant(const custos::v1::EndGrantRequest& request);
absl::Status ValidateRevokeGrant(const custos::v1::RevokeGrantRequest& request);

absl::Status ValidateRequestTrip(const custos::v1::RequestTripRequest& request);
absl::Status ValidateListTrips(const custos::v1::ListTripsRequest& request);
absl::Status ValidateListPendingRequests(
    const custos::v1::ListPendingRequestsRequest& request);
absl::Status ValidateSetPartnerConsent(
    const custos::v1::SetPartnerConsentRequest& request);

absl::Status ValidateErase(const custos::v1::EraseRequest& request);

absl::Status ValidateStartSession(
    const custos::v1::StartSessionRequest& request);
absl::Status ValidateExchangeLink(
    const custos::v1::ExchangeLinkRequest& request);
// The action and its parameters; the session token is checked as the
// session is opened (see ValidateViewPage).
absl::Status ValidatePerformAction(
    const custos::v1::PerformActionRequest& request);
absl::Status ValidateListSessions(
    const custos::v1::ListSessionsRequest& request);

// The longest trip abroad one request may cover.
inline constexpr int kLongestTripDays = 90;

// A list's page size when the request gives none (page_size 0); the lists
// take 1 to 500.
inline constexpr int kDefaultPageSize = 50;
int PageSizeOrDefault(int32_t page_size);

// Checks free text: valid UTF-8, no control characters, at most `max_bytes`,
// and non-empty when `required`. `field` names it in the error.
absl::Status ValidateText(absl::string_view field, absl::string_view value,
                          size_t max_bytes, bool required);

// Checks a reference to a ticket, case or meeting (a justification's, a
// customer's request): ValidateText's checks, then 1 to 128 letters,
// digits, '.', '_', ':', '/', '#' or '-', starting with a letter or digit.
// The log keeps a reference in the clear, so it must be an id and not free
// text (an e-mail address, a name), which only a note may hold.
absl::Status ValidateReference(absl::string_view field,
                               absl::string_view value);

// Checks the id of a device (a trip's, the one a request comes from) as
// ValidateReference checks a reference: approvals.db keeps it, and the
// reasons of a refusal, which the log keeps in the clear, quote it; so it
// must be an id, not free text. Empty is allowed unless `required`.
absl::Status ValidateDeviceId(absl::string_view field, absl::string_view value,
                              bool required);

// Checks an id custosd made itself (NewId): `prefix` and 32 lowercase hex
// digits; required.
absl::Status ValidateMintedId(absl::string_view field, absl::string_view value,
                              absl::string_view prefix);

// Checks an id (see IsValidId); empty is allowed unless `required`.
absl::Status ValidateId(absl::string_view field, absl::string_view value,
                        bool required);

}  // namespace custos::gateway

#endif  // CUSTOS_GATEWAY_VALIDATE_H_
