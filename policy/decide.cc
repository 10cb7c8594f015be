#include "policy/decide.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"

namespace custos::policy {
namespace {

using custos::v1::Decision;

void Add(Decision& decision, absl::string_view code, std::string message) {
  custos::v1::Reason* reason = decision.add_reasons();
  reason->set_code(std::string(code));
  reason->set_message(std::move(message));
}

template <typename Container, typename T>
bool Contains(const Container& c, const T& value) {
  return std::find(c.begin(), c.end(), value) != c.end();
}

bool ContractIsCurrent(const custos::v1::StaffMember& staff,
                       absl::CivilDay today) {
  absl::CivilDay start, end;
  if (!absl::ParseCivilTime(staff.contract_start(), &start) || today < start)
    return false;
  return staff.contract_end().empty() ||
         (absl::ParseCivilTime(staff.contract_end(), &end) && today <= end);
}

// The grantee entry, of those for the staff member's roles, under which
// the request's reference counts: the first naming its kind (a random
// check's draw, or the kind of the reference found), else the first of
// their roles the category names, else null. One with several roles asks
// under whichever of them allows what they ask.
const custos::v1::Grantee* FindGrantee(const custos::v1::Category& category,
                                       const AccessFacts& facts) {
  std::optional<int> wanted;
  if (facts.reference == kRandomCheckReference) {
    wanted = custos::v1::RANDOM_CHECK_DRAW;
  } else if (facts.found_reference.has_value()) {
    wanted = facts.found_reference->kind;
  }
  const custos::v1::Grantee* first = nullptr;
  for (const auto& grantee : category.grantees()) {
    if (!Contains(facts.staff->roles(), grantee.role())) continue;
    if (wanted.has_value() && Contains(grantee.references(), *wanted)) {
      return &grantee;
    }
    if (first == nullptr) first = &grantee;
  }
  return first;
}

std::string KindName(int kind) {
  return custos::v1::ReferenceKind_Name(
      static_cast<custos::v1::ReferenceKind>(kind));
}

void CheckContract(const Policy& policy, const custos::v1::Category& category,
                   const AccessFacts& facts, absl::CivilDay today,
                   Decision& d) {
  const custos::v1::StaffMember& staff = *facts.staff;
  const std::string& who = staff.staff_id();
  const auto contract = staff.contract();
  if (category.company_data()) {
    if (!Contains(category.contracts(), contract)) {
      Add(d, reason::kCategoryNotForContract,
          absl::StrCat("category ", category.name(), " is not open to ",
                       custos::v1::ContractType_Name(contract), " contracts"));
    }
  } else if (contract == custos::v1::PARTNER) {
    if (!Contains(facts.customer->consented_partners(),
                  staff.partner_organisation())) {
      Add(d, reason::kPartnerWithoutConsent,
          absl::StrCat(
              facts.customer->customer_id(), " has not consented to access by ",
              staff.partner_organisation(), ", ", who, "'s organisation"));
    }
  } else if (!Contains(policy.file().customer_data_contracts(), contract)) {
    Add(d, reason::kContractNotDutchEmployment,
        absl::StrCat(who, " has a ", custos::v1::ContractType_Name(contract),
                     " contract; only staff employed under Dutch law may reach "
                     "customer data"));
  }
  if (policy.file().require_confidentiality_clause() &&
      !staff.confidentiality_clause()) {
    Add(d, reason::kNoConfidentialityClause,
        absl::StrCat(who, "'s contract has no confidentiality clause"));
  }
  if (!staff.active())
    Add(d, reason::kStaffInactive, absl::StrCat(who, " is not active"));
  if (!ContractIsCurrent(staff, today)) {
    Add(d, reason::kContractNotCurrent,
        absl::StrCat(
            who, "'s contract runs from ", staff.contract_start(), " to ",
            staff.contract_end().empty() ? "open end" : staff.contract_end(),
            ", which does not include ", absl::FormatCivilTime(today)));
  }
}

// CheckContract, then the staff member's role: the staff side of a
// decision. Returns the grantee entry of their role, or null.
const custos::v1::Grantee* CheckStaff(const Policy& policy,
                                      const custos::v1::Category& category,
                                      const AccessFacts& facts,
                                      absl::CivilDay today, Decision& d) {
  CheckContract(policy, category, facts, today, d);
  const custos::v1::Grantee* grantee = FindGrantee(category, facts);
  if (grantee == nullptr) {
    std::vector<std::string> roles;
    for (const auto& g : category.grantees()) roles.push_back(g.role());
    Add(d, reason::kCategoryNotForRole,
        absl::StrCat("category ", category.name(), " is for ",
                     absl::StrJoin(roles, ", "), "; ", facts.staff->staff_id(),
                     " is ", absl::StrJoin(facts.staff->roles(), ", ")));
  }
  return grantee;
}

// Returns whether the request is a random check that passed.
bool CheckReference(const Policy& policy, const custos::v1::Category& category,
                    const custos::v1::Grantee* grantee,
                    const AccessFacts& facts, Decision& d) {
  if (facts.reference.empty()) {
    Add(d, reason::kReferenceMissing,
        "every access needs a reference (ticket, report, signal, meeting or a "
        "random check)");
    return false;
  }
  if (grantee == nullptr) return false;  // already refused for the role
  if (facts.reference == kRandomCheckReference) {
    if (!Contains(grantee->references(), custos::v1::RANDOM_CHECK_DRAW)) {
      Add(d, reason::kRandomCheckNotForRole,
          absl::StrCat("random checks under ", category.name(), " are not for ",
                       grantee->role()));
      return false;
    }
    const uint32_t max = policy.file().random_checks().max_draws();
    if (facts.random_checks_in_window >= max) {
      Add(d, reason::kRandomCheckRateExceeded,
          absl::StrCat(facts.staff->staff_id(), " has drawn ",
                       facts.random_checks_in_window,
                       " random checks in the last ",
                       absl::FormatDuration(policy.random_check_window()),
                       "; the policy allows ", max));
      return false;
    }
    return true;
  }
  // A company-data grantee names no reference kinds: the reference is
  // recorded, not looked up.
  if (grantee->references_size() == 0) return false;
  if (!facts.found_reference.has_value()) {
    Add(d, reason::kReferenceNotFound,
        absl::StrCat("reference ", facts.reference, " does not exist"));
    return false;
  }
  const Reference& ref = *facts.found_reference;
  if (!Contains(grantee->references(), ref.kind)) {
    std::vector<std::string> kinds;
    for (int kind : grantee->references()) kinds.push_back(KindName(kind));
    Add(d, reason::kReferenceWrongKind,
        absl::StrCat(ref.id, " is a ", KindName(ref.kind), "; ",
                     category.name(), " for ", grantee->role(), " needs ",
                     absl::StrJoin(kinds, " or ")));
  }
  if (!ref.open)
    Add(d, reason::kReferenceClosed, absl::StrCat(ref.id, " is closed"));
  if (ref.customer_id != facts.customer->customer_id()) {
    Add(d, reason::kReferenceOtherCustomer,
        absl::StrCat(ref.id, " belongs to another customer, not ",
                     facts.customer->customer_id()));
  }
  return false;
}

bool TripCovers(const Trip& trip, const AccessFacts& facts,
                absl::CivilDay today) {
  return trip.approved && !facts.placement.country.empty() &&
         trip.country == facts.placement.country && trip.first_day <= today &&
         today <= trip.last_day && !facts.device_id.empty() &&
         trip.device_id == facts.device_id;
}

}  // namespace

namespace {

// The category rule `facts` name; null, with the reason added to `d` and
// its verdict DENY, when the policy has no such category.
const CategoryRule* FindCategoryOrDeny(const Policy& policy,
                                       const AccessFacts& facts, Decision& d) {
  d.set_policy_version(policy.version());
  const CategoryRule* rule = policy.FindCategory(facts.category);
  if (rule == nullptr) {
    Add(d, reason::kUnknownCategory,
        absl::StrCat("\"", facts.category,
                     "\" is not a category; expected one of ",
                     absl::StrJoin(policy.category_names(), ", ")));
    d.set_verdict(custos::v1::DENY);
  }
  return rule;
}

}  // namespace

custos::v1::Decision DecideStaff(const Policy& policy,
                                 const AccessFacts& facts) {
  Decision d;
  const CategoryRule* rule = FindCategoryOrDeny(policy, facts, d);
  if (rule == nullptr) return d;
  const custos::v1::Grantee* grantee =
      CheckStaff(policy, *rule->proto, facts,
                 absl::ToCivilDay(facts.now, policy.time_zone()), d);
  // A random check is drawn under a role that may draw one: with that role
  // gone, another role of the same category does not carry the draw on.
  if (grantee != nullptr && facts.reference == kRandomCheckReference &&
      !Contains(grantee->references(), custos::v1::RANDOM_CHECK_DRAW)) {
    Add(d, reason::kRandomCheckNotForRole,
        absl::StrCat("random checks under ", rule->proto->name(),
                     " are not for ", grantee->role()));
  }
  d.set_verdict(d.reasons().empty() ? custos::v1::ALLOW : custos::v1::DENY);
  return d;
}

custos::v1::Decision Decide(const Policy& policy, const AccessFacts& facts) {
  Decision d;
  const CategoryRule* rule = FindCategoryOrDeny(policy, facts, d);
  if (rule == nullptr) return d;
  const custos::v1::Category& category = *rule->proto;
  // Days as the company counts them, in its time zone.
  const absl::CivilDay today = absl::ToCivilDay(facts.now, policy.time_zone());

  const custos::v1::Grantee* grantee =
      CheckStaff(policy, category, facts, today, d);
  const bool random_check = CheckReference(policy, category, grantee, facts, d);
  for (custos::v1::DataKind kind : facts.data_kinds) {
    if (!Contains(category.data_kinds(), kind)) {
      Add(d, reason::kDataKindNotInCategory,
          absl::StrCat("category ", category.name(), " does not reach ",
                       custos::v1::DataKind_Name(kind)));
    }
  }
  if (facts.duration > rule->max_duration) {
    Add(d, reason::kDurationOverMaximum,
        absl::StrCat("category ", category.name(), " allows at most ",
                     absl::FormatDuration(rule->max_duration)));
  }
  if (facts.take_identity && !category.take_identity()) {
    Add(d, reason::kTakeIdentityNotAllowed,
        absl::StrCat("category ", category.name(),
                     " does not allow taking identity"));
  }
  if (d.reasons_size() > 0) {
    d.set_verdict(custos::v1::DENY);
    return d;
  }

  // Allowed by the rules; now whose approval it still needs.
  bool needs_dpo = false;
  bool needs_customer = false;
  const bool abroad = facts.placement.country != policy.file().home_country();
  std::string where;
  // The DPO-approved trip that covers this access, if any, and the day after
  // its last.
  std::string covering_trip;
  std::optional<absl::CivilDay> trip_ends;
  if (abroad) {
    where = facts.placement.country.empty()
                ? std::string("an address the policy cannot place")
                : facts.placement.country;
    const auto trip = std::find_if(
        facts.trips.begin(), facts.trips.end(),
        [&](const Trip& t) { return TripCovers(t, facts, today); });
    if (trip != facts.trips.end()) {
      covering_trip = trip->trip_id.empty() ? "(unnamed)" : trip->trip_id;
      trip_ends = trip->last_day + 1;
    }
    if (covering_trip.empty() && !facts.dpo_approved) {
      needs_dpo = true;
      Add(d, reason::kAbroadWithoutTrip,
          absl::StrCat(
              "connecting from ", where,
              " needs a trip the DPO approved for that country, today and "
              "device ",
              facts.device_id.empty() ? "(none given)" : facts.device_id));
    }
    if (!facts.customer_approved) {
      needs_customer = true;
      Add(d, reason::kAbroadNeedsCustomerApproval,
          absl::StrCat("access from ", where, " needs ",
                       facts.customer->customer_id(), "'s approval"));
    }
  }
  if (facts.customer->requires_approval() &&
      !category.exempt_from_customer_approval() && !category.company_data() &&
      !facts.customer_approved && !needs_customer) {
    needs_customer = true;
    Add(d, reason::kCustomerApprovalRequired,
        absl::StrCat(facts.customer->customer_id(),
                     " approves every access except abuse work"));
  }

  custos::v1::Obligations* obligations = d.mutable_obligations();
  if (facts.data_kinds.empty()) {
    *obligations->mutable_data_kinds() = category.data_kinds();
  } else {
    for (custos::v1::DataKind kind : facts.data_kinds)
      obligations->add_data_kinds(kind);
  }
  *obligations->mutable_masked_fields() = category.masked_fields();
  const absl::Duration duration = facts.duration > absl::ZeroDuration()
                                      ? facts.duration
                                      : rule->default_duration;
  // A grant never outlives what allowed it: it ends with the staff
  // member's contract and with the trip that lets them in from abroad,
  // whatever duration was asked for.
  absl::Time expires = facts.now + duration;
  absl::CivilDay contract_end;
  if (absl::ParseCivilTime(facts.staff->contract_end(), &contract_end)) {
    expires = std::min(expires,
                       absl::FromCivil(contract_end + 1, policy.time_zone()));
  }
  if (trip_ends.has_value()) {
    expires =
        std::min(expires, absl::FromCivil(*trip_ends, policy.time_zone()));
  }
  *obligations->mutable_expires_at() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
          absl::ToUnixMicros(expires));
  obligations->set_read_only(true);
  obligations->set_aggregates_only(category.aggregates_only());

