#include "policy/decide.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/default_policy.h"

namespace custos::policy {
namespace {

using custos::v1::ReferenceKind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromCivil(
    absl::CivilSecond(2026, 11, 22, 10, 0, 0), absl::UTCTimeZone());
const absl::CivilDay kToday(2026, 11, 22);

const Policy& DefaultPolicy() {
  static const auto* policy = new std::shared_ptr<const Policy>(
      *Policy::Parse(kDefaultPolicy, "default_policy.textproto"));
  return **policy;
}

custos::v1::StaffMember Staff(
    const std::string& role,
    custos::v1::ContractType contract = custos::v1::DUTCH_EMPLOYMENT) {
  custos::v1::StaffMember staff;
  staff.set_staff_id(absl::StrCat(role, ".x"));
  staff.add_roles(role);
  staff.set_contract(contract);
  staff.set_confidentiality_clause(true);
  staff.set_contract_start("2020-01-01");
  staff.set_active(true);
  if (contract == custos::v1::PARTNER)
    staff.set_partner_organisation("mailfix");
  return staff;
}

// A request with a fitting open reference of `kind` for customer acme, from
// the Amsterdam office.
struct Request {
  custos::v1::StaffMember staff;
  custos::v1::Customer customer;
  AccessFacts facts;

  Request(custos::v1::StaffMember s, const std::string& category,
          ReferenceKind kind)
      : staff(std::move(s)) {
    customer.set_customer_id("acme");
    facts.category = category;
    facts.reference = "REF-1";
    facts.found_reference = Reference{"REF-1", kind, "acme", true};
    facts.placement = {"NL", "office-amsterdam"};
    facts.device_id = "laptop-7";
    facts.now = kNow;
  }
  custos::v1::Decision Decide() {
    facts.staff = &staff;
    facts.customer = &customer;
    return custos::policy::Decide(DefaultPolicy(), facts);
  }
};

std::vector<std::string> Codes(const custos::v1::Decision& d) {
  std::vector<std::string> codes;
  for (const auto& r : d.reasons()) codes.push_back(r.code());
  return codes;
}

// Every row of DESIGN.md's table.
struct Row {
  std::string role;
  std::string category;
  ReferenceKind kind;  // RANDOM_CHECK_DRAW: a random check, no ticket
};

class DesignTableTest : public ::testing::TestWithParam<Row> {};

TEST_P(DesignTableTest, AllowsTheRow) {
  const Row& row = GetParam();
  Request request(Staff(row.role), row.category, row.kind);
  if (row.kind == custos::v1::RANDOM_CHECK_DRAW) {
    request.facts.reference = kRandomCheckReference;
    request.facts.found_reference.reset();
  }
  const auto decision = request.Decide();
  EXPECT_EQ(decision.verdict(), custos::v1::ALLOW)
      << ::testing::PrintToString(Codes(decision));
  EXPECT_EQ(decision.reasons(0).code(), reason::kAllowedForCategory);
  EXPECT_TRUE(decision.obligations().read_only());
  EXPECT_EQ(decision.policy_version(), DefaultPolicy().version());
}

INSTANTIATE_TEST_SUITE_P(
    Rows, DesignTableTest,
    ::testing::Values(
        Row{"support", "support", custos::v1::SUPPORT_TICKET},
        Row{"support", "abuse", custos::v1::ABUSE_REPORT},
        Row{"support", "abuse", custos::v1::ABUSE_SIGNAL},
        Row{"developer", "bug", custos::v1::BUG_REPORT},
        Row{"developer", "feature", custos::v1::FEATURE_REQUEST},
        Row{"tester", "feature", custos::v1::RANDOM_CHECK_DRAW},
        Row{"deliverability", "abuse", custos::v1::ABUSE_REPORT},
        Row{"deliverability", "abuse", custos::v1::ABUSE_SIGNAL},
        Row{"deliverability", "abuse", custos::v1::RANDOM_CHECK_DRAW},
        Row{"deliverability", "prep", custos::v1::MEETING},
        Row{"account_manager", "prep", custos::v1::MEETING},
        Row{"accountant", "billing", custos::v1::REFERENCE_KIND_UNSPECIFIED}));

// Every denial path, with its code.
struct Denial {
  std::string name;
  std::function<void(Request&)> change;
  std::vector<std::string> codes;
};

class DenialTest : public ::testing::TestWithParam<Denial> {};

TEST_P(DenialTest, DeniesWithTheReason) {
  Request request(Staff("support"), "support", custos::v1::SUPPORT_TICKET);
  GetParam().change(request);
  const auto decision = request.Decide();
  EXPECT_EQ(decision.verdict(), custos::v1::DENY);
  EXPECT_EQ(Codes(decision), GetParam().codes);
}

INSTANTIATE_TEST_SUITE_P(
    Paths, DenialTest,
    ::testing::Values(
        Denial{"Contractor",
               [](Request& r) { r.staff.set_contract(custos::v1::CONTRACTOR); },
               {reason::kContractNotDutchEmployment}},
        Denial{"Consultant",
               [](Request& r) { r.staff.set_contract(custos::v1::CONSULTANT); },
               {reason::kContractNotDutchEmployment}},
        Denial{
            "AccountantOnCustomerData",
            [](Request& r) {
              r.staff = Staff("accountant", custos::v1::ACCOUNTANT);
            },
            {reason::kContractNotDutchEmployment, reason::kCategoryNotForRole}},
        Denial{
            "PartnerWithoutConsent",
            [](Request& r) { r.staff = Staff("support", custos::v1::PARTNER); },
            {reason::kPartnerWithoutConsent}},
        Denial{"NoClause",
               [](Request& r) { r.staff.set_confidentiality_clause(false); },
               {reason::kNoConfidentialityClause}},
        Denial{"Inactive",
               [](Request& r) { r.staff.set_active(false); },
               {reason::kStaffInactive}},
        Denial{"Ended",
               [](Request& r) { r.staff.set_contract_end("2026-11-21"); },
               {reason::kContractNotCurrent}},
        Denial{"NotStarted",
               [](Request& r) { r.staff.set_contract_start("2026-12-01"); },
               {reason::kContractNotCurrent}},
        Denial{"UnknownCategory",
               [](Request& r) { r.facts.category = "curiosity"; },
               {reason::kUnknownCategory}},
        Denial{"WrongRole",
               [](Request& r) { r.facts.category = "bug"; },
               {reason::kCategoryNotForRole}},
        Denial{"NoReference",
               [](Request& r) { r.facts.reference = ""; },
               {reason::kReferenceMissing}},
        Denial{"ReferenceNotFound",
               [](Request& r) { r.facts.found_reference.reset(); },
               {reason::kReferenceNotFound}},
        Denial{"ReferenceClosed",
               [](Request& r) { r.facts.found_reference->open = false; },
               {reason::kReferenceClosed}},
        Denial{"ReferenceOfAnotherCustomer",
               [](Request& r) {
                 r.facts.found_reference->customer_id = "nordwind";
               },
               {reason::kReferenceOtherCustomer}},
        Denial{"ReferenceOfTheWrongKind",
               [](Request& r) {
                 r.facts.found_reference->kind = custos::v1::MEETING;
               },
               {reason::kReferenceWrongKind}},
        Denial{"RandomCheckNotForSupport",
               [](Request& r) { r.facts.reference = kRandomCheckReference; },
               {reason::kRandomCheckNotForRole}},
        Denial{"RandomCheckRateExceeded",
               [](Request& r) {
                 r.staff = Staff("tester");
                 r.facts.category = "feature";
                 r.facts.reference = kRandomCheckReference;
                 r.facts.random_checks_in_window = 10;
               },
               {reason::kRandomCheckRateExceeded}},
        Denial{"DataKindOutsideCategory",
               [](Request& r) { r.facts.data_kinds = {custos::v1::MESSAGES}; },
               {reason::kDataKindNotInCategory}},
        Denial{"TooLong",
               [](Request& r) { r.facts.duration = absl::Hours(9); },
               {reason::kDurationOverMaximum}},
        Denial{"TakeIdentityForPrep",
               [](Request& r) {
                 r.staff = Staff("account_manager");
                 r.facts.category = "prep";
                 r.facts.found_reference->kind = custos::v1::MEETING;
                 r.facts.take_identity = true;
               },
               {reason::kTakeIdentityNotAllowed}},
        Denial{"SupportOnBilling",
               [](Request& r) { r.facts.category = "billing"; },
               {reason::kCategoryNotForRole}},
        Denial{"ContractorOnBilling",
               [](Request& r) {
                 r.staff = Staff("accountant", custos::v1::CONTRACTOR);
                 r.facts.category = "billing";
               },
               {reason::kCategoryNotForContract}}),
    [](const auto& info) { return info.param.name; });

TEST(DecideTest, PartnerWithConsentIsAllowed) {
  Request request(Staff("support", custos::v1::PARTNER), "support",
                  custos::v1::SUPPORT_TICKET);
  request.customer.add_consented_partners("mailfix");
  EXPECT_EQ(request.Decide().verdict(), custos::v1::ALLOW);
}

TEST(DecideTest, AbroadNeedsTripAndCustomer) {
  Request request(Staff("support"), "support", custos::v1::SUPPORT_TICKET);
  request.facts.placement = {"DE", "hotel-berlin"};
  auto decision = request.Decide();
  EXPECT_EQ(decision.verdict(), custos::v1::NEEDS_APPROVAL);
  EXPECT_THAT(
      decision.approvals_needed(),
      ElementsAre(custos::v1::APPROVER_DPO, custos::v1::APPROVER_CUSTOMER));
  EXPECT_THAT(Codes(decision),
              ElementsAre(reason::kAbroadWithoutTrip,
                          reason::kAbroadNeedsCustomerApproval));

  request.facts.trips.push_back(
      {"DE", kToday - 1, kToday + 3, "laptop-7", true, "t_berlin"});
  decision = request.Decide();
  EXPECT_THAT(decision.approvals_needed(),
              ElementsAre(custos::v1::APPROVER_CUSTOMER));

  request.facts.customer_approved = true;
  decision = request.Decide();
  EXPECT_EQ(decision.verdict(), custos::v1::ALLOW);
  EXPECT_THAT(Codes(decision), ElementsAre(reason::kAllowedForCategory,
                                           reason::kAbroadApproved));
  // The DPO's report shows which trip allowed it.
  EXPECT_THAT(decision.reasons(1).message(), HasSubstr("on trip t_berlin"));
}

TEST(DecideTest, TripMustMatchCountryDatesDeviceAndBeApproved) {
  const std::vector<Trip> wrong = {
      {"FR", kToday, kToday, "laptop-7", true},
      {"DE", kToday + 1, kToday + 2, "laptop-7", true},
      {"DE", kToday - 5, kToday - 1, "laptop-7", true},
      {"DE", kToday, kToday, "phone-2", true},
      {"DE", kToday, kToday, "laptop-7", false},
  };
  for (const Trip& trip : wrong) {
    Request request(Staff("support"), "support", custos::v1::SUPPORT_TICKET);
    request.facts.placement = {"DE", "hotel-berlin"};
    request.facts.customer_approved = true;
    request.facts.trips = {trip};
    EXPECT_THAT(request.Decide().approvals_needed(),
                ElementsAre(custos::v1::APPROVER_DPO))
        << trip.country << " " << trip.device_id;
  }
}

TEST(DecideTest, UnplacedAddressCountsAsAbroad) {
  Request request(Staff("support"), "support", custos::v1::SUPPORT_TICKET);
  request.facts.placement = {};
  request.facts.trips.push_back({"DE", kToday, kToday, "laptop-7", true});
  const auto decision = request.Decide();
  EXPECT_EQ(decision.verdict(), custos::v1::NEEDS_APPROVAL);
  EXPECT_THAT(decision.reasons(0).message(), HasSubstr("cannot place"));
}

TEST(DecideTest, CustomerRequiringApprovalGetsPendingExceptAbuse) {
  Request request(Staff("support"), "support", custos::v1::SUPPORT_TICKET);
  request.customer.set_requires_approval(true);
  auto decision = request.Decide();
  EXPECT_EQ(decision.verdict(), custos::v1::NEEDS_APPROVAL);
  EXPECT_THAT(Codes(decision), ElementsAre(reason::kCustomerApprovalRequired));

  Request abuse(Staff("support"), "abuse", custos::v1::ABUSE_REPORT);
  abuse.customer.set_requires_approval(true);
  EXPECT_EQ(abuse.Decide().verdict(), custos::v1::ALLOW);

  request.facts.customer_approved = true;
  EXPECT_EQ(request.Decide().verdict(), custos::v1::ALLOW);
}

TEST(DecideTest, PrepSeesAggregatesOnlyAndBugMasksIdentity) {
  Request prep(Staff("account_manager"), "prep", custos::v1::MEETING);
  auto decision = prep.Decide();
  EXPECT_TRUE(decision.obligations().aggregates_only());
  EXPECT_THAT(decision.obligations().data_kinds(),
              ElementsAre(custos::v1::AGGREGATES));

  Request bug(Staff("developer"), "bug", custos::v1::BUG_REPORT);
  decision = bug.Decide();
  EXPECT_THAT(decision.obligations().masked_fields(),
              ElementsAre("SUBSCRIBERS.email", "SUBSCRIBERS.name"));
  EXPECT_EQ(decision.obligations().expires_at().seconds(),
            absl::ToUnixSeconds(kNow + absl::Hours(8)));
}

// A grant ends with what allowed it: the staff member's contract (at the
// end of its last day) and the trip that lets them in from abroad, however
// long a grant was asked for.
TEST(DecideTest, AGrantEndsWithTheContractAndTheTrip) {
  // 21:00 in Amsterdam, the default policy's time zone: eight hours would
  // run past its midnight.
  const absl::Time evening = kNow + absl::Hours(10);
  absl::TimeZone amsterdam;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Amsterdam", &amsterdam));
  const absl::Time midnight =
      absl::FromCivil(absl::CivilDay(2026, 11, 23), amsterdam);
  Request request(Staff("support"), "support", custos::v1::SUPPORT_TICKET);
  request.facts.now = evening;
  request.facts.duration = absl::Hours(8);
  EXPECT_EQ(request.Decide().obligations().expires_at().seconds(),
            absl::ToUnixSeconds(evening + absl::Hours(8)));
  // The contract's last day: the grant ends at its midnight.
  request.staff.set_contract_end("2026-11-22");
  EXPECT_EQ(request.Decide().obligations().expires_at().seconds(),
            absl::ToUnixSeconds(midnight));

  Request abroad(Staff("support"), "support", custos::v1::SUPPORT_TICKET);
  abroad.facts.now = evening;
  abroad.facts.placement = {"DE", "hotel-berlin"};
  abroad.facts.customer_approved = true;
  abroad.facts.duration = absl::Hours(8);
  abroad.facts.trips.push_back(
      {"DE", kToday - 1, kToday, "laptop-7", true, "t_berlin"});
  const auto decision = abroad.Decide();
  ASSERT_EQ(decision.verdict(), custos::v1::ALLOW);
  EXPECT_EQ(decision.obligations().expires_at().seconds(),
            absl::ToUnixSeconds(midnight));
  abroad.facts.trips[0].last_day = kToday + 1;
  EXPECT_EQ(abroad.Decide().obligations().expires_at().seconds(),
            absl::ToUnixSeconds(evening + absl::Hours(8)));
}

// A contract's last day ends at midnight in the company's time zone, not in
// UTC: half past midnight in Amsterdam is the next day there.
TEST(DecideTest, DaysAreTheCompanysDays) {
  Request request(Staff("support"), "support", custos::v1::SUPPORT_TICKET);
  request.staff.set_contract_end("2026-11-22");
  absl::TimeZone amsterdam;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Amsterdam", &amsterdam));
  request.facts.now =
      absl::FromCivil(absl::CivilSecond(2026, 11, 22, 23, 59, 0), amsterdam);
  EXPECT_EQ(request.Decide().verdict(), custos::v1::ALLOW);
  // 23:30 UTC on the 22nd.
  request.facts.now =
      absl::FromCivil(absl::CivilSecond(2026, 11, 23, 0, 30, 0), amsterdam);
  EXPECT_THAT(Codes(request.Decide()),
              ElementsAre(reason::kContractNotCurrent));
}

TEST(DecideTest, GrantsOnlyTheKindsAskedFor) {
  Request request(Staff("support"), "support", custos::v1::SUPPORT_TICKET);
  request.facts.data_kinds = {custos::v1::ACCOUNT};
  EXPECT_THAT(request.Decide().obligations().data_kinds(),
              ElementsAre(custos::v1::ACCOUNT));
}

// No combination of facts lets anyone without Dutch employment (partners
// with consent excepted) reach customer data, or anyone abroad in without
// both approvals.
TEST(DecidePropertyTest, NoPathAroundContractAndAbroadRules) {
  std::mt19937 random(42);
  const std::vector<std::string> roles = {
      "support",         "developer", "tester",    "deliverability",
      "account_manager", "dpo",       "accountant"};
  const std::vector<std::string> categories = {
      "support", "abuse", "bug", "feature", "prep", "billing", "nonsense"};
  const std::vector<custos::v1::ContractType> contracts = {
      custos::v1::DUTCH_EMPLOYMENT, custos::v1::CONTRACTOR,
      custos::v1::CONSULTANT, custos::v1::ACCOUNTANT, custos::v1::PARTNER};
  const std::vector<std::string> countries = {"NL", "DE", "", "US"};
  int allowed = 0;
  for (int i = 0; i < 100000; ++i) {
    auto pick = [&](const auto& v) { return v[random() % v.size()]; };
    Request r(Staff(pick(roles), pick(contracts)), pick(categories),
              static_cast<ReferenceKind>(random() % 8));
    r.staff.set_confidentiality_clause(random() % 4 != 0);
    r.staff.set_active(random() % 4 != 0);
    if (random() % 2) r.customer.add_consented_partners("mailfix");
    r.customer.set_requires_approval(random() % 2);
    if (random() % 5 == 0) r.facts.reference = kRandomCheckReference;
    r.facts.random_checks_in_window = random() % 12;
    r.facts.placement.country = pick(countries);
    if (random() % 2) {
      r.facts.trips.push_back({pick(countries), kToday - 1, kToday + 1,
                               random() % 2 ? "laptop-7" : "other",
                               random() % 2 == 0});
    }
    r.facts.dpo_approved = random() % 3 == 0;
    r.facts.customer_approved = random() % 3 == 0;
    r.facts.take_identity = random() % 2;
    const auto decision = r.Decide();
    if (decision.verdict() != custos::v1::ALLOW) continue;
    ++allowed;
    const bool company_data = r.facts.category == "billing";
    const auto contract = r.staff.contract();
    if (!company_data) {
      ASSERT_TRUE(contract == custos::v1::DUTCH_EMPLOYMENT ||
                  (contract == custos::v1::PARTNER &&
                   r.customer.consented_partners_size() > 0))
          << "case " << i;
    }
    ASSERT_TRUE(r.staff.confidentiality_clause() && r.staff.active())
        << "case " << i;
    if (r.facts.placement.country != "NL") {
      ASSERT_TRUE(r.facts.customer_approved) << "case " << i;
      const bool trip = !r.facts.trips.empty() && r.facts.trips[0].approved &&
                        r.facts.trips[0].country == r.facts.placement.country &&
                        r.facts.trips[0].device_id == r.facts.device_id;
      ASSERT_TRUE(trip || r.facts.dpo_approved) << "case " << i;
    }
  }
  EXPECT_GT(allowed, 100);  // the generator does reach ALLOW
}

// A staff member with several roles asks under whichever of them allows
// the request: a developer who also tests may draw a random check of a new
// feature, and still work on a feature request as a developer.
TEST(DecideTest, SeveralRolesAskUnderTheOneThatAllows) {
  custos::v1::StaffMember both = Staff("developer");
  both.add_roles("tester");
  Request draw(both, "feature", custos::v1::RANDOM_CHECK_DRAW);
  draw.facts.reference = kRandomCheckReference;
  draw.facts.found_reference.reset();
  const custos::v1::Decision drawn = draw.Decide();
  EXPECT_EQ(drawn.verdict(), custos::v1::ALLOW)
      << ::testing::PrintToString(Codes(drawn));
  Request asked(both, "feature", custos::v1::FEATURE_REQUEST);
  EXPECT_EQ(asked.Decide().verdict(), custos::v1::ALLOW);
  Request bug(both, "feature", custos::v1::BUG_REPORT);
  EXPECT_THAT(Codes(bug.Decide()),
              ::testing::Contains(reason::kReferenceWrongKind));
}

// The staff side alone, as a grant's every use checks it: only what is
// about the holder counts, not the reference, place or data kinds.
TEST(DecideStaffTest, JudgesTheHolderAlone) {
  Request allowed(Staff("support"), "support",
                  custos::v1::REFERENCE_KIND_UNSPECIFIED);
  allowed.facts.found_reference.reset();  // No reference: no matter here.
  allowed.facts.placement = {"", ""};
  allowed.facts.staff = &allowed.staff;
  allowed.facts.customer = &allowed.customer;
  const custos::v1::Decision fine = DecideStaff(DefaultPolicy(), allowed.facts);
  EXPECT_EQ(fine.verdict(), custos::v1::ALLOW);
  EXPECT_TRUE(fine.reasons().empty());

  Request changed(Staff("marketing", custos::v1::CONTRACTOR), "support",
                  custos::v1::SUPPORT_TICKET);
  changed.staff.set_confidentiality_clause(false);
  changed.facts.staff = &changed.staff;
  changed.facts.customer = &changed.customer;
  const custos::v1::Decision refused =
      DecideStaff(DefaultPolicy(), changed.facts);
  EXPECT_EQ(refused.verdict(), custos::v1::DENY);
  EXPECT_THAT(Codes(refused), ElementsAre(reason::kContractNotDutchEmployment,
                                          reason::kNoConfidentialityClause,
                                          reason::kCategoryNotForRole));

  // A random check's grant needs a role that may draw one: a tester's,
  // not the developer role the same staff member also has.
  custos::v1::StaffMember both = Staff("developer");
  both.add_roles("tester");
  Request drawn(both, "feature", custos::v1::RANDOM_CHECK_DRAW);
  drawn.facts.reference = kRandomCheckReference;
  drawn.facts.staff = &drawn.staff;
  drawn.facts.customer = &drawn.customer;
  EXPECT_EQ(DecideStaff(DefaultPolicy(), drawn.facts).verdict(),
            custos::v1::ALLOW);
  drawn.staff.clear_roles();
  drawn.staff.add_roles("developer");
  EXPECT_THAT(Codes(DecideStaff(DefaultPolicy(), drawn.facts)),
              ElementsAre(reason::kRandomCheckNotForRole));

  changed.facts.category = "gone";
  EXPECT_THAT(Codes(DecideStaff(DefaultPolicy(), changed.facts)),
              ElementsAre(reason::kUnknownCategory));
}

}  // namespace
}  // namespace custos::policy
