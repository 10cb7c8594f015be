#include "policy/access_policy.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromCivil(
    absl::CivilSecond(2026, 11, 22, 10, 0, 0), absl::UTCTimeZone());

custos::v1::StaffMember Staff(const std::string& id, const std::string& role,
                              custos::v1::ContractType contract) {
  custos::v1::StaffMember staff;
  staff.set_staff_id(id);
  staff.add_roles(role);
  staff.set_contract(contract);
  staff.set_confidentiality_clause(true);
  staff.set_contract_start("2020-01-01");
  staff.set_active(true);
  return staff;
}

custos::v1::Customer Customer() {
  custos::v1::Customer customer;
  customer.set_customer_id("acme");
  return customer;
}

custos::v1::Justification Why(const std::string& category,
                              const std::string& reference) {
  custos::v1::Justification why;
  why.set_category(category);
  why.set_reference(reference);
  return why;
}

std::vector<std::string> Codes(const custos::v1::Decision& decision) {
  std::vector<std::string> codes;
  for (const auto& reason : decision.reasons()) codes.push_back(reason.code());
  return codes;
}

custos::v1::Decision Decide(const custos::v1::StaffMember& staff,
                            const custos::v1::Justification& why,
                            std::vector<custos::v1::DataKind> kinds = {},
                            absl::Duration duration = absl::ZeroDuration()) {
  const custos::v1::Customer customer = Customer();
  return AccessPolicy::Minimal().Decide(
      {staff, customer, why, std::move(kinds), duration, kNow});
}

struct AllowedCase {
  std::string role;
  std::string category;
};

class AllowedTest : public ::testing::TestWithParam<AllowedCase> {};