  if (needs_dpo || needs_customer) {
    d.set_verdict(custos::v1::NEEDS_APPROVAL);
    if (needs_dpo) d.add_approvals_needed(custos::v1::APPROVER_DPO);
    if (needs_customer) d.add_approvals_needed(custos::v1::APPROVER_CUSTOMER);
    return d;
  }
  d.set_verdict(custos::v1::ALLOW);
  Add(d, reason::kAllowedForCategory,
      absl::StrCat(facts.staff->staff_id(), " may reach ",
                   facts.customer->customer_id(), " for ", category.name(), " ",
                   facts.reference));
  if (abroad) {
    // Names what made the access from abroad allowed, for the DPO's report.
    Add(d, reason::kAbroadApproved,
        covering_trip.empty()
            ? absl::StrCat("access from ", where,
                           " with the DPO's approval of this request and the "
                           "customer's approval")
            : absl::StrCat("access from ", where, " on trip ", covering_trip,
                           ", which the DPO approved, with the customer's "
                           "approval"));
  }
  if (random_check) {
    Add(d, reason::kRandomCheckDrawn,
        absl::StrCat("random check ", facts.random_checks_in_window + 1, " of ",
                     policy.file().random_checks().max_draws(),
                     " in the window"));
  }
  return d;
}

}  // namespace custos::policy
