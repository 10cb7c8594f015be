// The access decision: a policy and facts in, a Decision out. Deny by
// default; every reason found is reported, as a stable code and a sentence.
//
// Pure and thread-safe.
#ifndef CUSTOS_POLICY_DECIDE_H_
#define CUSTOS_POLICY_DECIDE_H_

#include "policy/facts.h"
#include "policy/policy.h"
#include "proto/custos/v1/common.pb.h"

namespace custos::policy {

// Stable reason codes (custos.v1.Reason.code).
namespace reason {
inline constexpr char kContractNotDutchEmployment[] =
    "CONTRACT_NOT_DUTCH_EMPLOYMENT";
inline constexpr char kNoConfidentialityClause[] = "NO_CONFIDENTIALITY_CLAUSE";
inline constexpr char kContractNotCurrent[] = "CONTRACT_NOT_CURRENT";
inline constexpr char kStaffInactive[] = "STAFF_INACTIVE";
inline constexpr char kUnknownCategory[] = "UNKNOWN_CATEGORY";
inline constexpr char kCategoryNotForRole[] = "CATEGORY_NOT_FOR_ROLE";
inline constexpr char kCategoryNotForContract[] = "CATEGORY_NOT_FOR_CONTRACT";
inline constexpr char kPartnerWithoutConsent[] = "PARTNER_WITHOUT_CONSENT";
inline constexpr char kReferenceMissing[] = "REFERENCE_MISSING";
inline constexpr char kReferenceNotFound[] = "REFERENCE_NOT_FOUND";
inline constexpr char kReferenceClosed[] = "REFERENCE_CLOSED";
inline constexpr char kReferenceOtherCustomer[] = "REFERENCE_OTHER_CUSTOMER";
inline constexpr char kReferenceWrongKind[] = "REFERENCE_WRONG_KIND";
inline constexpr char kRandomCheckNotForRole[] = "RANDOM_CHECK_NOT_FOR_ROLE";
inline constexpr char kRandomCheckRateExceeded[] = "RANDOM_CHECK_RATE_EXCEEDED";
inline constexpr char kDataKindNotInCategory[] = "DATA_KIND_NOT_IN_CATEGORY";
inline constexpr char kDurationOverMaximum[] = "DURATION_OVER_MAXIMUM";
inline constexpr char kTakeIdentityNotAllowed[] = "TAKE_IDENTITY_NOT_ALLOWED";
inline constexpr char kAbroadWithoutTrip[] = "ABROAD_WITHOUT_TRIP";
inline constexpr char kAbroadNeedsCustomerApproval[] =
    "ABROAD_NEEDS_CUSTOMER_APPROVAL";
inline constexpr char kCustomerApprovalRequired[] =
    "CUSTOMER_APPROVAL_REQUIRED";
inline constexpr char kAllowedForCategory[] = "ALLOWED_FOR_CATEGORY";
inline constexpr char kAbroadApproved[] = "ABROAD_APPROVED";
inline constexpr char kRandomCheckDrawn[] = "RANDOM_CHECK_DRAWN";
}  // namespace reason

custos::v1::Decision Decide(const Policy& policy, const AccessFacts& facts);

// The staff side of Decide alone, for each use of a grant, whose holder's
// directory entry can change while it runs: `facts.category` known, and
// `facts.staff`'s contract (type, dates, confidentiality clause, a
// partner's consent from `facts.customer`), whether they are active, and
// their role, one that may draw a random check when `facts.reference` is
// one. ALLOW with no reasons when all still hold; DENY with each reason
// otherwise. Reads only category, reference, staff, customer and now.
custos::v1::Decision DecideStaff(const Policy& policy,
                                 const AccessFacts& facts);

}  // namespace custos::policy

#endif  // CUSTOS_POLICY_DECIDE_H_
