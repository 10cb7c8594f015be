// The access decision: facts about one request in, a Decision out.
//
// Pure: no I/O, no clock (the caller passes the time). An AccessPolicy is
// immutable after construction and safe to share between threads.
//
// This is the minimal policy: the contract and confidentiality rules, a
// fixed table of the five justification categories and the roles allowed
// each, and default obligations per category.
#ifndef CUSTOS_POLICY_ACCESS_POLICY_H_
#define CUSTOS_POLICY_ACCESS_POLICY_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/custos/v1/common.pb.h"
#include "proto/custos/v1/directory.pb.h"

namespace custos::policy {

// What the policy decides on. References are borrowed for the call.
struct AccessFacts {
  const custos::v1::StaffMember& staff;
  const custos::v1::Customer& customer;
  const custos::v1::Justification& justification;
  // The data kinds asked for; empty means the category's defaults.
  std::vector<custos::v1::DataKind> data_kinds;
  // The grant length asked for; zero means the category's default.
  absl::Duration duration;
  absl::Time now;
};

// Stable reason codes (custos.v1.Reason.code).
inline constexpr char kContractNotDutchEmployment[] =
    "CONTRACT_NOT_DUTCH_EMPLOYMENT";
inline constexpr char kNoConfidentialityClause[] = "NO_CONFIDENTIALITY_CLAUSE";
inline constexpr char kContractNotCurrent[] = "CONTRACT_NOT_CURRENT";
inline constexpr char kStaffInactive[] = "STAFF_INACTIVE";
inline constexpr char kUnknownCategory[] = "UNKNOWN_CATEGORY";
inline constexpr char kCategoryNotForRole[] = "CATEGORY_NOT_FOR_ROLE";
inline constexpr char kReferenceMissing[] = "REFERENCE_MISSING";
inline constexpr char kDataKindNotInCategory[] = "DATA_KIND_NOT_IN_CATEGORY";
inline constexpr char kDurationOverMaximum[] = "DURATION_OVER_MAXIMUM";
inline constexpr char kAllowedForCategory[] = "ALLOWED_FOR_CATEGORY";

class AccessPolicy {
 public:
  // The built-in minimal policy.
  static AccessPolicy Minimal();

  // Decides one request. Denies by default: ALLOW only when every rule is
  // met, and then with the narrowest obligations that serve the category.
  // DENY lists every failed rule, not just the first.
  custos::v1::Decision Decide(const AccessFacts& facts) const;

  bool IsKnownCategory(absl::string_view category) const;
  // The category names, sorted, for error messages.
  std::vector<std::string> CategoryNames() const;

  // A hash of the policy's content, written into every log entry.
  const std::string& version() const { return version_; }

  struct Category {
    std::string name;
    std::vector<std::string> roles;
    std::vector<custos::v1::DataKind> data_kinds;
    std::vector<std::string> masked_fields;
    absl::Duration default_duration;
    absl::Duration max_duration;
    bool aggregates_only = false;
  };

 private:
  explicit AccessPolicy(std::vector<Category> categories);
  const Category* FindCategory(absl::string_view name) const;

  std::vector<Category> categories_;
  std::string version_;
};

}  // namespace custos::policy

#endif  // CUSTOS_POLICY_ACCESS_POLICY_H_
