#include "gateway/validate.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "common/page_token.h"
#include "common/utf8.h"
#include "gateway/directory.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"

namespace custos::gateway {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", expected));
}

// An id from elsewhere (a ticket's, a device's), which the log or a store
// keeps in the clear: so an id, never free text such as an e-mail address or
// a name. `kind` and `hint` frame the expected shape in the error.
absl::Status ValidateOutsideId(absl::string_view field, absl::string_view value,
                               bool required, absl::string_view kind,
                               absl::string_view hint) {
  if (auto s = ValidateText(field, value, 128, required); !s.ok()) return s;
  if (value.empty()) return absl::OkStatus();
  const auto allowed = [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
           c == '_' || c == ':' || c == '/' || c == '#' || c == '-';
  };
  if (!absl::ascii_isalnum(static_cast<unsigned char>(value[0])) ||
      !std::all_of(value.begin(), value.end(), allowed)) {
    return Invalid(field, absl::StrCat(kind,
                                       ": letters, digits, '.', '_', ':', "
                                       "'/', '#' or '-', starting with a "
                                       "letter or digit",
                                       hint));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateText(absl::string_view field, absl::string_view value,
                          size_t max_bytes, bool required) {
  if (value.empty()) {
    return required ? Invalid(field, "required") : absl::OkStatus();
  }
  if (value.size() > max_bytes) {
    return Invalid(field, absl::StrCat("at most ", max_bytes, " bytes, got ",
                                       value.size()));
  }
  for (size_t i = 0; i < value.size();) {
    const size_t length = Utf8SequenceLength(value, i);
    if (length == 0) {
      return Invalid(field,
                     absl::StrCat("valid UTF-8 (bad byte at offset ", i, ")"));
    }
    const uint8_t b = static_cast<uint8_t>(value[i]);
    if (length == 1 && (b < 0x20 || b == 0x7F)) {
      return Invalid(
          field,
          absl::StrCat("no control characters (found one at offset ", i, ")"));
    }
    i += length;
  }
  return absl::OkStatus();
}

absl::Status ValidateReference(absl::string_view field,
                               absl::string_view value) {
  return ValidateOutsideId(field, value, true, "a ticket or case id",
                           " (free text belongs in the note)");
}

absl::Status ValidateDeviceId(absl::string_view field, absl::string_view value,
                              bool required) {
  return ValidateOutsideId(field, value, required,
                           "a device id, such as its host name or asset tag",
                           "");
}

absl::Status ValidateId(absl::string_view field, absl::string_view value,
                        bool required) {
  if (value.empty()) {
    return required ? Invalid(field, "required") : absl::OkStatus();
  }
  if (!IsValidId(value)) {
    return Invalid(field, "1 to 64 characters of a-z, 0-9, '.', '-' or '_'");
  }
  return absl::OkStatus();
}

absl::Status ValidateMintedId(absl::string_view field, absl::string_view value,
                              absl::string_view prefix) {
  if (value.empty()) return Invalid(field, "required");
  absl::string_view hex = value;
  if (!absl::ConsumePrefix(&hex, prefix) || hex.size() != 32 ||
      hex.find_first_not_of("0123456789abcdef") != absl::string_view::npos) {
    return Invalid(field, absl::StrCat("expected ", prefix,
                                       " and 32 lowercase hex digits"));
  }
  return absl::OkStatus();
}

namespace {

absl::Status KnownFieldsIn(const google::protobuf::Message& message,
                           const std::string& path) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  if (const google::protobuf::UnknownFieldSet& unknown =
          reflection->GetUnknownFields(message);
      !unknown.empty()) {
    return Invalid(path.empty() ? "request" : path,
                   absl::StrCat("no field numbered ", unknown.field(0).number(),
                                " in ", message.GetDescriptor()->full_name(),
                                "; expected only its known fields"));
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* field : fields) {
    if (field->cpp_type() !=
        google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    const std::string name =
        path.empty() ? field->name() : absl::StrCat(path, ".", field->name());
    if (!field->is_repeated()) {
      if (auto s = KnownFieldsIn(reflection->GetMessage(message, field), name);
          !s.ok()) {
        return s;
      }
      continue;
    }
    for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
      if (auto s =
              KnownFieldsIn(reflection->GetRepeatedMessage(message, field, i),
                            absl::StrCat(name, "[", i, "]"));
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateKnownFields(const google::protobuf::Message& request) {
  return KnownFieldsIn(request, "");
}

absl::Status ValidateRequestAccess(
    const custos::v1::RequestAccessRequest& request,
    const policy::Policy& policy) {
  if (auto s = ValidateId("customer_id", request.customer_id(), true);
      !s.ok()) {
    return s;
  }
  const custos::v1::Justification& why = request.justification();
  if (why.category().empty())
    return Invalid("justification.category", "required");
  if (policy.FindCategory(why.category()) == nullptr) {
    return Invalid(
        "justification.category",
        absl::StrCat("one of ", absl::StrJoin(policy.category_names(), ", ")));
  }
  if (auto s = ValidateReference("justification.reference", why.reference());
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateText("justification.note", why.note(), 1024, false);
      !s.ok()) {
    return s;
  }
  // Each kind once: the grant, and a refusal's reasons (one per kind the
  // category does not reach), list them, so repeats would only swell them.
  absl::flat_hash_set<int> kinds;
  for (int i = 0; i < request.data_kinds_size(); ++i) {
    const int kind = request.data_kinds(i);
    if (kind == custos::v1::DATA_KIND_UNSPECIFIED ||
        !custos::v1::DataKind_IsValid(kind)) {
      return Invalid(absl::StrCat("data_kinds[", i, "]"),
                     absl::StrCat("a known DataKind, got ", kind));
    }
    if (!kinds.insert(kind).second) {
      return Invalid(absl::StrCat("data_kinds[", i, "]"),
                     absl::StrCat("each DataKind once, got ",
                                  custos::v1::DataKind_Name(kind), " again"));
    }
  }
  if (request.has_duration()) {
    const auto& d = request.duration();
    if (d.seconds() <= 0 || d.seconds() > 30 * 24 * 3600 || d.nanos() < 0 ||
        d.nanos() >= 1000000000) {
      return Invalid("duration", "more than 0 and at most 30 days");
    }
  }
  return ValidateDeviceId("device_id", request.device_id(), false);
}

absl::Status ValidateListEntries(
    const custos::v1::ListEntriesRequest& request) {
  if (auto s = ValidateId("customer_id", request.customer_id(), false);
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateId("staff_id", request.staff_id(), false); !s.ok())
    return s;
  if (auto s = ValidateText("category", request.category(), 64, false);
      !s.ok()) {
    return s;
  }
  if (!custos::v1::Outcome_IsValid(request.outcome())) {
    return Invalid("outcome",
                   absl::StrCat("a known Outcome, got ", request.outcome()));
  }
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return Invalid("page_size",
                   absl::StrCat("0 to 1000, got ", request.page_size()));
  }
  return ValidateText("page_token", request.page_token(), 256, false);
}

absl::Status ValidateDecideTrip(const custos::v1::DecideTripRequest& request) {
  if (auto s = ValidateMintedId("trip_id", request.trip_id(), "t_"); !s.ok())
    return s;
  return ValidateText("note", request.note(), 1024, false);
}

absl::Status ValidateDecidePendingRequest(
    const custos::v1::DecidePendingRequestRequest& request) {
  if (auto s = ValidateMintedId("request_id", request.request_id(), "p_");
      !s.ok())
    return s;
  return ValidateText("note", request.note(), 1024, false);
}

absl::Status ValidateViewPage(const custos::v1::ViewPageRequest& request) {
  if (auto s = ValidateText("page", request.page(), 200, true); !s.ok())
    return s;
  return ValidateText("page_token", request.page_token(), 256, false);
}

absl::Status ValidateEndSession(const custos::v1::EndSessionRequest& request) {
  if (auto s = ValidateText("reason", request.reason(), 1024, false); !s.ok())
    return s;
  if (!request.session_token().empty()) {
    return ValidateText("session_token", request.session_token(), 64, true);
  }
  return ValidateMintedId("session_id", request.session_id(), "s_");
}

namespace {

// A grant id: g_ and 32 lowercase hex digits (NewTimeOrderedId).
absl::Status ValidateGrantId(absl::string_view grant_id) {
  return ValidateMintedId("grant_id", grant_id, "g_");
}

absl::Status ValidatePageSize(int32_t page_size) {
  return page_size < 0 || page_size > 500
             ? Invalid("page_size", absl::StrCat("0 to 500, got ", page_size))
             : absl::OkStatus();
}

// A page of list `list` (common/page_token.h): its size, and a token that
// list gave.
absl::Status ValidatePage(char list, int32_t page_size,
                          absl::string_view page_token) {
  if (auto s = ValidatePageSize(page_size); !s.ok()) return s;
  return PageStart(list, page_token).status();
}

}  // namespace

absl::Status ValidateReadCustomerData(
    const custos::v1::ReadCustomerDataRequest& request) {
  if (auto s = ValidateGrantId(request.grant_id()); !s.ok()) return s;
  const int kind = request.kind();
  if (kind == custos::v1::DATA_KIND_UNSPECIFIED ||
      !custos::v1::DataKind_IsValid(kind)) {
    return Invalid("kind", absl::StrCat("a known DataKind, got ", kind));
  }
  if (auto s = ValidatePageSize(request.page_size()); !s.ok()) return s;
  if (auto s = ValidateText("page_token", request.page_token(), 256, false);
      !s.ok())
    return s;
  return ValidateText("record_id", request.record_id(), 128, false);
}

absl::Status ValidateListGrants(const custos::v1::ListGrantsRequest& request) {
  if (auto s = ValidateId("customer_id", request.customer_id(), false); !s.ok())
    return s;
  if (auto s = ValidateId("staff_id", request.staff_id(), false); !s.ok())
    return s;
  return ValidatePage(kGrantsList, request.page_size(), request.page_token());
}

absl::Status ValidateEndGrant(const custos::v1::EndGrantRequest& request) {
  return ValidateGrantId(request.grant_id());
}

absl::Status ValidateRevokeGrant(
    const custos::v1::RevokeGrantRequest& request) {
  if (auto s = ValidateGrantId(request.grant_id()); !s.ok()) return s;
  return ValidateText("reason", request.reason(), 1024, false);
}

absl::Status ValidateRequestTrip(
    const custos::v1::RequestTripRequest& request) {
  const std::string& country = request.country();
  if (country.size() != 2 || !absl::ascii_isupper(country[0]) ||
      !absl::ascii_isupper(country[1])) {
    return Invalid("country", "an ISO 3166 code such as \"DE\"");
  }
  absl::CivilDay first, last;
  if (!IsValidDate(request.first_day()) ||
      !absl::ParseCivilTime(request.first_day(), &first)) {
    return Invalid("first_day", "YYYY-MM-DD");
  }
  if (!IsValidDate(request.last_day()) ||
      !absl::ParseCivilTime(request.last_day(), &last)) {
    return Invalid("last_day", "YYYY-MM-DD");
  }
  if (last < first || last - first > kLongestTripDays) {
    return Invalid("last_day", absl::StrCat("on or after first_day, at most ",
                                            kLongestTripDays, " days later"));
  }
  if (auto s = ValidateDeviceId("device_id", request.device_id(), true);
      !s.ok())
    return s;
  return ValidateText("purpose", request.purpose(), 1024, false);
}

absl::Status ValidateListTrips(const custos::v1::ListTripsRequest& request) {
  if (auto s = ValidateId("staff_id", request.staff_id(), false); !s.ok())
    return s;
  return ValidatePage(kTripsList, request.page_size(), request.page_token());
}

absl::Status ValidateListPendingRequests(
    const custos::v1::ListPendingRequestsRequest& request) {
  if (auto s = ValidateId("customer_id", request.customer_id(), false); !s.ok())
    return s;
  return ValidatePage(kPendingList, request.page_size(), request.page_token());
}

absl::Status ValidateSetPartnerConsent(
    const custos::v1::SetPartnerConsentRequest& request) {
  return ValidateId("partner_organisation", request.partner_organisation(),
                    true);
}

absl::Status ValidateErase(const custos::v1::EraseRequest& request) {
  if (request.subject().empty() == (request.older_than_days() == 0)) {
    return Invalid("subject, older_than_days",
                   "give exactly one: a data subject, or an age in days");
  }
  if (!request.subject().empty()) {
    if (auto s = ValidateText("subject", request.subject(), 256, true); !s.ok())
      return s;
  }
  if (request.older_than_days() > 36500) {
    return Invalid("older_than_days", "at most 36500");
  }
  return absl::OkStatus();
}

absl::Status ValidateStartSession(
    const custos::v1::StartSessionRequest& request) {
  if (auto s = ValidateId("customer_id", request.customer_id(), true); !s.ok())
    return s;
  if (auto s = ValidateId("customer_user_id", request.customer_user_id(), true);
      !s.ok())
    return s;
  if (!request.grant_id().empty()) {
    if (auto s = ValidateMintedId("grant_id", request.grant_id(), "g_");
        !s.ok())
      return s;
  }
  if (auto s = ValidateDeviceId("device_id", request.device_id(), false);
      !s.ok())
    return s;
  if (request.customer_requested_actions_size() > kMostRequestedActions) {
    return Invalid("customer_requested_actions",
                   absl::StrCat("at most ", kMostRequestedActions, ", got ",
                                request.customer_requested_actions_size()));
  }
  for (int i = 0; i < request.customer_requested_actions_size(); ++i) {
    const auto& a = request.customer_requested_actions(i);
    if (auto s = ValidateId(
            absl::StrCat("customer_requested_actions[", i, "].action"),
            a.action(), true);
        !s.ok())
      return s;
    if (auto s = ValidateReference(absl::StrCat("customer_requested_actions[",
                                                i, "].customer_request_ref"),
                                   a.customer_request_ref());
        !s.ok())
      return s;
  }
  if (request.has_duration() &&
      (request.duration().seconds() <= 0 ||
       request.duration().seconds() > 30 * 24 * 3600)) {
    return Invalid("duration", "more than 0 and at most 30 days");
  }
  return absl::OkStatus();
}

absl::Status ValidateExchangeLink(
    const custos::v1::ExchangeLinkRequest& request) {
  return ValidateText("link_token", request.link_token(), 64, true);
}

absl::Status ValidatePerformAction(
    const custos::v1::PerformActionRequest& request) {
  if (auto s = ValidateId("action", request.action(), true); !s.ok()) return s;
  for (const auto& [key, value] : request.parameters()) {
    // The key is checked first: it names the value's field in a refusal.
    if (auto s = ValidateId("parameters (a key)", key, true); !s.ok()) return s;
    if (auto s = ValidateText(absl::StrCat("parameters[", key, "]"), value, 256,
                              false);
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateListSessions(
    const custos::v1::ListSessionsRequest& request) {
  if (auto s = ValidateId("customer_id", request.customer_id(), false); !s.ok())
    return s;
  if (auto s = ValidateId("staff_id", request.staff_id(), false); !s.ok())
    return s;
  return ValidatePage(kSessionsList, request.page_size(), request.page_token());
}

int PageSizeOrDefault(int32_t page_size) {
  return page_size == 0 ? kDefaultPageSize : page_size;
}

}  // namespace custos::gateway
