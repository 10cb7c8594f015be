#include "gateway/validate.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/unknown_field_set.h"
#include "gtest/gtest.h"
#include "policy/default_policy.h"

namespace custos::gateway {
namespace {

custos::v1::RequestAccessRequest Valid() {
  custos::v1::RequestAccessRequest request;
  request.set_customer_id("acme");
  request.mutable_justification()->set_category("support");
  request.mutable_justification()->set_reference("SUP-1042");
  return request;
}

// Free text given as a device id (an e-mail address, a name).
constexpr char kNotADeviceId[] =
    "device_id: a device id, such as its host name or asset tag: letters, "
    "digits, '.', '_', ':', '/', '#' or '-', starting with a letter or digit";

absl::Status Check(const custos::v1::RequestAccessRequest& request) {
  static const auto* policy = new std::shared_ptr<const policy::Policy>(
      *policy::Policy::Parse(kDefaultPolicy, "default_policy"));
  return ValidateRequestAccess(request, **policy);
}

TEST(ValidateRequestAccessTest, AcceptsWellFormedRequest) {
  EXPECT_TRUE(Check(Valid()).ok());
}

TEST(ValidateRequestAccessTest, NamesTheFieldAndWhatWasExpected) {
  struct Case {
    std::function<void(custos::v1::RequestAccessRequest&)> mutate;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& r) { r.clear_customer_id(); }, "customer_id: required"},
      {[](auto& r) { r.set_customer_id("Acme; DROP TABLE"); },
       "customer_id: 1 to 64 characters of a-z, 0-9, '.', '-' or '_'"},
      {[](auto& r) { r.mutable_justification()->clear_category(); },
       "justification.category: required"},
      {[](auto& r) { r.mutable_justification()->set_category("curiosity"); },
       "justification.category: one of abuse, billing, bug, feature, prep, "
       "support"},
      {[](auto& r) { r.mutable_justification()->clear_reference(); },
       "justification.reference: required"},
      {[](auto& r) {
         r.mutable_justification()->set_reference(std::string(129, 'x'));
       },
       "justification.reference: at most 128 bytes, got 129"},
      {[](auto& r) { r.mutable_justification()->set_reference("a\nb"); },
       "justification.reference: no control characters (found one at offset "
       "1)"},
      {[](auto& r) {
         r.mutable_justification()->set_reference("call jan@example.nl");
       },
       "justification.reference: a ticket or case id: letters, digits, '.', "
       "'_', ':', '/', '#' or '-', starting with a letter or digit (free text "
       "belongs in the note)"},
      {[](auto& r) { r.mutable_justification()->set_reference("-SUP-1"); },
       "justification.reference: a ticket or case id: letters, digits, '.', "
       "'_', ':', '/', '#' or '-', starting with a letter or digit (free text "
       "belongs in the note)"},
      {[](auto& r) { r.mutable_justification()->set_note("\xC0\xAF"); },
       "justification.note: valid UTF-8 (bad byte at offset 0)"},
      {[](auto& r) { r.add_data_kinds(custos::v1::DATA_KIND_UNSPECIFIED); },
       "data_kinds[0]: a known DataKind, got 0"},
      {[](auto& r) { r.add_data_kinds(static_cast<custos::v1::DataKind>(99)); },
       "data_kinds[0]: a known DataKind, got 99"},
      {[](auto& r) {
         r.add_data_kinds(custos::v1::ACCOUNT);
         r.add_data_kinds(custos::v1::CAMPAIGNS);
         r.add_data_kinds(custos::v1::ACCOUNT);
       },
       "data_kinds[2]: each DataKind once, got ACCOUNT again"},
      {[](auto& r) { r.mutable_duration()->set_seconds(-5); },
       "duration: more than 0 and at most 30 days"},
      {[](auto& r) { r.set_device_id("anna@example.nl"); }, kNotADeviceId},
      {[](auto& r) { r.set_device_id("Anna de Vries"); }, kNotADeviceId},
  };
  for (const Case& c : cases) {
    auto request = Valid();
    c.mutate(request);
    const absl::Status status = Check(request);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(status.message(), c.message);
  }
}

TEST(ValidateReferenceTest, AcceptsTheIdsTicketsAndCasesUse) {
  for (const char* id : {"SUP-1042", "MEET-2026-11-25", "random-check",
                         "JIRA:CORE-17", "abuse/2026/44", "case#9", "v1.2_3"}) {
    EXPECT_TRUE(ValidateReference("f", id).ok()) << id;
  }
  for (const char* text :
       {"Jan de Vries", "jan@example.nl", "SUP 1042", "é1", "#1"}) {
    EXPECT_FALSE(ValidateReference("f", text).ok()) << text;
  }
}

TEST(ValidateTextTest, AcceptsMultibyteUtf8AndRejectsSurrogates) {
  EXPECT_TRUE(ValidateText("f", "Koß – 東京 🚲", 64, true).ok());
  EXPECT_FALSE(ValidateText("f", "\xED\xA0\x80", 64, true).ok());  // U+D800
  EXPECT_FALSE(
      ValidateText("f", "\xF4\x90\x80\x80", 64, true).ok());   // > U+10FFFF
  EXPECT_FALSE(ValidateText("f", "\xE2\x82", 64, true).ok());  // truncated
}

