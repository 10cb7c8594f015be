#include "policy/policy.h"

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/default_policy.h"

namespace custos::policy {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(PolicyTest, DefaultPolicyLoads) {
  auto policy = Policy::Parse(kDefaultPolicy, "default_policy.textproto");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_THAT((*policy)->version(), StartsWith("sha256:"));
  EXPECT_EQ((*policy)->category_names(),
            (std::vector<std::string>{"abuse", "billing", "bug", "feature",
                                      "prep", "support"}));
  EXPECT_EQ((*policy)->FindCategory("support")->default_duration,
            absl::Hours(4));
  EXPECT_EQ((*policy)->networks().Place("192.0.2.5").label, "office-amsterdam");
  EXPECT_EQ((*policy)->keep_full_source_address(), absl::Hours(24 * 14));
  EXPECT_EQ((*policy)->FindCategory("curiosity"), nullptr);
}

TEST(PolicyTest, VersionChangesWithTheFile) {
  auto a = Policy::Parse(kDefaultPolicy, "a");
  auto b = Policy::Parse(absl::StrCat(kDefaultPolicy, "\n# changed\n"), "b");
  EXPECT_NE((*a)->version(), (*b)->version());
}

// Each broken file gives INVALID_ARGUMENT naming the file, the line and the
// field.
struct Broken {
  std::string from;
  std::string to;
  std::string message;
};

class BrokenPolicyTest : public ::testing::TestWithParam<Broken> {};

TEST_P(BrokenPolicyTest, NamesTheLineAndField) {
  const Broken& b = GetParam();
  const std::string text =
      absl::StrReplaceAll(kDefaultPolicy, {{b.from, b.to}});
  ASSERT_NE(text, kDefaultPolicy)
      << "the replacement did not apply: " << b.from;
  auto policy = Policy::Parse(text, "p.textproto");
  ASSERT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(policy.status().message(), HasSubstr(b.message));
}

INSTANTIATE_TEST_SUITE_P(
    Files, BrokenPolicyTest,
    ::testing::Values(
        Broken{"home_country: \"NL\"", "home_country: \"Netherlands\"",
               "p.textproto:9: home_country: expected an ISO 3166 code"},
        Broken{"label: \"default", "lable: \"default", "p.textproto:8:"},
        Broken{"time_zone: \"Europe/Amsterdam\"",
               "time_zone: \"Europe/Amsterdamm\"",
               "time_zone: expected an IANA time zone such as "
               "\"Europe/Amsterdam\", got \"Europe/Amsterdamm\""},
        Broken{"  max_duration: \"8h\"\n  take_identity: true\n}\n\ncategories "
               "{\n  name: \"abuse\"",
               "  max_duration: \"8 hours\"\n  take_identity: "
               "true\n}\n\ncategories {\n  name: "
               "\"abuse\"",
               "p.textproto:31: categories[0].max_duration: expected a "
               "positive, finite duration"},
        // Kept for ever, a full source address would never be masked.
        Broken{"retention { full_source_address: \"336h\" }",
               "retention { full_source_address: \"inf\" }",
               "retention: expected a positive, finite duration"},
        Broken{"grantees { role: \"developer\" references: BUG_REPORT }",
               "grantees { role: \"developers\" references: BUG_REPORT }",
               "categories[2].grantees: unknown role \"developers\""},
        Broken{"default_duration: \"2h\"\n  max_duration: \"4h\"",
               "default_duration: \"6h\"\n  max_duration: \"4h\"",
               "categories[4].max_duration: must be at least default_duration"},
        Broken{"masked_fields: [\"SUBSCRIBERS.email\", \"SUBSCRIBERS.name\"]",
               "masked_fields: [\"MESSAGES.body\"]",
               "categories[2].masked_fields: \"MESSAGES.body\": expected "
               "KIND.field"},
        Broken{"name: \"prep\"", "name: \"support\"",
               "categories[4].name: duplicate category \"support\""},
        Broken{"cidr: \"192.0.2.0/24\"", "cidr: \"192.0.2.0/33\"",
               "networks[2].cidr: \"192.0.2.0/33\": expected a prefix length "
               "from 0 to 32"},
        Broken{"cidr: \"192.0.2.0/24\"", "cidr: \"192.0.2.0/2\"",
               "networks[2].cidr: \"192.0.2.0/2\": has bits set past its /2"},
        Broken{
            "data_kinds: [INVOICES, BILLING_ADDRESSES, PAYMENT_METHODS]",
            "data_kinds: [INVOICES, SUBSCRIBERS]",
            "categories[5].data_kinds: a company_data category reaches only"},
        Broken{"  data_kinds: AGGREGATES\n",
               "  data_kinds: [AGGREGATES, SUBSCRIBERS]\n",
               "categories[4].data_kinds: an aggregates_only category reaches "
               "AGGREGATES only"},
        Broken{"grantees { role: \"support\" references: SUPPORT_TICKET }",
               "grantees { role: \"support\" }",
               "categories[0].grantees: role \"support\" needs the reference "
               "kinds"},
        Broken{"roles { name: \"tester\"", "roles { name: \"support\"",
               "roles[2].name: duplicate role \"support\""}));

}  // namespace
}  // namespace custos::policy
