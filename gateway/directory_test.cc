#include "gateway/directory.h"

#include <set>
#include <vector>

#include "gateway/demo_directory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace custos::gateway {
namespace {

using ::testing::HasSubstr;

TEST(DirectoryTest, DemoHasEveryContractTypeDpoAndPartner) {
  auto directory = Directory::Parse(kDemoDirectory, "demo");
  ASSERT_TRUE(directory.ok()) << directory.status();
  std::set<int> contracts;
  std::set<std::string> roles;
  for (const auto& s : (*directory)->proto().staff()) {
    contracts.insert(s.contract());
    roles.insert(s.roles().begin(), s.roles().end());
  }
  EXPECT_EQ(contracts,
            (std::set<int>{custos::v1::DUTCH_EMPLOYMENT, custos::v1::CONTRACTOR,
                           custos::v1::CONSULTANT, custos::v1::ACCOUNTANT,
                           custos::v1::PARTNER}));
  EXPECT_EQ(roles, (std::set<std::string>{"support", "developer", "tester",
                                          "deliverability", "account_manager",
                                          "dpo", "accountant"}));
  ASSERT_NE((*directory)->FindStaff("pia.partner"), nullptr);
  EXPECT_EQ((*directory)->FindStaff("pia.partner")->partner_organisation(),
            "mailfix");
  EXPECT_EQ((*directory)->PartnerOrganisations(),
            std::vector<std::string>{"mailfix"});
  EXPECT_NE((*directory)->FindCustomer("acme"), nullptr);
  EXPECT_EQ((*directory)->FindCustomer("nobody"), nullptr);
}

TEST(DirectoryTest, SyntaxErrorNamesFileAndLine) {
  auto directory = Directory::Parse(
      "staff {\n  staff_id: \"a\"\n  colour: 3\n}\n", "people.textproto");
  ASSERT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(directory.status().message(),
              HasSubstr("people.textproto: line 3"));
  EXPECT_THAT(directory.status().message(), HasSubstr("colour"));
}

TEST(DirectoryTest, RejectsDuplicateStaffId) {
  const char* text = R"(
    staff { staff_id: "a" contract: CONTRACTOR contract_start: "2020-01-01" }
    staff { staff_id: "a" contract: CONTRACTOR contract_start: "2020-01-01" }
  )";
  auto directory = Directory::Parse(text, "f");
  ASSERT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(directory.status().message(),
            "f: staff[1]: duplicate staff_id \"a\"");
}

TEST(DirectoryTest, RejectsBadFieldsNamingThem) {
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {R"(staff { staff_id: "A B" contract: CONTRACTOR contract_start: "2020-01-01" })",
       "staff_id: expected 1 to 64 of [a-z0-9._-]"},
      {R"(staff { staff_id: "a" contract_start: "2020-01-01" })",
       "contract: required"},
      {R"(staff { staff_id: "a" contract: CONTRACTOR contract_start: "2020-02-30" })",
       "contract_start: expected YYYY-MM-DD"},
      {R"(staff { staff_id: "a" contract: PARTNER contract_start: "2020-01-01" })",
       "partner_organisation: required for PARTNER staff"},
      {R"(customers { customer_id: "c" users { user_id: "u" } users { user_id: "u" } })",
       "users: duplicate user_id \"u\""},
  };
  for (const auto& c : cases) {
    auto directory = Directory::Parse(c.text, "f");
    EXPECT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument)
        << c.text;
    EXPECT_THAT(directory.status().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(IsValidDateTest, AcceptsOnlyRealDates) {
  EXPECT_TRUE(IsValidDate("2024-02-29"));
  EXPECT_FALSE(IsValidDate("2023-02-29"));
  EXPECT_FALSE(IsValidDate("2023-2-1"));
  EXPECT_FALSE(IsValidDate(""));
}

}  // namespace
}  // namespace custos::gateway