TEST(ValidateListEntriesTest, RejectsOutOfRangePageSize) {
  custos::v1::ListEntriesRequest request;
  request.set_page_size(1001);
  EXPECT_EQ(ValidateListEntries(request).message(),
            "page_size: 0 to 1000, got 1001");
  request.set_page_size(10);
  request.set_outcome(static_cast<custos::v1::Outcome>(42));
  EXPECT_EQ(ValidateListEntries(request).message(),
            "outcome: a known Outcome, got 42");
}

// The first error of each request, or "" for OK.
template <typename Request>
std::string FirstError(absl::Status (*validate)(const Request&),
                       const Request& request) {
  return std::string(validate(request).message());
}

TEST(ValidateTest, GrantCalls) {
  const std::string grant_id = "g_0123456789abcdef0123456789abcdef";
  custos::v1::ReadCustomerDataRequest read;
  read.set_grant_id(grant_id);
  read.set_kind(custos::v1::ACCOUNT);
  EXPECT_EQ(FirstError(ValidateReadCustomerData, read), "");
  read.set_page_size(501);
  EXPECT_EQ(FirstError(ValidateReadCustomerData, read),
            "page_size: 0 to 500, got 501");
  read.set_page_size(0);
  read.set_kind(static_cast<custos::v1::DataKind>(999));
  EXPECT_EQ(FirstError(ValidateReadCustomerData, read),
            "kind: a known DataKind, got 999");
  read.set_grant_id("g_ABC");
  EXPECT_EQ(FirstError(ValidateReadCustomerData, read),
            "grant_id: expected g_ and 32 lowercase hex digits");

  custos::v1::ListGrantsRequest list;
  list.set_page_size(-1);
  EXPECT_EQ(FirstError(ValidateListGrants, list),
            "page_size: 0 to 500, got -1");
  list.set_page_size(0);
  list.set_page_token("s7");
  EXPECT_EQ(FirstError(ValidateListGrants, list).rfind("page_token: ", 0), 0u);

  custos::v1::RevokeGrantRequest revoke;
  revoke.set_grant_id(grant_id);
  revoke.set_reason(std::string(1025, 'x'));
  EXPECT_EQ(FirstError(ValidateRevokeGrant, revoke),
            "reason: at most 1024 bytes, got 1025");
  custos::v1::EndGrantRequest end;
  EXPECT_EQ(FirstError(ValidateEndGrant, end), "grant_id: required");
}

TEST(ValidateTest, ApprovalCalls) {
  custos::v1::RequestTripRequest trip;
  trip.set_country("DE");
  trip.set_first_day("2026-12-07");
  trip.set_last_day("2026-12-09");
  trip.set_device_id("laptop-7");
  EXPECT_EQ(FirstError(ValidateRequestTrip, trip), "");
  trip.set_device_id("Anna's laptop");
  EXPECT_EQ(FirstError(ValidateRequestTrip, trip), kNotADeviceId);
  trip.clear_device_id();
  EXPECT_EQ(FirstError(ValidateRequestTrip, trip), "device_id: required");
  trip.set_device_id("C02XK1JH:anna-mbp.corp/7");
  EXPECT_EQ(FirstError(ValidateRequestTrip, trip), "");
  trip.set_last_day("2027-03-08");  // 91 days on
  EXPECT_EQ(FirstError(ValidateRequestTrip, trip),
            "last_day: on or after first_day, at most 90 days later");
  trip.set_last_day("2026-02-30");
  EXPECT_EQ(FirstError(ValidateRequestTrip, trip), "last_day: YYYY-MM-DD");
  trip.set_country("de");
  EXPECT_EQ(FirstError(ValidateRequestTrip, trip),
            "country: an ISO 3166 code such as \"DE\"");

  custos::v1::ListTripsRequest trips;
  trips.set_staff_id("Anna Support");
  EXPECT_EQ(FirstError(ValidateListTrips, trips).rfind("staff_id: ", 0), 0u);
  custos::v1::ListPendingRequestsRequest pending;
  pending.set_page_size(100000);
  EXPECT_EQ(FirstError(ValidateListPendingRequests, pending),
            "page_size: 0 to 500, got 100000");
  pending.set_page_size(10);
  pending.set_page_token("p12");
  EXPECT_EQ(FirstError(ValidateListPendingRequests, pending), "");
  // Another list's token, or none that a list gives.
  for (const char* token : {"t12", "next", "p-1"}) {
    pending.set_page_token(token);
    EXPECT_EQ(FirstError(ValidateListPendingRequests, pending),
              "page_token: expected the next_page_token of a previous page of "
              "this list")
        << token;
  }
  custos::v1::SetPartnerConsentRequest consent;
  EXPECT_EQ(FirstError(ValidateSetPartnerConsent, consent),
            "partner_organisation: required");
}

