#include "gateway/access_decision.h"

#include <algorithm>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/openssl.h"
#include "google/protobuf/util/time_util.h"
#include "policy/decide.h"

namespace custos::gateway {
namespace {

using google::protobuf::util::TimeUtil;

// The grants of the random checks this staff member drew within the
// policy's window, from the durable records, so a restart forgets none. A draw
// is a grant issued for the random-check reference: by the staff member's own
// call (RequestAccess, or StartSession without a grant), found in the log under
// them as actor; or by the approval that completed their pending request, whose
// entry is the approver's, found in the grant store. A session started later
// under a drawn grant names the same grant and is not a second draw.
absl::StatusOr<absl::flat_hash_set<std::string>> RandomChecksInWindow(
    const Gateway& gateway, absl::string_view staff_id, absl::Time since) {
  absl::flat_hash_set<std::string> drawn;
  auto issued = gateway.grants->IssuedTo(staff_id, since);
  if (!issued.ok()) return issued.status();
  for (const custos::v1::Grant& grant : *issued) {
    if (grant.justification().reference() == policy::kRandomCheckReference) {
      drawn.insert(grant.grant_id());
    }
  }
  // The log as well: a grant is stored after its entry, and one lost to a
  // crash in between was drawn all the same.
  audit::LogStore::Filter filter;
  filter.actor_id = std::string(staff_id);
  filter.outcome = custos::v1::OUTCOME_ALLOWED;
  filter.from = since;
  std::string token;
  do {
    auto page = gateway.log->List(filter, 1000, token);
    if (!page.ok()) return page.status();
    for (const auto& e : page->entries) {
      if (e.reference() == policy::kRandomCheckReference &&
          !e.grant_id().empty() &&
          (e.action() == "StaffAccess.RequestAccess" ||
           e.action() == "TakeIdentity.StartSession")) {
        drawn.insert(e.grant_id());
      }
    }
    token = page->next_page_token;
  } while (!token.empty());
  return drawn;
}

absl::StatusOr<std::vector<policy::Trip>> ApprovedTrips(
    const Gateway& gateway, absl::string_view staff_id) {
  // All of them: a trip of any age may cover today.
  auto trips = gateway.approvals->ListTrips(staff_id, /*undecided_only=*/false);
  if (!trips.ok()) return trips.status();
  std::vector<policy::Trip> out;
  for (const custos::v1::Trip& t : trips->items) {
    policy::Trip trip;
    if (!absl::ParseCivilTime(t.first_day(), &trip.first_day) ||
        !absl::ParseCivilTime(t.last_day(), &trip.last_day)) {
      continue;
    }
    trip.trip_id = t.trip_id();
    trip.country = t.country();
    trip.device_id = t.device_id();
    trip.approved = t.state() == custos::v1::TRIP_APPROVED;
    out.push_back(std::move(trip));
  }
  return out;
}

}  // namespace

namespace {

// `prefix` and 16 bytes in hex: the first `fixed` of them from `head`, the
// rest random.
absl::StatusOr<std::string> IdOf(absl::string_view prefix,
                                 const unsigned char* head, size_t fixed) {
  unsigned char bytes[16];
  std::copy(head, head + fixed, bytes);
  if (auto s = RandomBytes(bytes + fixed, sizeof(bytes) - fixed); !s.ok()) {
    return s;
  }
  return absl::StrCat(
      prefix, HexEncode(absl::string_view(reinterpret_cast<char*>(bytes),
                                          sizeof(bytes))));
}

}  // namespace

absl::StatusOr<std::string> NewId(absl::string_view prefix) {
  return IdOf(prefix, nullptr, 0);
}

absl::StatusOr<std::string> NewTimeOrderedId(absl::string_view prefix,
                                             absl::Time now) {
  unsigned char millis_be[6];
  const uint64_t millis = static_cast<uint64_t>(absl::ToUnixMillis(now));
  for (int i = 0; i < 6; ++i) millis_be[i] = (millis >> (8 * (5 - i))) & 0xff;
  return IdOf(prefix, millis_be, sizeof(millis_be));
}

absl::StatusOr<custos::v1::Customer> EffectiveCustomer(
    const Gateway& gateway, const custos::v1::Customer& customer) {
  auto consents = gateway.approvals->ListConsents(customer.customer_id());
  if (!consents.ok()) return consents.status();
  custos::v1::Customer effective = customer;
  for (const auto& consent : *consents) {
    auto* partners = effective.mutable_consented_partners();
    auto it = std::find(partners->begin(), partners->end(),
                        consent.partner_organisation());
    if (consent.consented() && it == partners->end()) {
      partners->Add(std::string(consent.partner_organisation()));
    } else if (!consent.consented() && it != partners->end()) {
      partners->erase(it);
    }
  }
  return effective;
}

absl::StatusOr<AccessDecision> DecideAccess(const Gateway& gateway,
                                            const policy::Policy& policy,
                                            const AccessQuestion& question) {
  const custos::v1::RequestAccessRequest& request = *question.request;
  auto customer = EffectiveCustomer(gateway, *question.customer);
  if (!customer.ok()) return customer.status();
  policy::AccessFacts facts;
  facts.staff = question.staff;
  facts.customer = &*customer;
  facts.category = request.justification().category();
  facts.reference = request.justification().reference();
  const bool random_check = facts.reference == policy::kRandomCheckReference;
  if (!random_check) {
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
  facts.placement = question.placement;
  if (facts.placement.country != policy.file().home_country()) {
    auto trips = ApprovedTrips(gateway, question.staff->staff_id());
    if (!trips.ok()) return trips.status();
    facts.trips = *std::move(trips);
  }
  facts.take_identity = question.take_identity;
  facts.dpo_approved = question.dpo_approved;
  facts.customer_approved = question.customer_approved;
  facts.now = question.now;
  AccessDecision decided;
  auto decide = [&]() -> absl::Status {
    const absl::Time start = absl::Now();
    decided.decision = policy::Decide(policy, facts);
    if (gateway.metrics != nullptr)
      gateway.metrics->ObserveDecision(absl::Now() - start);
    if (decided.decision.verdict() != custos::v1::ALLOW)
      return absl::OkStatus();
    auto grant_id = NewTimeOrderedId("g_", question.now);
    if (!grant_id.ok()) return grant_id.status();
    decided.grant_id = *std::move(grant_id);
    return absl::OkStatus();
  };
  if (!random_check) {
    if (absl::Status s = decide(); !s.ok()) return s;
    return decided;
  }
  const std::string& staff_id = question.staff->staff_id();
  auto drawn = gateway.random_check_draws->Decide(
      staff_id,
      [&] {
        return RandomChecksInWindow(
            gateway, staff_id, question.now - policy.random_check_window());
      },
      [&](uint32_t draws) -> absl::StatusOr<std::string> {
        facts.random_checks_in_window = draws;
        if (absl::Status s = decide(); !s.ok()) return s;
        return decided.grant_id;
      });
  if (!drawn.ok()) return drawn.status();
  // Counted under its grant's id until the call's entry and grant are
  // written, or refused.
  if (*drawn != nullptr) question.call->KeepUntilLogged(*std::move(drawn));
  return decided;
}

absl::StatusOr<custos::v1::Grant> NewGrant(
    const AuditedCall& call, const custos::v1::StaffMember& staff,
    const custos::v1::RequestAccessRequest& request,
    const AccessDecision& decided, absl::string_view country) {
  if (decided.decision.verdict() != custos::v1::ALLOW ||
      decided.grant_id.empty()) {
    return absl::InternalError("a grant only for an allowed decision");
  }
  const absl::Time now = call.now();
  custos::v1::Grant grant;
  grant.set_grant_id(decided.grant_id);
  grant.set_staff_id(staff.staff_id());
  grant.set_customer_id(request.customer_id());
  *grant.mutable_justification() = request.justification();
  // The note is personal data: the call's entry commits to it and the log
  // holds it where erasure reaches. A grant (and a session made under it)
  // needs only the category and the reference.
  grant.mutable_justification()->clear_note();
  *grant.mutable_obligations() = decided.decision.obligations();
  grant.set_state(custos::v1::GRANT_ACTIVE);
  *grant.mutable_created_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  grant.set_issued_for_country(std::string(country));
  const policy::CategoryRule* rule =
      call.policy().FindCategory(request.justification().category());
  if (staff.contract() == custos::v1::PARTNER &&
      (rule == nullptr || !rule->proto->company_data())) {
    grant.set_consent_of(staff.partner_organisation());
  }
  return grant;
}

void StoreGrantWhenLogged(const Gateway& gateway, AuditedCall& call,
                          const custos::v1::Grant& grant) {
  // Stored only once its entry is durable. Stored before, a grant whose entry
  // then failed (a full disk, a locked log) or never came (custosd killed)
  // would stay active with no record of it, and its staff member would find
  // it with ListGrants and read under it. Stored after, the worst case is an
  // entry for a grant that was never stored, under which reads fail closed.
  call.AfterLoggedAsync(
      [grants = gateway.grants, grant](AuditedCall::StepDone done) {
        grants->CreateAsync(grant, std::move(done));
      });
}

absl::StatusOr<custos::v1::Grant> IssueGrant(
    const Gateway& gateway, AuditedCall& call,
    const custos::v1::StaffMember& staff,
    const custos::v1::RequestAccessRequest& request,
    const AccessDecision& decided) {
  auto grant =
      NewGrant(call, staff, request, decided, call.caller().placement.country);
  if (grant.ok()) StoreGrantWhenLogged(gateway, call, *grant);
  return grant;
}

}  // namespace custos::gateway
