#include "policy/access_policy.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/openssl.h"
#include "google/protobuf/util/time_util.h"

namespace custos::policy {
namespace {

using custos::v1::DataKind;

void AddReason(custos::v1::Decision& decision, absl::string_view code,
               std::string message) {
  auto* reason = decision.add_reasons();
  reason->set_code(std::string(code));
  reason->set_message(std::move(message));
}

bool Contains(const std::vector<std::string>& names, absl::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Whether `today` lies within the contract's start and (optional) end date.
// Dates were validated when the directory was loaded.
bool ContractIsCurrent(const custos::v1::StaffMember& staff,
                       absl::CivilDay today) {
  absl::CivilDay start, end;
  if (!absl::ParseCivilTime(staff.contract_start(), &start) || today < start) {
    return false;
  }
  if (!staff.contract_end().empty() &&
      (!absl::ParseCivilTime(staff.contract_end(), &end) || today > end)) {
    return false;
  }
  return true;
}

}  // namespace

AccessPolicy AccessPolicy::Minimal() {
  using custos::v1::ABUSE_COMPLAINTS;
  using custos::v1::ACCOUNT;
  using custos::v1::AGGREGATES;
  using custos::v1::CAMPAIGNS;
  using custos::v1::CUSTOMER_USERS;
  using custos::v1::MESSAGES;
  using custos::v1::SUBSCRIBERS;
  std::vector<Category> categories = {
      {"abuse",
       {"support", "deliverability"},
       {ACCOUNT, CAMPAIGNS, MESSAGES, ABUSE_COMPLAINTS, SUBSCRIBERS},
       {},
       absl::Hours(8),
       absl::Hours(24)},
      {"bug",
       {"developer"},
       {ACCOUNT, CAMPAIGNS, SUBSCRIBERS},
       {"SUBSCRIBERS.email", "SUBSCRIBERS.name"},
       absl::Hours(8),
       absl::Hours(24)},
      {"feature",
       {"developer", "tester"},
       {ACCOUNT, CAMPAIGNS, CUSTOMER_USERS},
       {},
       absl::Hours(8),
       absl::Hours(24)},
      {"prep",
       {"deliverability", "account_manager"},
       {AGGREGATES},
       {},
       absl::Hours(2),
       absl::Hours(4),
       /*aggregates_only=*/true},
      {"support",
       {"support"},
       {ACCOUNT, CUSTOMER_USERS, SUBSCRIBERS, CAMPAIGNS},
       {},
       absl::Hours(4),
       absl::Hours(8)},
  };
  return AccessPolicy(std::move(categories));
}

AccessPolicy::AccessPolicy(std::vector<Category> categories)
    : categories_(std::move(categories)) {
  // The version commits to every rule, so two gateways with different
  // tables never write the same version into the log.
  std::string canonical;
  for (const Category& c : categories_) {
    absl::StrAppend(&canonical, c.name, "|", absl::StrJoin(c.roles, ","), "|");
    for (DataKind kind : c.data_kinds) {
      absl::StrAppend(&canonical, custos::v1::DataKind_Name(kind), ",");
    }
    absl::StrAppend(&canonical, "|", absl::StrJoin(c.masked_fields, ","), "|",
                    absl::ToInt64Seconds(c.default_duration), "|",
                    absl::ToInt64Seconds(c.max_duration), "|",
                    c.aggregates_only, "\n");
  }
  version_ =
      absl::StrCat("minimal-", HexEncode(Sha256(canonical)).substr(0, 16));
}

const AccessPolicy::Category* AccessPolicy::FindCategory(
    absl::string_view name) const {
  for (const Category& c : categories_) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

bool AccessPolicy::IsKnownCategory(absl::string_view category) const {
  return FindCategory(category) != nullptr;
}

std::vector<std::string> AccessPolicy::CategoryNames() const {
  std::vector<std::string> names;
  for (const Category& c : categories_) names.push_back(c.name);
  std::sort(names.begin(), names.end());
  return names;
}

custos::v1::Decision AccessPolicy::Decide(const AccessFacts& facts) const {
  custos::v1::Decision decision;
  decision.set_policy_version(version_);
  const custos::v1::StaffMember& staff = facts.staff;
  const absl::CivilDay today = absl::ToCivilDay(facts.now, absl::UTCTimeZone());

  if (staff.contract() != custos::v1::DUTCH_EMPLOYMENT) {
    AddReason(decision, kContractNotDutchEmployment,
              absl::StrCat(staff.staff_id(), " has a ",
                           custos::v1::ContractType_Name(staff.contract()),
                           " contract; only staff employed under Dutch law "
                           "may reach customer data"));
  }
  if (!staff.confidentiality_clause()) {
    AddReason(decision, kNoConfidentialityClause,
              absl::StrCat(staff.staff_id(),
                           "'s contract has no confidentiality clause"));
  }
  if (!staff.active()) {
    AddReason(decision, kStaffInactive,
              absl::StrCat(staff.staff_id(), " is not active"));
  }
  if (!ContractIsCurrent(staff, today)) {
    AddReason(
        decision, kContractNotCurrent,
        absl::StrCat(
            staff.staff_id(), "'s contract runs from ", staff.contract_start(),
            " to ",
            staff.contract_end().empty() ? "open end" : staff.contract_end(),
            ", which does not include ", absl::FormatCivilTime(today)));
  }
  if (facts.justification.reference().empty()) {
    AddReason(decision, kReferenceMissing,
              "every access needs a reference (ticket, report, meeting)");
  }

  const Category* category = FindCategory(facts.justification.category());
  if (category == nullptr) {
    AddReason(decision, kUnknownCategory,
              absl::StrCat("\"", facts.justification.category(),
                           "\" is not a category; expected one of ",
                           absl::StrJoin(CategoryNames(), ", ")));
  } else {
    const bool role_allowed =
        std::any_of(staff.roles().begin(), staff.roles().end(),
                    [&](const std::string& role) {
                      return Contains(category->roles, role);
                    });
    if (!role_allowed) {
      AddReason(decision, kCategoryNotForRole,
                absl::StrCat("category ", category->name, " is for ",
                             absl::StrJoin(category->roles, ", "), "; ",
                             staff.staff_id(), " is ",
                             absl::StrJoin(staff.roles(), ", ")));
    }
    for (DataKind kind : facts.data_kinds) {
      if (std::find(category->data_kinds.begin(), category->data_kinds.end(),
                    kind) == category->data_kinds.end()) {
        AddReason(decision, kDataKindNotInCategory,
                  absl::StrCat("category ", category->name, " does not reach ",
                               custos::v1::DataKind_Name(kind)));
      }
    }
    if (facts.duration > category->max_duration) {
      AddReason(decision, kDurationOverMaximum,
                absl::StrCat("category ", category->name, " allows at most ",
                             absl::FormatDuration(category->max_duration)));
    }
  }

  if (decision.reasons_size() > 0) {
    decision.set_verdict(custos::v1::DENY);
    return decision;
  }

  decision.set_verdict(custos::v1::ALLOW);
  AddReason(decision, kAllowedForCategory,
            absl::StrCat(staff.staff_id(), " may reach ",
                         facts.customer.customer_id(), " for ", category->name,
                         " ", facts.justification.reference()));
  custos::v1::Obligations* obligations = decision.mutable_obligations();
  const std::vector<DataKind>& kinds =
      facts.data_kinds.empty() ? category->data_kinds : facts.data_kinds;
  for (DataKind kind : kinds) obligations->add_data_kinds(kind);
  for (const std::string& field : category->masked_fields) {
    obligations->add_masked_fields(field);
  }
  const absl::Duration duration = facts.duration > absl::ZeroDuration()
                                      ? facts.duration
                                      : category->default_duration;
  *obligations->mutable_expires_at() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
          absl::ToUnixMicros(facts.now + duration));
  obligations->set_read_only(true);
  obligations->set_aggregates_only(category->aggregates_only);
  return decision;
}

}  // namespace custos::policy