TEST(ValidateTest, LogAndIdentityCalls) {
  custos::v1::EraseRequest erase;
  EXPECT_EQ(FirstError(ValidateErase, erase),
            "subject, older_than_days: give exactly one: a data subject, or "
            "an age in days");
  erase.set_older_than_days(36501);
  EXPECT_EQ(FirstError(ValidateErase, erase), "older_than_days: at most 36500");

  custos::v1::StartSessionRequest start;
  start.set_customer_id("acme");
  start.set_customer_user_id("acme.owner");
  EXPECT_EQ(FirstError(ValidateStartSession, start), "");
  start.add_customer_requested_actions()->set_action("send_test_mail");
  EXPECT_EQ(FirstError(ValidateStartSession, start),
            "customer_requested_actions[0].customer_request_ref: required");
  start.clear_customer_requested_actions();
  // Each is a lookup in the ticket system as the session starts.
  for (int i = 0; i <= kMostRequestedActions; ++i) {
    auto* action = start.add_customer_requested_actions();
    action->set_action("send_test_mail");
    action->set_customer_request_ref(absl::StrCat("REQ-", i));
  }
  EXPECT_EQ(FirstError(ValidateStartSession, start),
            "customer_requested_actions: at most 16, got 17");
  start.mutable_customer_requested_actions()->RemoveLast();
  EXPECT_EQ(FirstError(ValidateStartSession, start), "");
  start.clear_customer_requested_actions();
  // A grant id is only ever one the gateway minted: anything else would
  // reach the log in the refusal's reason.
  start.set_grant_id(std::string(5000, 'g') + "\n\x1b[2J");
  EXPECT_EQ(FirstError(ValidateStartSession, start),
            "grant_id: expected g_ and 32 lowercase hex digits");
  start.set_grant_id("g_0123456789abcdef0123456789abcdef");
  EXPECT_EQ(FirstError(ValidateStartSession, start), "");
  // Under a grant too, a device is an id, never an address or a name.
  start.set_device_id("anna@example.nl");
  EXPECT_EQ(FirstError(ValidateStartSession, start).rfind("device_id: ", 0),
            0u);
  start.set_device_id("laptop-7");
  EXPECT_EQ(FirstError(ValidateStartSession, start), "");
  start.mutable_duration()->set_seconds(31 * 24 * 3600);
  EXPECT_EQ(FirstError(ValidateStartSession, start),
            "duration: more than 0 and at most 30 days");

  custos::v1::ExchangeLinkRequest exchange;
  EXPECT_EQ(FirstError(ValidateExchangeLink, exchange), "link_token: required");
  custos::v1::PerformActionRequest action;
  action.set_action("send_test_mail");
  (*action.mutable_parameters())["to"] = std::string("a\x01b");
  EXPECT_EQ(
      FirstError(ValidatePerformAction, action).rfind("parameters[to]: ", 0),
      0u);
  // A key is an id: a refusal names the value by it.
  action.clear_parameters();
  (*action.mutable_parameters())[std::string(300, 'k') + "\n"] = "x";
  EXPECT_EQ(FirstError(ValidatePerformAction, action),
            "parameters (a key): 1 to 64 characters of a-z, 0-9, '.', '-' or "
            "'_'");
  custos::v1::ListSessionsRequest sessions;
  sessions.set_page_size(-5);
  EXPECT_EQ(FirstError(ValidateListSessions, sessions),
            "page_size: 0 to 500, got -5");
  sessions.set_page_size(0);
  sessions.set_page_token("g7");
  EXPECT_EQ(FirstError(ValidateListSessions, sessions).rfind("page_token: ", 0),
            0u);
  custos::v1::ListTripsRequest trips;
  trips.set_page_token("t7");
  EXPECT_EQ(FirstError(ValidateListTrips, trips), "");
}

TEST(ValidateKnownFieldsTest, NamesWhereAFieldOfNoKnownNumberSits) {
  custos::v1::StartSessionRequest start;
  start.set_customer_id("acme");
  start.mutable_justification()->set_category("support");
  start.add_customer_requested_actions()->set_action("send_test_mail");
  start.add_customer_requested_actions()->set_action("resend");
  EXPECT_TRUE(ValidateKnownFields(start).ok());

  custos::v1::CustomerRequestedAction* second =
      start.mutable_customer_requested_actions(1);
  second->GetReflection()->MutableUnknownFields(second)->AddLengthDelimited(
      77, "a note no one checked");
  const absl::Status nested = ValidateKnownFields(start);
  EXPECT_EQ(nested.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(nested.message(),
            "customer_requested_actions[1]: no field numbered 77 in "
            "custos.v1.CustomerRequestedAction; expected only its known "
            "fields");

  custos::v1::EndGrantRequest end;
  end.GetReflection()->MutableUnknownFields(&end)->AddFixed32(5, 1);
  EXPECT_EQ(ValidateKnownFields(end).message(),
            "request: no field numbered 5 in custos.v1.EndGrantRequest; "
            "expected only its known fields");
}

}  // namespace
}  // namespace custos::gateway