TEST_P(AllowedTest, DutchEmployeeWithRoleIsAllowed) {
  const auto& c = GetParam();
  const auto decision = Decide(Staff("x", c.role, custos::v1::DUTCH_EMPLOYMENT),
                               Why(c.category, "REF-1"));
  EXPECT_EQ(decision.verdict(), custos::v1::ALLOW);
  EXPECT_THAT(Codes(decision), ElementsAre(kAllowedForCategory));
  EXPECT_TRUE(decision.obligations().read_only());
  EXPECT_GT(decision.obligations().data_kinds_size(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    DesignTable, AllowedTest,
    ::testing::Values(AllowedCase{"support", "support"},
                      AllowedCase{"support", "abuse"},
                      AllowedCase{"developer", "bug"},
                      AllowedCase{"developer", "feature"},
                      AllowedCase{"tester", "feature"},
                      AllowedCase{"deliverability", "abuse"},
                      AllowedCase{"deliverability", "prep"},
                      AllowedCase{"account_manager", "prep"}));

TEST(AccessPolicyTest, DeniesContractorWithReason) {
  const auto decision = Decide(
      Staff("carl", "developer", custos::v1::CONTRACTOR), Why("bug", "BUG-7"));
  EXPECT_EQ(decision.verdict(), custos::v1::DENY);
  EXPECT_THAT(Codes(decision), ElementsAre(kContractNotDutchEmployment));
  EXPECT_THAT(decision.reasons(0).message(), HasSubstr("CONTRACTOR"));
}

TEST(AccessPolicyTest, DeniesEveryNonDutchContractType) {
  for (auto contract : {custos::v1::CONTRACTOR, custos::v1::CONSULTANT,
                        custos::v1::ACCOUNTANT, custos::v1::PARTNER}) {
    const auto decision =
        Decide(Staff("x", "support", contract), Why("support", "T-1"));
    EXPECT_EQ(decision.verdict(), custos::v1::DENY) << contract;
    EXPECT_THAT(Codes(decision), ElementsAre(kContractNotDutchEmployment));
  }
}

TEST(AccessPolicyTest, DeniesMissingConfidentialityClause) {
  auto staff = Staff("noah", "support", custos::v1::DUTCH_EMPLOYMENT);
  staff.set_confidentiality_clause(false);
  EXPECT_THAT(Codes(Decide(staff, Why("support", "T-1"))),
              ElementsAre(kNoConfidentialityClause));
}

TEST(AccessPolicyTest, DeniesEndedAndInactiveContract) {
  auto staff = Staff("eva", "support", custos::v1::DUTCH_EMPLOYMENT);
  staff.set_contract_end("2025-12-31");
  staff.set_active(false);
  EXPECT_THAT(Codes(Decide(staff, Why("support", "T-1"))),
              ElementsAre(kStaffInactive, kContractNotCurrent));
}

TEST(AccessPolicyTest, DeniesContractNotYetStarted) {
  auto staff = Staff("new", "support", custos::v1::DUTCH_EMPLOYMENT);
  staff.set_contract_start("2026-11-23");
  EXPECT_THAT(Codes(Decide(staff, Why("support", "T-1"))),
              ElementsAre(kContractNotCurrent));
}

TEST(AccessPolicyTest, ContractEndingTodayIsStillCurrent) {
  auto staff = Staff("last", "support", custos::v1::DUTCH_EMPLOYMENT);
  staff.set_contract_end("2026-11-22");
  EXPECT_EQ(Decide(staff, Why("support", "T-1")).verdict(), custos::v1::ALLOW);
}

TEST(AccessPolicyTest, DeniesCategoryOutsideRole) {
  const auto decision =
      Decide(Staff("tess", "tester", custos::v1::DUTCH_EMPLOYMENT),
             Why("support", "T-1"));
  EXPECT_THAT(Codes(decision), ElementsAre(kCategoryNotForRole));
  EXPECT_THAT(decision.reasons(0).message(),
              HasSubstr("support is for support"));
}

TEST(AccessPolicyTest, DeniesUnknownCategoryAndEmptyReference) {
  const auto decision =
      Decide(Staff("anna", "support", custos::v1::DUTCH_EMPLOYMENT),
             Why("curiosity", ""));
  EXPECT_THAT(Codes(decision),
              ElementsAre(kReferenceMissing, kUnknownCategory));
}

TEST(AccessPolicyTest, DeniesDataKindOutsideCategory) {
  const auto decision =
      Decide(Staff("anna", "support", custos::v1::DUTCH_EMPLOYMENT),
             Why("support", "T-1"), {custos::v1::MESSAGES});
  EXPECT_THAT(Codes(decision), ElementsAre(kDataKindNotInCategory));
}

TEST(AccessPolicyTest, DeniesDurationOverMaximum) {
  const auto decision =
      Decide(Staff("anna", "support", custos::v1::DUTCH_EMPLOYMENT),
             Why("support", "T-1"), {}, absl::Hours(9));
  EXPECT_THAT(Codes(decision), ElementsAre(kDurationOverMaximum));
}

TEST(AccessPolicyTest, GrantsNarrowestKindsAndDefaultExpiry) {
  const auto decision =
      Decide(Staff("anna", "support", custos::v1::DUTCH_EMPLOYMENT),
             Why("support", "T-1"), {custos::v1::ACCOUNT});
  ASSERT_EQ(decision.verdict(), custos::v1::ALLOW);
  EXPECT_THAT(decision.obligations().data_kinds(),
              ElementsAre(custos::v1::ACCOUNT));
  EXPECT_EQ(decision.obligations().expires_at().seconds(),
            absl::ToUnixSeconds(kNow + absl::Hours(4)));
}

TEST(AccessPolicyTest, PrepSeesAggregatesOnly) {
  const auto decision =
      Decide(Staff("mila", "account_manager", custos::v1::DUTCH_EMPLOYMENT),
             Why("prep", "MEET-2026-11-25"));
  ASSERT_EQ(decision.verdict(), custos::v1::ALLOW);
  EXPECT_TRUE(decision.obligations().aggregates_only());
  EXPECT_THAT(decision.obligations().data_kinds(),
              ElementsAre(custos::v1::AGGREGATES));
}

TEST(AccessPolicyTest, BugMasksSubscriberIdentity) {
  const auto decision =
      Decide(Staff("daan", "developer", custos::v1::DUTCH_EMPLOYMENT),
             Why("bug", "BUG-1"));
  EXPECT_THAT(decision.obligations().masked_fields(),
              ElementsAre("SUBSCRIBERS.email", "SUBSCRIBERS.name"));
}

TEST(AccessPolicyTest, VersionIsStableAndCarriedInDecisions) {
  const AccessPolicy policy = AccessPolicy::Minimal();
  EXPECT_EQ(policy.version(), AccessPolicy::Minimal().version());
  EXPECT_THAT(policy.version(), ::testing::StartsWith("minimal-"));
  EXPECT_EQ(Decide(Staff("anna", "support", custos::v1::DUTCH_EMPLOYMENT),
                   Why("support", "T-1"))
                .policy_version(),
            policy.version());
}

}  // namespace
}  // namespace custos::policy
